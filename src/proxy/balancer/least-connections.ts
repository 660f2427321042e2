/** @module LEAST_CONNECTIONS: the target with the fewest requests in flight, ties in turn. */
import type { Target } from '../../registry/target.ts'
import type { Strategy } from './strategy.ts'

/**
 * leastConnections returns a strategy that picks the available target with the fewest requests
 * in flight (it counts requests, not TCP connections, like Caddy's least_conn). Ties rotate, so
 * sequential requests still spread across instances.
 */
export function leastConnections(): Strategy {
  let offset = 0
  return {
    pick(available, _ctx, exclude) {
      const n = available.length
      let best: Target | undefined
      for (let i = 0; i < n; i++) {
        const target = available[(offset + i) % n] as Target
        if (exclude?.has(target)) continue
        if (best === undefined || target.inFlight < best.inFlight) best = target
      }
      offset = n === 0 ? 0 : (offset + 1) % n
      return best
    },
  }
}
