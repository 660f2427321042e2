/** @module LruMap: a string-keyed map bounded in size that forgets its least recently used entry. */
import { type RecencyLink, RecencyList, recencyLink } from './recency-list.ts'

interface Slot<V> {
  value: V
  link: RecencyLink<string>
}

/**
 * LruMap holds at most `maxSize` entries; setting one more evicts the least recently used
 * (`get` and `set` count as use) and hands it to `onEvict`. Every operation is O(1). Used for the
 * tables a client can grow at will (rate-limit keys, cached auth decisions), so that memory has
 * a ceiling whatever the traffic.
 */
export class LruMap<V> {
  readonly maxSize: number
  #slots = new Map<string, Slot<V>>()
  #order = new RecencyList<string>()
  #onEvict: ((key: string, value: V) => void) | undefined

  constructor(maxSize: number, onEvict?: (key: string, value: V) => void) {
    if (!(maxSize >= 1)) throw new RangeError(`LruMap maxSize must be at least 1, got ${maxSize}`)
    this.maxSize = maxSize
    this.#onEvict = onEvict
  }

  get size(): number {
    return this.#slots.size
  }

  /** get returns the value for `key` and marks it most recently used. */
  get(key: string): V | undefined {
    const slot = this.#slots.get(key)
    if (slot === undefined) return undefined
    this.#order.touch(slot.link)
    return slot.value
  }

  /** peek returns the value for `key` without marking it used. */
  peek(key: string): V | undefined {
    return this.#slots.get(key)?.value
  }

  /** set stores `value` under `key` as most recently used, evicting the oldest entry if full. */
  set(key: string, value: V): void {
    const slot = this.#slots.get(key)
    if (slot !== undefined) {
      slot.value = value
      this.#order.touch(slot.link)
      return
    }
    if (this.#slots.size >= this.maxSize) this.#evictOldest()
    const link = recencyLink(key)
    this.#slots.set(key, { value, link })
    this.#order.touch(link)
  }

  /** delete removes `key` (without calling onEvict); returns whether it was there. */
  delete(key: string): boolean {
    const slot = this.#slots.get(key)
    if (slot === undefined) return false
    this.#order.remove(slot.link)
    return this.#slots.delete(key)
  }

  /** entries iterates [key, value] pairs in insertion order (for periodic sweeps, not hot paths). */
  *entries(): IterableIterator<[string, V]> {
    for (const [key, slot] of this.#slots) yield [key, slot.value]
  }

  #evictOldest(): void {
    const key = this.#order.oldest()
    if (key === undefined) return
    const slot = this.#slots.get(key)
    this.delete(key)
    if (slot !== undefined) this.#onEvict?.(key, slot.value)
  }
}
