/** @module Admin API guards: loopback Host/Origin, JSON-only mutations, bearer token, safe bind. */
import { createHash, timingSafeEqual } from 'node:crypto'
import { isIPv4 } from 'node:net'
import type {} from '@fastify/websocket'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { errors, PorticoError } from '../errors.ts'
import type { SessionStore } from './session.ts'

/** What installSecurity needs to know about the API it guards. */
export interface SecurityOptions {
  /** Bearer token required on every request when set (an empty string counts as unset). */
  token?: string | undefined
  /** Route URLs (fastify patterns, prefix included) that accept `Upgrade: websocket`. */
  upgradePaths: readonly string[]
  /** The dashboard's logged-in sessions: a valid session cookie counts as the token. */
  sessions?: SessionStore | undefined
  /** Route URLs answered without the token (the dashboard's login endpoints). */
  publicPaths?: readonly string[]
  /**
   * Route URLs of public, data-free files (the dashboard's page, script and styles): answered
   * without the token, to no-cors loads (stylesheets) and to cross-site navigations, GET only.
   */
  staticPaths?: readonly string[]
}

/** The only Host names the admin API answers to, with or without `:port` (DNS rebinding). */
const LOOPBACK_HOST = /^(localhost|127\.0\.0\.1|\[::1\])(?::(\d{1,5}))?$/i
/** The only browser origins allowed: plain http on a loopback name, port optional. */
const LOOPBACK_ORIGIN = /^http:\/\/(localhost|127\.0\.0\.1|\[::1\])(?::(\d{1,5}))?$/i
const MUTATIONS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])
const HTTP_DEFAULT_PORT = '80'
/** How long a refused upgrade's socket may stay half-closed before it is destroyed. */
const REFUSED_UPGRADE_LINGER_MS = 1_000

/**
 * isLoopbackHost reports whether a Host header names this machine's loopback: `localhost`,
 * `127.0.0.1` or `[::1]`, optionally with a numeric port. A missing Host is not loopback.
 */
export function isLoopbackHost(host: string | undefined): boolean {
  return host !== undefined && LOOPBACK_HOST.test(host)
}

/**
 * isAllowedOrigin reports whether a browser `Origin` may call the API reached through `host`:
 * `http://` on a loopback name whose port equals the Host's port (both default to 80), so a page
 * served by another local port (a dev server, an app) cannot drive the API. `null` never passes.
 */
export function isAllowedOrigin(origin: string, host: string | undefined): boolean {
  const match = LOOPBACK_ORIGIN.exec(origin)
  const hostMatch = host === undefined ? null : LOOPBACK_HOST.exec(host)
  if (match === null || hostMatch === null) return false
  return (match[2] ?? HTTP_DEFAULT_PORT) === (hostMatch[2] ?? HTTP_DEFAULT_PORT)
}

/**
 * isLoopbackAddress reports whether a listen address only accepts local connections:
 * 127.0.0.0/8, `::1` (bracketed or not, or IPv4-mapped 127.x) and `localhost`.
 */
export function isLoopbackAddress(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true
  const v4 = h.startsWith('::ffff:') ? h.slice('::ffff:'.length) : h
  return isIPv4(v4) && v4.startsWith('127.')
}

/**
 * assertSafeBind throws PTC_ERR_API_UNSAFE_BIND when the admin API would listen on a
 * non-loopback address without a token (fail closed). Call it before `listen`; buildApi also
 * calls it when given `bindHost`.
 */
export function assertSafeBind(host: string, token: string | undefined): void {
  if (isLoopbackAddress(host)) return
  if (token !== undefined && token.length > 0) return
  throw new errors.PTC_ERR_API_UNSAFE_BIND(host)
}

/**
 * isTokenValid compares the `Authorization: Bearer <token>` header with the expected token in
 * constant time: both sides are hashed to 32 bytes, so neither content nor length leaks through
 * timing. Only the header counts; a token in the query string is ignored.
 */
export function isTokenValid(authorization: string | undefined, token: string): boolean {
  const presented = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '')?.[1] ?? ''
  const a = createHash('sha256').update(presented).digest()
  const b = createHash('sha256').update(token).digest()
  return timingSafeEqual(a, b) && presented.length > 0
}

/** refuse sends the standard error body for a guard failure and ends the request. */
function refuse(reply: FastifyReply, error: PorticoError): FastifyReply {
  return reply.code(error.statusCode).send({ error: { code: error.code, message: error.message } })
}

/** crossSiteError returns the error for a browser request from another site, or undefined. */
function crossSiteError(request: FastifyRequest): PorticoError | undefined {
  const { origin, host } = request.headers
  if (origin !== undefined && !isAllowedOrigin(origin, host)) {
    return new errors.PTC_ERR_CROSS_SITE_FORBIDDEN(`Origin "${origin}" is not this API's origin`)
  }
  if (request.headers['sec-fetch-site'] === 'cross-site') {
    return new errors.PTC_ERR_CROSS_SITE_FORBIDDEN('Sec-Fetch-Site: cross-site')
  }
  if (request.headers['sec-fetch-mode'] === 'no-cors') return new errors.PTC_ERR_NO_CORS_REFUSED()
  return undefined
}

/**
 * mediaTypeError returns PTC_ERR_UNSUPPORTED_MEDIA_TYPE for a mutation that sends a body, or a
 * Content-Type, other than application/json. A body-less mutation without Content-Type passes:
 * action endpoints (`POST /apps/web/restart`) are called that way.
 */
function mediaTypeError(request: FastifyRequest): PorticoError | undefined {
  if (!MUTATIONS.has(request.method)) return undefined
  const contentType = request.headers['content-type']
  if (contentType !== undefined) {
    const mediaType = contentType.split(';')[0]?.trim().toLowerCase()
    if (mediaType === 'application/json') return undefined
    return new errors.PTC_ERR_UNSUPPORTED_MEDIA_TYPE(JSON.stringify(contentType))
  }
  const length = request.headers['content-length']
  const hasBody =
    request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
  return hasBody ? new errors.PTC_ERR_UNSUPPORTED_MEDIA_TYPE('no Content-Type') : undefined
}

/**
 * staticCrossSiteError is crossSiteError for the dashboard's files: a foreign `Origin` is still
 * refused, but no-cors loads (a stylesheet) and a top-level navigation from another site (a link
 * to the dashboard) pass. The files carry no data; every API call the page makes is checked.
 */
function staticCrossSiteError(request: FastifyRequest): PorticoError | undefined {
  const { origin, host } = request.headers
  if (origin !== undefined && !isAllowedOrigin(origin, host)) {
    return new errors.PTC_ERR_CROSS_SITE_FORBIDDEN(`Origin "${origin}" is not this API's origin`)
  }
  const crossSite = request.headers['sec-fetch-site'] === 'cross-site'
  if (crossSite && request.headers['sec-fetch-mode'] !== 'navigate') {
    return new errors.PTC_ERR_CROSS_SITE_FORBIDDEN('Sec-Fetch-Site: cross-site')
  }
  return undefined
}

/**
 * authError returns PTC_ERR_UNAUTHORIZED unless the request carries the bearer token or a live
 * session cookie. A cookie is sent by the browser on its own, so a mutation or an upgrade that
 * relies on one must also carry an `Origin` (already checked to be this API's): CSRF safety
 * does not rest on SameSite alone, which treats every port of localhost as the same site.
 */
function authError(request: FastifyRequest, token: string, sessions: SessionStore | undefined) {
  if (isTokenValid(request.headers.authorization, token)) return undefined
  if (sessions === undefined || !sessions.isValid(request.headers.cookie)) {
    return new errors.PTC_ERR_UNAUTHORIZED()
  }
  const needsOrigin = MUTATIONS.has(request.method) || request.headers.upgrade !== undefined
  if (needsOrigin && request.headers.origin === undefined) {
    return new errors.PTC_ERR_CROSS_SITE_FORBIDDEN('a session cookie needs an Origin header here')
  }
  return undefined
}

/** upgradeError refuses an `Upgrade` anywhere but the configured WebSocket routes. */
function upgradeError(request: FastifyRequest, upgradePaths: readonly string[]) {
  if (request.headers.upgrade === undefined) return undefined
  const url = request.routeOptions.url
  if (url !== undefined && upgradePaths.includes(url)) return undefined
  return new errors.PTC_ERR_API_UPGRADE_REFUSED(upgradePaths.join(', '))
}

/**
 * parseJsonBody is the API's `application/json` parser: an empty body reads as no body; invalid
 * JSON and prototype-poisoning keys (`__proto__`, `constructor.prototype`) are PTC_ERR_BAD_JSON
 * with the parser's message, so the client learns what to fix.
 */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') return undefined
  try {
    return JSON.parse(text, (key, value: unknown) => {
      if (key === '__proto__' || (key === 'constructor' && hasPrototypeKey(value))) {
        throw new errors.PTC_ERR_BAD_JSON(`the key "${key}" is not allowed`)
      }
      return value
    })
  } catch (error) {
    if (error instanceof PorticoError) throw error
    const reason = error instanceof Error ? error.message : String(error)
    throw new errors.PTC_ERR_BAD_JSON(reason, { cause: error })
  }
}

function hasPrototypeKey(value: unknown): boolean {
  return typeof value === 'object' && value !== null && Object.hasOwn(value, 'prototype')
}

/**
 * closeRefusedUpgrade ends the socket of an Upgrade request that was answered with plain HTTP
 * before @fastify/websocket saw it (a guard refused it): node has already handed that socket over
 * to the upgrade handler, so nothing else would ever close it and `app.close()` would wait on it.
 * The socket is ended after the answer is flushed and destroyed if the peer lingers.
 */
function closeRefusedUpgrade(request: FastifyRequest, reply: FastifyReply): void {
  if (request.headers.upgrade === undefined || request.ws === true) return
  const socket = reply.raw.socket
  if (socket === null || socket.destroyed) return
  socket.end()
  const timer = setTimeout(() => socket.destroy(), REFUSED_UPGRADE_LINGER_MS)
  timer.unref()
  socket.once('close', () => clearTimeout(timer))
}

/**
 * installSecurity adds the guards to `app` itself (not an encapsulated child), so they run as the
 * first onRequest hooks of every route, the 404 handler and WebSocket upgrades, before auth and
 * routing decisions: Host allowlist (403), cross-site Origin / Sec-Fetch-Site (403), no-cors
 * (400), Upgrade outside `upgradePaths` (400), bearer token or session cookie (401 +
 * `WWW-Authenticate: Bearer`; a cookie-authenticated mutation or upgrade without `Origin`: 403),
 * then JSON-only mutations (415). `publicPaths` skip the token, `staticPaths` (GET) also accept
 * no-cors loads and cross-site navigations (see staticCrossSiteError). It also replaces the body parsers: JSON via parseJsonBody,
 * nothing else, and makes a body-less mutation read as `{}` (the documented empty form).
 * Register it before any route.
 */
export function installSecurity(app: FastifyInstance, options: SecurityOptions): void {
  const token = options.token === '' ? undefined : options.token
  const publicPaths = new Set(options.publicPaths ?? [])
  const staticPaths = new Set(options.staticPaths ?? [])
  app.addHook('onRequest', async (request, reply) => {
    // A refused upgrade's socket is ended after the answer (closeRefusedUpgrade); say so.
    if (request.headers.upgrade !== undefined) reply.header('Connection', 'close')
    if (!isLoopbackHost(request.headers.host)) {
      return refuse(reply, new errors.PTC_ERR_HOST_FORBIDDEN(request.headers.host ?? ''))
    }
    const url = request.routeOptions.url ?? ''
    const isStatic = staticPaths.has(url) && (request.method === 'GET' || request.method === 'HEAD')
    const refused =
      (isStatic ? staticCrossSiteError(request) : crossSiteError(request)) ??
      upgradeError(request, options.upgradePaths)
    if (refused !== undefined) return refuse(reply, refused)
    const unauthorized =
      token === undefined || isStatic || publicPaths.has(url)
        ? undefined
        : authError(request, token, options.sessions)
    if (unauthorized !== undefined) {
      if (unauthorized.statusCode === 401) reply.header('WWW-Authenticate', 'Bearer')
      return refuse(reply, unauthorized)
    }
    const media = mediaTypeError(request)
    if (media !== undefined) return refuse(reply, media)
  })
  app.addHook('onResponse', async (request, reply) => closeRefusedUpgrade(request, reply))
  app.addHook('preValidation', async (request) => {
    if (MUTATIONS.has(request.method) && request.body === undefined) request.body = {}
  })
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(typeof body === 'string' ? body : body.toString('utf8')))
    } catch (error) {
      done(error instanceof Error ? error : new Error(String(error)), undefined)
    }
  })
}
