/** @module The stats service, Prometheus gauges and per-instance traffic over the live route table and supervisor. */
import type { StatsService } from '../api/stats.ts'
import type { EventBus } from '../observe/events.ts'
import { type GaugeSource, Metrics } from '../observe/metrics.ts'
import { Tracker } from '../observe/tracker.ts'
import type { Route } from '../proxy/route.ts'
import type { RouteTable } from '../proxy/router.ts'
import { type Registry, upstreamNameForApp } from '../registry/registry.ts'
import type { AppStatus } from '../supervisor/supervisor.ts'
import type { InstanceStatsView } from './services.ts'

/** routeList returns each route of the table once, in host order (wildcards as `*.x`). */
export function routeList(table: RouteTable<Route>): Route[] {
  return table.hosts().flatMap((host) => {
    const route = table.lookup(host)
    return route !== undefined && route.vHost === host ? [route] : []
  })
}

/** findRoute returns the route configured under exactly that name (not a wildcard match). */
function findRoute(table: RouteTable<Route>, vHost: string): Route | undefined {
  const name = vHost.toLowerCase()
  const route = table.lookup(name)
  return route !== undefined && route.vHost === name ? route : undefined
}

/** routeView is a route's traffic stats plus its live admission and target figures. */
function routeView(route: Route, tracker: Tracker) {
  return {
    ...tracker.routeStatsOrEmpty(route.vHost),
    app: route.app ?? null,
    active: route.admission.active,
    queued: route.admission.queued,
    healthyTargets: route.upstream.available().length,
    targets: route.upstream.targets().map((t) => {
      const { target: _id, ...traffic } = tracker.targetStatsOrEmpty(t.id)
      return {
        id: t.id,
        address: t.address(),
        state: t.state,
        available: t.isAvailable(),
        inFlight: t.inFlight,
        ...traffic,
      }
    }),
  }
}

/** What createStats reads. */
export interface StatsDeps {
  events: EventBus
  table: () => RouteTable<Route>
  apps: () => AppStatus[]
  /** Served certificates, for the expiry gauge (issue 16). */
  certificates?: () => Array<{ domain: string; source: string; validTo: string }>
}

/**
 * createStats returns the tracker, the Prometheus metrics and the API's StatsService over the
 * live route table and supervisor. Create it before the edge starts so the first requests count;
 * call `close()` on shutdown.
 */
export function createStats(deps: StatsDeps) {
  const tracker = new Tracker({ events: deps.events })
  const metrics = new Metrics({ events: deps.events })
  const gauges: GaugeSource = {
    routes: () =>
      routeList(deps.table()).map((r) => ({
        vHost: r.vHost,
        active: r.admission.active,
        queued: r.admission.queued,
        healthyTargets: r.upstream.available().length,
        targets: r.upstream.targets().length,
      })),
    instances: () =>
      deps.apps().flatMap((app) =>
        app.instances.map((i) => ({
          app: app.name,
          instance: i.id,
          state: i.state,
          restarts: i.restarts,
        })),
      ),
    ...(deps.certificates ? { certificates: deps.certificates } : {}),
  }
  const service: StatsService = {
    all: () => {
      const routes = routeList(deps.table()).map((r) => routeView(r, tracker))
      const active = routes.reduce((sum, r) => sum + r.active, 0)
      const queued = routes.reduce((sum, r) => sum + r.queued, 0)
      return { global: { ...tracker.globalStats(), active, queued }, routes }
    },
    route: (vHost) => {
      const route = findRoute(deps.table(), vHost)
      return route && routeView(route, tracker)
    },
    metrics: () => metrics.render(gauges),
  }
  return {
    tracker,
    service,
    close: () => {
      tracker.close()
      metrics.close()
    },
  }
}

/** instanceTraffic summarises one instance's traffic from the tracker and its live target. */
export function instanceTraffic(
  tracker: Tracker,
  registry: Registry,
  id: string,
): InstanceStatsView {
  const stats = tracker.targetStatsOrEmpty(id)
  const app = id.slice(0, id.lastIndexOf('#'))
  return {
    totalRequests: stats.totalRequests,
    requestsPerSecond: stats.requestsPerSecond,
    inFlight: registry.get(upstreamNameForApp(app))?.get(id)?.inFlight ?? 0,
    latencyMs: {
      p50: stats.window.latencyMs.p50,
      p95: stats.window.latencyMs.p95,
      p99: stats.window.latencyMs.p99,
    },
    errors: stats.window.errors,
  }
}
