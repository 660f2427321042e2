/**
 * @module authHookPolicy: `authProvider` as a module path — the module's default export decides
 * each request, `(request) => boolean | { allow, headers?, status? }`, within a time limit.
 */
import { createJiti } from 'jiti'
import { errors } from '../../errors.ts'
import { DecisionCache, requestKey } from './decision-cache.ts'
import { DEFAULT_AUTH_TIMEOUT_MS, type PolicyLog } from './forward-auth.ts'
import {
  CONTINUE,
  type Continue,
  type Policy,
  type RequestView,
  reject,
  type Verdict,
} from './policy.ts'

/** What an auth hook returns (or resolves to). */
export type HookAnswer =
  | boolean
  | { allow: boolean; headers?: Record<string, string>; status?: number }

/** The function a hook module exports by default. */
export type AuthHook = (request: RequestView) => HookAnswer | Promise<HookAnswer>

/** After a failed load, the module is tried again on a request at least this much later, in ms. */
export const HOOK_RELOAD_AFTER_MS = 5_000

/** Options of authHookPolicy. */
export interface AuthHookOptions {
  vHost: string
  /** Absolute path of the module (the config resolves it relative to the config file). */
  modulePath: string
  timeoutMs?: number | undefined
  /** Allowed decisions are cached this long per credential and URI (0: never). */
  cacheTtlMs?: number | undefined
  stripAuthorization?: boolean | undefined
  log: PolicyLog
  /** Loads the module's default export; default: jiti, as the config file is loaded. */
  load?: (modulePath: string) => Promise<unknown>
  /** Start loading when the policy is built (default true); a failure is reported per request. */
  preload?: boolean
  now?: () => number
}

const HEADER_NAME = /^[!#$%&'*+.^`|~0-9A-Za-z-]+$/
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/
/** Headers a hook may not set: Portico's own forwarding headers and hop-by-hop ones. */
const RESERVED =
  /^(host|x-forwarded-.*|x-real-ip|x-request-id|forwarded|connection|keep-alive|te|trailer|transfer-encoding|upgrade|proxy-.*|content-length)$/i

/** loadWithJiti imports a .ts/.js module fresh (no module cache) and returns its default export. */
export async function loadWithJiti(modulePath: string): Promise<unknown> {
  const jiti = createJiti(import.meta.url, {
    moduleCache: false,
    fsCache: false,
    interopDefault: true,
  })
  return jiti.import(modulePath, { default: true })
}

/**
 * authHookPolicy loads the module when built (jiti, like the config) and calls its default
 * export with a copy of the request view. `true` or `{ allow: true, headers }` lets the request
 * through (`headers` set on the upstream request, replacing client copies); `false` answers 403
 * PTC_ERR_AUTH_DENIED; `{ allow: false, status, headers }` answers that status with those
 * headers and no body (e.g. 401 with a challenge, 302 to a login page). A hook that throws,
 * rejects, takes longer than `timeoutMs`, fails to load, or returns anything else fails closed:
 * 503 PTC_ERR_AUTH_UNAVAILABLE, logged. A hook that never yields the thread (an endless
 * synchronous loop) cannot be stopped by the time limit: hooks must be async or quick.
 */
export function authHookPolicy(options: AuthHookOptions): Policy {
  const load = options.load ?? loadWithJiti
  const timeoutMs = options.timeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS
  const base = options.stripAuthorization ? ['authorization'] : []
  const cache = new DecisionCache<Continue>(options.cacheTtlMs ?? 0, {
    ...(options.now ? { now: options.now } : {}),
  })
  const unavailable = reject(
    new errors.PTC_ERR_AUTH_UNAVAILABLE(options.vHost, 'the auth hook failed'),
    ['Retry-After', '1'],
  )
  const denied = reject(new errors.PTC_ERR_AUTH_DENIED(options.vHost))
  let hook: Promise<AuthHook> | undefined
  let failedAt = Number.NEGATIVE_INFINITY
  let failure: unknown

  function loaded(): Promise<AuthHook> {
    const now = (options.now ?? Date.now)()
    if (hook === undefined && now - failedAt >= HOOK_RELOAD_AFTER_MS) {
      hook = load(options.modulePath).then((fn) => {
        if (typeof fn !== 'function') throw new Error('its default export is not a function')
        return fn as AuthHook
      })
      hook.catch((error: unknown) => {
        hook = undefined
        failure = error
        failedAt = (options.now ?? Date.now)()
      })
    }
    return hook ?? Promise.reject(failure)
  }
  // Load at build time, so the first request does not wait for the module to compile.
  if (options.preload !== false) void loaded().catch(() => undefined)

  async function decide(request: RequestView, key: string): Promise<Verdict> {
    try {
      const fn = await withTimeout(loaded(), timeoutMs)
      const answer = await withTimeout(
        Promise.resolve(fn({ ...request, headers: { ...request.headers } })),
        timeoutMs,
      )
      const verdict = verdictOf(answer, base, denied)
      if (verdict === undefined) throw new Error('it returned neither a boolean nor { allow }')
      if (verdict.kind === 'continue') cache.set(key, verdict)
      return verdict
    } catch (err) {
      options.log.warn(
        {
          err,
          requestId: request.requestId,
          route: options.vHost,
          authProvider: options.modulePath,
        },
        'auth hook failed: refusing the request',
      )
      return unavailable
    }
  }

  return {
    name: 'auth-provider',
    check(request) {
      const key = cache.ttlMs > 0 ? requestKey(cache, request) : ''
      return (key !== '' && cache.get(key)) || decide(request, key)
    },
  }
}

/** verdictOf maps a hook's answer to a verdict, or undefined when the answer is malformed. */
function verdictOf(
  answer: unknown,
  remove: readonly string[],
  denied: Verdict,
): Verdict | undefined {
  if (answer === true)
    return remove.length === 0 ? CONTINUE : { kind: 'continue', edits: { set: [], remove } }
  if (answer === false) return denied
  if (typeof answer !== 'object' || answer === null) return undefined
  const { allow, headers, status } = answer as Record<string, unknown>
  if (typeof allow !== 'boolean') return undefined
  const flat = headerList(headers)
  if (flat === undefined) return undefined
  if (allow) {
    const names = flat.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase())
    return { kind: 'continue', edits: { set: flat, remove: [...remove, ...names] } }
  }
  if (status === undefined)
    return flat.length === 0
      ? denied
      : { kind: 'respond', status: 403, headers: flat, body: Buffer.alloc(0) }
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 300 || status > 599)
    return undefined
  return { kind: 'respond', status, headers: flat, body: Buffer.alloc(0) }
}

/** headerList validates a hook's headers record into a flat list; undefined when unusable. */
function headerList(headers: unknown): string[] | undefined {
  if (headers === undefined) return []
  if (typeof headers !== 'object' || headers === null) return undefined
  const flat: string[] = []
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value !== 'string' || !HEADER_NAME.test(name) || RESERVED.test(name))
      return undefined
    if (!HEADER_VALUE.test(value)) return undefined
    flat.push(name, value)
  }
  return flat
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_, rejectLimit) => {
    timer = setTimeout(() => rejectLimit(new Error(`no answer within ${ms} ms`)), ms)
  })
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer))
}
