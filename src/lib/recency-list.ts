/** @module RecencyList: intrusive linked list from least to most recently touched. */

/**
 * One item's place in a RecencyList. The owner keeps the link (one per list it belongs to), so
 * touching and removing never allocate or search.
 */
export interface RecencyLink<T> {
  readonly value: T
  prev: RecencyLink<T> | undefined
  next: RecencyLink<T> | undefined
  /** Whether the link is in a list now. */
  linked: boolean
}

/** recencyLink returns a new, unlinked link carrying `value`. */
export function recencyLink<T>(value: T): RecencyLink<T> {
  return { value, prev: undefined, next: undefined, linked: false }
}

/**
 * RecencyList orders links from least to most recently touched; every operation is O(1). A link
 * belongs to at most one list at a time.
 */
export class RecencyList<T> {
  #head: RecencyLink<T> | undefined
  #tail: RecencyLink<T> | undefined

  /** oldest returns the value of the least recently touched link, or undefined when empty. */
  oldest(): T | undefined {
    return this.#head?.value
  }

  /** touch moves `link` to the most recent end, adding it if it is not linked. */
  touch(link: RecencyLink<T>): void {
    this.remove(link)
    link.prev = this.#tail
    if (this.#tail) this.#tail.next = link
    else this.#head = link
    this.#tail = link
    link.linked = true
  }

  /** remove unlinks `link`; a link that is not linked is left as it is. */
  remove(link: RecencyLink<T>): void {
    if (!link.linked) return
    if (link.prev) link.prev.next = link.next
    else this.#head = link.next
    if (link.next) link.next.prev = link.prev
    else this.#tail = link.prev
    link.prev = undefined
    link.next = undefined
    link.linked = false
  }
}
