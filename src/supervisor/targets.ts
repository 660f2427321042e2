/** @module Target moves for instances: change a target's port or id without a moment where a waiting request sees nothing to wait for. */

import { setTimeout as delay } from 'node:timers/promises'
import type { Target, TargetState } from '../registry/target.ts'
import type { Upstream } from '../registry/upstream.ts'
import { INSTANCE_HOST } from './instance.ts'

/**
 * Every Upstream change runs the route queues' wake-up at once, and a queue whose upstream has
 * nothing available and nothing `starting` rejects its waiters (503). Removing an instance's
 * target and adding its successor is two changes, so each move below first adds a stand-in
 * in the same state, making the intermediate upstream as good as the final one.
 */

/**
 * moveTarget points target `id` at `host:port`, keeping its id and `state`. A target object's
 * address cannot change, so the object is replaced: requests in flight finish on the old one,
 * and the new one starts with no in-flight count, failures or latency history.
 */
export function moveTarget(
  upstream: Upstream,
  id: string,
  port: number,
  state: TargetState,
  host: string = INSTANCE_HOST,
): void {
  const standIn = `${id}.moving`
  upstream.add({ id: standIn, host, port, state })
  upstream.remove(id)
  upstream.add({ id, host, port, state })
  upstream.remove(standIn)
}

/**
 * renameTarget gives the target `from` the id `to` (a reload's replacement taking over its
 * slot), with the same port and `state`. A target already registered as `to` is dropped first:
 * it belongs to the instance that was replaced, which must be stopped by then.
 */
export function renameTarget(
  upstream: Upstream,
  from: string,
  to: string,
  state: TargetState,
): void {
  const target = upstream.get(from)
  if (!target) return
  upstream.remove(to)
  upstream.add({ id: to, host: target.host, port: target.port, state })
  upstream.remove(from)
}

/** How often a drain looks at a target's in-flight count, in milliseconds. */
const DRAIN_POLL_MS = 20

/**
 * waitUntilDrained resolves true once `target` has no request (or WebSocket) in flight, or false
 * when `timeoutMs` passes or `signal` aborts first. The target must be out of rotation already,
 * or the count may never reach 0.
 */
export async function waitUntilDrained(
  target: Target,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (target.inFlight > 0 && Date.now() < deadline && !signal?.aborted) {
    await delay(DRAIN_POLL_MS)
  }
  return target.inFlight === 0
}
