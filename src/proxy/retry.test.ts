import { describe, expect, it } from 'vitest'
import { MAX_DIAL_RETRIES, shouldRetry } from './retry.ts'

describe('shouldRetry', () => {
  it('retries dial failures for any method, up to the limit', () => {
    expect(shouldRetry({ failure: 'dial', method: 'POST', hasBody: true, retries: 0 })).toBe(true)
    expect(
      shouldRetry({ failure: 'dial', method: 'POST', hasBody: true, retries: MAX_DIAL_RETRIES }),
    ).toBe(false)
  })

  it('retries a reset only for body-less safe methods, once', () => {
    expect(shouldRetry({ failure: 'reset', method: 'GET', hasBody: false, retries: 0 })).toBe(true)
    expect(shouldRetry({ failure: 'reset', method: 'GET', hasBody: false, retries: 1 })).toBe(false)
    expect(shouldRetry({ failure: 'reset', method: 'POST', hasBody: false, retries: 0 })).toBe(
      false,
    )
    expect(shouldRetry({ failure: 'reset', method: 'GET', hasBody: true, retries: 0 })).toBe(false)
  })

  it('never replays a sent body or a timeout', () => {
    expect(shouldRetry({ failure: 'sent', method: 'GET', hasBody: true, retries: 0 })).toBe(false)
    expect(shouldRetry({ failure: 'timeout', method: 'GET', hasBody: false, retries: 0 })).toBe(
      false,
    )
  })
})

describe('shouldRetry with a route policy', () => {
  const get = { method: 'GET', hasBody: false }

  it('keeps the defaults when the policy leaves a field out', () => {
    expect(shouldRetry({ failure: 'dial', ...get, retries: 1 }, {})).toBe(true)
    expect(shouldRetry({ failure: 'dial', ...get, retries: 2 }, {})).toBe(false)
    expect(shouldRetry({ failure: 'status', ...get, status: 503, retries: 0 }, {})).toBe(false)
  })

  it('uses `retries` as the limit for every kind of failure', () => {
    const policy = { retries: 4 }
    expect(shouldRetry({ failure: 'dial', ...get, retries: 3 }, policy)).toBe(true)
    expect(shouldRetry({ failure: 'dial', ...get, retries: 4 }, policy)).toBe(false)
    expect(shouldRetry({ failure: 'reset', ...get, retries: 3 }, policy)).toBe(true)
    expect(shouldRetry({ failure: 'reset', ...get, retries: 0 }, { retries: 0 })).toBe(false)
  })

  it('retries a listed status only for an idempotent request without a body', () => {
    const policy = { retries: 2, retryOn: new Set([502, 503]) }
    const state = { failure: 'status' as const, status: 503, retries: 0 }
    expect(shouldRetry({ ...state, ...get }, policy)).toBe(true)
    expect(shouldRetry({ ...state, method: 'DELETE', hasBody: false }, policy)).toBe(true)
    expect(shouldRetry({ ...state, method: 'PUT', hasBody: true }, policy)).toBe(false)
    expect(shouldRetry({ ...state, method: 'POST', hasBody: false }, policy)).toBe(false)
    expect(shouldRetry({ ...state, ...get, status: 500 }, policy)).toBe(false)
    expect(shouldRetry({ ...state, ...get, retries: 2 }, policy)).toBe(false)
  })

  it('starts no retry once tryDuration has passed', () => {
    const policy = { tryDurationMs: 1_000 }
    expect(shouldRetry({ failure: 'dial', ...get, retries: 0, elapsedMs: 999 }, policy)).toBe(true)
    expect(shouldRetry({ failure: 'dial', ...get, retries: 0, elapsedMs: 1_000 }, policy)).toBe(
      false,
    )
  })
})
