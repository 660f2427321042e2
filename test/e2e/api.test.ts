// The control plane end to end: the real bin, real pm2 apps, real backends on loopback, the API over
// HTTP as curl would use it, durability across a restart and a kill -9.
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { callApi } from '../helpers/api.ts'
import { type Backend, startBackend } from '../helpers/backend.ts'
import { request } from '../helpers/http.ts'
import { ROOT, type RunningPortico, startPortico } from '../helpers/portico.ts'
import { descendants, isAlive } from '../helpers/processes.ts'
import { waitFor } from '../helpers/wait.ts'

const CONFIG = path.join(ROOT, 'test/fixtures/api.config.ts')

interface AppView {
  name: string
  env: Record<string, string>
  instances: { pid: number | null; state: string; port: number }[]
}
interface BackendView {
  id: string
  isDead: boolean
}
interface RouteView {
  vHost: string
  backends: BackendView[]
  source: string
}
interface ErrorBody {
  error: { code: string; message: string }
}

describe('control plane API (end to end)', () => {
  const backends: Backend[] = []
  let dir: string
  let portico: RunningPortico
  const pids = new Set<number>()
  const env = () => ({
    PORTICO_STATE_DIR: path.join(dir, 'state'),
    PORTICO_CERTS_DIR: path.join(dir, 'certs'),
  })
  const api = <T>(method: string, p: string, json?: unknown) =>
    callApi<T>(portico.ports.api, method, p, json === undefined ? {} : { json })

  /** hits sends n requests to ref.test and returns which backends answered. */
  async function hits(n: number): Promise<string[]> {
    const out: string[] = []
    for (let i = 0; i < n; i++)
      out.push((await request({ port: portico.ports.http, host: 'ref.test' })).body)
    return out
  }

  async function trackPids(): Promise<void> {
    const { body } = await api<AppView[]>('GET', '/apps')
    for (const app of body) {
      for (const i of app.instances) {
        if (i.pid === null) continue
        pids.add(i.pid)
        for (const child of descendants(i.pid)) pids.add(child)
      }
    }
  }

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portico-api-'))
    for (const id of ['a', 'b', 'c']) backends.push(await startBackend(id))
    portico = await startPortico({ config: CONFIG, env: env() })
  })

  afterAll(async () => {
    if (portico?.child.exitCode === null) {
      await trackPids().catch(() => undefined)
      portico.child.kill('SIGINT')
      await portico.exited
    }
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
    for (const b of backends) await b.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('runs the reference flow: alternate, add, remove, dead, alive', async () => {
    const [a, b, c] = backends as [Backend, Backend, Backend]
    const created = await api<RouteView>('POST', '/routes', {
      vHost: 'Ref.Test',
      backends: [
        { hostname: '127.0.0.1', port: a.port },
        { hostname: '127.0.0.1', port: b.port },
      ],
      autoHttps: false,
    })
    expect(created.status).toBe(201)
    expect(created.body.vHost).toBe('ref.test')
    expect(await hits(4)).toEqual(['a', 'b', 'a', 'b'])

    const added = await api<BackendView>('POST', '/routes/ref.test/backends', {
      hostname: '127.0.0.1',
      port: c.port,
    })
    expect(added.status).toBe(201)
    await waitFor(async () => (await hits(3)).includes('c'), {
      message: 'added backend takes traffic',
    })

    expect((await api('DELETE', `/routes/ref.test/backends/127.0.0.1:${a.port}`)).status).toBe(200)
    expect(new Set(await hits(6))).toEqual(new Set(['b', 'c']))

    const dead = await api<BackendView>(
      'POST',
      `/routes/ref.test/backends/127.0.0.1:${b.port}/dead`,
      {},
    )
    expect(dead.status).toBe(200)
    expect(dead.body.isDead).toBe(true)
    expect(new Set(await hits(6))).toEqual(new Set(['c']))

    expect(
      (await api('POST', `/routes/ref.test/backends/127.0.0.1:${b.port}/alive`, {})).status,
    ).toBe(200)
    await waitFor(async () => (await hits(4)).includes('b'), {
      message: 'revived backend takes traffic',
    })

    const listed = await api<RouteView[]>('GET', '/routes')
    expect(listed.body.find((r) => r.vHost === 'ref.test')).toMatchObject({ source: 'api' })
    expect(listed.body.find((r) => r.vHost === 'base.localhost')).toMatchObject({ source: 'app' })
    const stats = await api<{ totalRequests: number }>('GET', '/stats/ref.test')
    expect(stats.status).toBe(200)
    expect(stats.body.totalRequests).toBeGreaterThanOrEqual(20)
  })

  it('keeps every change when API calls race', async () => {
    const created = await api('POST', '/routes', {
      vHost: 'race.test',
      backends: [{ hostname: '127.0.0.1', port: 1 }],
    })
    expect(created.status).toBe(201)
    const ports = [2, 3, 4, 5, 6]
    const results = await Promise.all(
      ports.map((port) =>
        api('POST', '/routes/race.test/backends', { hostname: '127.0.0.1', port }),
      ),
    )
    expect(results.map((r) => r.status)).toEqual([201, 201, 201, 201, 201])
    const route = await api<RouteView>('GET', '/routes/race.test')
    expect(route.body.backends.map((b) => b.id).sort()).toEqual(
      [1, ...ports].map((p) => `127.0.0.1:${p}`).sort(),
    )
    expect((await api('DELETE', '/routes/race.test')).status).toBe(200)
  })

  it('creates, changes, scales and deletes an app with real processes', async () => {
    const created = await api<AppView>('POST', '/apps', {
      name: 'extra',
      script: 'apps/hello.mjs',
      env: { GREETING: 'one' },
    })
    expect(created.status).toBe(201)
    await waitFor(
      async () =>
        (await api<AppView>('GET', '/apps/extra')).body.instances.every(
          (i) => i.state === 'healthy',
        ),
      {
        timeoutMs: 20_000,
      },
    )
    const served = await request({
      port: portico.ports.http,
      host: 'extra.localhost',
      headers: { Accept: 'application/json' },
    })
    expect(served.status).toBe(308)
    await trackPids()
    const before = (await api<AppView>('GET', '/apps/extra')).body.instances.map((i) => i.pid)

    const patched = await api<AppView>('PATCH', '/apps/extra', { env: { GREETING: 'two' } })
    expect(patched.status).toBe(200)
    expect(patched.body.env).toEqual({ GREETING: 'two' })
    await waitFor(
      async () => {
        const now = (await api<AppView>('GET', '/apps/extra')).body.instances
        return now.every((i) => i.state === 'healthy' && i.pid !== null && !before.includes(i.pid))
      },
      { timeoutMs: 20_000, message: 'a changed env gives new processes' },
    )

    const scaled = await api<AppView>('POST', '/apps/extra/scale', { instances: 2 })
    expect(scaled.status).toBe(200)
    await waitFor(
      async () => {
        const now = (await api<AppView>('GET', '/apps/extra')).body.instances
        return now.length === 2 && now.every((i) => i.state === 'healthy')
      },
      { timeoutMs: 20_000 },
    )
    await trackPids()
    const last = (await api<AppView>('GET', '/apps/extra')).body.instances.map(
      (i) => i.pid as number,
    )

    expect((await api('DELETE', '/apps/extra')).status).toBe(200)
    expect((await api('GET', '/apps/extra')).status).toBe(404)
    await waitFor(() => last.every((pid) => !isAlive(pid)), {
      message: 'deleted app processes end',
    })
  })

  it('runs actions that accept an empty JSON body and give new pids', async () => {
    await trackPids()
    const before = (await api<AppView>('GET', '/apps/base')).body.instances[0]?.pid
    const res = await api<AppView>('POST', '/apps/base/restart', {})
    expect(res.status).toBe(200)
    await waitFor(
      async () => {
        const i = (await api<AppView>('GET', '/apps/base')).body.instances[0]
        return i?.state === 'healthy' && i.pid !== before
      },
      { timeoutMs: 20_000 },
    )
    const logs = await api<{ lines: string[] }>('GET', '/apps/base/logs?tail=5')
    expect(logs.status).toBe(200)
    expect(logs.body.lines.join('\n')).toContain('hello listening on')
  })

  it('explains each invalid input with a 4xx and the error shape', async () => {
    const cases: [string, string, unknown, number, string][] = [
      ['POST', '/routes', { vHost: 'bad host', backends: [] }, 400, 'PTC_ERR_VALIDATION'],
      [
        'POST',
        '/routes',
        { vHost: 'x.test', backends: [{ hostname: '127.0.0.1', port: 70000 }] },
        400,
        'PTC_ERR_VALIDATION',
      ],
      [
        'POST',
        '/routes',
        { vHost: 'x.test', backends: [], headers: { 'X-A': 'v\r\nSet-Cookie: p=1' } },
        400,
        'PTC_ERR_VALIDATION',
      ],
      ['POST', '/routes', { vHost: 'ref.test', backends: [] }, 409, 'PTC_ERR_ROUTE_EXISTS'],
      ['POST', '/routes', { vHost: 'y.test', app: 'nope' }, 409, 'PTC_ERR_STATE_CONFLICT'],
      ['POST', '/routes', { vHost: 'base.localhost', backends: [] }, 409, 'PTC_ERR_ROUTE_EXISTS'],
      ['GET', '/routes/nope.test', undefined, 404, 'PTC_ERR_ROUTE_NOT_FOUND'],
      ['DELETE', '/routes/ref.test/backends/nope', undefined, 404, 'PTC_ERR_BACKEND_NOT_FOUND'],
      ['POST', '/apps', { name: 'base', command: 'x' }, 409, 'PTC_ERR_APP_EXISTS'],
      ['POST', '/apps', { name: 'Bad Name', command: 'x' }, 400, 'PTC_ERR_VALIDATION'],
      ['PATCH', '/apps/base', { instances: 'two' }, 400, 'PTC_ERR_VALIDATION'],
      ['GET', '/apps/nope', undefined, 404, 'PTC_ERR_APP_NOT_FOUND'],
      [
        'POST',
        '/certificates',
        { domain: '../../x', key: 'k', cert: 'c' },
        400,
        'PTC_ERR_VALIDATION',
      ],
      [
        'POST',
        '/certificates',
        { domain: 'a.test', key: 'k', cert: 'c' },
        400,
        'PTC_ERR_CERT_INVALID',
      ],
      ['GET', '/nope', undefined, 404, 'PTC_ERR_NOT_FOUND'],
    ]
    for (const [method, p, json, status, code] of cases) {
      const res = await api<ErrorBody>(method, p, json)
      expect(res.status, `${method} ${p}`).toBe(status)
      expect(res.body.error.code, `${method} ${p}`).toBe(code)
      expect(res.body.error.message.length).toBeGreaterThan(0)
    }
    const patched = await api<ErrorBody>('PATCH', '/apps/base', { instances: 'two' })
    expect(patched.body.error.message).toContain('instances')
  })

  it('refuses a DNS-rebinding Host', async () => {
    const evil = await callApi<ErrorBody>(portico.ports.api, 'GET', '/apps', {
      headers: { Host: 'evil.example' },
    })
    expect(evil.status).toBe(403)
    expect(evil.body.error.code).toBe('PTC_ERR_HOST_FORBIDDEN')
    for (const host of ['localhost', '127.0.0.1', '[::1]']) {
      const ok = await callApi(portico.ports.api, 'GET', '/apps', {
        headers: { Host: `${host}:${portico.ports.api}` },
      })
      expect(ok.status, host).toBe(200)
    }
  })

  it('brings the same routes, backends and apps back after a restart', async () => {
    const before = await api<RouteView>('GET', '/routes/ref.test')
    expect((await api('POST', '/apps', { name: 'kept', script: 'apps/hello.mjs' })).status).toBe(
      201,
    )
    await trackPids()
    portico.child.kill('SIGINT')
    expect(await portico.exited).toBe(0)
    portico = await startPortico({ config: CONFIG, env: env() })
    const after = await api<RouteView>('GET', '/routes/ref.test')
    expect(after.status).toBe(200)
    expect(after.body.backends.map((b) => b.id)).toEqual(before.body.backends.map((b) => b.id))
    await waitFor(
      async () =>
        (await api<AppView>('GET', '/apps/kept')).body.instances?.[0]?.state === 'healthy',
      {
        timeoutMs: 20_000,
      },
    )
    expect((await hits(2)).length).toBe(2)
  })

  it('loads its state after a kill -9 during a burst of writes', async () => {
    const writes = Array.from({ length: 20 }, (_, i) =>
      api('POST', '/routes', {
        vHost: `burst${i}.test`,
        backends: [{ hostname: '127.0.0.1', port: 9 }],
      }),
    )
    const first = await Promise.race(writes)
    expect(first.status).toBe(201)
    await trackPids()
    portico.child.kill('SIGKILL')
    await portico.exited
    await Promise.allSettled(writes)
    portico = await startPortico({ config: CONFIG, env: env() })
    const routes = await api<RouteView[]>('GET', '/routes')
    expect(routes.status).toBe(200)
    const burst = routes.body.filter((r) => r.vHost.startsWith('burst'))
    expect(burst.length).toBeGreaterThanOrEqual(1)
    expect(routes.body.some((r) => r.vHost === 'ref.test')).toBe(true)
  })
})
