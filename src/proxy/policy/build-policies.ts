/**
 * @module buildPolicies: everything a route's config asks of the request loop (issue 17), built
 * once per route when the route table is built, never per request.
 */
import type { Dispatcher } from 'undici'
import { resolveAuthProvider } from '../../config/policy-files.ts'
import { authProviderRef } from '../../config/policy-schema.ts'
import { parseRate } from '../../config/policy-values.ts'
import type { RouteConfig } from '../../config/schema.ts'
import type { ConcurrencyGate } from '../../lib/concurrency-gate.ts'
import { LruMap } from '../../lib/lru-map.ts'
import type { Strategy } from '../balancer/strategy.ts'
import { CircuitBreaker } from '../health/circuit-breaker.ts'
import { compileOutcome, type ResponseOutcome } from '../health/response-outcome.ts'
import type { RetryPolicy } from '../retry.ts'
import { accessListPolicy } from './access-list.ts'
import { authPolicy } from './auth.ts'
import { authHookPolicy } from './auth-hook.ts'
import { forwardAuthPolicy, type PolicyLog } from './forward-auth.ts'
import type { Policy } from './policy.ts'
import type { LimiterSpec } from './rate-lease.ts'
import {
  DEFAULT_RATE_LIMIT_MAX_KEYS,
  localTokenSource,
  type RateLimitKey,
  rateLimitPolicy,
  type TokenSource,
} from './rate-limit.ts'
import { slowStart } from './slow-start.ts'
import { stickyStrategy } from './sticky.ts'
import { StickyCookie } from './sticky-cookie.ts'

/** Password checks running at once per process (scrypt uses libuv's 4 threads; keep 2 free). */
export const HASH_CHECKS_RUNNING = 2
/** Password checks waiting per process; more are answered 503 at once. */
export const HASH_CHECKS_WAITING = 64

/** What buildPolicies needs from the process (made once, shared by every route). */
export interface PolicyDeps {
  /** The config file's folder: `authProvider` module paths are relative to it. */
  configDir: string
  /** The sticky-cookie HMAC key (loadOrCreateSecret(<stateDir>/sticky-secret)); required by `sticky`. */
  stickySecret?: Buffer | undefined
  /** The token source of a rate limit: localTokenSources() in one process, a RateLeaseChannel in a worker. */
  tokenSource: (limiter: LimiterSpec) => TokenSource
  /** The client forward-auth requests go through (an undici Agent, keep-alive). */
  authDispatcher: Dispatcher
  /** Caps password checks process-wide (new ConcurrencyGate(HASH_CHECKS_RUNNING, HASH_CHECKS_WAITING)). */
  hashGate: ConcurrencyGate
  log: PolicyLog
  now?: () => number
}

/** What the request loop reads of a route's policies. */
export interface RoutePolicies {
  /** Checks before admission, in the fixed order; run them with runPolicies. Empty: skip. */
  readonly checks: readonly Policy[]
  /** The sticky cookie (read before the pick, set on the response), if the route is sticky. */
  readonly sticky: StickyCookie | undefined
  /** The route's breaker (ask before admission, record the outcome), if configured. */
  readonly breaker: CircuitBreaker | undefined
  /** The route's retry settings for shouldRetry; undefined keeps the defaults. */
  readonly retry: RetryPolicy | undefined
  /** Which answered responses count as passive failures (static backends: `healthCheck`). */
  readonly outcome: ResponseOutcome
  /** wrapStrategy returns the route's strategy with sticky and slow start around it. */
  wrapStrategy(inner: Strategy): Strategy
}

/** limiterSpec returns the identity and shape of a route's rate limit (the lease messages carry it). */
export function limiterSpec(route: RouteConfig): LimiterSpec | undefined {
  const limit = route.rateLimit
  if (limit === undefined) return undefined
  const rate = parseRate(limit.rate)
  if (typeof rate === 'string') throw new Error(`routes "${route.vHost}".rateLimit.rate: ${rate}`)
  const capacity = limit.burst ?? rate.count
  const maxKeys = limit.maxKeys ?? DEFAULT_RATE_LIMIT_MAX_KEYS
  const key = limit.key ?? 'ip'
  return {
    id: `${route.vHost}|${rate.count}/${rate.windowMs}|${capacity}|${key}|${maxKeys}`,
    ratePerMs: rate.count / rate.windowMs,
    capacity,
    maxKeys,
  }
}

/**
 * localTokenSources returns the `tokenSource` dependency for one process: buckets per limiter,
 * kept across route-table rebuilds while the route's rate limit settings stay the same.
 */
export function localTokenSources(): (limiter: LimiterSpec) => TokenSource {
  const sources = new LruMap<TokenSource>(1_024)
  return (limiter) => {
    let source = sources.get(limiter.id)
    if (source === undefined) {
      source = localTokenSource(limiter, limiter.maxKeys)
      sources.set(limiter.id, source)
    }
    return source
  }
}

/**
 * buildPolicies builds a route's policies from its config. The checks run in the fixed order
 * access list → rate limit → auth → auth provider (then admission, then balancing). A route
 * with none of the fields gets an empty `checks`, the strategy unwrapped and no breaker, so it
 * costs nothing per request. Throws for values the schema should have refused.
 */
export function buildPolicies(route: RouteConfig, deps: PolicyDeps): RoutePolicies {
  const now = deps.now
  const checks: Policy[] = []
  const access = accessListPolicy({ vHost: route.vHost, allow: route.allow, deny: route.deny })
  if (access) checks.push(access)
  const spec = limiterSpec(route)
  if (spec && route.rateLimit) {
    const rate = parseRate(route.rateLimit.rate)
    if (typeof rate === 'string') throw new Error(rate)
    checks.push(
      rateLimitPolicy({
        vHost: route.vHost,
        rate,
        key: (route.rateLimit.key ?? 'ip') as RateLimitKey,
        source: deps.tokenSource(spec),
        ...(now ? { now } : {}),
      }),
    )
  }
  const auth = authPolicy({
    vHost: route.vHost,
    users: route.auth?.basic?.users,
    tokens: route.auth?.bearer?.tokens,
    realm: route.auth?.realm,
    cacheTtlMs: route.auth?.cacheTtl,
    stripAuthorization: route.auth?.stripAuthorization,
    gate: deps.hashGate,
    ...(now ? { now } : {}),
  })
  if (auth) checks.push(auth)
  const provider = providerPolicy(route, deps)
  if (provider) checks.push(provider)
  return {
    checks,
    sticky: stickyCookie(route, deps),
    breaker: route.circuitBreaker && breakerOf(route, deps),
    retry: retryPolicy(route),
    outcome: compileOutcome({
      unhealthyStatus: route.healthCheck?.unhealthyStatus,
      unhealthyLatencyMs: route.healthCheck?.unhealthyLatency,
    }),
    wrapStrategy(inner) {
      let strategy = inner
      if (route.slowStart !== undefined) {
        strategy = slowStart(strategy, { durationMs: route.slowStart, ...(now ? { now } : {}) })
      }
      // Sticky outside slow start: a pinned client stays on its target even while it ramps.
      return route.sticky ? stickyStrategy(strategy) : strategy
    },
  }
}

function providerPolicy(route: RouteConfig, deps: PolicyDeps): Policy | undefined {
  if (route.authProvider === undefined) return undefined
  const ref = authProviderRef(route.authProvider)
  if (typeof ref === 'string') throw new Error(`routes "${route.vHost}".authProvider: ${ref}`)
  const common = {
    vHost: route.vHost,
    timeoutMs: route.authTimeout,
    cacheTtlMs: route.auth?.cacheTtl ?? 0,
    stripAuthorization: route.auth?.stripAuthorization,
    log: deps.log,
    ...(deps.now ? { now: deps.now } : {}),
  }
  if (ref.kind === 'url') {
    return forwardAuthPolicy({
      ...common,
      url: ref.url,
      copyHeaders: route.authResponseHeaders ?? [],
      dispatcher: deps.authDispatcher,
    })
  }
  return authHookPolicy({ ...common, modulePath: resolveAuthProvider(ref.path, deps.configDir) })
}

function stickyCookie(route: RouteConfig, deps: PolicyDeps): StickyCookie | undefined {
  if (route.sticky === undefined) return undefined
  if (deps.stickySecret === undefined) throw new Error('sticky routes need deps.stickySecret')
  return new StickyCookie({
    name: route.sticky.cookie,
    ttlMs: route.sticky.ttl,
    secret: deps.stickySecret,
    ...(deps.now ? { now: deps.now } : {}),
  })
}

function breakerOf(route: RouteConfig, deps: PolicyDeps): CircuitBreaker {
  const c = route.circuitBreaker ?? {}
  return new CircuitBreaker({
    ...(c.errorRatio !== undefined ? { errorRatio: c.errorRatio } : {}),
    ...(c.window !== undefined ? { windowMs: c.window } : {}),
    ...(c.minRequests !== undefined ? { minRequests: c.minRequests } : {}),
    ...(c.cooldown !== undefined ? { cooldownMs: c.cooldown } : {}),
    ...(c.trialRequests !== undefined ? { trialRequests: c.trialRequests } : {}),
    ...(deps.now ? { now: deps.now } : {}),
    onChange: (state) =>
      deps.log.warn({ route: route.vHost, breaker: state }, `circuit breaker ${state}`),
  })
}

function retryPolicy(route: RouteConfig): RetryPolicy | undefined {
  if (route.retries === undefined && route.retryOn === undefined && route.tryDuration === undefined)
    return undefined
  return {
    retries: route.retries,
    retryOn: route.retryOn === undefined ? undefined : new Set(route.retryOn),
    tryDurationMs: route.tryDuration,
  }
}
