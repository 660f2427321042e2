/** @module LEAST_LATENCY: the target with the lowest average response time, unmeasured first. */
import type { Target } from '../../registry/target.ts'
import { minBy } from './min-by.ts'
import type { Strategy } from './strategy.ts'

// 0.3 weights the newest sample at 30 %: a step change shows half its effect after two samples,
// yet one slow outlier moves the average by less than a third of its excess.
const DEFAULT_ALPHA = 0.3

/**
 * leastLatency returns a strategy that picks the available, non-excluded target with the lowest
 * `latencyEwmaMs`. Unmeasured targets (0) sort first, so each new target is tried until it has a
 * sample; ties (all unmeasured, or equal averages) rotate. The average moves only when someone
 * calls `recordLatency`: a target that measured slow is not picked again until the others are
 * slower still, so its stale average is only refreshed by other samples (e.g. health probes).
 */
export function leastLatency(): Strategy {
  return minBy((target) => target.latencyEwmaMs)
}

/**
 * recordLatency folds one response time `ms` (≥ 0) into `target.latencyEwmaMs` as an
 * exponentially weighted moving average: the first sample sets it, each later one moves it by
 * `alpha` (0 < alpha ≤ 1; default 0.3) of the difference. Called by the proxy when a response
 * from `target` completes. A sample that is negative or not finite is ignored; a 0 ms average
 * reads as unmeasured, which is harmless since 0 is also the lowest.
 */
export function recordLatency(target: Target, ms: number, alpha = DEFAULT_ALPHA): void {
  // One NaN would poison the average for good, so bad samples are dropped, not stored.
  if (!Number.isFinite(ms) || ms < 0) return
  const previous = target.latencyEwmaMs
  target.latencyEwmaMs = previous === 0 ? ms : previous + alpha * (ms - previous)
}
