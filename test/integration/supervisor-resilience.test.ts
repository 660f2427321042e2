// Issue 4 against real pm2 processes (no mocks): kill -9 recovery with the target following,
// rolling reloads one instance at a time, scale up and down, crash loops that end in `crashed`,
// port collisions moved to another port, per-app settings; no process survives the file.
import { readlinkSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import http from 'node:http'
import type net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type AppInput, type AppSpec, appSchema } from '../../src/config/schema.ts'
import { createLogger } from '../../src/observe/log.ts'
import { Registry, upstreamNameForApp } from '../../src/registry/registry.ts'
import type { TargetState } from '../../src/registry/target.ts'
import { type AppStatus, Supervisor } from '../../src/supervisor/supervisor.ts'
import { descendants, isAlive } from '../helpers/processes.ts'
import { waitFor } from '../helpers/wait.ts'

// pm2 checks max_memory_restart in a worker every 30 s; read once, before pm2 is imported.
process.env.PM2_WORKER_INTERVAL = '1000'

const FIXTURES = fileURLToPath(new URL('../fixtures', import.meta.url))
const log = createLogger({ level: process.env.PORTICO_LOG_LEVEL ?? 'silent' })
const spec = (input: AppInput): AppSpec => appSchema.parse(input)
const probeApp = (input: Omit<AppInput, 'script'>): AppSpec =>
  spec({ script: 'probe-app.cjs', cwd: 'apps', health: { path: '/' }, ...input })

interface Snapshot {
  targets: { id: string; port: number; state: TargetState }[]
  healthyPorts: number[]
  /** What a route queue needs: something to serve, or something worth waiting for. */
  waitable: boolean
}

/** Records every state of an app's upstream from now on (each change, synchronously). */
function watch(registry: Registry, app: string): { snapshots: Snapshot[]; stop: () => void } {
  const upstream = registry.upstream(upstreamNameForApp(app))
  const snapshots: Snapshot[] = []
  const stop = upstream.onChange((u) => {
    const targets = u.targets().map((t) => ({ id: t.id, port: t.port, state: t.state }))
    const healthyPorts = u.available().map((t) => t.port)
    snapshots.push({ targets, healthyPorts, waitable: healthyPorts.length > 0 || u.hasStarting() })
  })
  return { snapshots, stop }
}

/** The states target `id` went through, consecutive repeats folded. */
function statesOf(snapshots: Snapshot[], id: string): TargetState[] {
  const states: TargetState[] = []
  for (const s of snapshots) {
    const state = s.targets.find((t) => t.id === id)?.state
    if (state !== undefined && state !== states.at(-1)) states.push(state)
  }
  return states
}

/** GET / (or a path) on 127.0.0.1:port without keep-alive; resolves with the JSON body. */
function getJson(port: number, path = '/'): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        text += chunk
      })
      res.on('end', () => resolve(JSON.parse(text) as Record<string, unknown>))
    })
    req.setTimeout(5000, () => req.destroy(new Error('GET timed out')))
    req.once('error', reject)
  })
}

/** A foreign listener on 127.0.0.1:port answering every request with `status`. */
async function squat(port: number, status: number): Promise<http.Server> {
  const server = http.createServer((_req, res) => res.writeHead(status).end('squatter'))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', resolve)
  })
  return server
}

describe('Supervisor resilience with real pm2 processes', () => {
  const registry = new Registry()
  const seen = new Set<number>()
  let stateDir: string
  let supervisor: Supervisor
  let recorder: NodeJS.Timeout

  /** Remembers every pid any instance had, and their children, to check none survives. */
  function record(): void {
    for (const app of supervisor.list()) {
      for (const inst of app.instances) {
        if (inst.pid === null) continue
        seen.add(inst.pid)
        for (const child of descendants(inst.pid)) seen.add(child)
      }
    }
  }

  /** Waits until `app` has exactly `count` instances, all healthy with a pid. */
  function healthy(app: string, count: number, timeoutMs = 20_000): Promise<AppStatus> {
    return waitFor(
      () => {
        const s = supervisor.get(app)
        const ok =
          s?.instances.length === count &&
          s.instances.every((i) => i.state === 'healthy' && i.pid !== null)
        return ok ? s : undefined
      },
      { timeoutMs, message: `${app}: ${count} healthy instances` },
    )
  }

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'portico-resilience-'))
    supervisor = await Supervisor.create({
      stateDir,
      configDir: FIXTURES,
      portRange: { from: 26000, to: 26899 },
      registry,
      log,
      restartPolicy: { maxUnstableRestarts: 3 },
    })
    recorder = setInterval(record, 20)
  })

  afterAll(async () => {
    clearInterval(recorder)
    await supervisor?.close()
    const survivors = [...seen].filter(isAlive)
    for (const pid of survivors) process.kill(pid, 'SIGKILL')
    expect(survivors).toEqual([])
    await rm(stateDir, { recursive: true, force: true })
  })

  it('brings a kill -9ed instance back while its target follows; the other stays in rotation', async () => {
    await supervisor.startApp(probeApp({ name: 'web', instances: 2 }))
    const [victim, bystander] = (await healthy('web', 2)).instances
    if (!victim?.pid || !bystander) throw new Error('web has no two instances')
    const { snapshots, stop } = watch(registry, 'web')
    const killedAt = Date.now()

    process.kill(victim.pid, 'SIGKILL')
    const back = await waitFor(() => {
      const inst = supervisor.get('web')?.instances[0]
      return inst?.state === 'healthy' && inst.pid !== victim.pid ? inst : undefined
    })
    stop()

    // Out of rotation from the exit on, but `starting`: pm2 brings it back, requests may wait.
    expect(statesOf(snapshots, victim.id)).toEqual(['starting', 'healthy'])
    expect(snapshots.every((s) => s.healthyPorts.includes(bystander.port))).toBe(true)
    expect(back).toMatchObject({ port: victim.port, lastSignal: 'SIGKILL' })
    expect(back.restarts).toBeGreaterThanOrEqual(1)
    expect(back.startedAt).toBeGreaterThanOrEqual(killedAt)
    expect((await getJson(back.port)).pid).toBe(back.pid)
  })

  it('keeps a 1-instance app waitable (a target starting) through a kill -9 and a restart', async () => {
    await supervisor.startApp(probeApp({ name: 'solo' }))
    const [first] = (await healthy('solo', 1)).instances
    if (!first?.pid) throw new Error('no solo instance')
    const { snapshots, stop } = watch(registry, 'solo')

    process.kill(first.pid, 'SIGKILL')
    const [second] = (
      await waitFor(() => {
        const s = supervisor.get('solo')
        return s?.instances[0]?.state === 'healthy' && s.instances[0].pid !== first.pid
          ? s
          : undefined
      })
    ).instances
    await supervisor.restartApp('solo')
    const [third] = (
      await waitFor(() => {
        const s = supervisor.get('solo')
        return s?.instances[0]?.state === 'healthy' && s.instances[0].pid !== second?.pid
          ? s
          : undefined
      })
    ).instances
    stop()

    expect(snapshots.length).toBeGreaterThan(0)
    expect(snapshots.filter((s) => !s.waitable)).toEqual([])
    expect(statesOf(snapshots, 'solo#0')).toEqual(['starting', 'healthy', 'starting', 'healthy'])
    expect(third?.restarts).toBe((second?.restarts ?? 0) + 1)
    expect(isAlive(first.pid)).toBe(false)
    expect(isAlive(second?.pid as number)).toBe(false)
  })

  it('reloads one instance at a time with new pids and the new env, two healthy at every moment', async () => {
    const before = (await healthy('web', 2)).instances
    const [p0, p1] = before.map((i) => i.port)
    const { snapshots, stop } = watch(registry, 'web')

    await supervisor.reloadApp(probeApp({ name: 'web', instances: 2, env: { GREETING: 'v2' } }))
    stop()

    const after = (await healthy('web', 2)).instances
    const [q0, q1] = after.map((i) => i.port)
    expect(after.map((i) => i.id)).toEqual(['web#0', 'web#1'])
    for (const [n, inst] of after.entries()) {
      expect(inst.pid).not.toBe(before[n]?.pid)
      expect(await getJson(inst.port)).toMatchObject({ greeting: 'v2', pid: inst.pid })
    }
    expect(snapshots.every((s) => s.healthyPorts.length >= 2)).toBe(true)
    // Replacement in rotation, then the old one out, one index after the other.
    const sequence: string[] = []
    for (const s of snapshots) {
      const key = [...new Set(s.healthyPorts)].sort().join(',')
      if (key !== sequence.at(-1)) sequence.push(key)
    }
    const set = (...ports: (number | undefined)[]) => ports.map(Number).sort().join(',')
    expect(sequence).toEqual([
      set(p0, p1),
      set(p0, p1, q0),
      set(p1, q0),
      set(p1, q0, q1),
      set(q0, q1),
    ])
    expect(
      registry
        .upstream('app:web')
        .targets()
        .map((t) => t.id),
    ).toEqual(['web#0', 'web#1'])
    for (const old of before) expect(isAlive(old.pid as number)).toBe(false)
  })

  it('keeps the old instances serving when a replacement never becomes healthy', async () => {
    const before = (await healthy('web', 2)).instances
    const { snapshots, stop } = watch(registry, 'web')
    const broken = spec({ name: 'web', script: 'crash-at-start.cjs', cwd: 'apps', instances: 2 })

    await expect(supervisor.reloadApp(broken)).rejects.toMatchObject({
      code: 'PTC_ERR_APP_START_FAILED',
      message: expect.stringContaining('web#0 keeps serving'),
    })
    stop()

    const now = supervisor.get('web')?.instances ?? []
    expect(now.map((i) => [i.id, i.pid, i.state])).toEqual(
      before.map((i) => [i.id, i.pid, 'healthy']),
    )
    expect(snapshots.every((s) => s.healthyPorts.length >= 2)).toBe(true)
    expect(
      registry
        .upstream('app:web')
        .targets()
        .map((t) => t.id),
    ).toEqual(['web#0', 'web#1'])
    expect(supervisor.logs('web', 50).join('\n')).toContain('DATABASE_URL is not set')
    await supervisor.reloadApp(probeApp({ name: 'web', instances: 2 }))
    await healthy('web', 2)
  })

  it('scales 1 → 3 → 1: new instances join when healthy, the highest index drains first', async () => {
    await supervisor.startApp(probeApp({ name: 'sc' }))
    const [keep] = (await healthy('sc', 1)).instances
    const { snapshots, stop } = watch(registry, 'sc')

    await supervisor.scaleApp(probeApp({ name: 'sc', instances: 3 }))
    const three = await healthy('sc', 3)
    await supervisor.scaleApp(probeApp({ name: 'sc', instances: 1 }))
    stop()

    for (const id of ['sc#1', 'sc#2']) {
      expect(statesOf(snapshots, id)).toEqual(['starting', 'healthy', 'draining', 'stopped'])
    }
    const drainOrder = snapshots.flatMap((s, n) =>
      s.targets
        .filter((t) => t.state === 'draining')
        .filter((t) => snapshots[n - 1]?.targets.find((p) => p.id === t.id)?.state !== 'draining')
        .map((t) => t.id),
    )
    expect(drainOrder).toEqual(['sc#2', 'sc#1'])
    const sc2Gone = snapshots.findIndex((s) => !s.targets.some((t) => t.id === 'sc#2'))
    const sc1Drains = snapshots.findIndex((s) =>
      s.targets.some((t) => t.id === 'sc#1' && t.state === 'draining'),
    )
    expect(sc2Gone).toBeLessThan(sc1Drains)
    const [only] = supervisor.get('sc')?.instances ?? []
    expect(only).toMatchObject({ id: 'sc#0', pid: keep?.pid, state: 'healthy' })
    expect(
      registry
        .upstream('app:sc')
        .targets()
        .map((t) => t.id),
    ).toEqual(['sc#0'])
    for (const inst of three.instances.slice(1)) expect(isAlive(inst.pid as number)).toBe(false)
  })

  it('honours env, cwd, killTimeout and maxMemory', async () => {
    await supervisor.startApp(
      probeApp({ name: 'cfg', env: { GREETING: 'from env' }, killTimeout: 1500 }),
    )
    const [inst] = (await healthy('cfg', 1)).instances
    if (!inst?.pid) throw new Error('no cfg instance')
    expect(readlinkSync(`/proc/${inst.pid}/cwd`)).toBe(join(FIXTURES, 'apps'))
    expect((await getJson(inst.port)).greeting).toBe('from env')

    await supervisor.startApp(
      probeApp({ name: 'stubborn', env: { IGNORE_SIGTERM: '1' }, killTimeout: 1500 }),
    )
    const [stubborn] = (await healthy('stubborn', 1)).instances
    const stopStarted = Date.now()
    await supervisor.stopApp('stubborn')
    const stopMs = Date.now() - stopStarted
    // Drain (nothing in flight), SIGTERM ignored, SIGKILL at killTimeout.
    expect(stopMs).toBeGreaterThanOrEqual(1400)
    expect(stopMs).toBeLessThan(5000)
    expect(isAlive(stubborn?.pid as number)).toBe(false)

    await supervisor.startApp(
      probeApp({ name: 'hog', env: { HOLD_MB: '160' }, maxMemory: '120M', instances: 1 }),
    )
    const restarted = await waitFor(
      () => {
        const i = supervisor.get('hog')?.instances[0]
        return i && i.restarts >= 1 ? i : undefined
      },
      { timeoutMs: 15_000, message: 'pm2 restarts the instance over maxMemory' },
    )
    expect(restarted.state).not.toBe('crashed')
    await supervisor.stopApp('hog')
  })

  it('writes each app log, time-stamped, under <stateDir>/logs/<app>.log', async () => {
    const file = join(stateDir, 'logs', 'web.log')
    const text = await waitFor(async () => {
      const content = await readFile(file, 'utf8').catch(() => '')
      return content.includes('listening on') ? content : undefined
    })
    expect(text).toMatch(
      /^\d{4}-\d\d-\d\dT[\d:.]+Z web#\d(\.next)? out probe-app web#\d listening on \d+$/m,
    )
  })
})

describe('Supervisor crash loops and port collisions', () => {
  const registry = new Registry()
  const seen = new Set<number>()
  const squatters: net.Server[] = []
  let stateDir: string
  let supervisor: Supervisor
  let recorder: NodeJS.Timeout

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'portico-collisions-'))
    supervisor = await Supervisor.create({
      stateDir,
      configDir: FIXTURES,
      // Three ports below the ephemeral range: only an explicit bind takes one.
      portRange: { from: 26900, to: 26902 },
      registry,
      log,
      restartPolicy: { maxUnstableRestarts: 3 },
    })
    recorder = setInterval(() => {
      for (const app of supervisor.list()) for (const i of app.instances) if (i.pid) seen.add(i.pid)
    }, 10)
  })

  afterAll(async () => {
    clearInterval(recorder)
    await supervisor?.close()
    for (const server of squatters) server.close()
    const survivors = [...seen].filter(isAlive)
    for (const pid of survivors) process.kill(pid, 'SIGKILL')
    expect(survivors).toEqual([])
    await rm(stateDir, { recursive: true, force: true })
  })

  it('ends a crash loop in `crashed` with the reason in its logs, stops restarting, frees the port', async () => {
    const { snapshots, stop } = watch(registry, 'doomed')
    await supervisor.startApp(spec({ name: 'doomed', script: 'crash-at-start.cjs', cwd: 'apps' }))
    const crashed = await waitFor(
      () => {
        const i = supervisor.get('doomed')?.instances[0]
        return i?.state === 'crashed' ? i : undefined
      },
      { timeoutMs: 15_000, message: 'doomed ends crashed' },
    )
    stop()
    // maxUnstableRestarts 3: pm2 restarted it 3 times, the 4th exit ended the loop.
    expect(crashed).toMatchObject({ restarts: 3, pid: null, lastExitCode: 1 })
    // The first exit may be a one-off (requests wait); from the second on, the loop is forming:
    // `unhealthy` between attempts, so requests get a fast 503 instead of waiting.
    expect(statesOf(snapshots, 'doomed#0')).toEqual([
      'starting',
      ...['unhealthy', 'starting', 'unhealthy', 'starting', 'unhealthy'],
      'crashed',
    ])
    const upstream = registry.upstream(upstreamNameForApp('doomed'))
    expect(upstream.get('doomed#0')?.state).toBe('crashed')
    expect(upstream.hasStarting()).toBe(false)
    const lines = supervisor.logs('doomed', 100)
    const why = lines.filter((l) => l.includes('DATABASE_URL is not set'))
    expect(why).toHaveLength(4)
    expect(lines.at(-1)).toMatch(/doomed#0 err \[portico\] crashed: exited with code 1, 4 unstable/)

    // Proving that nothing happens needs a fixed wait: no new process, no new line.
    await sleep(1500)
    expect(supervisor.logs('doomed', 100)).toEqual(lines)
    expect(supervisor.get('doomed')?.instances[0]?.restarts).toBe(3)

    // Its port went back: three apps fit the three-port range.
    for (const name of ['f1', 'f2', 'f3']) await supervisor.startApp(probeApp({ name }))
    for (const name of ['f1', 'f2', 'f3']) {
      await waitFor(() => supervisor.get(name)?.instances[0]?.state === 'healthy')
    }
    for (const name of ['f1', 'f2', 'f3', 'doomed']) await supervisor.removeApp(name)
  })

  it('moves an instance that exits with EADDRINUSE to another port; it is never healthy on the taken one', async () => {
    // The app binds after 1.5 s; a squatter takes its port first and fails the readiness probe.
    const late = probeApp({ name: 'late', env: { LISTEN_DELAY_MS: '1500' } })
    await supervisor.startApp(late)
    const taken = supervisor.get('late')?.instances[0]?.port as number
    const { snapshots, stop } = watch(registry, 'late')
    squatters.push(await squat(taken, 404))

    const moved = await waitFor(
      () => {
        const i = supervisor.get('late')?.instances[0]
        return i?.state === 'healthy' ? i : undefined
      },
      { timeoutMs: 15_000, message: 'late healthy again' },
    )
    stop()
    expect(moved.port).not.toBe(taken)
    expect(moved.restarts).toBeGreaterThanOrEqual(1)
    const healthyOnTaken = snapshots.filter((s) =>
      s.targets.some((t) => t.port === taken && t.state === 'healthy'),
    )
    expect(healthyOnTaken).toEqual([])
    expect(snapshots.filter((s) => !s.waitable)).toEqual([])
    const lines = supervisor.logs('late', 100).join('\n')
    expect(lines).toContain('EADDRINUSE')
    expect(lines).toContain(`[portico] port ${taken} is taken; moving to another port`)
    expect((await getJson(moved.port)).pid).toBe(moved.pid)
    await supervisor.removeApp('late')
  })

  it('moves an instance whose port a squatter answers for; the squatter never enters rotation', async () => {
    // The app waits 30 s before binding: only the squatter answers the (TCP) readiness probe.
    await supervisor.startApp(
      spec({
        name: 'slow',
        script: 'probe-app.cjs',
        cwd: 'apps',
        env: { LISTEN_DELAY_MS: '30000' },
      }),
    )
    const taken = supervisor.get('slow')?.instances[0]?.port as number
    const { snapshots, stop } = watch(registry, 'slow')
    squatters.push(await squat(taken, 200))

    const moved = await waitFor(
      () => {
        const i = supervisor.get('slow')?.instances[0]
        return i && i.port !== taken && i.pid !== null ? i : undefined
      },
      { timeoutMs: 10_000, message: 'slow moved off the squatted port' },
    )
    stop()
    expect(moved.state).toBe('starting')
    expect(snapshots.some((s) => s.targets.some((t) => t.state === 'healthy'))).toBe(false)
    expect(supervisor.logs('slow', 50).join('\n')).toContain(
      `[portico] port ${taken} is held by another process; moving to another port`,
    )
    await supervisor.removeApp('slow')
  })
})
