// Issue 4 end to end: the real bin under a bounded load loop (8 sequential GET clients and a
// POST loop over keep-alive TLS) while an instance is killed, an app reloaded and another
// restarted. No client may see a failed request; no process survives the file.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import https from 'node:https'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { callApi } from '../helpers/api.ts'
import { ROOT, type RunningPortico, startPortico } from '../helpers/portico.ts'
import { descendants, edgeWorkerPids, isAlive } from '../helpers/processes.ts'
import { waitFor } from '../helpers/wait.ts'

const PROBE_APP = path.join(ROOT, 'test/fixtures/apps/probe-app.cjs')

interface InstanceView {
  id: string
  pid: number | null
  state: string
  restarts: number
}
interface AppView {
  instances: InstanceView[]
}

/** What one load run saw. */
interface LoadReport {
  ok: number
  posts: number
  /** `<method> <status or error>` of every request that did not get a 200. */
  failures: string[]
  /** Pids that answered, from the app's JSON body. */
  pids: Set<number>
}

/**
 * send makes one request over `agent` (keep-alive TLS to 127.0.0.1 with SNI and Host set) and
 * resolves with status and body. (test/helpers/http.ts reads the peer certificate at 'end',
 * when a keep-alive socket has already gone back to the pool, so it cannot share an agent.)
 */
function send(options: {
  port: number
  host: string
  method: string
  ca: string
  agent: https.Agent
  body?: string
}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1',
      port: options.port,
      method: options.method,
      path: '/',
      servername: options.host,
      ca: options.ca,
      agent: options.agent,
      timeout: 15_000,
      headers: {
        Host: options.host,
        ...(options.body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
    })
    req.on('timeout', () => req.destroy(new Error('request timed out')))
    req.on('error', reject)
    req.on('response', (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        body += chunk
      })
      res.on('error', reject)
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.end(options.body)
  })
}

/** GET clients running in parallel, each sending its next request when the last one is answered. */
const GET_CLIENTS = 8
/** Load runs at least this long, and this long past the end of the action under test. */
const LOAD_MIN_MS = 4_000
const LOAD_TAIL_MS = 500

// Once with the edge in the main process, once with two edge workers (drains then wait for
// requests inside the workers, and target states reach them over IPC).
describe.each([
  ['1', 'in-process edge'],
  ['2', 'two edge workers'],
])(
  'zero failed requests while instances are killed, reloaded and restarted (PORTICO_WORKERS=%s, %s)',
  (workers) => {
    let dir: string
    let portico: RunningPortico
    let ca: string
    const pids = new Set<number>()

    const api = <T>(method: string, p: string, json?: unknown) =>
      callApi<T>(portico.ports.api, method, p, json === undefined ? {} : { json })
    const appView = async (name: string) => (await api<AppView>('GET', `/apps/${name}`)).body
    /** The app's pids once all `count` instances are healthy (remembered for the final check). */
    const healthyPids = async (name: string, count: number) => {
      const { instances } = await appView(name)
      if (instances.length !== count || instances.some((i) => i.state !== 'healthy' || !i.pid)) {
        return undefined
      }
      const list = instances.map((i) => i.pid as number)
      for (const pid of list) {
        pids.add(pid)
        for (const child of descendants(pid)) pids.add(child)
      }
      return list
    }

    /**
     * runLoad sends GETs from GET_CLIENTS clients and POSTs (with a body) from one more, all over
     * keep-alive TLS to `host`, while `action` runs; it stops LOAD_TAIL_MS after the action ends
     * and no sooner than LOAD_MIN_MS after it started.
     */
    async function runLoad(host: string, action: () => Promise<void>): Promise<LoadReport> {
      const agent = new https.Agent({ keepAlive: true, maxSockets: GET_CLIENTS + 1 })
      const report: LoadReport = { ok: 0, posts: 0, failures: [], pids: new Set() }
      let running = true
      const one = async (method: 'GET' | 'POST') => {
        const body = method === 'POST' ? JSON.stringify({ n: report.posts++ }) : undefined
        try {
          const port = portico.ports.https
          const res = await send({ port, host, method, ca, agent, ...(body ? { body } : {}) })
          if (res.status !== 200) return report.failures.push(`${method} ${res.status} ${res.body}`)
          report.ok++
          report.pids.add((JSON.parse(res.body) as { pid: number }).pid)
        } catch (error) {
          report.failures.push(`${method} ${(error as Error).message}`)
        }
      }
      const client = async (method: 'GET' | 'POST') => {
        while (running) await one(method)
      }
      const clients = [...Array.from({ length: GET_CLIENTS }, () => client('GET')), client('POST')]
      const started = Date.now()
      await new Promise((resolve) => setTimeout(resolve, 1_000))
      await action()
      const left = Math.max(LOAD_TAIL_MS, LOAD_MIN_MS - (Date.now() - started))
      await new Promise((resolve) => setTimeout(resolve, left))
      running = false
      await Promise.all(clients)
      agent.destroy()
      return report
    }

    beforeAll(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'portico-resilience-'))
      const configPath = path.join(dir, 'apps.config.json')
      const app = (name: string, instances: number) => ({
        name,
        script: PROBE_APP,
        instances,
        health: { path: '/' },
        killTimeout: 5_000,
      })
      await writeFile(configPath, JSON.stringify({ apps: [app('duo', 2), app('uno', 1)] }))
      portico = await startPortico({
        config: configPath,
        env: {
          PORTICO_STATE_DIR: path.join(dir, 'state'),
          PORTICO_PORT_RANGE: '27000-27099',
          PORTICO_LOG_LEVEL: 'warn',
          PORTICO_WORKERS: workers,
        },
      })
      ca = await readFile(path.join(portico.certsDir, 'dev-ca.crt'), 'utf8')
      await waitFor(() => healthyPids('duo', 2), { timeoutMs: 20_000 })
      await waitFor(() => healthyPids('uno', 1), { timeoutMs: 20_000 })
    })

    afterAll(async () => {
      if (portico?.child.exitCode === null) {
        for (const pid of edgeWorkerPids(portico.child.pid as number)) pids.add(pid)
        portico.child.kill('SIGINT')
        expect(await portico.exited).toBe(0)
      }
      const survivors = [...pids].filter(isAlive)
      for (const pid of survivors) process.kill(pid, 'SIGKILL')
      expect(survivors).toEqual([])
      await rm(dir, { recursive: true, force: true })
    })

    it('kill -9 of one of two instances mid-load: no failed GET, no POST sent after the kill fails', async () => {
      const before = (await waitFor(() => healthyPids('duo', 2))) as number[]
      const [victim, bystander] = before
      const report = await runLoad('duo.localhost', async () => {
        process.kill(victim as number, 'SIGKILL')
        await waitFor(
          async () => {
            const now = await healthyPids('duo', 2)
            return now && !now.includes(victim as number) ? now : undefined
          },
          { timeoutMs: 10_000, message: 'the killed instance comes back' },
        )
      })
      // GETs that were in flight inside the killed process are retried on the other instance. A
      // POST that was is not: it may have been processed, and a non-idempotent request is never
      // replayed (reliability.md F2), so the one POST in flight at the kill (one POST client,
      // sequential) may end in a 502. Everything sent after the kill is served.
      const failedGets = report.failures.filter((f) => f.startsWith('GET'))
      const failedPosts = report.failures.filter((f) => f.startsWith('POST'))
      expect(failedGets).toEqual([])
      expect(failedPosts.length).toBeLessThanOrEqual(1)
      for (const f of failedPosts) expect(f).toMatch(/^POST 502 [\s\S]*PTC_ERR_UPSTREAM_FAILED/)
      expect(report.ok).toBeGreaterThan(100)
      expect(report.posts).toBeGreaterThan(20)
      expect(report.pids.has(bystander as number)).toBe(true)
      const [inst] = (await appView('duo')).instances
      expect(inst?.restarts).toBeGreaterThanOrEqual(1)
    })

    it('POST /apps/duo/reload mid-load: no failed request, new pids one instance at a time', async () => {
      const before = (await waitFor(() => healthyPids('duo', 2))) as number[]
      let answer = 0
      const report = await runLoad('duo.localhost', async () => {
        answer = (await api('POST', '/apps/duo/reload', {})).status
      })
      expect(answer).toBe(200)
      expect(report.failures).toEqual([])
      const after = (await waitFor(() => healthyPids('duo', 2))) as number[]
      expect(after.filter((pid) => before.includes(pid))).toEqual([])
      // Served by the old pids, then by the new ones: both generations answered under load.
      expect(before.some((pid) => report.pids.has(pid))).toBe(true)
      expect(after.every((pid) => report.pids.has(pid))).toBe(true)
    })

    it('POST /apps/uno/restart mid-load: the only instance restarts, requests wait, none fails', async () => {
      const [before] = (await waitFor(() => healthyPids('uno', 1))) as number[]
      let answer = 0
      const report = await runLoad('uno.localhost', async () => {
        answer = (await api('POST', '/apps/uno/restart', {})).status
        await waitFor(
          async () => {
            const now = await healthyPids('uno', 1)
            return now && now[0] !== before ? now : undefined
          },
          { timeoutMs: 10_000, message: 'uno is back with a new pid' },
        )
      })
      expect(answer).toBe(200)
      expect(report.failures).toEqual([])
      const [after] = (await waitFor(() => healthyPids('uno', 1))) as number[]
      expect(report.pids).toEqual(new Set([before, after]))
    })
  },
)
