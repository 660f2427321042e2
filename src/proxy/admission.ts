/** @module Admission: per-route in-flight limit plus a bounded FIFO queue with timeout and abort. */

/** Why a request was not admitted. */
export type Rejection = 'full' | 'timeout' | 'no-target' | 'closed'

/** Options of an Admission; see the route options `reqActiveLength`, `reqQueueLength`. */
export interface AdmissionOptions {
  maxActive: number
  maxQueue: number
  queueTimeoutMs: number
  /**
   * canServe reports whether a granted request would find a target now; queued requests wait
   * while it is false (an instance is starting), as if no slot were free.
   */
  canServe: () => boolean
  /** mayServeSoon reports whether waiting makes sense (some target is starting). */
  mayServeSoon: () => boolean
}

interface Waiter {
  grant: (rejection: Rejection | undefined) => void
  timer: NodeJS.Timeout
  done: boolean
}

/**
 * Admission decides when a request may be forwarded. At most `maxActive` requests hold a slot;
 * up to `maxQueue` more wait in FIFO order for a slot *and* an available target, each for at most
 * `queueTimeoutMs`. Past that, or when nothing is starting that could serve them, they are
 * rejected at once. Every granted slot must be given back with `release()` exactly once.
 * Call `wake()` whenever target availability changes (the upstream's onChange does).
 */
export class Admission {
  #options: AdmissionOptions
  #active = 0
  #queue: (Waiter | undefined)[] = []
  #head = 0
  #queued = 0
  #closed = false

  constructor(options: AdmissionOptions) {
    this.#options = options
  }

  /** Requests holding a slot. */
  get active(): number {
    return this.#active
  }

  /** Requests waiting in the queue. */
  get queued(): number {
    return this.#queued
  }

  /** The slot and queue limits enforced (a worker's share of the route's, with edge workers). */
  get limits(): { maxActive: number; maxQueue: number } {
    return { maxActive: this.#options.maxActive, maxQueue: this.#options.maxQueue }
  }

  /**
   * tryAcquire takes a slot at once if one is free, nobody is queued and a target can serve;
   * it is the allocation-free fast path of the request loop. Returns whether it took a slot.
   */
  tryAcquire(): boolean {
    if (
      this.#closed ||
      this.#queued > 0 ||
      this.#active >= this.#options.maxActive ||
      !this.#options.canServe()
    ) {
      return false
    }
    this.#active++
    return true
  }

  /**
   * acquire resolves to undefined when the request holds a slot, or to the reason it will not
   * get one. `signal` aborts the wait (the client went away): the waiter leaves the queue and
   * the promise resolves to 'closed'. The fast path (slot free, target available) is synchronous
   * in effect: it returns an already-resolved promise.
   */
  acquire(signal?: AbortSignal): Promise<Rejection | undefined> | Rejection | undefined {
    if (this.#closed) return 'closed'
    if (this.#queued === 0 && this.#active < this.#options.maxActive && this.#options.canServe()) {
      this.#active++
      return undefined
    }
    if (!this.#options.canServe() && !this.#options.mayServeSoon()) return 'no-target'
    if (this.#queued >= this.#options.maxQueue) return 'full'
    return this.#enqueue(signal)
  }

  /** release gives a slot back and lets the next waiter in. */
  release(): void {
    this.#active--
    this.wake()
  }

  /** wake grants waiting requests while slots and targets allow, or rejects them if hopeless. */
  wake(): void {
    while (this.#queued > 0) {
      if (this.#active >= this.#options.maxActive) return
      if (!this.#options.canServe()) {
        if (this.#options.mayServeSoon()) return
        this.#rejectAll('no-target')
        return
      }
      const waiter = this.#shift()
      if (waiter === undefined) return
      this.#active++
      this.#finish(waiter, undefined)
    }
  }

  /** close rejects every waiter and all later requests (shutdown). */
  close(): void {
    this.#closed = true
    this.#rejectAll('closed')
  }

  #enqueue(signal: AbortSignal | undefined): Promise<Rejection | undefined> {
    return new Promise((resolve) => {
      const waiter: Waiter = {
        grant: resolve,
        done: false,
        timer: setTimeout(() => this.#leave(waiter, 'timeout'), this.#options.queueTimeoutMs),
      }
      this.#queue.push(waiter)
      this.#queued++
      signal?.addEventListener('abort', () => this.#leave(waiter, 'closed'), { once: true })
    })
  }

  #leave(waiter: Waiter, rejection: Rejection): void {
    if (waiter.done) return
    const index = this.#queue.indexOf(waiter, this.#head)
    if (index !== -1) this.#queue[index] = undefined
    this.#queued--
    this.#finish(waiter, rejection)
  }

  #shift(): Waiter | undefined {
    while (this.#head < this.#queue.length) {
      const waiter = this.#queue[this.#head++]
      if (waiter !== undefined) {
        this.#queued--
        this.#compact()
        return waiter
      }
    }
    this.#compact()
    return undefined
  }

  #compact(): void {
    // Drop consumed slots once they dominate, so the array never grows past ~2× the queue bound.
    if (this.#head > 64 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
  }

  #rejectAll(rejection: Rejection): void {
    for (let waiter = this.#shift(); waiter !== undefined; waiter = this.#shift())
      this.#finish(waiter, rejection)
  }

  #finish(waiter: Waiter, rejection: Rejection | undefined): void {
    waiter.done = true
    clearTimeout(waiter.timer)
    waiter.grant(rejection)
  }
}
