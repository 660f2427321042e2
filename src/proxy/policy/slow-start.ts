/** @module slowStart: a target that joins rotation gets a share of new requests that ramps up over time. */
import type { Target } from '../../registry/target.ts'
import type { Strategy } from '../balancer/strategy.ts'

/** Options of slowStart; `now` and `random` are injected for tests. */
export interface SlowStartOptions {
  /** How long the ramp lasts (`slowStart`), in milliseconds. */
  durationMs: number
  now?: () => number
  /** Returns a number in [0, 1). Default Math.random. */
  random?: () => number
  /**
   * When a target joined rotation, if the caller knows (e.g. from the registry); otherwise the
   * wrapper notes the time it first sees a target appear in the available set.
   */
  availableSince?: (target: Target) => number | undefined
}

/** A joining target takes at least this share from the first moment, so it is probed by traffic. */
export const MIN_SLOW_START_SHARE = 0.05

/**
 * slowStart wraps any strategy (nginx/HAProxy `slow_start`): a target that joined rotation
 * `elapsed` ms ago is accepted when `inner` picks it only with probability elapsed/durationMs
 * (at least MIN_SLOW_START_SHARE); otherwise the pick is repeated without it. So LEAST_CONNECTIONS
 * does not flood an empty new instance and ROUND_ROBIN gives it a growing part of its turns. If
 * every candidate is held back, the first one is taken (slow start never fails a request).
 * Targets present at the first pick (start-up, a new route) are not ramped. Outside ramps the
 * wrapper costs one comparison and allocates nothing.
 */
export function slowStart(inner: Strategy, options: SlowStartOptions): Strategy {
  const { durationMs } = options
  const now = options.now ?? Date.now
  const random = options.random ?? Math.random
  const joinedAt = new WeakMap<Target, number>()
  let members: Set<Target> | undefined
  let seen: readonly Target[] | undefined
  let rampUntil = Number.NEGATIVE_INFINITY

  /** note records targets that appeared since the last available set this wrapper saw. */
  function note(available: readonly Target[], at: number): void {
    seen = available
    const next = new Set(available)
    for (const target of available) {
      if (members?.has(target)) continue
      const since = options.availableSince?.(target) ?? (members === undefined ? undefined : at)
      if (since === undefined) continue
      joinedAt.set(target, since)
      rampUntil = Math.max(rampUntil, since + durationMs)
    }
    members = next
  }

  function share(target: Target, at: number): number {
    const since = joinedAt.get(target)
    if (since === undefined) return 1
    return Math.max(MIN_SLOW_START_SHARE, (at - since) / durationMs)
  }

  return {
    pick(available, ctx, exclude) {
      const at = now()
      if (available !== seen) note(available, at)
      if (at >= rampUntil) return inner.pick(available, ctx, exclude)
      let skipped: Set<Target> | undefined
      let first: Target | undefined
      for (let i = 0; i < available.length; i++) {
        const target = inner.pick(available, ctx, skipped ?? exclude)
        if (target === undefined) break
        const s = share(target, at)
        if (s >= 1 || random() < s) return target
        first ??= target
        skipped ??= new Set(exclude)
        skipped.add(target)
      }
      return first
    },
  }
}
