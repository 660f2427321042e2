import { describe, expect, it } from 'vitest'
import { parseRate } from '../../config/policy-values.ts'
import { bucketSpec, TokenBucket } from './token-bucket.ts'

describe('parseRate', () => {
  it('reads counts per second, minute and hour', () => {
    expect(parseRate('100/s')).toEqual({ count: 100, windowMs: 1000 })
    expect(parseRate('6000/m')).toEqual({ count: 6000, windowMs: 60_000 })
    expect(parseRate(' 5 / h ')).toEqual({ count: 5, windowMs: 3_600_000 })
  })

  it('says what to write for a bad rate', () => {
    for (const bad of ['5/x', '0/s', '-1/s', '1.5/s', 's', '', '100'])
      expect(parseRate(bad), bad).toMatch(/expected a rate such as "100\/s"/)
  })
})

describe('TokenBucket', () => {
  it('starts full, admits a burst, then refills at the rate', () => {
    const bucket = new TokenBucket(bucketSpec({ count: 10, windowMs: 1000 }, 3), 0)
    expect([bucket.tryTake(0), bucket.tryTake(0), bucket.tryTake(0), bucket.tryTake(0)]).toEqual([
      true,
      true,
      true,
      false,
    ])
    expect(bucket.msUntil(1, 0)).toBe(100)
    expect(bucket.tryTake(99)).toBe(false)
    expect(bucket.tryTake(100)).toBe(true)
    expect(bucket.tokens(10_000)).toBe(3)
  })

  it('grants partial batches and takes returned tokens back up to capacity', () => {
    const bucket = new TokenBucket({ ratePerMs: 0.01, capacity: 5 }, 0)
    expect(bucket.takeUpTo(8, 0)).toBe(5)
    expect(bucket.takeUpTo(8, 250)).toBe(2)
    bucket.give(10, 250)
    expect(bucket.tokens(250)).toBe(5)
    expect(bucket.isFull(250)).toBe(true)
  })

  it('ignores a clock that steps back', () => {
    const bucket = new TokenBucket({ ratePerMs: 1, capacity: 2 }, 1000)
    bucket.takeUpTo(2, 1000)
    expect(bucket.tokens(500)).toBe(0)
    expect(bucket.tokens(1001)).toBe(1)
  })
})
