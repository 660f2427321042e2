/** @module The Strategy interface and the table of strategies by name. */
import type { StrategyName } from '../../config/schema.ts'
import type { Target } from '../../registry/target.ts'
import { leastConnections } from './least-connections.ts'
import { roundRobin } from './round-robin.ts'

/** What a strategy may know about the request it places. */
export interface PickContext {
  /** Client address, for IP_HASH. */
  clientIp: string
}

/**
 * Strategy picks one target from the available ones (all of which satisfy `isAvailable()`), or
 * returns undefined when `available` is empty. `exclude` holds targets already tried by this
 * request (retries go to a different target); when every available target is excluded, pick
 * returns undefined.
 * Stateful strategies are closures made per route.
 */
export interface Strategy {
  pick(
    available: readonly Target[],
    ctx: PickContext,
    exclude?: ReadonlySet<Target>,
  ): Target | undefined
}

/** STRATEGIES makes a fresh strategy for a name. Names not implemented yet fall back to round robin. */
export const STRATEGIES: Record<StrategyName, () => Strategy> = {
  ROUND_ROBIN: roundRobin,
  WEIGHTED_ROUND_ROBIN: roundRobin,
  LEAST_CONNECTIONS: leastConnections,
  IP_HASH: roundRobin,
  RANDOM: roundRobin,
  LEAST_LATENCY: leastConnections,
}
