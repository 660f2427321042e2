/** @module WEIGHTED_ROUND_ROBIN: nginx's smooth weighted round robin. */
import type { Target } from '../../registry/target.ts'
import type { Strategy } from './strategy.ts'

/** The running "current weight" nginx keeps per peer, boxed so a pick costs one lookup per target. */
interface Slot {
  current: number
}

/**
 * weightedRoundRobin returns a strategy that gives each available target a share of picks
 * proportional to its `weight`, interleaved rather than in bursts: weights 5, 1, 1 give
 * `a a b a c a a`, then repeat. Weights are read at every pick, so a changed weight takes effect
 * at once. Excluded targets take no part in a pick (they neither gain weight nor count in the
 * total), as nginx skips the peers a request has already tried. Ties go to the earlier target.
 */
export function weightedRoundRobin(): Strategy {
  // Keyed by Target, not by position, so a target keeps its place in the cycle while others come,
  // go or reorder; a WeakMap lets targets the registry has dropped be collected (bounded state).
  const slots = new WeakMap<Target, Slot>()
  return {
    pick(available, _ctx, exclude) {
      // nginx's smooth WRR (ngx_http_upstream_get_peer in src/http/ngx_http_upstream_round_robin.c):
      // every candidate gains its weight, the largest current weight wins, and the winner pays
      // back the total, so over one cycle each target wins exactly `weight` times.
      let total = 0
      let best: Slot | undefined
      let bestTarget: Target | undefined
      for (let i = 0; i < available.length; i++) {
        const target = available[i] as Target
        if (exclude?.has(target)) continue
        let slot = slots.get(target)
        if (slot === undefined) {
          slot = { current: 0 }
          slots.set(target, slot)
        }
        slot.current += target.weight
        total += target.weight
        if (best === undefined || slot.current > best.current) {
          best = slot
          bestTarget = target
        }
      }
      if (best !== undefined) best.current -= total
      return bestTarget
    },
  }
}
