/** @module waitUntilDrained: wait for a target out of rotation to finish what it is serving. */
import { setTimeout as delay } from 'node:timers/promises'
import type { Target } from './target.ts'

/** How often a drain looks at a target's in-flight count, in milliseconds. */
const DRAIN_POLL_MS = 20

/**
 * waitUntilDrained resolves true once `target` has no request (or WebSocket) in flight, or false
 * when `timeoutMs` passes or `signal` aborts first. The target must be out of rotation already,
 * or the count may never reach 0. With edge workers the count is the workers' sum (plus one per
 * worker that has not yet seen the target leave rotation), so the drain covers them too.
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
