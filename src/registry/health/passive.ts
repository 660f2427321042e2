/** @module Passive health: count real request failures per target; eject after too many in a window. */
import type { Target } from '../target.ts'
import type { Upstream } from '../upstream.ts'

/** Failures within the window that eject a target (nginx max_fails, Traefik window). */
export const PASSIVE_MAX_FAILS = 3
/** The window failures are counted in, in milliseconds. */
export const PASSIVE_WINDOW_MS = 10_000

/** What the request path reports to: PassiveHealth itself, or an edge worker's relay to it. */
export interface PassiveCounter {
  /** countFailure records one failed attempt; returns true when it ejected the target. */
  countFailure(upstream: Upstream, target: Target): boolean
  /** countSuccess records a successful attempt (it clears the target's failures). */
  countSuccess(upstream: Upstream, target: Target): void
}

/** Options of PassiveHealth; `now` is injected for tests. */
export interface PassiveHealthOptions {
  maxFails?: number
  windowMs?: number
  now?: () => number
}

/**
 * PassiveHealth watches real traffic. `countFailure` records a connect error or a reset for a
 * target; the `maxFails`-th failure within `windowMs` moves it to `unhealthy` (out of rotation)
 * until an active probe finds it well again. `countSuccess` forgets its failures. Memory per
 * target is bounded by `maxFails` timestamps.
 */
export class PassiveHealth implements PassiveCounter {
  #maxFails: number
  #windowMs: number
  #now: () => number
  #failures = new WeakMap<Target, number[]>()

  constructor(options: PassiveHealthOptions = {}) {
    this.#maxFails = options.maxFails ?? PASSIVE_MAX_FAILS
    this.#windowMs = options.windowMs ?? PASSIVE_WINDOW_MS
    this.#now = options.now ?? Date.now
  }

  /** countFailure records one failure; returns true when it ejected the target. */
  countFailure(upstream: Upstream, target: Target): boolean {
    // A target replaced under the same id (an instance moved) must not be ejected for the old one.
    if (upstream.get(target.id) !== target) return false
    const now = this.#now()
    const recent = (this.#failures.get(target) ?? []).filter((t) => now - t < this.#windowMs)
    recent.push(now)
    target.setFailures(recent.length)
    if (recent.length < this.#maxFails) {
      this.#failures.set(target, recent)
      return false
    }
    this.#failures.delete(target)
    return upstream.setState(target.id, 'unhealthy')
  }

  /** countSuccess clears the target's failure history. */
  countSuccess(_upstream: Upstream, target: Target): void {
    if (target.fails === 0) return
    target.setFailures(0)
    this.#failures.delete(target)
  }
}
