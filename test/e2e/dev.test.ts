// The walking skeleton end to end: the real `portico dev` bin with a temporary config, real pm2
// instances, real TLS verified against the dev CA, then a clean stop with no process left over.
import { execFile } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request } from '../helpers/http.ts'
import { ROOT, type RunningPortico, spawnPortico, startPortico } from '../helpers/portico.ts'
import { descendants, isAlive } from '../helpers/processes.ts'
import { waitFor } from '../helpers/wait.ts'

const run = promisify(execFile)
const CONFIG = path.join(ROOT, 'test/fixtures/basic.config.ts')

interface InstanceView {
  id: string
  index: number
  port: number
  pid: number | null
  state: string
  restarts: number
}
interface AppView {
  name: string
  hostnames: string[]
  instances: InstanceView[]
}

describe('portico dev (end to end)', () => {
  let portico: RunningPortico
  let ca: string
  /** Every pid of the apps and their children, collected while running. */
  const pids = new Set<number>()

  beforeAll(async () => {
    portico = await startPortico({ config: CONFIG })
    await waitFor(
      async () => {
        const { body } = await portico.api<AppView[]>('/apps')
        return (
          body.length === 2 &&
          body.every((app) => app.instances.every((i) => i.state === 'healthy'))
        )
      },
      { timeoutMs: 30_000, message: 'apps did not become healthy' },
    )
    ca = readFileSync(path.join(portico.certsDir, 'dev-ca.crt'), 'utf8')
  })

  afterAll(async () => {
    if (portico && portico.child.exitCode === null) {
      portico.child.kill('SIGKILL')
      await portico.exited
    }
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
    if (portico) await rm(portico.dir, { recursive: true, force: true })
  })

  it('serves /api/v1/health with the bound ports', async () => {
    const { status, body } = await portico.api('/health')
    expect(status).toBe(200)
    expect(body).toMatchObject({ status: 'ok', ports: portico.ports })
  })

  it('shows each app with its instances and distinct ports', async () => {
    const { body } = await portico.api<AppView>('/apps/node')
    expect(body.name).toBe('node')
    expect(body.hostnames).toEqual(['node.localhost'])
    expect(body.instances).toHaveLength(2)
    for (const [index, instance] of body.instances.entries()) {
      expect(instance).toMatchObject({ index, state: 'healthy', restarts: 0 })
      expect(instance.port).toBeGreaterThanOrEqual(23000)
      expect(instance.pid).toBeGreaterThan(0)
    }
    expect(new Set(body.instances.map((i) => i.port)).size).toBe(2)
    const missing = await portico.api<{ error: { code: string } }>('/apps/nope')
    expect(missing.status).toBe(404)
    expect(missing.body.error.code).toBe('PTC_ERR_APP_NOT_FOUND')
  })

  it('serves every hostname over HTTPS with a certificate the dev CA verifies', async () => {
    const node = await request({
      port: portico.ports.https,
      host: 'node.localhost',
      ca,
      path: '/x?y=1',
    })
    expect(node.status).toBe(200)
    const body = JSON.parse(node.body)
    expect(body).toMatchObject({ app: 'node', url: '/x?y=1', forwardedFor: '127.0.0.1' })
    expect(body.requestId).toMatch(/\S+/)
    for (const host of ['py.localhost', 'python.localhost']) {
      const py = await request({ port: portico.ports.https, host, ca })
      expect(py.status).toBe(200)
      expect(JSON.parse(py.body)).toMatchObject({ app: 'py', instance: '0' })
    }
  })

  it('each instance got its own PORT, PORTICO_APP and PORTICO_INSTANCE', async () => {
    const { body } = await portico.api<AppView>('/apps/node')
    const seen = new Map<string, { port: number; pid: number }>()
    await waitFor(
      async () => {
        const res = await request({ port: portico.ports.https, host: 'node.localhost', ca })
        const r = JSON.parse(res.body)
        seen.set(r.instance, { port: r.port, pid: r.pid })
        return seen.size === 2
      },
      { message: 'both instances should answer' },
    )
    for (const instance of body.instances) {
      expect(seen.get(String(instance.index))).toEqual({ port: instance.port, pid: instance.pid })
    }
  })

  it('is verified by curl with --cacert certs/dev-ca.crt, as the README says', async () => {
    const url = `https://node.localhost:${portico.ports.https}/`
    const { stdout } = await run('curl', [
      '-sS',
      '--fail',
      '--cacert',
      path.join(portico.certsDir, 'dev-ca.crt'),
      '--resolve',
      `node.localhost:${portico.ports.https}:127.0.0.1`,
      url,
    ])
    expect(JSON.parse(stdout).app).toBe('node')
  })

  it('gives an unknown *.localhost host a verified TLS handshake and a 404 listing the sites', async () => {
    const res = await request({ port: portico.ports.https, host: 'unknown.localhost', ca })
    expect(res.status).toBe(404)
    for (const host of ['node.localhost', 'py.localhost', 'python.localhost'])
      expect(res.body).toContain(host)
  })

  it('redirects HTTP to HTTPS with 308 for known hosts and answers 404 for unknown ones', async () => {
    const known = await request({
      port: portico.ports.http,
      host: 'node.localhost',
      path: '/a?b=c',
    })
    expect(known.status).toBe(308)
    expect(known.headers.location).toBe(`https://node.localhost:${portico.ports.https}/a?b=c`)
    const unknown = await request({ port: portico.ports.http, host: 'evil.example' })
    expect(unknown.status).toBe(404)
    expect(unknown.headers.location).toBeUndefined()
  })

  it('keeps the dev CA key private (0600) and logs one access line per request', async () => {
    expect(statSync(path.join(portico.certsDir, 'dev-ca.key')).mode & 0o777).toBe(0o600)
    const res = await request({
      port: portico.ports.https,
      host: 'node.localhost',
      ca,
      headers: { 'X-Request-Id': 'e2e-access-log' },
    })
    expect(res.status).toBe(200)
    await waitFor(() => portico.stdout().includes('"requestId":"e2e-access-log"'), {
      message: 'access log line',
    })
  })

  it('stops every app and their children on SIGINT and exits 0', async () => {
    const { body } = await portico.api<AppView[]>('/apps')
    for (const app of body) {
      for (const instance of app.instances) {
        if (instance.pid === null) continue
        pids.add(instance.pid)
        for (const child of descendants(instance.pid)) pids.add(child)
      }
    }
    // The py app's `sleep 600` child must be among them.
    expect(pids.size).toBeGreaterThanOrEqual(4)
    portico.child.kill('SIGINT')
    expect(await portico.exited).toBe(0)
    for (const pid of pids) expect(isAlive(pid), `pid ${pid} survived`).toBe(false)
  })
})

describe('portico dev with a bad config', () => {
  it('exits non-zero before starting anything and names the place and the problem', async () => {
    const spawned = await spawnPortico({
      config: path.join(ROOT, 'test/fixtures/invalid.config.ts'),
    })
    try {
      expect(await spawned.exited).toBe(1)
      expect(spawned.out.stderr).toContain(
        'apps[1].instances: expected a positive integer, got "two"',
      )
      expect(() => statSync(path.join(spawned.dir, 'state'))).toThrow()
    } finally {
      await rm(spawned.dir, { recursive: true, force: true })
    }
  })
})

describe('portico dev, second Ctrl-C', () => {
  it('forces a fast exit that still kills every app', async () => {
    const portico = await startPortico({ config: CONFIG })
    const pids: number[] = []
    try {
      await waitFor(
        async () => {
          const { body } = await portico.api<AppView[]>('/apps')
          const all = body.flatMap((a) => a.instances)
          if (all.length !== 3 || all.some((i) => i.pid === null || i.state !== 'healthy'))
            return false
          pids.splice(
            0,
            pids.length,
            ...all.flatMap((i) => [i.pid as number, ...descendants(i.pid as number)]),
          )
          return true
        },
        { timeoutMs: 30_000 },
      )
      portico.child.kill('SIGINT')
      await waitFor(() => portico.stdout().includes('stopping: draining'), {
        message: 'first Ctrl-C seen',
      })
      portico.child.kill('SIGINT')
      expect(await portico.exited).toBe(0)
      for (const pid of pids) expect(isAlive(pid), `pid ${pid} survived`).toBe(false)
    } finally {
      if (portico.child.exitCode === null) portico.child.kill('SIGKILL')
      for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
      await rm(portico.dir, { recursive: true, force: true })
    }
  })
})
