/** @module requestView: a RequestView for unit tests, with overrides. */
import type { RequestView } from './policy.ts'

/** requestView returns a plain GET / from 127.0.0.1 to `a.test` over TLS, with `overrides`. */
export function requestView(overrides: Partial<RequestView> = {}): RequestView {
  return {
    method: 'GET',
    path: '/',
    host: 'a.test',
    clientAddress: '127.0.0.1',
    headers: {},
    upgrade: false,
    secure: true,
    requestId: 'req-1',
    ...overrides,
  }
}
