import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { History } from '../history/history.ts'
import { EventBus } from '../observe/events.ts'
import { createLogger } from '../observe/log.ts'
import type { AppsService, AppView } from './apps.ts'
import { CONTENT_SECURITY_POLICY } from './dashboard.ts'
import type { RoutesService } from './routes.ts'
import { type ApiDeps, buildApi } from './server.ts'
import { SESSION_COOKIE } from './session.ts'

const HOST = '127.0.0.1:8844'
const ORIGIN = 'http://127.0.0.1:8844'
const TOKEN = 'a-token-of-at-least-16-chars'

const apps: AppsService = {
  list: () => [],
  get: (name) =>
    name === 'web'
      ? ({ name: 'web', hostnames: [], instances: [] } as unknown as AppView)
      : undefined,
  create: async () => Promise.reject(new Error('unused')),
  update: async () => Promise.reject(new Error('unused')),
  remove: async () => Promise.reject(new Error('unused')),
  act: async () => ({ name: 'web', hostnames: [], instances: [] }) as unknown as AppView,
  scale: async () => Promise.reject(new Error('unused')),
  logs: () => [],
}
const routes = {
  list: () => [],
  get: () => undefined,
} as unknown as RoutesService

const built: FastifyInstance[] = []
const dirs: string[] = []
afterEach(async () => {
  for (const app of built.splice(0)) await app.close()
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
})

async function setup(overrides: Partial<ApiDeps> = {}) {
  const app = await buildApi({
    log: createLogger({ level: 'silent' }),
    events: new EventBus(),
    apps,
    routes,
    certificates: { list: () => [], add: async () => Promise.reject(new Error('unused')) },
    health: { ports: () => ({ https: 8443, http: 8880, api: 8844 }), mode: 'dev' },
    stats: { all: () => ({ global: {}, routes: [] }), route: () => undefined, metrics: () => '' },
    ...overrides,
  })
  built.push(app)
  return (options: InjectOptions) =>
    app.inject({ ...options, headers: { host: HOST, ...options.headers } })
}

describe('dashboard files', () => {
  it('serves the page at / as text/html under a strict CSP, and its files at /ui/', async () => {
    const call = await setup({ token: TOKEN })
    const page = await call({ method: 'GET', url: '/' })
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(page.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY)
    expect(CONTENT_SECURITY_POLICY).toContain("default-src 'self'")
    expect(CONTENT_SECURITY_POLICY).not.toContain('unsafe-inline')
    expect(page.body).toContain('<script type="module" src="/ui/app.js">')
    expect(page.body).not.toMatch(/<script>|<style>|style="/)
    const script = await call({ method: 'GET', url: '/ui/app.js' })
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8')
    const css = await call({
      method: 'GET',
      url: '/ui/style.css',
      headers: { 'sec-fetch-mode': 'no-cors', 'accept-encoding': 'gzip' },
    })
    expect(css.statusCode).toBe(200)
    expect(css.headers['content-encoding']).toBe('gzip')
    const again = await call({
      method: 'GET',
      url: '/ui/style.css',
      headers: { 'if-none-match': String(css.headers.etag) },
    })
    expect(again.statusCode).toBe(304)
  })

  it('never serves anything but its own files, and keeps the Host and Origin checks', async () => {
    const call = await setup()
    for (const url of [
      '/ui/..%2Fpackage.json',
      '/ui/index.html',
      '/ui/nope.js',
      '/ui/../src/cli.ts',
    ]) {
      expect((await call({ method: 'GET', url })).statusCode, url).toBe(404)
    }
    expect(
      (await call({ method: 'GET', url: '/', headers: { host: 'evil.example:8844' } })).statusCode,
    ).toBe(403)
    expect(
      (await call({ method: 'GET', url: '/ui/app.js', headers: { origin: 'http://evil.example' } }))
        .statusCode,
    ).toBe(403)
    // A link from another site opens the page; another site's script cannot load its files.
    const navigate = { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' }
    expect((await call({ method: 'GET', url: '/', headers: navigate })).statusCode).toBe(200)
    const embed = { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'cors' }
    expect((await call({ method: 'GET', url: '/ui/app.js', headers: embed })).statusCode).toBe(403)
    // The API itself still refuses no-cors requests.
    expect(
      (await call({ method: 'GET', url: '/api/v1/apps', headers: { 'sec-fetch-mode': 'no-cors' } }))
        .statusCode,
    ).toBe(400)
  })
})

describe('dashboard session', () => {
  async function login(call: Awaited<ReturnType<typeof setup>>) {
    const res = await call({
      method: 'POST',
      url: '/api/v1/session',
      payload: { token: TOKEN },
      headers: { origin: ORIGIN },
    })
    expect(res.statusCode).toBe(200)
    const setCookie = String(res.headers['set-cookie'])
    expect(setCookie).toMatch(new RegExp(`^${SESSION_COOKIE}=[\\w-]{40,};`))
    expect(setCookie).toContain('HttpOnly')
    expect(setCookie).toContain('SameSite=Strict')
    return setCookie.split(';')[0] as string
  }

  it('asks for the token, refuses a wrong one, and accepts the session cookie afterwards', async () => {
    const call = await setup({ token: TOKEN })
    const before = await call({ method: 'GET', url: '/api/v1/session' })
    expect(before.json()).toEqual({ tokenRequired: true, authenticated: false })
    expect((await call({ method: 'GET', url: '/api/v1/apps' })).statusCode).toBe(401)
    const wrong = await call({
      method: 'POST',
      url: '/api/v1/session',
      payload: { token: 'nope' },
      headers: { origin: ORIGIN },
    })
    expect(wrong.statusCode).toBe(401)
    expect(wrong.headers['set-cookie']).toBeUndefined()
    const cookie = await login(call)
    expect(
      (await call({ method: 'GET', url: '/api/v1/apps', headers: { cookie } })).statusCode,
    ).toBe(200)
    expect(
      (await call({ method: 'GET', url: '/api/v1/session', headers: { cookie } })).json(),
    ).toMatchObject({ authenticated: true })
    expect(
      (
        await call({
          method: 'GET',
          url: '/api/v1/apps',
          headers: { cookie: `${SESSION_COOKIE}=forged` },
        })
      ).statusCode,
    ).toBe(401)
    const out = await call({
      method: 'DELETE',
      url: '/api/v1/session',
      headers: { cookie, origin: ORIGIN },
    })
    expect(String(out.headers['set-cookie'])).toContain('Max-Age=0')
    expect(
      (await call({ method: 'GET', url: '/api/v1/apps', headers: { cookie } })).statusCode,
    ).toBe(401)
  })

  it('needs an allowed Origin for a cookie-authenticated mutation (CSRF), not for a bearer one', async () => {
    const call = await setup({ token: TOKEN })
    const cookie = await login(call)
    const post = (headers: Record<string, string>) =>
      call({ method: 'POST', url: '/api/v1/apps/web/restart', payload: {}, headers })
    expect((await post({ cookie })).statusCode).toBe(403)
    expect((await post({ cookie, origin: 'http://localhost:3000' })).statusCode).toBe(403)
    expect((await post({ cookie, origin: 'http://evil.example' })).statusCode).toBe(403)
    expect((await post({ cookie, origin: ORIGIN })).statusCode).toBe(200)
    expect((await post({ authorization: `Bearer ${TOKEN}` })).statusCode).toBe(200)
    // Logging in from another site is refused before the token is even looked at.
    const foreign = await call({
      method: 'POST',
      url: '/api/v1/session',
      payload: { token: TOKEN },
      headers: { origin: 'http://evil.example' },
    })
    expect(foreign.statusCode).toBe(403)
  })
})

describe('GET /stats/history', () => {
  it('answers buckets with request counts, validates its query, and is in the OpenAPI document', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'portico-api-history-'))
    dirs.push(dir)
    const events = new EventBus()
    const history = History.open({
      file: path.join(dir, 'history.db'),
      events,
      log: createLogger({ level: 'silent' }),
    })
    try {
      const call = await setup({ events, history })
      for (let i = 0; i < 7; i++) {
        events.emit('request:completed', {
          requestId: 'x',
          route: 'web.localhost',
          app: 'web',
          target: undefined,
          method: 'GET',
          path: '/',
          status: 200,
          durationMs: 5,
          queueMs: 0,
          retries: 0,
          bytesIn: 0,
          bytesOut: 1,
        })
      }
      const res = await call({ method: 'GET', url: '/api/v1/stats/history?route=web.localhost' })
      expect(res.statusCode).toBe(200)
      const rows = res.json() as { at: string; requests: number }[]
      expect(Array.isArray(rows)).toBe(true)
      expect(rows.reduce((n, r) => n + r.requests, 0)).toBe(7)
      expect(rows.at(-1)?.requests).toBe(7)
      const bad = async (query: string) =>
        (await call({ method: 'GET', url: `/api/v1/stats/history?${query}` })).statusCode
      expect(await bad('step=90')).toBe(400)
      expect(await bad('route=a&app=b')).toBe(400)
      expect(await bad('from=yesterday')).toBe(400)
      expect(await bad('from=0&step=60')).toBe(400)
      const doc = (await call({ method: 'GET', url: '/api/v1/openapi.json' })).json() as {
        paths: Record<string, unknown>
      }
      expect(Object.keys(doc.paths)).toContain('/api/v1/stats/history')
    } finally {
      await history.close()
    }
  })

  it('answers PTC_ERR_HISTORY_DISABLED when history is off', async () => {
    const call = await setup()
    const res = await call({ method: 'GET', url: '/api/v1/stats/history' })
    expect(res.statusCode).toBe(404)
    expect(res.json()).toMatchObject({ error: { code: 'PTC_ERR_HISTORY_DISABLED' } })
  })
})
