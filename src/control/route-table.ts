/**
 * @module The routing a config describes: a route spec per app hostname and per config route, the
 * static backends of each route's upstream, and the health probes of every upstream.
 */
import {
  DEFAULT_BACKEND_PROBE_INTERVAL_MS,
  DEFAULT_HEALTH_INTERVAL_MS,
  DEFAULT_HEALTH_TIMEOUT_MS,
  DEFAULT_REQ_ACTIVE_LENGTH,
  DEFAULT_REQ_QUEUE_LENGTH,
} from '../config/defaults.ts'
import type { AppSpec, BackendConfig, Config, RouteConfig } from '../config/schema.ts'
import { appHostnames } from '../config/schema.ts'
import type { Route, RouteSpec } from '../proxy/route.ts'
import type { RouteTable } from '../proxy/router.ts'
import { type BuildRoutesOptions, buildRoutes } from '../proxy/routes.ts'
import { ActiveProbe } from '../registry/health/active.ts'
import { type Registry, upstreamNameForApp, upstreamNameForRoute } from '../registry/registry.ts'
import type { Upstream } from '../registry/upstream.ts'

/**
 * The strategy of an app's own hostnames: one that spreads concurrent load across instances
 * (architecture contract), unlike ROUND_ROBIN, the default of config routes.
 */
export const APP_ROUTE_STRATEGY = 'LEAST_CONNECTIONS'

/**
 * appRouteSpec returns the route an app's hostname gets: its app's upstream and strategy, a slot
 * budget that grows with its instances (DEFAULT_REQ_ACTIVE_LENGTH each), the default queue, and
 * the HTTP→HTTPS redirect. The API's route views show the same object.
 */
export function appRouteSpec(app: AppSpec, vHost: string): RouteSpec {
  return {
    vHost,
    app: app.name,
    upstream: upstreamNameForApp(app.name),
    strategy: app.strategy ?? APP_ROUTE_STRATEGY,
    reqActiveLength: DEFAULT_REQ_ACTIVE_LENGTH * app.instances,
    reqQueueLength: DEFAULT_REQ_QUEUE_LENGTH,
    headers: {},
    autoHttps: true,
  }
}

/** configRouteSpec returns the spec of a config route (an app's or static backends'). */
export function configRouteSpec(route: RouteConfig): RouteSpec {
  return {
    vHost: route.vHost,
    app: route.app,
    upstream: route.app ? upstreamNameForApp(route.app) : upstreamNameForRoute(route.vHost),
    strategy: route.strategy,
    reqActiveLength: route.reqActiveLength,
    reqQueueLength: route.reqQueueLength,
    headers: route.headers,
    autoHttps: route.autoHttps,
    stripPrefix: route.stripPrefix,
    addPrefix: route.addPrefix,
    fallback: route.default,
  }
}

/**
 * routeSpecs returns every route the config describes: one per app hostname, then one per config
 * route (a config route wins over an app hostname of the same name, as the later entry).
 */
export function routeSpecs(config: Config): RouteSpec[] {
  const specs: RouteSpec[] = []
  for (const app of config.apps)
    for (const vHost of appHostnames(app)) specs.push(appRouteSpec(app, vHost))
  for (const route of config.routes) specs.push(configRouteSpec(route))
  return specs
}

/**
 * syncBackends makes every static route's upstream hold exactly its configured backends: new ones
 * in rotation (unless marked dead), changed addresses replaced, missing ones removed. Targets
 * whose address did not change keep their state (a passively ejected backend stays out).
 */
export function syncBackends(config: Config, registry: Registry): void {
  for (const route of config.routes) {
    if (route.backends === undefined) continue
    syncUpstream(registry.upstream(upstreamNameForRoute(route.vHost)), route.backends)
  }
}

function syncUpstream(upstream: Upstream, backends: readonly BackendConfig[]): void {
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

/**
 * buildRouteTable applies a config to the data plane in one step: static backends synced into
 * the registry, then the route table built from the config's route specs (reusing unchanged
 * routes of `previous`, see buildRoutes).
 */
export function buildRouteTable(
  config: Config,
  registry: Registry,
  previous?: RouteTable<Route>,
  options: BuildRoutesOptions = {},
): RouteTable<Route> {
  syncBackends(config, registry)
  return buildRoutes(routeSpecs(config), registry, previous, options)
}

/** backendId returns a backend's stable id: its own, or `hostname:port`. */
export function backendId(backend: Pick<BackendConfig, 'id' | 'hostname' | 'port'>): string {
  return backend.id ?? `${backend.hostname}:${backend.port}`
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
