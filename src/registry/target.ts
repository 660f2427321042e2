/** @module Target: one upstream server (an app instance or a static backend) and its live state. */

/** Lifecycle states of a target; `healthy` alone means "in rotation". */
export const TARGET_STATES = [
  'starting',
  'healthy',
  'unhealthy',
  'draining',
  'stopped',
  'crashed',
] as const
export type TargetState = (typeof TARGET_STATES)[number]

/** What a Target is created from. */
export interface TargetInit {
  /** Stable id within its upstream: `web#0` for instances, `hostname:port` (or the given id) for backends. */
  id: string
  host: string
  port: number
  state?: TargetState
  weight?: number
}

// 0.3 weights the newest sample at 30 %: a step change shows half its effect after two samples,
// yet one slow outlier moves the average by less than a third of its excess.
const LATENCY_ALPHA = 0.3

/**
 * Target is one upstream server. The registry owns it: its state changes through its Upstream
 * (which tells the route queues and the listeners), its counters through one method each (Caddy's
 * `hosts.go`: `countRequest`, `countFail`), and everything else reads the getters. Balancing reads
 * `isAvailable()` (through `Upstream.available()`), never the fields behind it. Counters are plain
 * numbers because an edge process runs on one thread.
 */
export class Target {
  #id: string
  readonly host: string
  readonly port: number
  /** `http://host:port`, the origin the upstream client dials (built once, not per request). */
  readonly origin: string
  #weight: number
  #state: TargetState
  #inFlight = 0
  #fails = 0
  #latencyEwmaMs = 0
  #markedDead = false

  constructor(init: TargetInit) {
    this.#id = init.id
    this.host = init.host
    this.port = init.port
    this.origin = `http://${this.address()}`
    this.#weight = init.weight ?? 1
    this.#state = init.state ?? 'starting'
  }

  /** Stable id within its upstream (`web#0`, or a backend's id); changes only by Upstream.rename. */
  get id(): string {
    return this.#id
  }

  get state(): TargetState {
    return this.#state
  }

  /** Relative share for WEIGHTED_ROUND_ROBIN (1 by default). */
  get weight(): number {
    return this.#weight
  }

  /**
   * Requests (and WebSocket tunnels) being forwarded to this target now: what LEAST_CONNECTIONS
   * really counts, and what a drain waits for.
   */
  get inFlight(): number {
    return this.#inFlight
  }

  /** Failed attempts counted by passive health since the last success (within its window). */
  get fails(): number {
    return this.#fails
  }

  /** Exponentially weighted moving average of response time, in milliseconds (0 until measured). */
  get latencyEwmaMs(): number {
    return this.#latencyEwmaMs
  }

  /** Set by an operator (`POST …/dead`): keeps the target out of rotation whatever its health says. */
  get markedDead(): boolean {
    return this.#markedDead
  }

  /**
   * setState moves the target to `next` and returns true when that is a change (an edge, not a
   * level). Only its Upstream calls it: `Upstream.setState` notifies the queues and listeners.
   */
  setState(next: TargetState): boolean {
    if (this.#state === next) return false
    this.#state = next
    return true
  }

  /**
   * setMarkedDead sets the operator's mark; returns true when that is a change. Only its
   * Upstream calls it (`Upstream.setMarkedDead` notifies).
   */
  setMarkedDead(dead: boolean): boolean {
    if (this.#markedDead === dead) return false
    this.#markedDead = dead
    return true
  }

  /** renameTo changes the id; only its Upstream calls it (`Upstream.rename`). */
  renameTo(id: string): void {
    this.#id = id
  }

  /** setWeight changes the WEIGHTED_ROUND_ROBIN weight (read at every pick). */
  setWeight(weight: number): void {
    this.#weight = weight
  }

  /**
   * countRequest adds `delta` to the in-flight count: +1 when a request or tunnel is given to this
   * target, -1 when it ends (the primary applies its workers' totals as one delta).
   */
  countRequest(delta: number): void {
    this.#inFlight += delta
  }

  /** setFailures records how many recent failures passive health counts (0 after a success). */
  setFailures(count: number): void {
    this.#fails = count
  }

  /**
   * recordLatency folds one response time `ms` (≥ 0) into `latencyEwmaMs`: the first sample sets
   * it, each later one moves it by `alpha` (0 < alpha ≤ 1; default 0.3) of the difference. A
   * sample that is negative or not finite is ignored (one NaN would poison the average for good);
   * a 0 ms average reads as unmeasured, which is harmless since 0 is also the lowest.
   */
  recordLatency(ms: number, alpha = LATENCY_ALPHA): void {
    if (!Number.isFinite(ms) || ms < 0) return
    const previous = this.#latencyEwmaMs
    this.#latencyEwmaMs = previous === 0 ? ms : previous + alpha * (ms - previous)
  }

  /** isAvailable is the one predicate balancing uses: healthy and not marked dead by hand. */
  isAvailable(): boolean {
    return this.#state === 'healthy' && !this.#markedDead
  }

  /** isStarting reports whether the target may become available soon (requests may wait for it). */
  isStarting(): boolean {
    return this.#state === 'starting' && !this.#markedDead
  }

  /** address returns `host:port`, bracketing IPv6 literals. */
  address(): string {
    return this.host.includes(':') ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`
  }
}
