import type { FastifyInstance, InjectOptions } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { errors } from '../errors.ts'
import { EventBus } from '../observe/events.ts'
import { createLogger } from '../observe/log.ts'
import type { AppAction, AppsService, AppView } from './apps.ts'
import type { RoutesService, RouteView } from './routes.ts'
import { type ApiDeps, buildApi } from './server.ts'

const PORT = 8844
const LOCAL = `127.0.0.1:${PORT}`
const TOKEN = 's3cret-token'

const WEB: AppView = {
  name: 'web',
  command: 'node server.js',
  args: [],
  env: {},
  hostnames: ['web.localhost'],
  instances: [],
} as unknown as AppView

/** fakeApps records the actions it was asked to run; `get` knows only `web`. */
function fakeApps(acted: AppAction[]): AppsService {
  const fail = async (): Promise<never> => {
    throw new Error('not used by these tests')
  }
  return {
    list: () => [WEB],
    get: (name) => (name === 'web' ? WEB : undefined),
    create: async () => {
      throw new Error('database on fire')
    },
    update: fail,
    remove: fail,
    act: async (_name, action) => {
      acted.push(action)
      return WEB
    },
    scale: fail,
    logs: () => [],
  }
}

function fakeRoutes(): RoutesService {
  const fail = async (): Promise<never> => {
    throw new Error('not used by these tests')
  }
  const route = { vHost: 'a.test', backends: [], source: 'api' } as unknown as RouteView
  return {
    list: () => [route],
    get: (vHost) => (vHost === 'a.test' ? route : undefined),
    create: fail,
    remove: fail,
    addBackend: fail,
    removeBackend: fail,
    setDead: fail,
  }
}

const apps: FastifyInstance[] = []
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close()
})

/** setup builds the real API over fake services; afterEach closes it. */
async function setup(overrides: Partial<ApiDeps> = {}) {
  const acted: AppAction[] = []
  const app = await buildApi({
    log: createLogger({ level: 'silent' }),
    events: new EventBus(),
    apps: fakeApps(acted),
    routes: fakeRoutes(),
    certificates: { list: () => [], add: async () => Promise.reject(new Error('unused')) },
    health: { ports: () => ({ https: 8443, http: 8880, api: PORT }), mode: 'dev' },
    stats: { all: () => ({ global: {}, routes: [] }), route: () => undefined, metrics: () => '' },
    ...overrides,
  })
  apps.push(app)
  const call = (options: InjectOptions) =>
    app.inject({ ...options, headers: { host: LOCAL, ...options.headers } })
  return { app, acted, call }
}

interface ErrorBody {
  error: { code: string; message: string; details?: unknown }
}

function errorOf(response: { json: () => unknown }): ErrorBody['error'] {
  return (response.json() as ErrorBody).error
}

describe('Host allowlist (DNS rebinding, S11)', () => {
  it('403 for a Host that is not loopback, with or without a port', async () => {
    const { call } = await setup()
    const hosts = ['evil.example', `evil.example:${PORT}`, 'localhost.evil.example', '127.0.0.2']
    for (const host of hosts) {
      const response = await call({ url: '/api/v1/apps', headers: { host } })
      expect(response.statusCode, host).toBe(403)
      expect(errorOf(response).code).toBe('PTC_ERR_HOST_FORBIDDEN')
    }
  })

  it('200 for localhost, 127.0.0.1 and [::1], with or without a port', async () => {
    const { call } = await setup()
    for (const name of ['localhost', '127.0.0.1', '[::1]', 'LOCALHOST']) {
      for (const host of [name, `${name}:${PORT}`]) {
        const response = await call({ url: '/api/v1/apps', headers: { host } })
        expect(response.statusCode, host).toBe(200)
      }
    }
  })

  it('refuses a rebinding Host before auth and before routing', async () => {
    const { call } = await setup({ token: TOKEN })
    const response = await call({ url: '/nope', headers: { host: 'evil.example' } })
    expect(response.statusCode).toBe(403)
  })
})

describe('cross-site browser requests (S12)', () => {
  it('403 for a foreign Origin, Origin: null and another local port', async () => {
    const { call } = await setup()
    const origins = [
      'http://evil.example',
      'null',
      'http://localhost:5173',
      `https://localhost:${PORT}`,
      `http://localhost.evil.example:${PORT}`,
    ]
    for (const origin of origins) {
      const response = await call({ url: '/api/v1/apps', headers: { origin } })
      expect(response.statusCode, origin).toBe(403)
      expect(errorOf(response).code).toBe('PTC_ERR_CROSS_SITE_FORBIDDEN')
    }
  })

  it('accepts the API origin itself on any loopback name', async () => {
    const { call } = await setup()
    for (const name of ['localhost', '127.0.0.1', '[::1]']) {
      const origin = `http://${name}:${PORT}`
      const response = await call({ url: '/api/v1/apps', headers: { origin } })
      expect(response.statusCode, origin).toBe(200)
    }
  })

  it('403 for Sec-Fetch-Site: cross-site, 400 for Sec-Fetch-Mode: no-cors', async () => {
    const { call } = await setup()
    const site = await call({ url: '/api/v1/apps', headers: { 'sec-fetch-site': 'cross-site' } })
    expect(site.statusCode).toBe(403)
    expect(errorOf(site).code).toBe('PTC_ERR_CROSS_SITE_FORBIDDEN')
    const mode = await call({ url: '/api/v1/apps', headers: { 'sec-fetch-mode': 'no-cors' } })
    expect(mode.statusCode).toBe(400)
    expect(errorOf(mode).code).toBe('PTC_ERR_NO_CORS_REFUSED')
    const same = await call({ url: '/api/v1/apps', headers: { 'sec-fetch-site': 'same-origin' } })
    expect(same.statusCode).toBe(200)
  })

  it('400 for an Upgrade anywhere but /api/v1/events', async () => {
    const { call } = await setup()
    const headers = { connection: 'Upgrade', upgrade: 'websocket' }
    const response = await call({ url: '/api/v1/apps', headers })
    expect(response.statusCode).toBe(400)
    expect(errorOf(response).code).toBe('PTC_ERR_API_UPGRADE_REFUSED')
  })
})

describe('JSON-only mutations and body limits (S12, S15)', () => {
  const restart = '/api/v1/apps/web/restart'

  it('415 for a text/plain or untyped body on a mutation', async () => {
    const { call, acted } = await setup()
    const plain = await call({
      method: 'POST',
      url: restart,
      payload: '{}',
      headers: { 'content-type': 'text/plain' },
    })
    expect(plain.statusCode).toBe(415)
    expect(errorOf(plain).code).toBe('PTC_ERR_UNSUPPORTED_MEDIA_TYPE')
    const form = await call({
      method: 'POST',
      url: restart,
      payload: 'a=1',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    })
    expect(form.statusCode).toBe(415)
    expect(acted).toEqual([])
  })

  it('runs an action sent with no body, an empty JSON body or {}', async () => {
    const { call, acted } = await setup()
    const bare = await call({ method: 'POST', url: restart })
    expect(bare.statusCode).toBe(200)
    const json = { 'content-type': 'application/json; charset=utf-8' }
    const empty = await call({ method: 'POST', url: restart, headers: json })
    expect(empty.statusCode).toBe(200)
    const braces = await call({ method: 'POST', url: restart, payload: {} })
    expect(braces.statusCode).toBe(200)
    expect(acted).toEqual(['restart', 'restart', 'restart'])
  })

  it('413 with the error shape for a 2 MB JSON body', async () => {
    const { call } = await setup()
    const response = await call({
      method: 'POST',
      url: '/api/v1/routes',
      payload: JSON.stringify({ x: 'a'.repeat(2_000_000) }),
      headers: { 'content-type': 'application/json' },
    })
    expect(response.statusCode).toBe(413)
    expect(errorOf(response).code).toBe('PTC_ERR_BODY_TOO_LARGE')
  })

  it('400 PTC_ERR_BAD_JSON for malformed JSON and prototype poisoning', async () => {
    const { call } = await setup()
    const bodies = ['{bad', '{"__proto__":{"x":1}}', '{"a":{"constructor":{"prototype":{}}}}']
    for (const payload of bodies) {
      const response = await call({
        method: 'POST',
        url: '/api/v1/routes',
        payload,
        headers: { 'content-type': 'application/json' },
      })
      expect(response.statusCode, payload).toBe(400)
      expect(errorOf(response).code, payload).toBe('PTC_ERR_BAD_JSON')
    }
  })

  it('400 PTC_ERR_VALIDATION lists each issue as { path, code, message }', async () => {
    const { call } = await setup()
    const response = await call({ method: 'POST', url: '/api/v1/apps/web/scale', payload: {} })
    expect(response.statusCode).toBe(400)
    const error = errorOf(response)
    expect(error.code).toBe('PTC_ERR_VALIDATION')
    expect(error.message).toContain('body/instances')
    expect(error.details).toEqual([
      { path: 'body/instances', code: 'invalid_type', message: expect.any(String) },
    ])
  })
})

describe('bearer token (S13)', () => {
  it('401 with WWW-Authenticate: Bearer when missing, wrong or in the query string', async () => {
    const { call } = await setup({ token: TOKEN })
    const cases: InjectOptions[] = [
      { url: '/api/v1/apps' },
      { url: '/api/v1/apps', headers: { authorization: 'Bearer wrong' } },
      { url: '/api/v1/apps', headers: { authorization: `Bearer ${TOKEN}x` } },
      { url: '/api/v1/apps', headers: { authorization: `Basic ${TOKEN}` } },
      { url: `/api/v1/apps?token=${TOKEN}` },
      { url: `/api/v1/apps?access_token=${TOKEN}` },
    ]
    for (const options of cases) {
      const response = await call(options)
      expect(response.statusCode, JSON.stringify(options)).toBe(401)
      expect(response.headers['www-authenticate']).toBe('Bearer')
      expect(errorOf(response).code).toBe('PTC_ERR_UNAUTHORIZED')
    }
  })

  it('200 with the right token (scheme case-insensitive)', async () => {
    const { call } = await setup({ token: TOKEN })
    for (const authorization of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`]) {
      const response = await call({ url: '/api/v1/apps', headers: { authorization } })
      expect(response.statusCode).toBe(200)
    }
  })

  it('refuses to build on a non-loopback bindHost without a token', async () => {
    await expect(setup({ bindHost: '0.0.0.0' })).rejects.toBeInstanceOf(
      errors.PTC_ERR_API_UNSAFE_BIND,
    )
    await expect(setup({ bindHost: '0.0.0.0', token: TOKEN })).resolves.toBeDefined()
  })
})

describe('error shape', () => {
  it('404 PTC_ERR_NOT_FOUND for an unknown path, without the query string', async () => {
    const { call } = await setup()
    const response = await call({ url: '/api/v1/nope?secret=1' })
    expect(response.statusCode).toBe(404)
    expect(response.json()).toEqual({
      error: { code: 'PTC_ERR_NOT_FOUND', message: 'no such endpoint: GET /api/v1/nope' },
    })
  })

  it('maps a PorticoError to its status and code', async () => {
    const { call } = await setup()
    const response = await call({ url: '/api/v1/apps/nope' })
    expect(response.statusCode).toBe(404)
    expect(errorOf(response).code).toBe('PTC_ERR_APP_NOT_FOUND')
  })

  it('500 PTC_ERR_INTERNAL without internals for an unexpected throw', async () => {
    const { call } = await setup()
    const response = await call({
      method: 'POST',
      url: '/api/v1/apps',
      payload: { name: 'api', command: 'node api.js' },
    })
    expect(response.statusCode).toBe(500)
    expect(response.json()).toEqual({
      error: { code: 'PTC_ERR_INTERNAL', message: 'internal error' },
    })
  })

  it('400 PTC_ERR_BAD_REQUEST for a URL that cannot be decoded', async () => {
    const { call } = await setup()
    const response = await call({ url: '/api/v1/apps/%E0%A4%A' })
    expect(response.statusCode).toBe(400)
    expect(errorOf(response).code).toBe('PTC_ERR_BAD_REQUEST')
  })
})

describe('GET /api/v1/openapi.json', () => {
  it('is an OpenAPI 3 document listing the main paths', async () => {
    const { call } = await setup()
    const response = await call({ url: '/api/v1/openapi.json' })
    expect(response.statusCode).toBe(200)
    const doc = response.json() as {
      openapi: string
      info: { title: string }
      paths: Record<string, Record<string, { requestBody?: unknown }>>
    }
    expect(doc.openapi).toMatch(/^3\./)
    expect(doc.info.title).toBe('Portico')
    const paths = [
      '/api/v1/apps',
      '/api/v1/apps/{name}',
      '/api/v1/routes',
      '/api/v1/routes/{vHost}/backends',
      '/api/v1/certificates',
      '/api/v1/stats',
      '/api/v1/health',
    ]
    for (const path of paths) expect(Object.keys(doc.paths)).toContain(path)
    expect(doc.paths['/api/v1/apps']?.post?.requestBody).toBeDefined()
    expect(doc.paths['/api/v1/routes/{vHost}/backends']?.post?.requestBody).toBeDefined()
  })
})
