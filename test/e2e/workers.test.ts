// Edge workers end to end: the real bin with PORTICO_WORKERS=2. The workers serve every request
// (the primary none), the primary still counts them all, a drain waits for a request in flight
// inside a worker, an API change reaches every worker before the API answers, a killed worker is
// replaced, and Ctrl-C leaves no process behind.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { callApi } from '../helpers/api.ts'
import { type Backend, startBackend } from '../helpers/backend.ts'
import { request } from '../helpers/http.ts'
import { ROOT, type RunningPortico, startPortico } from '../helpers/portico.ts'
import { edgeWorkerPids, isAlive } from '../helpers/processes.ts'
import { waitFor } from '../helpers/wait.ts'

const PROBE_APP = path.join(ROOT, 'test/fixtures/apps/probe-app.cjs')

interface InstanceView {
  pid: number | null
  state: string
}

function workerPids(portico: RunningPortico): number[] {
  return edgeWorkerPids(portico.child.pid as number)
}

/** The pids in the access-log lines (`"msg":"request"`) Portico printed so far. */
function accessLogPids(portico: RunningPortico): Set<number> {
  const pids = new Set<number>()
  for (const line of portico.stdout().split('\n')) {
    if (!line.includes('"msg":"request"')) continue
    pids.add((JSON.parse(line) as { pid: number }).pid)
  }
  return pids
}

describe('edge workers (PORTICO_WORKERS=2)', () => {
  let dir: string
  let portico: RunningPortico
  let ca: string
  const backends: Backend[] = []
  const seen = new Set<number>()

  const api = <T>(method: string, p: string, json?: unknown) =>
    callApi<T>(portico.ports.api, method, p, json === undefined ? {} : { json })
  const instances = async (app: string) =>
    (await api<{ instances: InstanceView[] }>('GET', `/apps/${app}`)).body.instances
  const healthyPid = async (app: string) => {
    const [inst] = await instances(app)
    return inst?.state === 'healthy' && inst.pid ? inst.pid : undefined
  }
  const get = (host: string, p = '/') => request({ port: portico.ports.https, host, path: p, ca })

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portico-workers-'))
    for (const id of ['a', 'b']) backends.push(await startBackend(id))
    const configPath = path.join(dir, 'apps.config.json')
    await writeFile(
      configPath,
      JSON.stringify({
        apps: [
          {
            name: 'slow',
            script: PROBE_APP,
            health: { path: '/' },
            // Exits at once on SIGTERM: a request still inside is cut unless the drain waited.
            env: { EXIT_ON_SIGTERM: '1' },
            killTimeout: 10_000,
          },
        ],
        routes: [
          {
            vHost: 'static.test',
            strategy: 'ROUND_ROBIN',
            backends: backends.map((b) => ({ id: b.id, hostname: '127.0.0.1', port: b.port })),
          },
        ],
      }),
    )
    portico = await startPortico({
      config: configPath,
      env: { PORTICO_WORKERS: '2', PORTICO_PORT_RANGE: '27100-27199' },
    })
    ca = await readFile(path.join(portico.certsDir, 'dev-ca.crt'), 'utf8')
    const pid = await waitFor(() => healthyPid('slow'), { timeoutMs: 20_000 })
    seen.add(pid)
    for (const w of workerPids(portico)) seen.add(w)
  })

  afterAll(async () => {
    if (portico?.child.exitCode === null) {
      for (const pid of workerPids(portico)) seen.add(pid)
      portico.child.kill('SIGINT')
      expect(await portico.exited).toBe(0)
    }
    const survivors = [...seen].filter(isAlive)
    for (const pid of survivors) process.kill(pid, 'SIGKILL')
    expect(survivors).toEqual([])
    await Promise.all(backends.map((b) => b.close()))
    await rm(dir, { recursive: true, force: true })
  })

  it('serves from both workers, never the primary, with the dev certificate of each name; the primary counts every request', async () => {
    const workers = workerPids(portico)
    expect(workers).toHaveLength(2)
    const before = (await api<{ global: { totalRequests: number } }>('GET', '/stats')).body
    // A new connection per request: the primary deals connections to the workers in turn.
    for (let i = 0; i < 12; i++) expect((await get('slow.localhost')).status).toBe(200)
    const certificate = (await get('slow.localhost')).subjectAltName
    expect(certificate).toContain('DNS:slow.localhost')
    const logged = await waitFor(() => {
      const pids = accessLogPids(portico)
      return pids.size === 2 ? pids : undefined
    })
    expect([...logged].sort()).toEqual([...workers].sort())
    expect(logged.has(portico.child.pid as number)).toBe(false)
    // Finished requests reach the primary's stats from both workers.
    await waitFor(async () => {
      const now = (await api<{ global: { totalRequests: number } }>('GET', '/stats')).body
      return now.global.totalRequests >= before.global.totalRequests + 13 ? now : undefined
    })
  })

  it('lets a reload drain a request that is in flight inside a worker', async () => {
    const oldPid = (await healthyPid('slow')) as number
    const slow = request({
      port: portico.ports.https,
      host: 'slow.localhost',
      path: '/sleep?ms=2000',
      method: 'POST',
      body: 'x',
      ca,
    })
    // The primary sees the worker's in-flight count before the reload starts.
    await waitFor(async () => {
      const view = await api<{ instances: { stats?: { inFlight: number } }[] }>('GET', '/apps/slow')
      return (view.body.instances[0]?.stats?.inFlight ?? 0) > 0 ? true : undefined
    })
    const reload = await api('POST', '/apps/slow/reload', {})
    expect(reload.status).toBeLessThan(300)
    const res = await slow
    expect(res.status).toBe(200)
    expect((JSON.parse(res.body) as { pid: number }).pid).toBe(oldPid)
    const newPid = await waitFor(async () => {
      const pid = await healthyPid('slow')
      return pid !== undefined && pid !== oldPid ? pid : undefined
    })
    seen.add(newPid)
  })

  it('keeps a backend marked dead through the API away from every worker once the API answered', async () => {
    const [a] = backends as [Backend, Backend]
    expect((await api('POST', `/routes/static.test/backends/${a.id}/dead`, {})).status).toBe(200)
    const before = a.total()
    for (let i = 0; i < 12; i++) expect((await get('static.test')).body).toBe('b')
    expect(a.total()).toBe(before)
    expect((await api('POST', `/routes/static.test/backends/${a.id}/alive`, {})).status).toBe(200)
    const bodies = new Set<string>()
    for (let i = 0; i < 12; i++) bodies.add((await get('static.test')).body)
    expect(bodies).toEqual(new Set(['a', 'b']))
  })

  it('replaces a worker killed with SIGKILL and keeps serving', async () => {
    const [victim, survivor] = workerPids(portico) as [number, number]
    process.kill(victim, 'SIGKILL')
    // Once the primary has seen the exit it deals new connections to the survivor only.
    await waitFor(() => (portico.stdout().includes('edge worker exited') ? true : undefined), {
      timeoutMs: 10_000,
    })
    for (let i = 0; i < 6; i++) expect((await get('slow.localhost')).status).toBe(200)
    const now = await waitFor(
      () => {
        const pids = workerPids(portico)
        return pids.length === 2 && !pids.includes(victim) ? pids : undefined
      },
      { timeoutMs: 20_000, message: 'a new worker replaces the killed one' },
    )
    expect(now).toContain(survivor)
    for (const pid of now) seen.add(pid)
    // The replacement serves too: new connections reach both workers again.
    const replacement = now.find((pid) => pid !== survivor) as number
    await waitFor(
      async () => {
        expect((await get('slow.localhost')).status).toBe(200)
        return accessLogPids(portico).has(replacement) ? true : undefined
      },
      { timeoutMs: 20_000, message: 'the new worker serves' },
    )
  })
})
