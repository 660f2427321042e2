/** @module EdgeServer: the HTTPS (SNI) and HTTP listeners, their timeouts, and graceful close. */
import { once } from 'node:events'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import type tls from 'node:tls'
import {
  CLIENT_HEADERS_TIMEOUT_MS,
  CLIENT_KEEP_ALIVE_TIMEOUT_MS,
  CLIENT_REQUEST_TIMEOUT_MS,
  CONNECTIONS_CHECKING_INTERVAL_MS,
  MAX_CONNECTIONS,
  MAX_HEADER_BYTES,
  MAX_HEADER_COUNT,
} from '../config/defaults.ts'
import { errors } from '../errors.ts'
import type { Logger } from '../observe/log.ts'
import {
  type AcmeResponder,
  answerHttp01,
  challengeToken,
  tlsAlpnCallbacks,
} from './acme-responder.ts'
import { sendError } from './error-page.ts'
import { createHandler, type HandlerContext } from './handler.ts'
import { normalizeHost } from './host.ts'
import { TLS_SERVER_OPTIONS } from './tls/sni.ts'
import { createUpgradeHandler } from './upgrade.ts'

/** Options of the edge listeners. Ports may be 0 (any free port). */
export interface EdgeServerOptions {
  bind: string
  httpsPort: number
  httpPort: number
  /** Redirect known hosts from HTTP to HTTPS (308); unknown hosts always get 404. */
  httpRedirect: boolean
  /** Certificate served when the client sends no SNI (or an unknown name). */
  defaultCert: { keyPem: string; certPem: string }
  sniCallback: (
    servername: string,
    cb: (err: Error | null, ctx?: tls.SecureContext) => void,
  ) => void
  handler: HandlerContext
  log: Logger
  /** ACME challenges to answer (HTTP-01 before routing, TLS-ALPN-01 in the handshake). */
  acme?: AcmeResponder | undefined
}

/** Node server options shared by both listeners (reliability.md §3). */
const HTTP_SERVER_OPTIONS = {
  headersTimeout: CLIENT_HEADERS_TIMEOUT_MS,
  requestTimeout: CLIENT_REQUEST_TIMEOUT_MS,
  keepAliveTimeout: CLIENT_KEEP_ALIVE_TIMEOUT_MS,
  connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
  maxHeaderSize: MAX_HEADER_BYTES,
  requireHostHeader: true,
  insecureHTTPParser: false,
} satisfies http.ServerOptions

function tuneServer(server: http.Server): void {
  // One more than the limit so the handler can see "too many" and answer 431 instead of Node
  // silently dropping the extra headers (reliability.md B3).
  server.maxHeadersCount = MAX_HEADER_COUNT + 1
  server.maxRequestsPerSocket = 1000
  // Past this many open connections new ones are closed at once (a proxied connection costs two
  // file descriptors: keep `ulimit -n` at 2.5× this).
  server.maxConnections = MAX_CONNECTIONS
}

/**
 * EdgeServer owns the two public listeners. `start()` binds both and returns the bound ports;
 * `close()` stops accepting at once, lets in-flight requests finish for up to `drainMs`, then
 * cuts what is left.
 */
export class EdgeServer {
  #options: EdgeServerOptions
  #https: https.Server
  #http: http.Server
  /** Open WebSocket tunnels; they outlive their HTTP exchange, so close() ends them itself. */
  #tunnels = new Set<Duplex>()

  constructor(options: EdgeServerOptions) {
    this.#options = options
    const handleHttps = createHandler(options.handler, 'https')
    const handleHttp = createHandler(options.handler, 'http')
    this.#https = https.createServer(
      {
        ...HTTP_SERVER_OPTIONS,
        ...TLS_SERVER_OPTIONS,
        key: options.defaultCert.keyPem,
        cert: options.defaultCert.certPem,
        ...(options.acme?.tlsAlpn01
          ? tlsAlpnCallbacks(options.acme, options.sniCallback, options.log)
          : { SNICallback: options.sniCallback }),
      },
      (req, res) => void handleHttps(req, res),
    )
    this.#http = http.createServer(HTTP_SERVER_OPTIONS, (req, res) =>
      this.#onPlainHttp(req, res, handleHttp),
    )
    tuneServer(this.#https)
    tuneServer(this.#http)
    const upgradeContext = {
      table: options.handler.table,
      log: options.log,
      tunnels: this.#tunnels,
      trustedProxies: options.handler.trustedProxies,
      busy: options.handler.busy,
    }
    const upgradeHttps = createUpgradeHandler(upgradeContext, 'https')
    const upgradeHttp = createUpgradeHandler(upgradeContext, 'http')
    this.#https.on('upgrade', (req, socket, head) => void upgradeHttps(req, socket, head))
    this.#http.on('upgrade', (req, socket, head) => void upgradeHttp(req, socket, head))
  }

  /** start binds both listeners and resolves with the ports they got. */
  async start(): Promise<{ https: number; http: number }> {
    const { bind, httpsPort, httpPort } = this.#options
    this.#https.listen(httpsPort, bind)
    this.#http.listen(httpPort, bind)
    await Promise.all([once(this.#https, 'listening'), once(this.#http, 'listening')])
    return {
      https: (this.#https.address() as AddressInfo).port,
      http: (this.#http.address() as AddressInfo).port,
    }
  }

  /** close stops accepting, drains in-flight requests for up to `drainMs`, then closes the rest. */
  async close(drainMs: number): Promise<void> {
    const servers = [this.#https, this.#http]
    const closed = Promise.all(
      servers.map((s) => (s.listening ? new Promise((r) => s.close(r)) : undefined)),
    )
    for (const s of servers) s.closeIdleConnections()
    const timer = setTimeout(() => {
      for (const s of servers) s.closeAllConnections()
      for (const tunnel of this.#tunnels) tunnel.destroy()
    }, drainMs)
    await closed
    clearTimeout(timer)
    for (const tunnel of this.#tunnels) tunnel.destroy()
  }

  #onPlainHttp(
    req: IncomingMessage,
    res: ServerResponse,
    proxy: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  ): void {
    const acme = this.#options.acme
    const token = acme?.http01 ? challengeToken(req) : undefined
    if (acme === undefined || token === undefined) {
      this.#routePlainHttp(req, res, proxy)
      return
    }
    // ACME HTTP-01 comes before routing and redirects; a token we do not know is routed as usual.
    void answerHttp01(res, acme, token).then((answered) => {
      if (!answered) this.#routePlainHttp(req, res, proxy)
    })
  }

  #routePlainHttp(
    req: IncomingMessage,
    res: ServerResponse,
    proxy: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  ): void {
    const host = normalizeHost(req.headers.host)
    const route = host === null ? undefined : this.#options.handler.table().lookup(host)
    if (host === null || route === undefined || !route.autoHttps || !this.#options.httpRedirect) {
      // Unknown and malformed hosts are answered by the handler (404/400); never redirected.
      void proxy(req, res)
      return
    }
    const port = (this.#https.address() as AddressInfo | null)?.port ?? this.#options.httpsPort
    const authority = port === 443 ? host : `${host}:${port}`
    const location = `https://${authority}${req.url ?? '/'}`
    if (location.length > 8192) {
      sendError(req, res, new errors.PTC_ERR_HOST_MALFORMED(), { requestId: '-' })
      return
    }
    res.writeHead(308, { Location: location, 'Content-Length': 0, 'Cache-Control': 'no-store' })
    res.end()
  }
}
