/**
 * @module forwardAuthPolicy: `authProvider` as a URL — ask an auth server about each request
 * (Traefik forwardAuth, nginx auth_request); 2xx lets it through, anything else is its answer.
 */
import type { Dispatcher } from 'undici'
import { errors } from '../../errors.ts'
import { buildResponseHeaders } from '../headers.ts'
import { DecisionCache, requestKey } from './decision-cache.ts'
import {
  CONTINUE,
  type Continue,
  type HeaderEdits,
  type Policy,
  type RequestView,
  reject,
  type Verdict,
} from './policy.ts'

/** How long the auth server (or hook) may take to decide, by default, in milliseconds. */
export const DEFAULT_AUTH_TIMEOUT_MS = 5_000
/** Largest denial body relayed from the auth server; a larger one fails closed (503). */
export const MAX_AUTH_BODY_BYTES = 64 * 1024

/** The logger a policy reports its dependencies' failures to (pino's satisfies it). */
export interface PolicyLog {
  warn(details: object, message: string): void
}

/** Options of forwardAuthPolicy. */
export interface ForwardAuthOptions {
  vHost: string
  /** The auth server's `http(s)://` URL. */
  url: string
  /** Names of auth-response headers copied to the upstream request (`authResponseHeaders`). */
  copyHeaders: readonly string[]
  timeoutMs?: number | undefined
  /** Allowed decisions are cached this long per credential and URI (0: never). */
  cacheTtlMs?: number | undefined
  stripAuthorization?: boolean | undefined
  /** The client for auth requests (an undici Agent shared by every route, keep-alive). */
  dispatcher: Dispatcher
  log: PolicyLog
  now?: () => number
}

/**
 * forwardAuthPolicy sends, for each request, a body-less GET to the auth server with the
 * credential headers (Authorization, Cookie), Accept, and X-Forwarded-Method, -Proto, -Host, -Uri,
 * -For and X-Request-Id. A 2xx answer lets the request through: the headers named in
 * `copyHeaders` are copied from that answer to the upstream request, and client-sent copies of
 * them are always removed (a client cannot claim `X-User` itself). Any other answer (401, 403, a
 * 302 to a login page) is returned to the client as is: status, headers minus hop-by-hop ones,
 * body up to 64 KiB. A refused connection, a timeout (`timeoutMs`, body included) or a larger
 * body fails closed: 503 PTC_ERR_AUTH_UNAVAILABLE, logged with the request id.
 */
export function forwardAuthPolicy(options: ForwardAuthOptions): Policy {
  const target = new URL(options.url)
  const timeoutMs = options.timeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS
  const copied = options.copyHeaders.map((name) => name.toLowerCase())
  const remove = options.stripAuthorization ? [...copied, 'authorization'] : copied
  const cache = new DecisionCache<Continue>(options.cacheTtlMs ?? 0, {
    ...(options.now ? { now: options.now } : {}),
  })
  const unavailable = reject(
    new errors.PTC_ERR_AUTH_UNAVAILABLE(options.vHost, 'the auth server did not answer'),
    ['Retry-After', '1'],
  )

  async function ask(request: RequestView, key: string): Promise<Verdict> {
    const signal = AbortSignal.timeout(timeoutMs)
    try {
      const response = await options.dispatcher.request({
        origin: target.origin,
        path: target.pathname + target.search,
        method: 'GET',
        headers: authRequestHeaders(request),
        signal,
      })
      if (response.statusCode >= 200 && response.statusCode < 300) {
        await response.body.dump()
        const verdict = allowed(response.headers, copied, remove)
        cache.set(key, verdict)
        return verdict
      }
      const body = await readBounded(response.body, MAX_AUTH_BODY_BYTES)
      return {
        kind: 'respond',
        status: response.statusCode,
        headers: relayed(response.headers),
        body,
      }
    } catch (err) {
      options.log.warn(
        { err, requestId: request.requestId, route: options.vHost, authProvider: target.origin },
        'auth provider failed: refusing the request',
      )
      return unavailable
    }
  }

  return {
    name: 'auth-provider',
    check(request) {
      const key = cache.ttlMs > 0 ? requestKey(cache, request) : ''
      return (key !== '' && cache.get(key)) || ask(request, key)
    },
  }
}

/** authRequestHeaders returns what the auth server is told about the request. */
export function authRequestHeaders(request: RequestView): Record<string, string> {
  const { headers } = request
  const out: Record<string, string> = {
    'x-forwarded-method': request.method,
    'x-forwarded-proto': request.secure ? 'https' : 'http',
    'x-forwarded-host': first(headers.host) ?? first(headers[':authority']) ?? request.host,
    'x-forwarded-uri': request.path,
    'x-forwarded-for': request.clientAddress,
    'x-request-id': request.requestId,
  }
  for (const name of ['authorization', 'cookie', 'accept']) {
    const value = first(headers[name])
    if (value !== undefined) out[name] = value
  }
  return out
}

function first(value: string | string[] | undefined): string | undefined {
  // Node already joins repeated request headers into one string; arrays are a fallback.
  return Array.isArray(value) ? value.join(', ') : value
}

/** allowed builds the continue verdict: `remove` dropped, the auth answer's copies of `copied` set. */
function allowed(
  headers: Record<string, string | string[] | undefined>,
  copied: readonly string[],
  remove: readonly string[],
): Continue {
  if (remove.length === 0) return CONTINUE
  const set: string[] = []
  for (const name of copied) {
    const value = headers[name]
    if (value === undefined) continue
    for (const one of Array.isArray(value) ? value : [value]) set.push(name, one)
  }
  const edits: HeaderEdits = { set, remove }
  return { kind: 'continue', edits }
}

/** relayed returns the auth answer's headers for the client, minus hop-by-hop and framing ones. */
function relayed(headers: Record<string, string | string[] | undefined>): string[] {
  const flat: string[] = []
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name === 'content-length') continue
    for (const one of Array.isArray(value) ? value : [value]) flat.push(name, one)
  }
  return buildResponseHeaders(flat)
}

async function readBounded(body: AsyncIterable<Buffer> & { destroy(): void }, max: number) {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    size += chunk.length
    if (size > max) {
      body.destroy()
      throw new Error(`the auth server's answer body is larger than ${max} bytes`)
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}
