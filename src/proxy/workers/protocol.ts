/** @module The messages between the primary and its edge workers over node:cluster IPC. */
import type { RequestCompleted } from '../../observe/events.ts'
import type { TargetView } from '../../registry/upstream.ts'
import type { RouteSpec } from '../route.ts'
import type { KeyPair } from '../tls/dev-ca.ts'

/** An upstream's whole target set, as the primary's registry has it. */
export interface UpstreamView {
  name: string
  targets: TargetView[]
}

/** What a worker needs to build its listeners (sent once, right after it forks). */
export interface WorkerInit {
  type: 'init'
  bind: string
  httpsPort: number
  httpPort: number
  httpRedirect: boolean
  trustedProxies: string[]
  /** List the configured sites on the 404 page (dev mode). */
  listHosts: boolean
  /** The certificate for handshakes without SNI (or with an unknown name). */
  defaultCert: KeyPair
  logLevel: string
  prettyLog: boolean
  /** How many workers share the routes' concurrency limits. */
  workers: number
  /** ACME challenges to answer, asked of the primary (acme-relay.ts); absent when ACME is off. */
  acme?: { http01: boolean; tlsAlpn01: boolean }
  /** Log each request on stdout; false when the primary writes the access log to a file. */
  stdoutAccessLog?: boolean
}

/** A worker's question about a pending ACME challenge (HTTP-01 token or TLS-ALPN-01 name). */
export interface AcmeQuestion {
  type: 'acme-question'
  id: number
  kind: 'http-01' | 'tls-alpn-01'
  /** The HTTP-01 token, or the TLS-ALPN-01 server name. */
  key: string
}

/** The primary's answer: the key authorization or the challenge certificate, null for none. */
export interface AcmeAnswer {
  type: 'acme-answer'
  id: number
  keyAuthorization: string | null
  pair: KeyPair | null
}

/**
 * A change of the primary's state: the route specs when the route table changed, and the target
 * sets of the upstreams that changed. `version` grows by one per message; the worker
 * acknowledges it with `applied`.
 */
export interface StateUpdate {
  type: 'state'
  version: number
  routes?: readonly RouteSpec[]
  upstreams: UpstreamView[]
}

/**
 * The answer to a worker's `sni` question: the pair to serve, or null for the worker's default
 * one; `failed` when the primary could not tell (then the worker asks again next time).
 */
export interface SniAnswer {
  type: 'sni'
  id: number
  pair: KeyPair | null
  failed: boolean
}

export type ToWorker =
  | WorkerInit
  | StateUpdate
  | SniAnswer
  | AcmeAnswer
  /** Certificates changed: forget the contexts made so far. */
  | { type: 'certs' }
  /** Stop accepting, drain for up to `drainMs`, flush, exit. */
  | { type: 'close'; drainMs: number }

/** In-flight counts as [upstream, target id, target port, count]; only counts above zero. */
export type InFlightReport = [string, string, number, number][]

export type FromWorker =
  /** The worker listens for messages (earlier ones would have been lost): send `init`. */
  | { type: 'ready' }
  | { type: 'listening'; https: number; http: number }
  /** State `version` is in use; `inFlight` is the worker's count at that moment. */
  | { type: 'applied'; version: number; inFlight: InFlightReport }
  /** The in-flight counts changed since the last report. */
  | { type: 'load'; inFlight: InFlightReport }
  /** An attempt to a target failed (`ok: false`) or succeeded after failures (`ok: true`). */
  | { type: 'passive'; upstream: string; target: string; port: number; ok: boolean }
  /** Finished requests, for the primary's stats, metrics and event stream. */
  | { type: 'completed'; records: RequestCompleted[]; dropped: number }
  | { type: 'sni'; id: number; servername: string }
  | AcmeQuestion
