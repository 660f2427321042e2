import { describe, expect, it } from 'vitest'
import {
  ACME_MIN_RENEWAL_SPACING_MS,
  ACME_RATE_LIMIT_PAUSE_MS,
  ACME_RETRY_BASE_MS,
  ACME_RETRY_MAX_MS,
} from '../config/defaults.ts'
import { nextRenewalMs, renewAtMs, retryDelayMs } from './schedule.ts'

const DAY = 86_400_000
const ninetyDays = { notBeforeMs: 0, notAfterMs: 90 * DAY }

describe('renewAtMs', () => {
  it('renews a 90-day certificate after 60 days with the default window of 1/3', () => {
    expect(renewAtMs(ninetyDays, 1 / 3)).toBe(60 * DAY)
  })

  it('renews at once (at notBefore) with a window of 1', () => {
    expect(renewAtMs({ notBeforeMs: 5, notAfterMs: 6 * DAY }, 1)).toBe(5)
  })
})

describe('nextRenewalMs', () => {
  it('uses the renewal time for a certificate loaded from disk', () => {
    expect(nextRenewalMs(ninetyDays, 1, undefined)).toBe(0)
  })

  it('keeps a certificate obtained by this process for at least the minimum spacing', () => {
    expect(nextRenewalMs(ninetyDays, 1, 1_000)).toBe(1_000 + ACME_MIN_RENEWAL_SPACING_MS)
    expect(nextRenewalMs(ninetyDays, 1 / 3, 1_000)).toBe(60 * DAY)
  })
})

describe('retryDelayMs', () => {
  const middle = () => 0.5
  it('doubles from the base per failure, capped', () => {
    expect([1, 2, 3].map((n) => retryDelayMs(n, {}, middle))).toEqual([
      ACME_RETRY_BASE_MS,
      2 * ACME_RETRY_BASE_MS,
      4 * ACME_RETRY_BASE_MS,
    ])
    expect(retryDelayMs(40, {}, middle)).toBe(ACME_RETRY_MAX_MS)
  })

  it('jitters by ±20 %', () => {
    expect(retryDelayMs(1, {}, () => 0)).toBe(0.8 * ACME_RETRY_BASE_MS)
    expect(retryDelayMs(1, {}, () => 0.999_999)).toBeCloseTo(1.2 * ACME_RETRY_BASE_MS, -2)
  })

  it("honours the server's Retry-After when it is longer", () => {
    expect(retryDelayMs(1, { retryAfterMs: 3 * 60 * 60_000 }, middle)).toBe(3 * 60 * 60_000)
    expect(retryDelayMs(3, { retryAfterMs: 1_000 }, middle)).toBe(4 * ACME_RETRY_BASE_MS)
  })

  it('pauses at least an hour after a rate limit without Retry-After', () => {
    expect(retryDelayMs(1, { rateLimited: true }, middle)).toBe(ACME_RATE_LIMIT_PAUSE_MS)
  })
})
