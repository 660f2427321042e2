/** @module minBy: pick the available target with the smallest value of a key, ties in turn. */
import type { Target } from '../../registry/target.ts'
import type { Strategy } from './strategy.ts'

/**
 * minBy returns a strategy that picks the available, non-excluded target with the smallest
 * `key(target)`. Each scan starts just past the previous winner, so equal targets take turns and
 * sequential requests spread. LEAST_CONNECTIONS and LEAST_LATENCY are this with different keys.
 */
export function minBy(key: (target: Target) => number): Strategy {
  let next = 0
  return {
    pick(available, _ctx, exclude) {
      const n = available.length
      let best: Target | undefined
      let bestKey = 0
      let bestIndex = 0
      for (let i = 0; i < n; i++) {
        const index = (next + i) % n
        const target = available[index] as Target
        if (exclude?.has(target)) continue
        const value = key(target)
        if (best === undefined || value < bestKey) {
          best = target
          bestKey = value
          bestIndex = index
        }
      }
      if (best !== undefined) next = (bestIndex + 1) % n
      return best
    },
  }
}
