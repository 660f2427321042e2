/** @module IP_HASH: the same client IP goes to the same target (rendezvous hashing). */
import type { Target } from '../../registry/target.ts'
import type { Strategy } from './strategy.ts'

const FNV_OFFSET_BASIS = 0x811c9dc5
const FNV_PRIME = 0x01000193
const SEPARATOR = 0x7c // '|', so ip "1" + id "2|3" cannot collide with ip "1|2" + id "3"

/** fnv1a continues a 32-bit FNV-1a hash `h` over the UTF-16 code units of `s`. */
function fnv1a(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME)
  return h
}

/** mix32 is MurmurHash3's fmix32 finaliser; returns an unsigned 32-bit score. */
function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

/**
 * ipHash returns a strategy that sends each `ctx.clientIp` to the target with the highest
 * score hash(ip | target.id). The pick depends only on the IP and the ids present, not on their
 * order: while the set is unchanged an IP always lands on the same target; when a target joins it
 * takes about 1/n of the clients, and when one leaves only its own clients move. With `exclude`
 * the IP gets its next-highest-scoring target, so retries are just as stable. Weights are
 * ignored. Stateless: no allocation per pick.
 */
export function ipHash(): Strategy {
  return {
    pick(available, ctx, exclude) {
      // Rendezvous (highest random weight) hashing, Thaler & Ravishankar 1998: unlike `hash % n`,
      // changing n only moves the clients whose best target changed.
      const seed = Math.imul(fnv1a(FNV_OFFSET_BASIS, ctx.clientIp) ^ SEPARATOR, FNV_PRIME)
      let best: Target | undefined
      let bestScore = -1
      for (let i = 0; i < available.length; i++) {
        const target = available[i] as Target
        if (exclude?.has(target)) continue
        // FNV-1a alone barely spreads a difference in the last character (`web#0` vs `web#1`),
        // which would bias the ranking; the finaliser makes every input bit flip half the output.
        const score = mix32(fnv1a(seed, target.id))
        if (
          score > bestScore ||
          (score === bestScore && best !== undefined && target.id < best.id)
        ) {
          best = target
          bestScore = score
        }
      }
      return best
    },
  }
}
