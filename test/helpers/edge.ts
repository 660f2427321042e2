/** @module startTestEdge: an EdgeServer on 127.0.0.1 (ports 0) over static routes, for integration tests. */
import { parseConfig } from '../../src/config/load.ts'
import { buildRouteTable, createProbes } from '../../src/control/route-table.ts'
import { EventBus } from '../../src/observe/events.ts'
import { createLogger } from '../../src/observe/log.ts'
import { createEdge } from '../../src/proxy/edge.ts'
import type { HandlerContext } from '../../src/proxy/handler.ts'
import type { Route } from '../../src/proxy/route.ts'
import type { RouteTable } from '../../src/proxy/router.ts'
import type { EdgeServer } from '../../src/proxy/server.ts'
import { issueLeaf, loadOrCreateDevCa } from '../../src/proxy/tls/dev-ca.ts'
import type { ActiveProbe } from '../../src/registry/health/active.ts'
import { PassiveHealth } from '../../src/registry/health/passive.ts'
import { Registry } from '../../src/registry/registry.ts'

/** Options of startTestEdge. */
export interface TestEdgeOptions {
  /** The `routes` of a Portico config, validated by parseConfig as a config file would be. */
  routes: unknown[]
  /** Folder the dev CA is written to; the caller makes it and removes it after `close()`. */
  dir: string
  /** Hostname of the default certificate, served whatever the client's SNI. */
  leafHost: string
  /** Per-attempt upstream timeout in milliseconds; the handler's default when left out. */
  upstreamTimeoutMs?: number
  /** Start active health probes for routes with a `healthCheck`; `close()` stops them. */
  withProbes?: boolean
  /** List the routed hostnames on the 404 page, as `portico dev` does. Default false: list none. */
  listHosts?: boolean
  /** How long `close()` lets in-flight requests finish, in milliseconds. Default 500. */
  drainMs?: number
  /** Handler settings for slow clients (issue 12): send timeout, upload watch. Defaults otherwise. */
  slowClients?: Pick<HandlerContext, 'sendTimeoutMs' | 'uploads' | 'bodyBudget'>
}

/** A running test edge. The caller must `close()` it (afterAll). */
export interface TestEdge {
  edge: EdgeServer
  /** The bound listener ports. */
  ports: { https: number; http: number }
  table: RouteTable<Route>
  registry: Registry
  /** Receives the handler's `request:completed` events. */
  events: EventBus
  /** The dev CA certificate (PEM) to verify the edge's HTTPS against. */
  ca: string
  /** close stops the probes, then closes the edge, draining for `drainMs`. */
  close: () => Promise<void>
}

const DEFAULT_DRAIN_MS = 500

/**
 * startTestEdge builds an edge as the composition root would, minus pm2 and the API: config →
 * route table (and probes) on a fresh Registry, a dev CA in `dir` and one leaf for `leafHost` as the
 * default certificate (no SNI lookup), silent logs, both listeners on 127.0.0.1 port 0 with the
 * HTTP→HTTPS redirect on. It resolves once both listen. The caller must `close()` the result in
 * afterAll, before removing `dir` and stopping its backends.
 */
export async function startTestEdge(options: TestEdgeOptions): Promise<TestEdge> {
  const config = parseConfig({ routes: options.routes }, `test edge (${options.leafHost})`)
  const registry = new Registry()
  const table = buildRouteTable(config, registry)
  const probes: ActiveProbe[] = options.withProbes ? createProbes(config, registry) : []
  for (const probe of probes) probe.start()
  const stopProbes = () => {
    for (const probe of probes) probe.close()
  }
  try {
    const devCa = await loadOrCreateDevCa(options.dir)
    const events = new EventBus()
    const edge = createEdge({
      bind: '127.0.0.1',
      httpsPort: 0,
      httpPort: 0,
      httpRedirect: true,
      defaultCert: await issueLeaf(devCa, options.leafHost),
      sniCallback: (_name, cb) => cb(null, undefined),
      table: () => table,
      passive: new PassiveHealth(),
      events,
      log: createLogger({ level: 'silent' }),
      trustedProxies: [],
      listHosts: options.listHosts === true,
      tuning: {
        ...(options.upstreamTimeoutMs !== undefined
          ? { upstreamTimeoutMs: options.upstreamTimeoutMs }
          : {}),
        ...options.slowClients,
      },
    })
    const ports = await edge.start()
    const close = async () => {
      stopProbes()
      await edge.close(options.drainMs ?? DEFAULT_DRAIN_MS)
    }
    return { edge, ports, table, registry, events, ca: devCa.certPem, close }
  } catch (error) {
    // The caller gets no close() to call, so stop what already runs.
    stopProbes()
    throw error
  }
}
