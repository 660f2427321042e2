import { describe, expect, it } from 'vitest'
import { DecisionCache } from './decision-cache.ts'

describe('DecisionCache', () => {
  it('remembers a decision for ttlMs under an HMAC of the credential', () => {
    let clock = 0
    const cache = new DecisionCache<boolean>(5_000, { now: () => clock })
    const key = cache.keyOf('Basic YW5uOnB3')
    expect(key).not.toContain('YW5u')
    expect(key).toBe(cache.keyOf('Basic YW5uOnB3'))
    expect(key).not.toBe(cache.keyOf('Basic YW5uOnB4'))
    expect(cache.keyOf('a', 'bc')).not.toBe(cache.keyOf('ab', 'c'))
    cache.set(key, true)
    clock = 4_999
    expect(cache.get(key)).toBe(true)
    clock = 5_000
    expect(cache.get(key)).toBeUndefined()
  })

  it('keys differ between processes (a random HMAC key each)', () => {
    expect(new DecisionCache(1).keyOf('x')).not.toBe(new DecisionCache(1).keyOf('x'))
  })

  it('is bounded, and off with a ttl of 0', () => {
    const cache = new DecisionCache<number>(1_000, { maxEntries: 2, now: () => 0 })
    cache.set('a', 1)
    cache.set('b', 2)
    cache.set('c', 3)
    expect(cache.get('a')).toBeUndefined()
    expect(cache.get('c')).toBe(3)
    const off = new DecisionCache<number>(0)
    off.set('a', 1)
    expect(off.get('a')).toBeUndefined()
  })
})
