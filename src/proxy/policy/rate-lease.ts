/**
 * @module Rate-limit leases across edge workers: the messages, the batch size, and the primary's
 * side (RateLeaseServer), which owns the one bucket per key that every worker draws from.
 *
 * Why leases: connections are dealt to workers round-robin, so a client's requests land on
 * every worker. Per-worker buckets would admit N times the limit (or 1/N of it, if the limit were
 * split and one client's connection stayed on one worker). Asking the primary per request would
 * put an IPC round trip on every request. So the primary owns the buckets and a worker takes
 * tokens in small batches ("leases"), spends them locally without a message, fetches the next
 * batch before the reserve runs out, and gives back what it did not use once the key goes idle.
 * Tokens are conserved: a request is admitted only with a token the primary's bucket gave out,
 * so the admitted total can never exceed burst + rate × time; the shortfall is bounded by the
 * tokens sitting in reserves (at most ~1.5 batches per worker and key), which come back after
 * LEASE_IDLE_MS. leaseBatch keeps a batch at 50 ms of rate and under a quarter of the burst split
 * across workers, which holds the admitted rate within a few per cent of the limit.
 */
import { LruMap } from '../../lib/lru-map.ts'
import { TokenBucket } from './token-bucket.ts'

/** One rate limit, as every message names it: the primary builds its buckets from this. */
export interface LimiterSpec {
  /** Stable for a route's rate limit settings (a changed setting is a new limiter). */
  id: string
  ratePerMs: number
  capacity: number
  maxKeys: number
}

/** Worker → primary: give me up to `want` tokens of `key`. `id` is the worker's to match the grant. */
export interface LeaseRequest {
  type: 'rate:lease'
  id: number
  limiter: LimiterSpec
  key: string
  want: number
}

/** Primary → worker: `granted` tokens (0…want); `retryAfterMs` until the bucket has one more. */
export interface LeaseGrant {
  type: 'rate:grant'
  id: number
  granted: number
  retryAfterMs: number
}

/** Worker → primary: unused tokens given back, as [key, tokens] pairs of one limiter. */
export interface LeaseReturn {
  type: 'rate:return'
  limiter: LimiterSpec
  tokens: [string, number][]
}

/** Every message of the protocol, for the IPC switch. */
export type RateLeaseMessage = LeaseRequest | LeaseGrant | LeaseReturn

/** A batch covers this much of the rate, in milliseconds. */
export const LEASE_WINDOW_MS = 50
/** No batch is larger than this many tokens. */
export const MAX_LEASE_BATCH = 100
/** A worker's reserve for a key unused this long goes back to the primary, in milliseconds. */
export const LEASE_IDLE_MS = 500
/** A lease not answered within this long is given up: the worker falls back to its share. */
export const LEASE_TIMEOUT_MS = 250

/**
 * leaseBatch returns how many tokens a worker asks for at a time: LEASE_WINDOW_MS of the rate,
 * at most a quarter of the burst divided among `workers` (so reserves can never hold most of a
 * burst while another worker starves), at most MAX_LEASE_BATCH, at least 1.
 */
export function leaseBatch(spec: Pick<LimiterSpec, 'ratePerMs' | 'capacity'>, workers: number) {
  const byRate = Math.floor(spec.ratePerMs * LEASE_WINDOW_MS)
  const byBurst = Math.floor(spec.capacity / (4 * Math.max(1, workers)))
  return Math.max(1, Math.min(byRate, byBurst, MAX_LEASE_BATCH))
}

/** Limiters the primary keeps at once (each is one route's rate limit settings). */
const MAX_LIMITERS = 1_024

interface LimiterTable {
  spec: LimiterSpec
  buckets: LruMap<TokenBucket>
}

/**
 * RateLeaseServer is the primary's side: one bucket per (limiter, key), shared by every worker.
 * `lease` answers a request at once (the primary calls it from its IPC handler and sends the
 * grant back); `giveBack` takes unused tokens back. Both are synchronous and take the time.
 */
export class RateLeaseServer {
  #limiters = new LruMap<LimiterTable>(MAX_LIMITERS)

  /** lease takes up to `want` whole tokens from the key's bucket. */
  lease(request: LeaseRequest, now: number): LeaseGrant {
    const bucket = this.#bucket(request.limiter, request.key, now)
    const granted = bucket.takeUpTo(Math.max(0, Math.floor(request.want)), now)
    return { type: 'rate:grant', id: request.id, granted, retryAfterMs: bucket.msUntil(1, now) }
  }

  /** giveBack returns unused tokens to their buckets (never above capacity). */
  giveBack(message: LeaseReturn, now: number): void {
    for (const [key, tokens] of message.tokens) {
      if (tokens > 0) this.#bucket(message.limiter, key, now).give(tokens, now)
    }
  }

  #bucket(spec: LimiterSpec, key: string, now: number): TokenBucket {
    let table = this.#limiters.get(spec.id)
    if (table === undefined || !sameSpec(table.spec, spec)) {
      table = { spec, buckets: new LruMap<TokenBucket>(Math.max(1, spec.maxKeys)) }
      this.#limiters.set(spec.id, table)
    }
    let bucket = table.buckets.get(key)
    if (bucket === undefined) {
      bucket = new TokenBucket({ ratePerMs: spec.ratePerMs, capacity: spec.capacity }, now)
      table.buckets.set(key, bucket)
    }
    return bucket
  }
}

function sameSpec(a: LimiterSpec, b: LimiterSpec): boolean {
  return a.ratePerMs === b.ratePerMs && a.capacity === b.capacity && a.maxKeys === b.maxKeys
}
