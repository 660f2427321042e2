/** @module buildRouteTable: the route table a config describes (app hostnames and config routes). */
import {
  DEFAULT_BACKEND_PROBE_INTERVAL_MS,
  DEFAULT_HEALTH_INTERVAL_MS,
  DEFAULT_HEALTH_TIMEOUT_MS,
} from '../config/defaults.ts'
import type { Config } from '../config/schema.ts'
import { appHostnames } from '../config/schema.ts'
import { ActiveProbe } from '../registry/health/active.ts'
import { type Registry, upstreamNameForApp, upstreamNameForRoute } from '../registry/registry.ts'
import { createRoute, type Route } from './route.ts'
import { RouteTable } from './router.ts'

/**
 * buildRouteTable turns the config into a route table: one route per app hostname (targeting the
 * app's upstream) and one per config route (an app or static backends). Static backends are
 * registered as targets in their own upstream, in rotation unless marked dead.
 */
export function buildRouteTable(config: Config, registry: Registry): RouteTable<Route> {
  const table = new RouteTable<Route>()
  for (const app of config.apps) {
    const upstream = registry.upstream(upstreamNameForApp(app.name))
    for (const vHost of appHostnames(app)) {
      table.set(
        vHost,
        createRoute({
          vHost,
          app: app.name,
          upstream,
          // The default spreads concurrent load across instances (architecture contract).
          strategy: app.strategy ?? 'LEAST_CONNECTIONS',
          reqActiveLength: 64 * app.instances,
          reqQueueLength: 256,
          headers: {},
          autoHttps: true,
        }),
      )
    }
  }
  for (const route of config.routes) {
    const upstream = registry.upstream(
      route.app ? upstreamNameForApp(route.app) : upstreamNameForRoute(route.vHost),
    )
    for (const backend of route.backends ?? []) {
      const id = backend.id ?? `${backend.hostname}:${backend.port}`
      const target = upstream.add({
        id,
        host: backend.hostname,
        port: backend.port,
        weight: backend.weight,
        state: 'healthy',
      })
      upstream.setMarkedDead(target.id, backend.isDead === true)
    }
    table.set(route.vHost, createRoute({ ...route, upstream }))
  }
  return table
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
