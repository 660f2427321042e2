/** @module Host → Route lookup: exact names first, then the most specific `*.` wildcard. */

/**
 * RouteTable maps normalised hostnames to values. Exact entries live in one Map; `*.example.com`
 * entries in another keyed by `example.com`. Lookup walks the host's parent domains from the
 * longest, so its cost depends on the number of labels, never on the number of routes.
 * A table is immutable once built: a config change builds a new one and swaps it in whole.
 */
export class RouteTable<T> {
  #exact = new Map<string, T>()
  #wildcard = new Map<string, T>()
  #fallback: T | undefined

  /** set adds `host` (exact, or `*.suffix`); the last set for a name wins. */
  set(host: string, value: T): this {
    if (host.startsWith('*.')) this.#wildcard.set(host.slice(2), value)
    else this.#exact.set(host, value)
    return this
  }

  /** setFallback sets the default route used when nothing else matches. */
  setFallback(value: T | undefined): this {
    this.#fallback = value
    return this
  }

  /** lookup returns the value for a normalised host, or the fallback, or undefined. */
  lookup(host: string): T | undefined {
    const exact = this.#exact.get(host)
    if (exact !== undefined) return exact
    if (this.#wildcard.size > 0) {
      let dot = host.indexOf('.')
      while (dot !== -1) {
        const hit = this.#wildcard.get(host.slice(dot + 1))
        if (hit !== undefined) return hit
        dot = host.indexOf('.', dot + 1)
      }
    }
    return this.#fallback
  }

  /** hosts returns every configured name (`*.` included), sorted, for error pages and the API. */
  hosts(): string[] {
    return [...this.#exact.keys(), ...[...this.#wildcard.keys()].map((s) => `*.${s}`)].sort()
  }

  get size(): number {
    return this.#exact.size + this.#wildcard.size
  }
}
