/** @module TokenBucket: a refilling count of tokens, sized from a rate such as `"100/s"`. */
import type { Rate } from '../../config/policy-values.ts'

/** The shape of every bucket of one rate limit. */
export interface BucketSpec {
  /** Tokens added per millisecond. */
  ratePerMs: number
  /** Most tokens a bucket holds: the burst a client may send at once. */
  capacity: number
}

/**
 * bucketSpec sizes the buckets of `rate`: they refill at count/window, and hold `burst` tokens
 * (default: `count`, one window's worth, so `"100/s"` admits at most ~100 in any second and
 * `"6000/m"` at most 6000 in any minute).
 */
export function bucketSpec(rate: Rate, burst?: number): BucketSpec {
  return { ratePerMs: rate.count / rate.windowMs, capacity: burst ?? rate.count }
}

/**
 * TokenBucket holds up to `capacity` tokens and gains `ratePerMs` per millisecond; a request
 * takes one. It starts full. Time is passed in (`now`, ms) so tests and the lease simulation
 * drive it; a clock that steps back adds nothing. Tokens are fractional between whole takes.
 */
export class TokenBucket {
  readonly spec: BucketSpec
  #tokens: number
  #updatedAt: number

  constructor(spec: BucketSpec, now: number) {
    this.spec = spec
    this.#tokens = spec.capacity
    this.#updatedAt = now
  }

  /** tokens returns the tokens available at `now` (fractional). */
  tokens(now: number): number {
    this.#refill(now)
    return this.#tokens
  }

  /** tryTake takes one token if a whole one is there; returns whether it did. */
  tryTake(now: number): boolean {
    this.#refill(now)
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }

  /** takeUpTo takes as many whole tokens as are there, at most `n`; returns how many. */
  takeUpTo(n: number, now: number): number {
    this.#refill(now)
    const taken = Math.max(0, Math.min(n, Math.floor(this.#tokens)))
    this.#tokens -= taken
    return taken
  }

  /** give puts `n` unused tokens back (a returned lease); the bucket never exceeds its capacity. */
  give(n: number, now: number): void {
    this.#refill(now)
    this.#tokens = Math.min(this.spec.capacity, this.#tokens + n)
  }

  /** msUntil returns how long until `n` whole tokens are there (0 if they are now). */
  msUntil(n: number, now: number): number {
    const missing = n - this.tokens(now)
    return missing <= 0 ? 0 : Math.ceil(missing / this.spec.ratePerMs)
  }

  /** isFull reports whether the bucket is at capacity (a full bucket is as good as none). */
  isFull(now: number): boolean {
    return this.tokens(now) >= this.spec.capacity
  }

  #refill(now: number): void {
    const elapsed = now - this.#updatedAt
    if (elapsed <= 0) return
    this.#updatedAt = now
    this.#tokens = Math.min(this.spec.capacity, this.#tokens + elapsed * this.spec.ratePerMs)
  }
}
