/** @module createEdge: the edge (listeners + request path) as the main process, a worker and the tests build it. */
import type { EventBus } from '../observe/events.ts'
import type { Logger } from '../observe/log.ts'
import type { PassiveCounter } from '../registry/health/passive.ts'
import type { Target } from '../registry/target.ts'
import type { AcmeResponder } from './acme-responder.ts'
import { createUpstreamAgent } from './forward.ts'
import type { HandlerContext } from './handler.ts'
import type { Route } from './route.ts'
import type { RouteTable } from './router.ts'
import { EdgeServer } from './server.ts'
import type { KeyPair } from './tls/dev-ca.ts'
import type { SniCallback } from './tls/sni.ts'

/** pino's numeric level of `warn`. */
const WARN_LEVEL = 40

/** What an edge is built from. Ports may be 0 (any free port). */
export interface EdgeDeps {
  bind: string
  httpsPort: number
  httpPort: number
  /** Redirect known hosts from HTTP to HTTPS (308); unknown hosts always get 404. */
  httpRedirect: boolean
  /** Served when the client sends no SNI or a name without a certificate. */
  defaultCert: KeyPair
  sniCallback: SniCallback
  /** The live route table (swapped whole on a change). */
  table: () => RouteTable<Route>
  passive: PassiveCounter
  /** Receives `request:completed` for every routed request. */
  events: EventBus
  log: Logger
  /** Peer addresses whose X-Forwarded-For chain is kept. */
  trustedProxies: readonly string[]
  /** List the routed hostnames on the 404 page (dev mode). */
  listHosts: boolean
  /** Targets given a request, for an edge worker's in-flight reports (HandlerContext.busy). */
  busy?: Map<Target, string>
  /** Answers ACME challenges (HTTP-01 on the HTTP listener, TLS-ALPN-01 on HTTPS), if any. */
  acme?: AcmeResponder | undefined
  /** The access log goes to a file written elsewhere: log only warnings from the edge here. */
  quietAccessLog?: boolean
  /** Limits tests shorten; production uses the defaults. */
  tuning?: Pick<HandlerContext, 'upstreamTimeoutMs' | 'sendTimeoutMs' | 'uploads' | 'bodyBudget'>
}

/**
 * createEdge builds the EdgeServer (not started: call `start()`) with its own upstream client.
 * The main process (one edge process), each edge worker and the integration tests all build
 * their edge here, so the wiring exists once.
 */
export function createEdge(deps: EdgeDeps): EdgeServer {
  const { table } = deps
  return new EdgeServer({
    bind: deps.bind,
    httpsPort: deps.httpsPort,
    httpPort: deps.httpPort,
    httpRedirect: deps.httpRedirect,
    defaultCert: deps.defaultCert,
    sniCallback: deps.sniCallback,
    acme: deps.acme,
    handler: {
      table,
      agent: createUpstreamAgent(),
      log: deps.log.child(
        { component: 'edge' },
        deps.quietAccessLog && deps.log.levelVal < WARN_LEVEL ? { level: 'warn' } : {},
      ),
      knownHosts: deps.listHosts ? () => table().hosts() : () => [],
      passive: deps.passive,
      events: deps.events,
      trustedProxies: new Set(deps.trustedProxies),
      ...(deps.busy ? { busy: deps.busy } : {}),
      ...deps.tuning,
    },
    log: deps.log,
  })
}
