/** @module Dashboard sessions: logging in with the API token sets an HttpOnly, SameSite=Strict cookie the API accepts. */
import { createHash, randomBytes } from 'node:crypto'
import type { FastifyPluginAsync } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { errors } from '../errors.ts'

/** The session cookie's name. */
export const SESSION_COOKIE = 'portico_session'
/** How long a session lasts after login, in milliseconds (12 h). */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000
/** Most sessions held; logging in past that ends the oldest. */
export const MAX_SESSIONS = 64
const SESSION_ID_BYTES = 32
const MS_PER_SECOND = 1000

function digest(id: string): string {
  return createHash('sha256').update(id).digest('base64url')
}

/** cookieValue returns the value of cookie `name` in a Cookie header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

/**
 * SessionStore holds the dashboard's logged-in sessions in memory: each is a random 256-bit id
 * (only its SHA-256 is kept, so a lookup's timing says nothing about a real id) with an expiry.
 * At most MAX_SESSIONS live at once (the oldest goes first); a restart of Portico ends them all.
 */
export class SessionStore {
  readonly #now: () => number
  readonly #ttlMs: number
  readonly #expiries = new Map<string, number>()

  constructor(options: { now?: () => number; ttlMs?: number } = {}) {
    this.#now = options.now ?? Date.now
    this.#ttlMs = options.ttlMs ?? SESSION_TTL_MS
  }

  /** create starts a session and returns its id (the cookie value). */
  create(): string {
    const id = randomBytes(SESSION_ID_BYTES).toString('base64url')
    if (this.#expiries.size >= MAX_SESSIONS) {
      const oldest = this.#expiries.keys().next().value
      if (oldest !== undefined) this.#expiries.delete(oldest)
    }
    this.#expiries.set(digest(id), this.#now() + this.#ttlMs)
    return id
  }

  /** isValid reports whether the Cookie header carries a live session. */
  isValid(cookieHeader: string | undefined): boolean {
    const id = cookieValue(cookieHeader, SESSION_COOKIE)
    if (id === undefined || id.length === 0) return false
    const key = digest(id)
    const expires = this.#expiries.get(key)
    if (expires === undefined) return false
    if (expires > this.#now()) return true
    this.#expiries.delete(key)
    return false
  }

  /** revoke ends the session the Cookie header carries, if any. */
  revoke(cookieHeader: string | undefined): void {
    const id = cookieValue(cookieHeader, SESSION_COOKIE)
    if (id !== undefined) this.#expiries.delete(digest(id))
  }

  /** setCookie returns the Set-Cookie value for a new session id. */
  setCookie(id: string): string {
    const maxAge = Math.floor(this.#ttlMs / MS_PER_SECOND)
    // No `Secure`: the admin listener is plain HTTP on loopback. SameSite=Strict keeps other
    // sites from sending it; the Origin check keeps other local ports (same site) out.
    return `${SESSION_COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAge}`
  }
}

/** The Set-Cookie value that removes the session cookie. */
export const CLEARED_COOKIE = `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`

const loginBody = z.object({ token: z.string().min(1).max(4096) }).strict()

/** What the session endpoints need: the token and the store (both absent when no token is set). */
export interface SessionDeps {
  token: string | undefined
  sessions: SessionStore | undefined
  isTokenValid: (authorization: string | undefined, token: string) => boolean
}

/**
 * sessionPlugin serves `GET /session` (`{ tokenRequired, authenticated }`, for the dashboard to
 * decide whether to show its login form), `POST /session {token}` (a right token sets the
 * session cookie; a wrong one is 401) and `DELETE /session` (logout). The security hook lets
 * these through without a token; Host and Origin checks still apply, so no other site can log a
 * browser in. Register it under the API prefix.
 */
export function sessionPlugin(deps: SessionDeps): FastifyPluginAsync {
  const { token, sessions } = deps
  return async function session(app) {
    const typed = app.withTypeProvider<ZodTypeProvider>()
    typed.get('/session', { schema: { hide: true } }, async (request) => ({
      tokenRequired: token !== undefined,
      authenticated:
        token === undefined ||
        deps.isTokenValid(request.headers.authorization, token) ||
        sessions?.isValid(request.headers.cookie) === true,
    }))
    typed.post('/session', { schema: { body: loginBody, hide: true } }, async (request, reply) => {
      if (token === undefined || sessions === undefined) return { authenticated: true }
      if (!deps.isTokenValid(`Bearer ${request.body.token}`, token)) {
        throw new errors.PTC_ERR_UNAUTHORIZED()
      }
      reply.header('Set-Cookie', sessions.setCookie(sessions.create()))
      reply.header('Cache-Control', 'no-store')
      return { authenticated: true }
    })
    typed.delete('/session', { schema: { hide: true } }, async (request, reply) => {
      sessions?.revoke(request.headers.cookie)
      reply.header('Set-Cookie', CLEARED_COOKIE)
      return { authenticated: false }
    })
  }
}
