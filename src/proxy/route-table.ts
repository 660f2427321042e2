/** @module buildRouteTable: the route table a config describes (app hostnames and config routes). */
import {
  DEFAULT_BACKEND_PROBE_INTERVAL_MS,
  DEFAULT_HEALTH_INTERVAL_MS,
  DEFAULT_HEALTH_TIMEOUT_MS,
} from '../config/defaults.ts'
import type { BackendConfig, Config } from '../config/schema.ts'
import { appHostnames } from '../config/schema.ts'
import { ActiveProbe } from '../registry/health/active.ts'
import { type Registry, upstreamNameForApp, upstreamNameForRoute } from '../registry/registry.ts'
import type { Upstream } from '../registry/upstream.ts'
import { createRoute, type Route, type RouteInit } from './route.ts'
import { RouteTable } from './router.ts'

/** Options of buildRouteTable. */
export interface RouteTableOptions {
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

/**
 * buildRouteTable turns the config into a route table: one route per app hostname (targeting the
 * app's upstream) and one per config route (an app or static backends). Static backends are
 * registered as targets in their own upstream (new ones in rotation, unless marked dead);
 * backends no longer listed are removed. With `previous`, a route whose options did not change
 * is reused as is, so its queue and in-flight count carry over a reload untouched.
 */
export function buildRouteTable(
  config: Config,
  registry: Registry,
  previous?: RouteTable<Route>,
  options: RouteTableOptions = {},
): RouteTable<Route> {
  const table = new RouteTable<Route>()
  const reused = new Set<Route>()
  const shares = options.shares ?? 1
  const place = (given: RouteInit) => {
    const init =
      shares === 1
        ? given
        : {
            ...given,
            reqActiveLength: share(given.reqActiveLength, shares),
            reqQueueLength: share(given.reqQueueLength, shares),
          }
    const key = routeKey(init)
    const old = previous?.lookup(init.vHost)
    if (old !== undefined && old.vHost === init.vHost && old.key === key) {
      table.set(init.vHost, old)
      reused.add(old)
    } else table.set(init.vHost, createRoute({ ...init, key }))
  }
  for (const app of config.apps) {
    const upstream = registry.upstream(upstreamNameForApp(app.name))
    for (const vHost of appHostnames(app)) {
      place({
        vHost,
        app: app.name,
        upstream,
        // The default spreads concurrent load across instances (architecture contract).
        strategy: app.strategy ?? 'LEAST_CONNECTIONS',
        reqActiveLength: 64 * app.instances,
        reqQueueLength: 256,
        headers: {},
        autoHttps: true,
      })
    }
  }
  for (const route of config.routes) {
    const upstream = registry.upstream(
      route.app ? upstreamNameForApp(route.app) : upstreamNameForRoute(route.vHost),
    )
    if (route.backends !== undefined) syncBackends(upstream, route.backends)
    place({ ...route, upstream })
    if (route.default) table.setFallback(table.lookup(route.vHost))
  }
  // Routes left behind stop listening to their upstream (or every rebuild would add a listener);
  // dispose() also wakes their queues so waiting requests are answered, not left to time out.
  for (const host of previous?.hosts() ?? []) {
    const old = previous?.lookup(host)
    if (old !== undefined && old.vHost === host && !reused.has(old)) old.dispose()
  }
  return table
}

/** syncBackends makes the upstream's targets match the route's static backend list. */
function syncBackends(upstream: Upstream, backends: readonly BackendConfig[]): void {
  const ids = new Set<string>()
  for (const backend of backends) {
    const id = backendId(backend)
    ids.add(id)
    let existing = upstream.get(id)
    // Same id, new address: a Target's address is fixed, so replace it (in-flight requests
    // finish on their own sockets).
    if (existing && (existing.host !== backend.hostname || existing.port !== backend.port)) {
      upstream.remove(id)
      existing = undefined
    }
    const target =
      existing ??
      upstream.add({
        id,
        host: backend.hostname,
        port: backend.port,
        weight: backend.weight,
        state: 'healthy',
      })
    target.setWeight(backend.weight)
    upstream.setMarkedDead(id, backend.isDead === true)
  }
  for (const target of upstream.targets()) if (!ids.has(target.id)) upstream.remove(target.id)
}

/** backendId returns a backend's stable id: its own, or `hostname:port`. */
export function backendId(backend: Pick<BackendConfig, 'id' | 'hostname' | 'port'>): string {
  return backend.id ?? `${backend.hostname}:${backend.port}`
}

/** routeKey identifies a route's options (not its upstream's targets) for reuse across reloads. */
function routeKey(init: RouteInit): string {
  const { upstream, ...options } = init
  return `${upstream.name}|${JSON.stringify(options, (k, v) => (k === 'backends' || k === 'healthCheck' ? undefined : v))}`
}

/**
 * createProbes returns one ActiveProbe per upstream the config uses (not started): app upstreams
 * probe with the app's `health` settings, static routes with their `healthCheck` (60 s default,
 * as the reference specification re-probes dead backends).
 */
export function createProbes(
  config: Config,
  registry: Registry,
  onRecovered?: (upstream: string, target: string) => void,
): ActiveProbe[] {
  const probes: ActiveProbe[] = []
  const make = (name: string, intervalMs: number, timeoutMs: number, path: string | undefined) => {
    const upstream = registry.upstream(name)
    probes.push(
      new ActiveProbe({
        upstream,
        intervalMs,
        timeoutMs,
        path,
        ...(onRecovered ? { onRecovered: (t) => onRecovered(name, t.id) } : {}),
      }),
    )
  }
  for (const app of config.apps) {
    make(
      upstreamNameForApp(app.name),
      app.health?.interval ?? DEFAULT_HEALTH_INTERVAL_MS,
      app.health?.timeout ?? DEFAULT_HEALTH_TIMEOUT_MS,
      app.health?.path,
    )
  }
  for (const route of config.routes) {
    if (route.app !== undefined) continue
    const check = route.healthCheck
    make(
      upstreamNameForRoute(route.vHost),
      check?.interval ?? DEFAULT_BACKEND_PROBE_INTERVAL_MS,
      check?.timeout ?? DEFAULT_HEALTH_TIMEOUT_MS,
      check?.path,
    )
  }
  return probes
}
