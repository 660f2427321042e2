/** @module LEAST_LATENCY: the target with the lowest average response time, unmeasured first. */
import { minBy } from './min-by.ts'
import type { Strategy } from './strategy.ts'

/**
 * leastLatency returns a strategy that picks the available, non-excluded target with the lowest
 * `latencyEwmaMs`. Unmeasured targets (0) sort first, so each new target is tried until it has a
 * sample; ties (all unmeasured, or equal averages) rotate. The average moves only when someone
 * calls `Target.recordLatency`: a target that measured slow is not picked again until the others are
 * slower still, so its stale average is only refreshed by other samples (e.g. health probes).
 */
export function leastLatency(): Strategy {
  return minBy((target) => target.latencyEwmaMs)
}
