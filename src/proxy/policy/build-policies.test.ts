import { createHash, randomBytes } from 'node:crypto'
import { Agent } from 'undici'
import { afterAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../config/load.ts'
import type { RouteConfig } from '../../config/schema.ts'
import { ConcurrencyGate } from '../../lib/concurrency-gate.ts'
import { roundRobin } from '../balancer/round-robin.ts'
import { makeTargets } from '../balancer/strategy.contract.ts'
import { buildPolicies, limiterSpec, localTokenSources, type PolicyDeps } from './build-policies.ts'
import { runPolicies } from './chain.ts'
import type { Verdict } from './policy.ts'
import { requestView } from './request.fixture.ts'

const agent = new Agent()
afterAll(() => agent.close())

const TOKEN = 'tok-1'
const deps: PolicyDeps = {
  configDir: '/tmp',
  stickySecret: randomBytes(32),
  tokenSource: localTokenSources(),
  authDispatcher: agent,
  hashGate: new ConcurrencyGate(2, 8),
  log: { warn: () => undefined },
  now: () => 0,
}

function routeOf(extra: Record<string, unknown>): RouteConfig {
  const config = parseConfig(
    { routes: [{ vHost: 'a.test', backends: [{ hostname: '127.0.0.1', port: 9 }], ...extra }] },
    'x',
  )
  return config.routes[0] as RouteConfig
}

const all = routeOf({
  allow: ['10.0.0.0/8'],
  rateLimit: { rate: '1/m', burst: 1 },
  auth: { bearer: { tokens: [`sha256:${createHash('sha256').update(TOKEN).digest('hex')}`] } },
  sticky: { cookie: 'srv' },
  slowStart: '10s',
  circuitBreaker: {},
  retries: 1,
  retryOn: [503],
})

async function statusOf(verdict: Verdict | Promise<Verdict>): Promise<number | 'continue'> {
  const v = await verdict
  return v.kind === 'continue' ? 'continue' : v.kind === 'reject' ? v.error.statusCode : v.status
}

describe('buildPolicies', () => {
  it('builds nothing per request for a route without policies', () => {
    const policies = buildPolicies(routeOf({}), deps)
    expect(policies.checks).toEqual([])
    const inner = roundRobin()
    expect(policies.wrapStrategy(inner)).toBe(inner)
    expect(policies.sticky).toBeUndefined()
    expect(policies.breaker).toBeUndefined()
    expect(policies.retry).toBeUndefined()
    expect(policies.outcome.failed(502, 0)).toBe(true)
  })

  it('runs the checks in the fixed order: access list, rate limit, auth', async () => {
    const policies = buildPolicies(all, deps)
    expect(policies.checks.map((p) => p.name)).toEqual(['access-list', 'rate-limit', 'auth'])
    // Refused by the access list: no token is spent, so the allowed client still has one.
    const outsider = requestView({ clientAddress: '192.0.2.1' })
    expect(await statusOf(runPolicies(policies.checks, outsider))).toBe(403)
    // No credentials: the rate limit takes the one token, then auth refuses.
    const client = requestView({ clientAddress: '10.0.0.1' })
    expect(await statusOf(runPolicies(policies.checks, client))).toBe(401)
    // The bucket is empty now: 429 before auth is even asked.
    const authed = requestView({
      clientAddress: '10.0.0.1',
      headers: { authorization: `Bearer ${TOKEN}` },
    })
    expect(await statusOf(runPolicies(policies.checks, authed))).toBe(429)
    const other = requestView({
      clientAddress: '10.0.0.2',
      headers: { authorization: `Bearer ${TOKEN}` },
    })
    expect(await statusOf(runPolicies(policies.checks, other))).toBe('continue')
  })

  it('wraps the strategy, and builds the breaker, sticky cookie and retry policy', () => {
    const policies = buildPolicies(all, deps)
    const strategy = policies.wrapStrategy(roundRobin())
    const targets = makeTargets(2)
    expect(strategy.pick(targets, { clientIp: 'x', affinity: 'b' } as never)?.id).toBe('b')
    expect(policies.sticky?.name).toBe('srv')
    expect(policies.breaker?.state).toBe('closed')
    expect(policies.retry).toEqual({
      retries: 1,
      retryOn: new Set([503]),
      tryDurationMs: undefined,
    })
  })

  it('keeps a rate limit’s buckets across rebuilds while its settings stay the same', async () => {
    const sources = localTokenSources()
    const route = routeOf({ rateLimit: { rate: '1/m', burst: 1 } })
    const first = buildPolicies(route, { ...deps, tokenSource: sources })
    expect(await statusOf(runPolicies(first.checks, requestView()))).toBe('continue')
    const rebuilt = buildPolicies(route, { ...deps, tokenSource: sources })
    expect(await statusOf(runPolicies(rebuilt.checks, requestView()))).toBe(429)
    const changed = routeOf({ rateLimit: { rate: '2/m', burst: 1 } })
    expect(limiterSpec(changed)?.id).not.toBe(limiterSpec(route)?.id)
  })

  it('picks forward auth for a URL and a hook for a module path', () => {
    const url = buildPolicies(routeOf({ authProvider: 'http://127.0.0.1:1/' }), deps)
    expect(url.checks.map((p) => p.name)).toEqual(['auth-provider'])
    const hook = buildPolicies(routeOf({ authProvider: './hook.ts' }), {
      ...deps,
      configDir: '/nonexistent',
    })
    expect(hook.checks.map((p) => p.name)).toEqual(['auth-provider'])
  })
})
