// Issue 18: metrics history in <stateDir>/history.db with the real bin: rows written under load,
// flushed by a graceful stop, read back after a restart; a corrupt file is set aside and serving
// goes on.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request } from '../helpers/http.ts'
import { ROOT, type RunningPortico, startPortico } from '../helpers/portico.ts'
import { descendants, isAlive } from '../helpers/processes.ts'
import { waitFor } from '../helpers/wait.ts'

const CONFIG = path.join(ROOT, 'test/fixtures/api.config.ts')
const ROUTE = 'base.localhost'
const LOAD = 120

interface HistoryRow {
  at: string
  requests: number
  latencyMs: { p99: number }
}

describe('metrics history (end to end)', () => {
  let dir: string
  let portico: RunningPortico | undefined
  const pids = new Set<number>()
  const stateDir = () => path.join(dir, 'state')
  const start = async () => {
    portico = await startPortico({
      config: CONFIG,
      env: { PORTICO_STATE_DIR: stateDir(), PORTICO_CERTS_DIR: path.join(dir, 'certs') },
    })
    const running = portico
    await waitFor(
      async () => {
        const { body } = await running.api<{ instances: { pid: number; state: string }[] }>(
          '/apps/base',
        )
        for (const i of body.instances) {
          pids.add(i.pid)
          for (const child of descendants(i.pid)) pids.add(child)
        }
        return body.instances.every((i) => i.state === 'healthy')
      },
      { timeoutMs: 30_000 },
    )
    return running
  }
  const stop = async () => {
    if (portico === undefined || portico.child.exitCode !== null) return
    portico.child.kill('SIGINT')
    expect(await portico.exited).toBe(0)
    await waitFor(() => [...pids].every((pid) => !isAlive(pid)), { timeoutMs: 15_000 })
  }
  const load = async (running: RunningPortico, n: number) => {
    const ca = readFileSync(path.join(dir, 'certs', 'dev-ca.crt'), 'utf8')
    for (let i = 0; i < n; i += 10) {
      await Promise.all(
        Array.from({ length: 10 }, (_, j) =>
          request({ port: running.ports.https, host: ROUTE, path: `/h${i + j}`, ca }),
        ),
      )
    }
  }
  const total = (rows: HistoryRow[]) => rows.reduce((n, r) => n + r.requests, 0)

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portico-history-e2e-'))
  })
  afterAll(async () => {
    await stop().catch(() => undefined)
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
    await rm(dir, { recursive: true, force: true })
  })

  it('writes requests under load to a .db file that a graceful stop flushes, and reads them back after a restart', async () => {
    let running = await start()
    await load(running, LOAD)
    const live = await running.api<HistoryRow[]>(`/stats/history?route=${ROUTE}`)
    expect(live.status).toBe(200)
    expect(total(live.body)).toBe(LOAD)
    await stop()
    expect(readdirSync(stateDir())).toContain('history.db')
    running = await start()
    const from = Date.now() - 10 * 60_000
    const after = await running.api<HistoryRow[]>(
      `/stats/history?route=${ROUTE}&from=${from}&step=60`,
    )
    expect(total(after.body)).toBe(LOAD)
    expect(after.body.some((r) => r.latencyMs.p99 > 0)).toBe(true)
    const events = await running.api<{ app: string; kind: string }[]>(
      '/stats/history/events?app=base',
    )
    expect(events.body.map((e) => e.kind)).toEqual(
      expect.arrayContaining(['start', 'ready', 'stopped']),
    )
    await stop()
  })

  it('sets a corrupt database aside, says so, and keeps serving', async () => {
    const file = path.join(stateDir(), 'history.db')
    writeFileSync(file, Buffer.alloc(8192, 0x41))
    for (const suffix of ['-wal', '-shm']) await rm(file + suffix, { force: true })
    const running = await start()
    expect(running.stdout()).toMatch(/history database .*history\.db was corrupt/)
    const status = await running.api<{
      problem: { kind: string }
      setAside: string
      storage: string
    }>('/stats/history/status')
    expect(status.body.problem.kind).toBe('corrupt')
    expect(status.body.storage).toBe('file')
    expect(readdirSync(stateDir()).some((f) => f.startsWith('history.db.corrupt-'))).toBe(true)
    await load(running, 10)
    expect(total((await running.api<HistoryRow[]>(`/stats/history?route=${ROUTE}`)).body)).toBe(10)
    await stop()
  })
})
