/** @module LEAST_CONNECTIONS: the target with the fewest requests in flight, ties in turn. */
import { minBy } from './min-by.ts'
import type { Strategy } from './strategy.ts'

/**
 * leastConnections returns a strategy that picks the available target with the fewest requests
 * in flight (it counts requests, not TCP connections, like Caddy's least_conn). Ties rotate, so
 * sequential requests still spread across instances.
 */
export function leastConnections(): Strategy {
  return minBy((target) => target.inFlight)
}
