/** @module The Strategy interface and the table of strategies by name. */
import type { StrategyName } from '../../config/schema.ts'
import type { Target } from '../../registry/target.ts'
import { ipHash } from './ip-hash.ts'
import { leastConnections } from './least-connections.ts'
import { leastLatency } from './least-latency.ts'
import { random } from './random.ts'
import { roundRobin } from './round-robin.ts'
import { weightedRoundRobin } from './weighted-round-robin.ts'

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

/**
 * STRATEGIES makes a fresh strategy for a name; call it once per route, since stateful strategies
 * (round robin, weighted round robin, least latency) keep their position in the closure.
 */
export const STRATEGIES: Record<StrategyName, () => Strategy> = {
  ROUND_ROBIN: roundRobin,
  WEIGHTED_ROUND_ROBIN: weightedRoundRobin,
  LEAST_CONNECTIONS: leastConnections,
  IP_HASH: ipHash,
  RANDOM: () => random(),
  LEAST_LATENCY: leastLatency,
}
