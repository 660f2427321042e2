/** @module The request loop: host → route → admit → pick → forward → retry or fail. */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Dispatcher } from 'undici'
import {
  CLIENT_SEND_TIMEOUT_MS,
  DEFAULT_UPSTREAM_TIMEOUT_MS,
  MAX_HEADER_COUNT,
} from '../config/defaults.ts'
import { errors, type PorticoError } from '../errors.ts'
import type { EventBus, RequestCompleted } from '../observe/events.ts'
import type { Logger } from '../observe/log.ts'
import type { PassiveCounter } from '../registry/health/passive.ts'
import type { Target } from '../registry/target.ts'
import type { Claimant, Rejection } from './admission.ts'
import { sendError } from './error-page.ts'
import { Exchange } from './exchange.ts'
import { forward } from './forward.ts'
import { buildRequestHeaders, clientAddress, clientKey } from './headers.ts'
import { normalizeHost } from './host.ts'
import { shouldRetry } from './retry.ts'
import type { Route } from './route.ts'
import type { RouteTable } from './router.ts'
import { BodyBudget, type RequestBody, readBody, UploadWatch } from './upload.ts'

/** What the handler reads on every request; `table` is swapped whole on a config change. */
export interface HandlerContext {
  table: () => RouteTable<Route>
  /** The upstream client (createUpstreamAgent); its connect timeout is set there. */
  agent: Dispatcher
  log: Logger
  /** Receives `request:completed` for every routed request. */
  events: EventBus
  /** Hostnames listed on the 404 page (dev mode); empty to list none. */
  knownHosts: () => readonly string[]
  /** Counts failed attempts; ejects a target after too many. */
  passive: PassiveCounter
  upstreamTimeoutMs?: number
  /** How long a client may leave a response unread before it is cut off (CLIENT_SEND_TIMEOUT_MS). */
  sendTimeoutMs?: number
  /** Peer addresses whose X-Forwarded-For chain is kept (a proxy in front of Portico). */
  trustedProxies?: ReadonlySet<string>
  /**
   * Targets given a request, with their upstream's name: an edge worker reports in-flight
   * counts from it instead of scanning every target of every route.
   */
  busy?: Map<Target, string>
  /** Memory for bodies read before admission (one per edge process; made if not given). */
  bodyBudget?: BodyBudget
  /** The minimum-upload-rate watch (one per edge process; made if not given). */
  uploads?: UploadWatch
}

const REQUEST_ID = /^[\w.:-]{1,128}$/
const RETRY_AFTER_FULL_S = 2
const RETRY_AFTER_NO_TARGET_S = 5
/** Status logged when the client went away before the response ended (nginx's 499). */
const CLIENT_CLOSED = 499

/** requestIdOf keeps a well-formed client X-Request-Id, else makes one; the one id of a request. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id']
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
}

function hostCount(raw: readonly string[]): number {
  let n = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length === 4 && name.toLowerCase() === 'host') n++
  }
  return n
}

/**
 * routedHost returns the request's routing key, or null when the request is malformed: not
 * origin-form, more than one Host, an unusable Host, or HTTP/1.0 with Transfer-Encoding (which
 * HTTP/1.0 does not define; RFC 9112 §6.1 says to treat the framing as faulty).
 */
export function routedHost(req: IncomingMessage): string | null {
  if (req.httpVersion === '1.0' && req.headers['transfer-encoding'] !== undefined) return null
  // Only origin-form targets are routed: an absolute-form URL could name another host than
  // Host (RFC 9112 §3.2.2), and `*` or authority-form mean nothing to an app.
  if (req.url === undefined || req.url.charCodeAt(0) !== 47 /* '/' */) return null
  if (hostCount(req.rawHeaders) > 1) return null
  return normalizeHost(req.headers.host)
}

/** What upstreamHeaders needs besides the request. */
export interface UpstreamHeaderOptions {
  route: Route
  proto: 'http' | 'https'
  requestId: string
  clientIp: string
  trustedProxies: ReadonlySet<string> | undefined
}

/**
 * upstreamHeaders returns the header list sent upstream for a request or a WebSocket handshake:
 * the client's end-to-end headers, the forwarding headers, the route's headers and the request
 * id. A client body without Content-Length (Node has de-chunked it; Transfer-Encoding is
 * hop-by-hop) is re-chunked by the upstream client itself, so a GET/DELETE body can never reach
 * the upstream as raw bytes after the head, i.e. as a smuggled second request.
 */
export function upstreamHeaders(req: IncomingMessage, options: UpstreamHeaderOptions): string[] {
  const { route, clientIp } = options
  return buildRequestHeaders(req.rawHeaders, {
    clientIp,
    proto: options.proto,
    host: req.headers.host ?? route.vHost,
    requestId: options.requestId,
    routeHeaders: route.routeHeaders,
    routeHeaderNames: route.routeHeaderNames,
    trustForwarded: options.trustedProxies?.has(clientIp) === true,
  })
}

/** tooManyHeaders reports a request with more headers than the edge accepts (answered 431). */
export function tooManyHeaders(req: IncomingMessage): boolean {
  return req.rawHeaders.length / 2 > MAX_HEADER_COUNT
}

function rejectionError(rejection: Rejection, vHost: string): [PorticoError, number] {
  switch (rejection) {
    case 'full':
      return [new errors.PTC_ERR_QUEUE_FULL(vHost), RETRY_AFTER_FULL_S]
    case 'timeout':
      return [new errors.PTC_ERR_QUEUE_TIMEOUT(vHost), RETRY_AFTER_FULL_S]
    case 'no-target':
    case 'closed':
      return [new errors.PTC_ERR_NO_TARGET(vHost), RETRY_AFTER_NO_TARGET_S]
  }
}

/** Status logged for each way Portico cuts a client off. */
const CUT_OFF_STATUS = { 'slow-upload': 408, 'slow-read': CLIENT_CLOSED } as const

/** The client address a request counts against (the forwarded one behind a trusted proxy). */
function clientOf(req: IncomingMessage, peer: string, trusted: ReadonlySet<string> | undefined) {
  if (trusted?.has(peer) !== true) return peer
  const chain = req.headers['x-forwarded-for']
  const last = typeof chain === 'string' ? chain.slice(chain.lastIndexOf(',') + 1).trim() : ''
  return last === '' ? peer : last
}

/**
 * createHandler returns the edge's request listener for one listener protocol. It never throws:
 * every failure becomes an error page (or a destroyed response once bytes were sent), and every
 * routed request ends with one `request:completed` event and one access-log line. Everything a
 * request holds (its admission slot or queue place, a target's in-flight count, budget for its
 * body) is given back once its Exchange ends, however the client leaves (issue 12).
 */
export function createHandler(ctx: HandlerContext, proto: 'http' | 'https') {
  const upstreamTimeoutMs = ctx.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS
  const sendTimeoutMs = ctx.sendTimeoutMs ?? CLIENT_SEND_TIMEOUT_MS
  const bodyBudget = ctx.bodyBudget ?? new BodyBudget()
  const uploads = ctx.uploads ?? new UploadWatch()

  function fail(ex: Exchange, error: PorticoError, retryAfter?: number): void {
    const knownHosts = error.statusCode === 404 ? ctx.knownHosts() : []
    sendError(ex.req, ex.res, error, {
      requestId: ex.requestId,
      knownHosts,
      ...(retryAfter ? { retryAfterSeconds: retryAfter } : {}),
    })
  }

  function complete(ex: Exchange, route: Route, answered: number): void {
    // Build the record only when someone reads it (no subscriber and access log off: nothing).
    if (!ctx.events.hasListeners('request:completed') && !ctx.log.isLevelEnabled('info')) return
    const { req } = ex
    const status =
      ex.cutOffReason !== undefined
        ? CUT_OFF_STATUS[ex.cutOffReason]
        : ex.gone && !ex.res.headersSent
          ? CLIENT_CLOSED
          : answered
    const event: RequestCompleted = {
      requestId: ex.requestId,
      route: route.vHost,
      app: route.app,
      target: ex.target?.id,
      method: req.method ?? '',
      path: req.url ?? '',
      status,
      durationMs: Date.now() - ex.startedAt,
      queueMs: ex.queueMs,
      retries: ex.retries,
      bytesIn: Number(req.headers['content-length'] ?? 0) || 0,
      bytesOut: ex.bytesOut,
    }
    if (ex.cutOffReason !== undefined) event.cutOff = ex.cutOffReason
    ctx.events.emit('request:completed', event)
    ctx.log.info(event, 'request')
  }

  /** proxy runs the attempts for an admitted request; returns the status the client got. */
  async function proxy(ex: Exchange, route: Route, clientIp: string, body: RequestBody) {
    const { req } = ex
    const headers = upstreamHeaders(req, {
      route,
      proto,
      requestId: ex.requestId,
      clientIp,
      trustedProxies: ctx.trustedProxies,
    })
    const path = route.rewritePath(req.url ?? '/')
    const upstreamBody = body.kind === 'buffered' ? body.body : body.kind === 'stream' ? req : null
    let tried: Set<Target> | undefined
    for (;;) {
      const target = route.strategy.pick(route.upstream.available(), { clientIp }, tried)
      if (target === undefined) {
        const error =
          ex.retries === 0
            ? new errors.PTC_ERR_NO_TARGET(route.vHost)
            : new errors.PTC_ERR_UPSTREAM_FAILED(route.vHost)
        fail(ex, error, ex.retries === 0 ? RETRY_AFTER_NO_TARGET_S : undefined)
        return error.statusCode
      }
      ex.target = target
      target.countRequest(1)
      ctx.busy?.set(target, route.upstream.name)
      const attemptStart = Date.now()
      const result = await forward({
        exchange: ex,
        target,
        headers,
        path,
        agent: ctx.agent,
        body: upstreamBody,
        upstreamTimeoutMs,
        sendTimeoutMs,
      })
      target.countRequest(-1)
      if (result.kind === 'responded') {
        ex.bytesOut = result.bytes
        ctx.passive.countSuccess(route.upstream, target)
        target.recordLatency(Date.now() - attemptStart)
        return result.status
      }
      if (result.kind === 'aborted') return CLIENT_CLOSED
      ctx.passive.countFailure(route.upstream, target)
      const retry = shouldRetry({
        failure: result.failure,
        method: req.method ?? 'GET',
        hasBody: body.kind !== 'none',
        retries: ex.retries,
      })
      if (!retry) {
        ctx.log.warn(
          {
            requestId: ex.requestId,
            target: target.id,
            failure: result.failure,
            err: result.error.message,
          },
          'upstream attempt failed',
        )
        const error =
          result.failure === 'timeout'
            ? new errors.PTC_ERR_UPSTREAM_TIMEOUT(route.vHost)
            : new errors.PTC_ERR_UPSTREAM_FAILED(route.vHost)
        fail(ex, error)
        return error.statusCode
      }
      ex.retries++
      tried ??= new Set()
      tried.add(target)
    }
  }

  /**
   * admit takes a slot (waiting in the route queue if needed); returns the rejection, if any.
   * The wait ends with the exchange: a client that leaves while queued gives its place back.
   */
  async function admit(ex: Exchange, route: Route, claimant: Claimant) {
    const { admission } = route
    if (admission.tryAcquire(claimant)) return undefined
    const queuedAt = Date.now()
    const rejection = await admission.acquire(ex.signal, claimant)
    ex.queueMs = Date.now() - queuedAt
    return rejection
  }

  /** serve runs a routed request: body, admission, attempts; resolves with the status given. */
  async function serve(ex: Exchange, route: Route): Promise<number> {
    const { req } = ex
    const clientIp = clientAddress(req.socket.remoteAddress)
    const body = await readBody(ex, bodyBudget)
    if (body.kind === 'gone') return CLIENT_CLOSED
    try {
      const upload = body.kind === 'stream' && !req.complete
      const claimant = { client: clientKey(clientOf(req, clientIp, ctx.trustedProxies)), upload }
      const rejection = await admit(ex, route, claimant)
      if (rejection !== undefined) {
        const [error, retryAfter] = rejectionError(rejection, route.vHost)
        fail(ex, error, retryAfter)
        return error.statusCode
      }
      // A streamed body must keep a minimum rate while it holds the slot.
      const unwatch = upload ? uploads.watch(ex, () => req.socket?.bytesRead ?? 0) : undefined
      try {
        return await proxy(ex, route, clientIp, body)
      } finally {
        unwatch?.()
        route.admission.release(claimant)
      }
    } finally {
      if (body.kind === 'buffered') bodyBudget.give(body.reserved)
    }
  }

  return async function handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ex = new Exchange(req, res, requestIdOf(req))
    try {
      if (tooManyHeaders(req)) {
        res.writeHead(431, { Connection: 'close', 'Content-Length': 0 }).end()
        return
      }
      const host = routedHost(req)
      if (host === null) return fail(ex, new errors.PTC_ERR_HOST_MALFORMED())
      const route = ctx.table().lookup(host)
      if (route === undefined) return fail(ex, new errors.PTC_ERR_ROUTE_NOT_FOUND(host))
      ex.route = route
      complete(ex, route, await serve(ex, route))
    } catch (error) {
      ctx.log.error({ err: error, requestId: ex.requestId }, 'request handler failed')
      if (!res.headersSent) fail(ex, new errors.PTC_ERR_INTERNAL())
      else res.destroy()
    }
  }
}
