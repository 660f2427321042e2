/** @module DecisionCache: auth decisions remembered per credential for a few seconds, keyed by an HMAC. */
import { createHmac, randomBytes } from 'node:crypto'
import { LruMap } from '../../lib/lru-map.ts'
import type { RequestView } from './policy.ts'

/** Decisions remembered at most, per cache; the least recently used is dropped past it. */
export const DEFAULT_DECISION_CACHE_ENTRIES = 10_000

interface Entry<V> {
  value: V
  expiresAt: number
}

/**
 * DecisionCache remembers a decision for `ttlMs` under a key derived from the credential. The key
 * is an HMAC-SHA256 with a random key made per process, never the credential or a plain hash of
 * it: memory holds nothing a password could be guessed back from offline. Bounded to
 * `maxEntries` (least recently used dropped). A `ttlMs` of 0 disables it (get always misses).
 */
export class DecisionCache<V> {
  readonly ttlMs: number
  #entries: LruMap<Entry<V>>
  #secret = randomBytes(32)
  #now: () => number

  constructor(ttlMs: number, options: { maxEntries?: number; now?: () => number } = {}) {
    this.ttlMs = ttlMs
    this.#entries = new LruMap(options.maxEntries ?? DEFAULT_DECISION_CACHE_ENTRIES)
    this.#now = options.now ?? Date.now
  }

  /** keyOf returns the cache key of a credential made of `parts` (e.g. method, URI, header). */
  keyOf(...parts: string[]): string {
    const hmac = createHmac('sha256', this.#secret)
    for (const part of parts) hmac.update(part).update('\0')
    return hmac.digest('base64url')
  }

  /** get returns a decision still fresh, else undefined (and forgets a stale one). */
  get(key: string): V | undefined {
    if (this.ttlMs <= 0) return undefined
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    if (this.#now() < entry.expiresAt) return entry.value
    this.#entries.delete(key)
    return undefined
  }

  /** set remembers `value` for ttlMs. */
  set(key: string, value: V): void {
    if (this.ttlMs <= 0) return
    this.#entries.set(key, { value, expiresAt: this.#now() + this.ttlMs })
  }
}

/**
 * requestKey returns the cache key of an auth provider's decision about `request`: its method,
 * host and URI with its credential headers (Authorization, Cookie). The URI is part of it since a
 * provider may allow one path and not another.
 */
export function requestKey(
  cache: Pick<DecisionCache<unknown>, 'keyOf'>,
  request: RequestView,
): string {
  const { authorization, cookie } = request.headers
  return cache.keyOf(
    request.method,
    request.host,
    request.path,
    typeof authorization === 'string' ? authorization : '',
    typeof cookie === 'string' ? cookie : '',
  )
}
