/** @module rateLimitPolicy: a token bucket per client key → 429 with Retry-After and RateLimit fields. */
import { createHash } from 'node:crypto'
import type { Rate } from '../../config/policy-values.ts'
import { errors } from '../../errors.ts'
import { LruMap } from '../../lib/lru-map.ts'
import {
  CONTINUE,
  isPromise,
  type Policy,
  type RequestView,
  reject,
  type Verdict,
} from './policy.ts'
import { type BucketSpec, TokenBucket } from './token-bucket.ts'

/** The outcome of taking one token; `retryAfterMs` says when one will be there (0 when taken). */
export interface TakeResult {
  readonly ok: boolean
  readonly retryAfterMs: number
}

/** The shared "token taken" result: the fast path allocates nothing. */
export const TAKEN: TakeResult = Object.freeze({ ok: true, retryAfterMs: 0 })

/**
 * TokenSource hands out one token per request for a key. In one process it is a table of
 * buckets (localTokenSource); in an edge worker it is a reserve leased from the primary's
 * buckets (rate-lease-client.ts). It answers synchronously whenever it can.
 */
export interface TokenSource {
  take(key: string, now: number): TakeResult | Promise<TakeResult>
}

/** A TokenSource that always answers at once (local buckets). */
export interface SyncTokenSource extends TokenSource {
  take(key: string, now: number): TakeResult
}

/** Keys remembered per rate limit by default; least recently used ones are forgotten past it. */
export const DEFAULT_RATE_LIMIT_MAX_KEYS = 10_000

/**
 * localTokenSource returns buckets of `spec` kept per key, at most `maxKeys` of them (the least
 * recently used key is dropped, which only ever hands that key a fresh, full bucket).
 */
export function localTokenSource(spec: BucketSpec, maxKeys: number): SyncTokenSource {
  const buckets = new LruMap<TokenBucket>(maxKeys)
  return {
    take(key, now) {
      let bucket = buckets.get(key)
      if (bucket === undefined) {
        bucket = new TokenBucket(spec, now)
        buckets.set(key, bucket)
      }
      if (bucket.tryTake(now)) return TAKEN
      return { ok: false, retryAfterMs: bucket.msUntil(1, now) }
    },
  }
}

/** Which requests share a bucket: per client address, or per value of a request header. */
export type RateLimitKey = 'ip' | `header:${string}`

/** Options of rateLimitPolicy. */
export interface RateLimitOptions {
  vHost: string
  rate: Rate
  key: RateLimitKey
  source: TokenSource
  now?: () => number
}

/**
 * keyOf returns the bucket key of a request. Header values are hashed (sha256, base64url): the
 * table never holds an API key or a credential, and a long value costs no more than a short one.
 * A request without the header falls back to its client address, so clients that omit the
 * header do not all share (and exhaust) one bucket.
 */
export function keyOf(request: RequestView, key: RateLimitKey): string {
  if (key === 'ip') return request.clientAddress
  const value = request.headers[key.slice(7).toLowerCase()]
  if (value === undefined || value === '') return request.clientAddress
  const text = typeof value === 'string' ? value : value.join(', ')
  // base64url has no '.' or ':', so a hashed key never equals an address key.
  return `h${createHash('sha256').update(text).digest('base64url')}`
}

/**
 * rateLimitFields returns the IETF httpapi ratelimit-headers fields (draft 11 syntax) for a
 * throttled answer: `RateLimit-Policy: "default";q=<count>;w=<window s>` and
 * `RateLimit: "default";r=0;t=<s>`, with `Retry-After: <s>` (the draft asks that Retry-After
 * not be earlier than the end of the effective window `t`, so they are equal).
 */
export function rateLimitFields(rate: Rate, retryAfterMs: number): string[] {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000))
  const windowS = Math.max(1, Math.round(rate.windowMs / 1000))
  return [
    'Retry-After',
    String(seconds),
    'RateLimit',
    `"default";r=0;t=${seconds}`,
    'RateLimit-Policy',
    `"default";q=${rate.count};w=${windowS}`,
  ]
}

/**
 * rateLimitPolicy takes one token per request (WebSocket upgrades included) from the bucket of
 * its key; without one it answers 429 PTC_ERR_RATE_LIMITED with Retry-After and the RateLimit
 * fields. Successful responses carry no RateLimit fields (the draft allows that, §6.2), so the
 * admitted path allocates nothing beyond a hashed header key.
 */
export function rateLimitPolicy(options: RateLimitOptions): Policy {
  const { rate, key, source } = options
  const now = options.now ?? Date.now
  const error = new errors.PTC_ERR_RATE_LIMITED(options.vHost)
  const verdictOf = (result: TakeResult): Verdict =>
    result.ok ? CONTINUE : reject(error, rateLimitFields(rate, result.retryAfterMs))
  return {
    name: 'rate-limit',
    check(request) {
      const result = source.take(keyOf(request, key), now())
      return isPromise(result) ? result.then(verdictOf) : verdictOf(result)
    },
  }
}
