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
