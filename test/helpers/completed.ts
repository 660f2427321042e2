/** @module completedEvent: a synthetic `request:completed` payload for tests of its subscribers. */
import type { RequestCompleted } from '../../src/observe/events.ts'

/**
 * completedEvent returns a fresh `request:completed` payload: a 10 ms `GET /` answered 200 by
 * target `web#0` of app `web` on route `web.localhost`, no queueing, retries or bytes, with
 * `overrides` applied on top. Tests of the Tracker, Metrics and the stats API emit it on an
 * EventBus; nothing to clean up.
 */
export function completedEvent(overrides: Partial<RequestCompleted> = {}): RequestCompleted {
  return {
    requestId: 'r',
    route: 'web.localhost',
    app: 'web',
    target: 'web#0',
    method: 'GET',
    path: '/',
    status: 200,
    durationMs: 10,
    queueMs: 0,
    retries: 0,
    bytesIn: 0,
    bytesOut: 0,
    ...overrides,
  }
}
