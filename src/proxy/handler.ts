/** @module The request loop: host → route → admit → pick → forward → retry or fail. */
import { randomUUID } from 'node:crypto'
import type { Agent, IncomingMessage, ServerResponse } from 'node:http'
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_UPSTREAM_TIMEOUT_MS,
  MAX_HEADER_COUNT,
} from '../config/defaults.ts'
import { errors, type PorticoError } from '../errors.ts'
import type { Logger } from '../observe/log.ts'
import type { PassiveHealth } from '../registry/health/passive.ts'
import type { Target } from '../registry/target.ts'
import type { Rejection } from './admission.ts'
import { recordLatency } from './balancer/least-latency.ts'
import { sendError } from './error-page.ts'
import { type AttemptResult, forward } from './forward.ts'
import { buildRequestHeaders, clientAddress } from './headers.ts'
import { normalizeHost } from './host.ts'
import { shouldRetry } from './retry.ts'
import type { Route } from './route.ts'
import type { RouteTable } from './router.ts'

/** What the handler reads on every request; `table` is swapped whole on a config change. */
export interface HandlerContext {
  table: () => RouteTable<Route>
  agent: Agent
  log: Logger
  /** Hostnames listed on the 404 page (dev mode); empty to list none. */
  knownHosts: () => readonly string[]
  /** Counts connect failures and resets; ejects a target after too many. */
  passive: PassiveHealth
  connectTimeoutMs?: number
  upstreamTimeoutMs?: number
}

/** The request-line facts one request carries through its attempts. */
interface Exchange {
  req: IncomingMessage
  res: ServerResponse
  route: Route
  requestId: string
  headers: string[]
  hasBody: boolean
  startedAt: number
}

const REQUEST_ID = /^[\w.:-]{1,128}$/
const RETRY_AFTER_FULL_S = 2
const RETRY_AFTER_NO_TARGET_S = 5

/** requestIdOf keeps a sane client X-Request-Id, else makes one. */
function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id']
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length']
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}

function countHost(raw: readonly string[]): number {
  let n = 0
  for (let i = 0; i < raw.length; i += 2)
    if ((raw[i] as string).length === 4 && (raw[i] as string).toLowerCase() === 'host') n++
  return n
}

/**
 * createHandler returns the edge's request listener for one listener protocol. It never throws:
 * every failure becomes an error page (or a destroyed response once bytes were sent).
 */
export function createHandler(ctx: HandlerContext, proto: 'http' | 'https') {
  const connectTimeoutMs = ctx.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
  const upstreamTimeoutMs = ctx.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS

  const fail = (
    req: IncomingMessage,
    res: ServerResponse,
    error: PorticoError,
    requestId: string,
    retryAfter?: number,
  ) => {
    sendError(req, res, error, {
      requestId,
      knownHosts: error.statusCode === 404 ? ctx.knownHosts() : [],
      ...(retryAfter ? { retryAfterSeconds: retryAfter } : {}),
    })
  }

  const rejectionError = (rejection: Rejection, vHost: string): [PorticoError, number] => {
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

  async function attemptAll(ex: Exchange): Promise<void> {
    const { req, res, route } = ex
    const clientIp = clientAddress(req.socket.remoteAddress)
    let tried: Set<Target> | undefined
    for (let retries = 0; ; retries++) {
      const target = route.strategy.pick(route.upstream.available(), { clientIp }, tried)
      if (target === undefined) {
        const error =
          retries === 0
            ? new errors.PTC_ERR_NO_TARGET(route.vHost)
            : new errors.PTC_ERR_UPSTREAM_FAILED(route.vHost)
        return fail(
          req,
          res,
          error,
          ex.requestId,
          retries === 0 ? RETRY_AFTER_NO_TARGET_S : undefined,
        )
      }
      target.inFlight++
      const attemptStart = Date.now()
      const result: AttemptResult = await forward({
        req,
        res,
        target,
        headers: ex.headers,
        path: req.url ?? '/',
        agent: ctx.agent,
        hasBody: ex.hasBody,
        connectTimeoutMs,
        upstreamTimeoutMs,
      })
      target.inFlight--
      if (result.kind !== 'failed') {
        if (result.kind === 'responded') {
          ctx.passive.countSuccess(target)
          recordLatency(target, Date.now() - attemptStart)
        }
        return logAccess(ex, target, result.kind === 'responded' ? result.status : 499, retries)
      }
      ctx.passive.countFailure(route.upstream, target)
      if (
        !shouldRetry({
          failure: result.failure,
          method: req.method ?? 'GET',
          hasBody: ex.hasBody,
          retries,
        })
      ) {
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
        fail(req, res, error, ex.requestId)
        return logAccess(ex, target, error.statusCode, retries)
      }
      tried ??= new Set()
      tried.add(target)
    }
  }

  function logAccess(
    ex: Exchange,
    target: Target | undefined,
    status: number,
    retries: number,
  ): void {
    ctx.log.info(
      {
        requestId: ex.requestId,
        host: ex.route.vHost,
        method: ex.req.method,
        path: ex.req.url,
        status,
        target: target?.id,
        retries,
        durationMs: Date.now() - ex.startedAt,
      },
      'request',
    )
  }

  return async function handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = requestIdOf(req)
    try {
      if (req.rawHeaders.length / 2 > MAX_HEADER_COUNT) {
        res.writeHead(431, { Connection: 'close', 'Content-Length': 0 }).end()
        return
      }
      // Only origin-form targets are routed: an absolute-form URL could name another host than
      // Host (RFC 9112 §3.2.2) and `*`/authority-form have no meaning for an app.
      const originForm = req.url?.startsWith('/')
      const host =
        !originForm || countHost(req.rawHeaders) > 1 ? null : normalizeHost(req.headers.host)
      if (host === null) return fail(req, res, new errors.PTC_ERR_HOST_MALFORMED(), requestId)
      const route = ctx.table().lookup(host)
      if (route === undefined)
        return fail(req, res, new errors.PTC_ERR_ROUTE_NOT_FOUND(host), requestId)
      const abort = new AbortController()
      const onClose = () => abort.abort()
      res.once('close', onClose)
      const rejection = await route.admission.acquire(abort.signal)
      if (rejection !== undefined) {
        res.off('close', onClose)
        const [error, retryAfter] = rejectionError(rejection, route.vHost)
        return fail(req, res, error, requestId, retryAfter)
      }
      res.off('close', onClose)
      try {
        const headers = buildRequestHeaders(req.rawHeaders, {
          clientIp: clientAddress(req.socket.remoteAddress),
          proto,
          host: req.headers.host ?? host,
          requestId,
          routeHeaders: route.routeHeaders,
          routeHeaderNames: route.routeHeaderNames,
          trustForwarded: false,
        })
        await attemptAll({
          req,
          res,
          route,
          requestId,
          headers,
          hasBody: hasBody(req),
          startedAt: Date.now(),
        })
      } finally {
        route.admission.release()
      }
    } catch (error) {
      ctx.log.error({ err: error, requestId }, 'request handler failed')
      if (!res.headersSent) fail(req, res, new errors.PTC_ERR_INTERNAL(), requestId)
      else res.destroy()
    }
  }
}
