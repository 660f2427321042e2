/** @module authPolicy: HTTP Basic (password hashes) and Bearer (sha256 token hashes) → 401 with a challenge. */
import { createHash, timingSafeEqual } from 'node:crypto'
import { type PasswordHash, parsePasswordHash, parseTokenHash } from '../../config/policy-values.ts'
import { errors } from '../../errors.ts'
import type { ConcurrencyGate } from '../../lib/concurrency-gate.ts'
import { DecisionCache } from './decision-cache.ts'
import { verifyPassword } from './password-hash.ts'
import {
  CONTINUE,
  type Continue,
  type Policy,
  type RequestView,
  reject,
  type Verdict,
} from './policy.ts'

/** How long an auth decision is remembered per credential by default, in milliseconds. */
export const DEFAULT_AUTH_CACHE_TTL_MS = 5_000

/** A route's `auth` block, parsed. */
export interface AuthOptions {
  vHost: string
  /** user name → password hash (PHC scrypt or htpasswd bcrypt). */
  users?: Readonly<Record<string, string>> | undefined
  /** Accepted bearer tokens as `sha256:<64 hex>`. */
  tokens?: readonly string[] | undefined
  /** Realm named in the challenge; default the route's vHost. */
  realm?: string | undefined
  cacheTtlMs?: number | undefined
  /** Remove the Authorization header before the request goes upstream. */
  stripAuthorization?: boolean | undefined
  /** Caps password checks running at once, process-wide (shared by every route). */
  gate: ConcurrencyGate
  now?: () => number
}

const STRIPPED: Continue = Object.freeze({
  kind: 'continue',
  edits: Object.freeze({ set: Object.freeze([]), remove: Object.freeze(['authorization']) }),
})

/**
 * authPolicy checks `Authorization`: `Basic` against `users` (verified off the request path's
 * hot loop: scrypt in the thread pool, at most a few at once through `gate`), `Bearer` by the
 * token's sha256 against `tokens` in constant time. Missing or wrong credentials get 401
 * PTC_ERR_AUTH_REQUIRED with one `WWW-Authenticate` challenge per configured scheme. Basic
 * decisions (right or wrong) are cached per credential for `cacheTtlMs`, so a client's next
 * requests are answered synchronously; Bearer needs no cache (one sha256 is the cost of a cache
 * lookup). Password checks beyond the gate's queue answer 503 PTC_ERR_AUTH_UNAVAILABLE.
 * Returns undefined when neither users nor tokens are configured.
 */
export function authPolicy(options: AuthOptions): Policy | undefined {
  const users = new Map<string, PasswordHash>()
  for (const [name, text] of Object.entries(options.users ?? {})) {
    const hash = parsePasswordHash(text)
    if (typeof hash === 'string') throw new Error(`auth.basic.users.${name}: ${hash}`)
    users.set(name, hash)
  }
  const tokens = (options.tokens ?? []).map((text) => {
    const digest = parseTokenHash(text)
    if (typeof digest === 'string') throw new Error(`auth.bearer.tokens: ${digest}`)
    return digest
  })
  if (users.size === 0 && tokens.length === 0) return undefined
  const allowed = options.stripAuthorization ? STRIPPED : CONTINUE
  const challenge = challengeOf(options.realm ?? options.vHost, users.size > 0, tokens.length > 0)
  const denied = reject(new errors.PTC_ERR_AUTH_REQUIRED(options.vHost), challenge)
  const busy = reject(
    new errors.PTC_ERR_AUTH_UNAVAILABLE(options.vHost, 'too many password checks are waiting'),
    ['Retry-After', '1'],
  )
  const cache = new DecisionCache<boolean>(options.cacheTtlMs ?? DEFAULT_AUTH_CACHE_TTL_MS, {
    ...(options.now ? { now: options.now } : {}),
  })
  const decide = (ok: boolean): Verdict => (ok ? allowed : denied)

  function checkBasic(header: string): Verdict | Promise<Verdict> {
    const key = cache.keyOf(header)
    const known = cache.get(key)
    if (known !== undefined) return decide(known)
    const credentials = decodeBasic(header)
    const hash = credentials && users.get(credentials.user)
    if (!credentials || hash === undefined) {
      cache.set(key, false)
      return denied
    }
    const checking = options.gate.run(() => verifyPassword(credentials.password, hash))
    if (checking === undefined) return busy
    return checking.then((ok) => {
      cache.set(key, ok)
      return decide(ok)
    })
  }

  return {
    name: 'auth',
    check(request: RequestView) {
      const header = request.headers.authorization
      if (typeof header !== 'string') return denied
      const space = header.indexOf(' ')
      const scheme = header.slice(0, space).toLowerCase()
      if (scheme === 'basic' && users.size > 0) return checkBasic(header)
      if (scheme === 'bearer' && tokens.length > 0) {
        return decide(matchesToken(header.slice(space + 1).trim(), tokens))
      }
      return denied
    },
  }
}

/** challengeOf returns the WWW-Authenticate fields (RFC 7617 Basic, RFC 6750 Bearer). */
function challengeOf(realm: string, basic: boolean, bearer: boolean): string[] {
  const headers: string[] = []
  if (basic) headers.push('WWW-Authenticate', `Basic realm="${realm}", charset="UTF-8"`)
  if (bearer) headers.push('WWW-Authenticate', `Bearer realm="${realm}"`)
  return headers
}

/** decodeBasic splits `Basic base64(user:password)`; undefined when malformed. */
function decodeBasic(header: string): { user: string; password: string } | undefined {
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon <= 0) return undefined
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
}

/** matchesToken compares sha256(token) with every listed digest, each in constant time. */
function matchesToken(token: string, digests: readonly Buffer[]): boolean {
  if (token === '') return false
  const digest = createHash('sha256').update(token).digest()
  let found = false
  // No early exit: the time taken does not tell which entry (if any) matched.
  for (const candidate of digests) if (timingSafeEqual(digest, candidate)) found = true
  return found
}
