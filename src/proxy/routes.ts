/** @module buildRoutes: the route table of the data plane, built from route specs over the registry. */
import type { Registry } from '../registry/registry.ts'
import { createRoute, type Route, type RouteSpec } from './route.ts'
import { RouteTable } from './router.ts'

/** Options of buildRoutes. */
export interface BuildRoutesOptions {
  /**
   * How many edge processes serve the table (edge workers). Each one's concurrency limit and
   * queue is its share of the route's: ceil(limit / shares), at least 1.
   */
  shares?: number
}

/** share returns one process's part of a per-route limit split `shares` ways. */
export function share(limit: number, shares: number): number {
  return Math.max(1, Math.ceil(limit / shares))
}

/** keyOf identifies a spec's options for reuse across rebuilds (its upstream's targets aside). */
function keyOf(spec: RouteSpec): string {
  return JSON.stringify(spec)
}

/**
 * buildRoutes turns route specs into a route table over `registry` (an upstream is created on
 * first use). With `previous`, a route whose spec did not change is reused as is, so its queue
 * and in-flight count carry over a reload untouched; routes left behind are disposed (they stop
 * listening to their upstream once their queue is empty, and waiting requests are answered).
 * The main process and every edge worker build their tables with this one function.
 */
export function buildRoutes(
  specs: readonly RouteSpec[],
  registry: Registry,
  previous?: RouteTable<Route>,
  options: BuildRoutesOptions = {},
): RouteTable<Route> {
  const table = new RouteTable<Route>()
  const reused = new Set<Route>()
  const shares = options.shares ?? 1
  for (const given of specs) {
    const spec =
      shares === 1
        ? given
        : {
            ...given,
            reqActiveLength: share(given.reqActiveLength, shares),
            reqQueueLength: share(given.reqQueueLength, shares),
          }
    const key = keyOf(spec)
    const old = previous?.lookup(spec.vHost)
    let route: Route
    if (old !== undefined && old.vHost === spec.vHost && old.key === key) {
      route = old
      reused.add(old)
    } else route = createRoute(spec, registry.upstream(spec.upstream), key)
    table.set(spec.vHost, route)
    if (spec.fallback) table.setFallback(route)
  }
  for (const host of previous?.hosts() ?? []) {
    const old = previous?.lookup(host)
    if (old !== undefined && old.vHost === host && !reused.has(old)) old.dispose()
  }
  return table
}
