/** @module ROUND_ROBIN: each available target in turn. */
import type { Target } from '../../registry/target.ts'
import type { Strategy } from './strategy.ts'

/** roundRobin returns a strategy that cycles through the available targets in order. */
export function roundRobin(): Strategy {
  let next = 0
  return {
    pick(available, _ctx, exclude) {
      const n = available.length
      for (let i = 0; i < n; i++) {
        const target = available[(next + i) % n] as Target
        if (exclude?.has(target)) continue
        next = (next + i + 1) % n
        return target
      }
      return undefined
    },
  }
}
