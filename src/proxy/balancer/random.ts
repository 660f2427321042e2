/** @module RANDOM: a uniformly random available target. */
import type { Target } from '../../registry/target.ts'
import type { Strategy } from './strategy.ts'

/**
 * random returns a strategy that picks uniformly among the available targets not in `exclude`,
 * ignoring weights. `rnd` returns a number in [0, 1) and is called once per pick that has a
 * candidate (never when there is none); inject a scripted one for deterministic tests (Traefik's
 * `rnd`). Default `Math.random`.
 */
export function random(rnd: () => number = Math.random): Strategy {
  return {
    pick(available, _ctx, exclude) {
      let candidates = available.length
      if (exclude !== undefined && exclude.size > 0) {
        candidates = 0
        for (let i = 0; i < available.length; i++)
          if (!exclude.has(available[i] as Target)) candidates++
      }
      if (candidates === 0) return undefined
      // Clamped so an injected rnd that returns 1 (or a float rounding to it) still picks one.
      let k = Math.min(Math.max(Math.floor(rnd() * candidates), 0), candidates - 1)
      if (candidates === available.length) return available[k]
      for (let i = 0; i < available.length; i++) {
        const target = available[i] as Target
        if (exclude?.has(target)) continue
        if (k === 0) return target
        k--
      }
      return undefined
    },
  }
}
