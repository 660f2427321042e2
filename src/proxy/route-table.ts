/** @module buildRouteTable: the route table a config describes (app hostnames and config routes). */
import type { Config } from '../config/schema.ts'
import { appHostnames } from '../config/schema.ts'
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
