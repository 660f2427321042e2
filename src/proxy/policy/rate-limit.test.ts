import { describe, expect, it } from 'vitest'
import type { Verdict } from './policy.ts'
import { keyOf, localTokenSource, rateLimitPolicy, TAKEN } from './rate-limit.ts'
import { requestView } from './request.fixture.ts'
import { bucketSpec } from './token-bucket.ts'

function syncVerdict(verdict: Verdict | Promise<Verdict>): Verdict {
  if (verdict instanceof Promise) throw new Error('expected a synchronous verdict')
  return verdict
}

describe('rateLimitPolicy', () => {
  it('admits a burst, then answers 429 with Retry-After and the RateLimit fields', () => {
    let clock = 0
    const rate = { count: 5, windowMs: 1000 }
    const policy = rateLimitPolicy({
      vHost: 'a.test',
      rate,
      key: 'ip',
      source: localTokenSource(bucketSpec(rate, 2), 100),
      now: () => clock,
    })
    const request = requestView()
    expect(syncVerdict(policy.check(request)).kind).toBe('continue')
    expect(syncVerdict(policy.check(request)).kind).toBe('continue')
    const throttled = syncVerdict(policy.check(request))
    if (throttled.kind !== 'reject') throw new Error('expected a rejection')
    expect(throttled.error.statusCode).toBe(429)
    expect(throttled.error.code).toBe('PTC_ERR_RATE_LIMITED')
    expect(throttled.headers).toEqual([
      'Retry-After',
      '1',
      'RateLimit',
      '"default";r=0;t=1',
      'RateLimit-Policy',
      '"default";q=5;w=1',
    ])
    clock = 200
    expect(syncVerdict(policy.check(request)).kind).toBe('continue')
  })

  it('keeps one bucket per client address', () => {
    const rate = { count: 1, windowMs: 60_000 }
    const policy = rateLimitPolicy({
      vHost: 'a.test',
      rate,
      key: 'ip',
      source: localTokenSource(bucketSpec(rate), 100),
      now: () => 0,
    })
    expect(syncVerdict(policy.check(requestView({ clientAddress: '10.0.0.1' }))).kind).toBe(
      'continue',
    )
    expect(syncVerdict(policy.check(requestView({ clientAddress: '10.0.0.1' }))).kind).toBe(
      'reject',
    )
    expect(syncVerdict(policy.check(requestView({ clientAddress: '10.0.0.2' }))).kind).toBe(
      'continue',
    )
  })

  it('reports the minute window in RateLimit-Policy and waits for the next token', () => {
    const rate = { count: 60, windowMs: 60_000 }
    const policy = rateLimitPolicy({
      vHost: 'a.test',
      rate,
      key: 'ip',
      source: localTokenSource(bucketSpec(rate, 1), 100),
      now: () => 0,
    })
    syncVerdict(policy.check(requestView()))
    const throttled = syncVerdict(policy.check(requestView()))
    expect(throttled.kind === 'reject' && throttled.headers).toContain('"default";q=60;w=60')
    expect(throttled.kind === 'reject' && throttled.headers[1]).toBe('1')
  })

  it('maps an asynchronous source the same way', async () => {
    const policy = rateLimitPolicy({
      vHost: 'a.test',
      rate: { count: 1, windowMs: 1000 },
      key: 'ip',
      source: { take: async () => ({ ok: false, retryAfterMs: 2500 }) },
    })
    const verdict = await policy.check(requestView())
    expect(verdict.kind === 'reject' && verdict.headers.slice(0, 2)).toEqual(['Retry-After', '3'])
    const open = rateLimitPolicy({
      vHost: 'a.test',
      rate: { count: 1, windowMs: 1000 },
      key: 'ip',
      source: { take: async () => TAKEN },
    })
    expect((await open.check(requestView())).kind).toBe('continue')
  })
})

describe('keyOf', () => {
  it('hashes header values, never keeping them, and falls back to the address', () => {
    const withKey = requestView({ headers: { 'x-api-key': 'secret-key-1' } })
    const key = keyOf(withKey, 'header:X-Api-Key')
    expect(key).not.toContain('secret')
    expect(key).toMatch(/^h[\w-]{43}$/)
    expect(
      keyOf(requestView({ headers: { 'x-api-key': 'secret-key-2' } }), 'header:x-api-key'),
    ).not.toBe(key)
    expect(keyOf(requestView({ clientAddress: '10.0.0.9' }), 'header:x-api-key')).toBe('10.0.0.9')
    expect(keyOf(requestView({ clientAddress: '::1' }), 'ip')).toBe('::1')
  })
})

describe('localTokenSource', () => {
  it('forgets the least recently used key past maxKeys (that key starts full again)', () => {
    const source = localTokenSource({ ratePerMs: 0, capacity: 1 }, 2)
    expect(source.take('a', 0)).toBe(TAKEN)
    expect(source.take('a', 0)).toEqual({ ok: false, retryAfterMs: Number.POSITIVE_INFINITY })
    source.take('b', 0)
    source.take('c', 0)
    expect(source.take('a', 0)).toBe(TAKEN)
  })
})
