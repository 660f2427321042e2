/** @module FallRise: a target's health from probe results, with fall/rise hysteresis (HAProxy). */

/** Failed probes in a row that take a healthy target out of rotation, by default. */
export const DEFAULT_FALL = 2
/** Passing probes in a row that bring an unhealthy target back, by default. */
export const DEFAULT_RISE = 2

/** A change of health, reported only on the probe that causes it. */
export type HealthEdge = 'fell' | 'rose'

/**
 * FallRise turns a stream of probe results into health edges: `fall` failures in a row take a
 * healthy target down, `rise` passes in a row bring a down one back; any other result resets the
 * opposite streak. `record` returns the edge or undefined, so events and registry updates happen
 * only on change (Caddy's setHealthy), never once per probe. Pure: the caller owns the timer and
 * the probe (one FallRise per target, kept while the target exists).
 */
export class FallRise {
  readonly fall: number
  readonly rise: number
  #healthy: boolean
  #streak = 0

  constructor(options: { fall?: number; rise?: number; healthy?: boolean } = {}) {
    this.fall = Math.max(1, options.fall ?? DEFAULT_FALL)
    this.rise = Math.max(1, options.rise ?? DEFAULT_RISE)
    this.#healthy = options.healthy ?? true
  }

  /** Whether the target counts as healthy now. */
  get healthy(): boolean {
    return this.#healthy
  }

  /** record takes one probe result; returns 'fell' or 'rose' when it changes the health. */
  record(passed: boolean): HealthEdge | undefined {
    // A result that agrees with the current health ends any streak against it.
    if (passed === this.#healthy) {
      this.#streak = 0
      return undefined
    }
    this.#streak++
    if (this.#streak < (this.#healthy ? this.fall : this.rise)) return undefined
    this.#healthy = passed
    this.#streak = 0
    return passed ? 'rose' : 'fell'
  }

  /** reset sets the health from outside (the supervisor, an operator) and clears the streak. */
  reset(healthy: boolean): void {
    this.#healthy = healthy
    this.#streak = 0
  }
}
