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

/**
 * Target is one upstream server. The registry owns it; the proxy reads `isAvailable()` and counts
 * requests; the supervisor and health checks move its `state`. Counters are plain numbers because
 * the edge runs on one thread.
 */
export class Target {
  readonly id: string
  readonly host: string
  readonly port: number
  /** `http://host:port`, the origin the upstream client dials (built once, not per request). */
  readonly origin: string
  weight: number
  #state: TargetState
  /** Requests currently being forwarded to this target (what LEAST_CONNECTIONS really counts). */
  inFlight = 0
  /** Consecutive passive failures since the last success. */
  fails = 0
  /** Exponentially weighted moving average of response time, in milliseconds (0 until measured). */
  latencyEwmaMs = 0
  /** Set by an operator (`POST …/dead`): keeps the target out of rotation whatever its health says. */
  markedDead = false

  constructor(init: TargetInit) {
    this.id = init.id
    this.host = init.host
    this.port = init.port
    this.origin = `http://${this.address()}`
    this.weight = init.weight ?? 1
    this.#state = init.state ?? 'starting'
  }

  get state(): TargetState {
    return this.#state
  }

  /**
   * setState moves the target to `next` and returns true when that is a change (an edge, not a
   * level: callers emit events and wake queues only on true).
   */
  setState(next: TargetState): boolean {
    if (this.#state === next) return false
    this.#state = next
    return true
  }

  /** isAvailable is the one predicate balancing uses: healthy and not marked dead by hand. */
  isAvailable(): boolean {
    return this.#state === 'healthy' && !this.markedDead
  }

  /** isStarting reports whether the target may become available soon (requests may wait for it). */
  isStarting(): boolean {
    return this.#state === 'starting' && !this.markedDead
  }

  /** address returns `host:port`, bracketing IPv6 literals. */
  address(): string {
    return this.host.includes(':') ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`
  }
}
