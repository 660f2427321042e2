import { describe, expect, it } from 'vitest'
import type { PorticoError } from '../errors.ts'
import { parseConfig } from './load.ts'
import { authProviderRef, parseDuration } from './policy-schema.ts'

const SCRYPT = `$scrypt$ln=15,r=8,p=1$${'A'.repeat(22)}$${'B'.repeat(43)}`
const TOKEN = `sha256:${'ab'.repeat(32)}`

function route(extra: Record<string, unknown>) {
  return {
    routes: [{ vHost: 'a.test', backends: [{ hostname: '127.0.0.1', port: 9000 }], ...extra }],
  }
}

function problems(raw: unknown): string {
  try {
    parseConfig(raw, 'test.config.ts')
  } catch (error) {
    expect((error as PorticoError).code).toBe('PTC_ERR_CONFIG_INVALID')
    return (error as PorticoError).message
  }
  throw new Error('expected the config to be rejected')
}

describe('route policy fields', () => {
  it('accepts every policy on one route and turns durations into milliseconds', () => {
    const config = parseConfig(
      route({
        allow: ['10.0.0.0/8', '::1'],
        deny: ['10.0.0.66'],
        rateLimit: { rate: '100/s', burst: 20, key: 'header:X-Api-Key' },
        auth: {
          basic: { users: { ann: SCRYPT } },
          bearer: { tokens: [TOKEN] },
          cacheTtl: '2s',
          stripAuthorization: true,
        },
        authProvider: 'http://127.0.0.1:9001/verify',
        authResponseHeaders: ['X-User'],
        authTimeout: 1500,
        sticky: { cookie: 'srv', ttl: '1h' },
        slowStart: '30s',
        circuitBreaker: { errorRatio: 0.5, window: '10s', cooldown: '5s' },
        retries: 3,
        retryOn: [502, 503],
        tryDuration: '5s',
        healthCheck: {
          path: '/health',
          fall: 3,
          rise: 2,
          unhealthyStatus: ['5xx'],
          unhealthyLatency: '2s',
        },
      }),
      'x',
    )
    const r = config.routes[0]
    expect(r?.slowStart).toBe(30_000)
    expect(r?.sticky).toEqual({ cookie: 'srv', ttl: 3_600_000 })
    expect(r?.auth?.cacheTtl).toBe(2_000)
    expect(r?.circuitBreaker?.cooldown).toBe(5_000)
    expect(r?.healthCheck?.unhealthyLatency).toBe(2_000)
    expect(r?.authTimeout).toBe(1_500)
  })

  it('leaves a route without policies exactly as before (no new defaults)', () => {
    const r = parseConfig(route({}), 'x').routes[0] as Record<string, unknown>
    for (const key of [
      'allow',
      'rateLimit',
      'auth',
      'sticky',
      'slowStart',
      'retries',
      'authResponseHeaders',
    ])
      expect(r[key], key).toBeUndefined()
  })

  it('says what to fix for a bad CIDR, hash, rate, duration or status', () => {
    expect(problems(route({ allow: ['10.0.0.0/33'] }))).toContain(
      'routes[0].allow[0]: expected a prefix length from 0 to 32 after "/", got "10.0.0.0/33"',
    )
    expect(problems(route({ auth: { basic: { users: { ann: 'plaintext' } } } }))).toContain(
      'routes[0].auth.basic.users.ann: expected a password hash',
    )
    expect(problems(route({ auth: { bearer: { tokens: ['md5:x'] } } }))).toContain(
      'routes[0].auth.bearer.tokens[0]: expected a token hash "sha256:<64 hex digits>"',
    )
    expect(problems(route({ rateLimit: { rate: '5/x' } }))).toContain(
      'routes[0].rateLimit.rate: expected a rate such as "100/s"',
    )
    expect(problems(route({ slowStart: '30 parsecs' }))).toContain(
      'routes[0].slowStart: expected a duration',
    )
    expect(problems(route({ retryOn: [200] }))).toContain(
      'routes[0].retryOn[0]: expected a status code from 400 to 599',
    )
    expect(problems(route({ healthCheck: { unhealthyStatus: ['6xx'] } }))).toContain(
      'class such as "5xx"',
    )
    expect(problems(route({ rateLimit: { rate: '1/s', key: 'cookie' } }))).toContain(
      'expected "ip" or "header:<name>"',
    )
  })

  it('checks the auth fields together', () => {
    expect(problems(route({ auth: { stripAuthorization: true } }))).toContain(
      'routes[0].auth: expected "basic" or "bearer" (or an authProvider on the route)',
    )
    expect(
      problems(route({ authProvider: './hook.ts', authResponseHeaders: ['X-User'] })),
    ).toContain('authResponseHeaders applies to an authProvider URL only')
    expect(
      problems(route({ authProvider: 'http://a/', authResponseHeaders: ['X-Forwarded-For'] })),
    ).toContain('Portico sets this header itself')
    expect(problems(route({ authProvider: 'ftp://x/' }))).toContain(
      'expected an http(s):// URL or a module path',
    )
    expect(problems(route({ authProvider: './hook.py' }))).toContain(
      'expected a module path ending in .ts',
    )
    parseConfig(route({ auth: { stripAuthorization: true }, authProvider: './hook.ts' }), 'x')
  })

  it('accepts CIDR ranges in edge.trustedProxies and names a bad one', () => {
    const config = parseConfig(
      { edge: { trustedProxies: ['10.0.0.0/8', 'fd00::/8', '127.0.0.1'] } },
      'x',
    )
    expect(config.edge.trustedProxies).toHaveLength(3)
    expect(problems({ edge: { trustedProxies: ['10.0.0.0/99'] } })).toContain(
      'edge.trustedProxies[0]: expected a prefix length',
    )
  })

  it('adds fall, rise and the passive fields to app health', () => {
    const config = parseConfig(
      {
        apps: [
          {
            name: 'web',
            command: 'x',
            health: { path: '/h', fall: 3, rise: 1, unhealthyStatus: [500] },
          },
        ],
      },
      'x',
    )
    expect(config.apps[0]?.health).toMatchObject({
      fall: 3,
      rise: 1,
      unhealthyStatus: [500],
      interval: 5_000,
    })
  })
})

describe('parseDuration and authProviderRef', () => {
  it('read durations and tell URLs from module paths', () => {
    expect(parseDuration('500ms')).toBe(500)
    expect(parseDuration('1.5s')).toBe(1_500)
    expect(parseDuration('5m')).toBe(300_000)
    expect(parseDuration('5 minutes')).toBeUndefined()
    expect(authProviderRef('https://auth.test/verify')).toEqual({
      kind: 'url',
      url: 'https://auth.test/verify',
    })
    expect(authProviderRef('./auth/hook.ts')).toEqual({ kind: 'module', path: './auth/hook.ts' })
    expect(authProviderRef('/abs/hook.mjs')).toEqual({ kind: 'module', path: '/abs/hook.mjs' })
  })
})

describe('loadConfig and authProvider modules', () => {
  it('refuses a config whose authProvider module does not exist, naming the path', async () => {
    const { mkdtemp, rm, writeFile } = await import('node:fs/promises')
    const os = await import('node:os')
    const path = await import('node:path')
    const { loadConfig } = await import('./load.ts')
    const dir = await mkdtemp(path.join(os.tmpdir(), 'portico-policy-'))
    try {
      const file = path.join(dir, 'c.json')
      await writeFile(file, JSON.stringify(route({ authProvider: './auth/hook.ts' })))
      await expect(loadConfig(file)).rejects.toThrow(
        `routes[0].authProvider: no module at ${path.join(dir, 'auth/hook.ts')}`,
      )
      const { mkdir } = await import('node:fs/promises')
      await mkdir(path.join(dir, 'auth'))
      await writeFile(path.join(dir, 'auth/hook.ts'), 'export default () => true\n')
      expect((await loadConfig(file)).routes[0]?.authProvider).toBe('./auth/hook.ts')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
