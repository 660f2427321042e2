/** @module WebSocket upgrades: route by Host, pick a target, tunnel both ways, close both sides together. */
import http, { type IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_UPSTREAM_TIMEOUT_MS } from '../config/defaults.ts'
import { errors } from '../errors.ts'
import type { Logger } from '../observe/log.ts'
import type { Target } from '../registry/target.ts'
import { requestIdOf, routedHost, tooManyHeaders, upstreamHeaders } from './handler.ts'
import { clientAddress } from './headers.ts'
import type { Route } from './route.ts'
import type { RouteTable } from './router.ts'

/** An open WebSocket is closed after this long without traffic either way, in milliseconds. */
export const WS_IDLE_TIMEOUT_MS = 5 * 60_000
/** Upgrade attempts on other targets after a refused connection. */
const MAX_UPGRADE_RETRIES = 2

/** What the upgrade listener needs. */
export interface UpgradeContext {
  table: () => RouteTable<Route>
  log: Logger
  /** Open tunnels, so shutdown can close them. */
  tunnels: Set<Duplex>
  /** Peers whose X-Forwarded-For chain is kept, as for plain requests. */
  trustedProxies?: ReadonlySet<string> | undefined
  /** Targets given a tunnel, with their upstream's name (HandlerContext.busy). */
  busy?: Map<Target, string> | undefined
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  431: 'Request Header Fields Too Large',
  404: 'Not Found',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
}

/** rejectUpgrade writes a complete, closing HTTP response on the raw socket. */
function rejectUpgrade(socket: Duplex, status: number, code: string): void {
  if (socket.destroyed) return
  const body = JSON.stringify({ error: { code } })
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  )
}

function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return req.method === 'GET' && req.headers.upgrade?.toLowerCase() === 'websocket'
}

/**
 * createUpgradeHandler returns the server's 'upgrade' listener. Only `GET` + `Upgrade: websocket`
 * is tunnelled (h2c and other upgrades get 400: no smuggling through a tunnel); unknown hosts get
 * a complete 404. The upstream handshake answer is relayed as is; bytes the client sent after
 * its handshake are held until the upstream has agreed to switch protocols (RFC 9931), so they
 * are never parsed as a request. The admission slot is held only during the handshake.
 */
export function createUpgradeHandler(ctx: UpgradeContext, proto: 'http' | 'https') {
  return async function handleUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
  ): Promise<void> {
    socket.on('error', () => socket.destroy())
    if (!isWebSocketUpgrade(req))
      return rejectUpgrade(socket, 400, errors.PTC_ERR_UPGRADE_UNSUPPORTED.code)
    if (tooManyHeaders(req))
      return rejectUpgrade(socket, 431, errors.PTC_ERR_HEADERS_TOO_LARGE.code)
    // The same checks as plain requests: one Host, origin-form target, sane framing.
    const host = routedHost(req)
    if (host === null) return rejectUpgrade(socket, 400, errors.PTC_ERR_HOST_MALFORMED.code)
    const route = ctx.table().lookup(host)
    if (route === undefined) return rejectUpgrade(socket, 404, errors.PTC_ERR_ROUTE_NOT_FOUND.code)
    const abort = new AbortController()
    socket.once('close', () => abort.abort())
    const rejection = await route.admission.acquire(abort.signal)
    if (rejection !== undefined) return rejectUpgrade(socket, 503, errors.PTC_ERR_NO_TARGET.code)
    try {
      const headers = upstreamHeaders(req, {
        route,
        proto,
        requestId: requestIdOf(req),
        clientIp: clientAddress(req.socket.remoteAddress),
        trustedProxies: ctx.trustedProxies,
      })
      headers.push('Connection', 'Upgrade', 'Upgrade', 'websocket')
      await tunnel({ req, socket, head, route, headers, ctx })
    } finally {
      route.admission.release()
    }
  }
}

interface TunnelInit {
  req: IncomingMessage
  socket: Duplex
  head: Buffer
  route: Route
  headers: string[]
  ctx: UpgradeContext
}

/** tunnel tries targets until one answers the handshake; resolves once the handshake is over. */
async function tunnel(init: TunnelInit): Promise<void> {
  const clientIp = clientAddress(init.req.socket.remoteAddress)
  const tried = new Set<Target>()
  for (let attempt = 0; attempt <= MAX_UPGRADE_RETRIES; attempt++) {
    const target = init.route.strategy.pick(init.route.upstream.available(), { clientIp }, tried)
    if (target === undefined) break
    // The handshake counts as a request in flight, so a drain waits for it too (join() counts
    // the tunnel itself once it is up).
    target.countRequest(1)
    init.ctx.busy?.set(target, init.route.upstream.name)
    let outcome: 'done' | 'dial'
    try {
      outcome = await handshake(init, target)
    } finally {
      target.countRequest(-1)
    }
    if (outcome !== 'dial') return
    tried.add(target)
  }
  rejectUpgrade(init.socket, 502, errors.PTC_ERR_UPSTREAM_FAILED.code)
}

/** handshake performs one upstream handshake; 'dial' means nothing was sent and another target may be tried. */
function handshake(init: TunnelInit, target: Target): Promise<'done' | 'dial'> {
  const { req, socket, head } = init
  return new Promise((resolve) => {
    let connected = false
    const proxyReq = http.request({
      host: target.host,
      port: target.port,
      method: 'GET',
      path: req.url,
      headers: init.headers,
      agent: false,
      setHost: false,
      timeout: DEFAULT_UPSTREAM_TIMEOUT_MS,
    })
    const connectTimer = setTimeout(
      () => proxyReq.destroy(new Error('connect timeout')),
      DEFAULT_CONNECT_TIMEOUT_MS,
    )
    proxyReq.on('socket', (s) =>
      s.once('connect', () => {
        connected = true
        clearTimeout(connectTimer)
      }),
    )
    proxyReq.on('timeout', () => proxyReq.destroy(new Error('upstream handshake timeout')))
    proxyReq.on('error', (error) => {
      clearTimeout(connectTimer)
      if (!connected && !socket.destroyed) return resolve('dial')
      init.ctx.log.warn({ target: target.id, err: error.message }, 'websocket handshake failed')
      rejectUpgrade(socket, 502, errors.PTC_ERR_UPSTREAM_FAILED.code)
      resolve('done')
    })
    // The upstream refused to switch (403, 404, …): relay its answer and close.
    proxyReq.on('response', (res) => {
      socket.write(
        `HTTP/1.1 ${res.statusCode} ${res.statusMessage}\r\n${rawHeaderLines(res.rawHeaders, true)}\r\n`,
      )
      res.pipe(socket)
      resolve('done')
    })
    // A client that leaves during the handshake takes the upstream attempt with it.
    const onClientGone = () => proxyReq.destroy()
    socket.once('close', onClientGone)
    proxyReq.on('upgrade', (res, upstream, upstreamHead) => {
      socket.off('close', onClientGone)
      if (socket.destroyed) {
        // The client is already gone: never join (its 'close' has fired and would not again).
        upstream.destroy()
        resolve('done')
        return
      }
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\n${rawHeaderLines(res.rawHeaders, false)}\r\n`,
      )
      if (upstreamHead.length > 0) socket.write(upstreamHead)
      if (head.length > 0) upstream.write(head)
      join(socket, upstream, target, init)
      resolve('done')
    })
    proxyReq.end()
  })
}

const CLOSE_DROPPED = new Set(['connection', 'transfer-encoding', 'keep-alive'])

function rawHeaderLines(raw: readonly string[], close: boolean): string {
  let out = ''
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    // A relayed refusal ends with the connection: its body arrives de-chunked, so framing
    // headers from the upstream would lie about it.
    if (close && CLOSE_DROPPED.has(name.toLowerCase())) continue
    out += `${name}: ${raw[i + 1] as string}\r\n`
  }
  return close ? `${out}Connection: close\r\n` : out
}

/** join pipes the two sockets together and tears both down when either ends, errs or idles. */
function join(client: Duplex, upstream: Duplex, target: Target, init: TunnelInit): void {
  const { ctx } = init
  target.countRequest(1)
  ctx.busy?.set(target, init.route.upstream.name)
  ctx.tunnels.add(client)
  let closed = false
  const close = () => {
    if (closed) return
    closed = true
    target.countRequest(-1)
    ctx.tunnels.delete(client)
    client.destroy()
    upstream.destroy()
  }
  for (const side of [client, upstream]) {
    side.on('close', close)
    side.on('error', close)
    side.on('end', close)
    if ('setTimeout' in side && typeof side.setTimeout === 'function')
      side.setTimeout(WS_IDLE_TIMEOUT_MS, close)
  }
  client.pipe(upstream)
  upstream.pipe(client)
}
