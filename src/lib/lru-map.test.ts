import { describe, expect, it } from 'vitest'
import { LruMap } from './lru-map.ts'

describe('LruMap', () => {
  it('evicts the least recently used entry past maxSize and reports it', () => {
    const evicted: string[] = []
    const map = new LruMap<number>(2, (key, value) => evicted.push(`${key}=${value}`))
    map.set('a', 1)
    map.set('b', 2)
    expect(map.get('a')).toBe(1)
    map.set('c', 3)
    expect(evicted).toEqual(['b=2'])
    expect(map.size).toBe(2)
    expect(map.peek('b')).toBeUndefined()
    expect([...map.entries()].map(([k]) => k).sort()).toEqual(['a', 'c'])
  })

  it('treats set of an existing key as use, and peek as no use', () => {
    const map = new LruMap<number>(2)
    map.set('a', 1)
    map.set('b', 2)
    map.peek('a')
    map.set('a', 10)
    map.set('c', 3)
    expect(map.peek('a')).toBe(10)
    expect(map.peek('b')).toBeUndefined()
    expect(map.delete('a')).toBe(true)
    expect(map.delete('a')).toBe(false)
    expect(map.size).toBe(1)
  })

  it('stays bounded under a flood of new keys', () => {
    const map = new LruMap<number>(100)
    for (let i = 0; i < 10_000; i++) map.set(`k${i}`, i)
    expect(map.size).toBe(100)
    expect(map.peek('k9999')).toBe(9999)
    expect(map.peek('k0')).toBeUndefined()
  })
})
