/** @module CircuitBreaker: a route's error ratio over a window → open (503 fast) → half-open trials → closed. */

/** Defaults of `circuitBreaker` (Traefik's breaker waits 10 s too; the ratio is the usual 50 %). */
export const BREAKER_DEFAULTS = {
  errorRatio: 0.5,
  windowMs: 10_000,
  minRequests: 20,
  cooldownMs: 10_000,
  trialRequests: 3,
} as const

/** Where the breaker stands. */
export type BreakerState = 'closed' | 'open' | 'half-open'

/** Options of a CircuitBreaker (all but `now` and `onChange` come from the route config). */
export interface BreakerOptions {
  /** Failed share of requests in the window (0-1) that opens the breaker. */
  errorRatio?: number
  /** The window the ratio is measured over, in milliseconds. */
  windowMs?: number
  /** Requests the window must hold before the ratio counts (no opening on 1 failure of 1). */
  minRequests?: number
  /** How long the breaker stays open before trial requests, in milliseconds. */
  cooldownMs?: number
  /** Trial requests let through while half-open; that many successes close it. */
  trialRequests?: number
  now?: () => number
  /** Told on every state change (an edge), for logs and events. */
  onChange?: (state: BreakerState) => void
}

/** allow's answer when the breaker refuses the request. */
export const DENIED = -1
/** allow's answer for an ordinary request while closed. */
export const PASSED = 0

const BUCKETS = 10

/**
 * CircuitBreaker protects an upstream that fails most requests: while closed it counts outcomes
 * in a sliding window (ten buckets); once `minRequests` are in it and the failed share reaches
 * `errorRatio`, it opens, and `allow` refuses at once for `cooldownMs` (the loop answers 503
 * PTC_ERR_CIRCUIT_OPEN with Retry-After, before admission). Then it is half-open: up to
 * `trialRequests` requests pass; any failure re-opens it, that many successes close it.
 *
 * Protocol per request: `const permit = allow()`; DENIED → refuse; otherwise forward and call
 * `record(permit, failed)` with the final outcome, or `cancel(permit)` if the request never
 * reached the upstream (queue full, client gone). A permit from an earlier half-open round is
 * ignored, so late results cannot corrupt the trial count.
 */
export class CircuitBreaker {
  #o: Required<Omit<BreakerOptions, 'onChange'>>
  #onChange: ((state: BreakerState) => void) | undefined
  #state: BreakerState = 'closed'
  #bucketMs: number
  #starts = new Float64Array(BUCKETS).fill(Number.NEGATIVE_INFINITY)
  #totals = new Uint32Array(BUCKETS)
  #fails = new Uint32Array(BUCKETS)
  #openedAt = 0
  #round = 0
  #trialsOut = 0
  #trialsPassed = 0

  constructor(options: BreakerOptions = {}) {
    this.#o = { ...BREAKER_DEFAULTS, now: Date.now, ...stripUndefined(options) }
    this.#onChange = options.onChange
    this.#bucketMs = Math.max(1, this.#o.windowMs / BUCKETS)
  }

  get state(): BreakerState {
    if (this.#state === 'open' && this.#o.now() - this.#openedAt >= this.#o.cooldownMs) {
      this.#move('half-open')
    }
    return this.#state
  }

  /** allow returns DENIED, PASSED, or a trial permit (> 0) while half-open. */
  allow(): number {
    const state = this.state
    if (state === 'closed') return PASSED
    if (state === 'open' || this.#trialsOut >= this.#o.trialRequests) return DENIED
    this.#trialsOut++
    return this.#round
  }

  /** retryAfterMs returns how long until trial requests are let through (0 unless open). */
  retryAfterMs(): number {
    if (this.state !== 'open') return 0
    return Math.max(0, this.#openedAt + this.#o.cooldownMs - this.#o.now())
  }

  /** record takes the outcome of a request that `allow` let through. */
  record(permit: number, failed: boolean): void {
    if (permit === PASSED) {
      if (this.#state === 'closed') this.#count(failed)
      return
    }
    if (permit !== this.#round || this.#state !== 'half-open') return
    this.#trialsOut--
    if (failed) this.#open()
    else if (++this.#trialsPassed >= this.#o.trialRequests) this.#close()
  }

  /** cancel gives back a permit whose request never reached the upstream. */
  cancel(permit: number): void {
    if (permit > 0 && permit === this.#round && this.#state === 'half-open') this.#trialsOut--
  }

  #count(failed: boolean): void {
    const now = this.#o.now()
    const slot = Math.floor(now / this.#bucketMs)
    const i = slot % BUCKETS
    if (this.#starts[i] !== slot) {
      this.#starts[i] = slot
      this.#totals[i] = 0
      this.#fails[i] = 0
    }
    ;(this.#totals[i] as number)++
    if (failed) (this.#fails[i] as number)++
    let total = 0
    let fails = 0
    for (let b = 0; b < BUCKETS; b++) {
      if ((this.#starts[b] as number) <= slot - BUCKETS) continue
      total += this.#totals[b] as number
      fails += this.#fails[b] as number
    }
    if (total >= this.#o.minRequests && fails >= this.#o.errorRatio * total) this.#open()
  }

  #open(): void {
    this.#openedAt = this.#o.now()
    this.#move('open')
  }

  #close(): void {
    this.#starts.fill(Number.NEGATIVE_INFINITY)
    this.#move('closed')
  }

  #move(state: BreakerState): void {
    if (state === 'half-open') {
      this.#round++
      this.#trialsOut = 0
      this.#trialsPassed = 0
    }
    if (this.#state === state) return
    this.#state = state
    this.#onChange?.(state)
  }
}

function stripUndefined<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(options).filter(([, v]) => v !== undefined),
  ) as Partial<T>
}
