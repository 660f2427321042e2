// The Supervisor against real pm2 processes (no mocks): node and shell apps, crashes, restarts,
// start timeouts, port collisions, leftovers of a crashed run, and no process left behind.
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import http from 'node:http'
import net from 'node:net'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type AppInput, appSchema } from '../../src/config/schema.ts'
import { createLogger } from '../../src/observe/log.ts'
import { Registry, upstreamNameForApp } from '../../src/registry/registry.ts'
import type { TargetState } from '../../src/registry/target.ts'
import { readInstanceRecords, writeInstanceRecords } from '../../src/supervisor/leftovers.ts'
import { isPortFree } from '../../src/supervisor/ports.ts'
import { readProcStat } from '../../src/supervisor/processes.ts'
import { type AppStatus, Supervisor } from '../../src/supervisor/supervisor.ts'
import { descendants, isAlive } from '../helpers/processes.ts'
import { waitFor } from '../helpers/wait.ts'

const FIXTURES = fileURLToPath(new URL('../fixtures', import.meta.url))
const HTTP_ECHO = join(FIXTURES, 'apps', 'http-echo.cjs')
const log = createLogger({ level: process.env.PORTICO_LOG_LEVEL ?? 'silent' })

/** The app spec as a config file gives it: defaults applied, `cwd` relative to FIXTURES. */
const spec = (input: AppInput) => appSchema.parse(input)

interface Echo {
  status: number
  instanceId: string | undefined
  body: { app: string; instance: string; pid: number; port: number }
}

/** GET / on 127.0.0.1:port without keep-alive (the instance may be killed next). */
function getEcho(port: number): Promise<Echo> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        text += chunk
      })
      res.on('end', () => {
        const instanceId = res.headers['x-instance-id']
        resolve({
          status: res.statusCode ?? 0,
          instanceId: typeof instanceId === 'string' ? instanceId : undefined,
          body: text.startsWith('{') ? JSON.parse(text) : {},
        })
      })
    })
    req.setTimeout(5000, () => req.destroy(new Error('GET timed out')))
    req.once('error', reject)
  })
}

/** isGone is the strict check: kill(pid, 0) fails with ESRCH (not even a zombie is left). */
function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH'
  }
}

function environOf(pid: number): Map<string, string> {
  const entries = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean)
  return new Map(entries.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]))
}

/**
 * Kills by pid whatever of `pids` still runs, then fails if anything had survived: every test
 * file stops what it started, and the supervisor should already have.
 */
async function killSurvivors(pids: Iterable<number>): Promise<void> {
  const survivors = [...new Set(pids)].filter(isAlive)
  for (const pid of survivors) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // Exited between the check and the kill.
    }
  }
  expect(survivors).toEqual([])
}

describe('Supervisor with real pm2 processes', () => {
  const registry = new Registry()
  const seen = new Set<number>()
  const lines: string[] = []
  const pm2Home = join(homedir(), '.pm2')
  const hadPm2Home = existsSync(pm2Home)
  let stateDir: string
  let savedToken: string | undefined
  let supervisor: Supervisor

  /** Waits until every instance of `app` is healthy with a pid; remembers the pids. */
  async function healthy(app: string, timeoutMs = 20_000): Promise<AppStatus> {
    const status = await waitFor(
      () => {
        const s = supervisor.get(app)
        return s?.instances.every((i) => i.state === 'healthy' && i.pid !== null) ? s : undefined
      },
      { timeoutMs, message: `${app} healthy` },
    )
    for (const inst of status.instances) if (inst.pid !== null) seen.add(inst.pid)
    return status
  }

  /** Records every state the target passes through, from now on. */
  function stateLog(app: string, id: string): TargetState[] {
    const upstream = registry.upstream(upstreamNameForApp(app))
    const states: TargetState[] = []
    let last = upstream.get(id)?.state
    upstream.onChange((u) => {
      const state = u.get(id)?.state
      if (state !== undefined && state !== last) states.push(state)
      last = state
    })
    return states
  }

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'portico-supervisor-'))
    process.env.PORTICO_TEST_INHERITED = 'from-portico'
    savedToken = process.env.PORTICO_API_TOKEN
    process.env.PORTICO_API_TOKEN = 'secret-token-never-passed-on'
    supervisor = await Supervisor.create({
      stateDir,
      configDir: FIXTURES,
      // Below the ephemeral range (32768-60999 here): only an explicit bind can squat a port.
      portRange: { from: 24000, to: 24999 },
      registry,
      log,
      onOutput: (app, index, stream, line) => lines.push(`${app}#${index} ${stream} ${line}`),
    })
  })

  afterAll(async () => {
    delete process.env.PORTICO_TEST_INHERITED
    if (savedToken === undefined) delete process.env.PORTICO_API_TOKEN
    else process.env.PORTICO_API_TOKEN = savedToken
    await supervisor?.close()
    await killSurvivors(seen)
    await rm(stateDir, { recursive: true, force: true })
  })

  it('keeps pm2 in <stateDir>/pm2 and never creates ~/.pm2', () => {
    expect(process.env.PM2_HOME).toBe(join(stateDir, 'pm2'))
    expect(existsSync(join(stateDir, 'pm2', 'pids'))).toBe(true)
    if (!hadPm2Home) expect(existsSync(pm2Home)).toBe(false)
  })

  it('runs a node script app: every instance turns healthy and answers on its own port', async () => {
    await supervisor.startApp(
      spec({
        name: 'echo',
        script: 'http-echo.cjs',
        cwd: 'apps',
        instances: 2,
        health: { path: '/' },
      }),
    )
    const status = await healthy('echo')
    expect(new Set(status.instances.map((i) => i.port)).size).toBe(2)
    for (const inst of status.instances) {
      const echo = await getEcho(inst.port)
      // The pid of a node script is the app itself.
      expect(echo.body).toEqual({
        app: 'echo',
        instance: String(inst.index),
        pid: inst.pid,
        port: inst.port,
      })
      expect(echo.instanceId).toBe(inst.id)
      expect(inst).toMatchObject({ id: `echo#${inst.index}`, restarts: 0, lastExitCode: null })
    }
    const available = registry.upstream(upstreamNameForApp('echo')).available()
    expect(available.map((t) => [t.id, t.host, t.port])).toEqual(
      status.instances.map((i) => [i.id, '127.0.0.1', i.port]),
    )
  })

  it('passes output on as whole lines and keeps them, time-stamped, for logs()', async () => {
    const { instances } = await healthy('echo')
    const port = instances[0]?.port
    const line = `echo#0 out http-echo echo#0 listening on ${port}`
    await waitFor(() => lines.includes(line), { message: 'listening line' })
    const logged = supervisor.logs('echo', 100)
    const stamped = new RegExp(
      `^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z echo#0 out http-echo echo#0 listening on ${port}$`,
    )
    expect(logged.some((l) => stamped.test(l))).toBe(true)
    expect(() => supervisor.logs('nope', 1)).toThrow(/no app named "nope"/)
  })

  it('runs a shell command app: pid is the shell, env is Portico’s minus its secrets', async () => {
    await supervisor.startApp(
      spec({ name: 'py', command: 'python3 -m http.server $PORT --bind 127.0.0.1', cwd: 'apps' }),
    )
    const [inst] = (await healthy('py')).instances
    if (!inst?.pid) throw new Error('no py instance')
    expect(readFileSync(`/proc/${inst.pid}/cmdline`, 'utf8').split('\0').slice(0, 2)).toEqual([
      '/bin/sh',
      '-c',
    ])
    const env = environOf(inst.pid)
    expect(env.get('PORT')).toBe(String(inst.port))
    expect(env.get('PORTICO_APP')).toBe('py')
    expect(env.get('PORTICO_INSTANCE')).toBe('0')
    expect(env.get('PATH')).toBe(process.env.PATH)
    expect(env.get('PORTICO_TEST_INHERITED')).toBe('from-portico')
    expect(env.has('PORTICO_API_TOKEN')).toBe(false)
    expect((await getEcho(inst.port)).status).toBe(200)
  })

  it('takes a killed instance out of rotation at once and brings it back with a new pid', async () => {
    const before = await healthy('echo')
    const [victim, bystander] = before.instances
    if (!victim?.pid || !bystander) throw new Error('echo has no two instances')
    const victimStates = stateLog('echo', victim.id)
    const bystanderStates = stateLog('echo', bystander.id)
    const upstream = registry.upstream(upstreamNameForApp('echo'))

    process.kill(victim.pid, 'SIGKILL')
    await waitFor(() => upstream.get(victim.id)?.state !== 'healthy', {
      timeoutMs: 1000,
      intervalMs: 5,
      message: 'out of rotation after the kill',
    })
    expect(upstream.available().map((t) => t.id)).toEqual([bystander.id])

    const after = await waitFor(() => {
      const inst = supervisor.get('echo')?.instances[0]
      return inst?.state === 'healthy' && inst.pid !== null && inst.pid !== victim.pid
        ? inst
        : undefined
    })
    seen.add(after.pid as number)
    expect(after.restarts).toBeGreaterThanOrEqual(1)
    expect(after.lastSignal).toBe('SIGKILL')
    // Out of rotation but `starting` from the exit on: pm2 brings it back, requests wait for it.
    expect(victimStates).toEqual(['starting', 'healthy'])
    expect(bystanderStates).toEqual([])
    expect((await getEcho(after.port)).body.pid).toBe(after.pid)
  })

  it('restartApp gives every instance a new pid and brings it back healthy', async () => {
    const before = await healthy('echo')
    await supervisor.restartApp('echo')
    const after = await waitFor(() => {
      const s = supervisor.get('echo')
      const fresh = s?.instances.every(
        (i, n) => i.state === 'healthy' && i.pid !== null && i.pid !== before.instances[n]?.pid,
      )
      return fresh ? s : undefined
    })
    for (const inst of after.instances) {
      seen.add(inst.pid as number)
      expect((await getEcho(inst.port)).body.pid).toBe(inst.pid)
      expect(inst.lastSignal).toBeNull()
    }
    for (const old of before.instances) expect(isAlive(old.pid as number)).toBe(false)
  })

  it('turns an instance that is not ready within startTimeout unhealthy and relaunches it on another port', async () => {
    const states = stateLog('mute', 'mute#0')
    await supervisor.startApp(
      spec({ name: 'mute', command: 'sleep 300', startTimeout: 800, killTimeout: 1000 }),
    )
    const firstPort = supervisor.get('mute')?.instances[0]?.port
    const restarted = await waitFor(() => {
      const inst = supervisor.get('mute')?.instances[0]
      if (inst?.pid) seen.add(inst.pid)
      const ended = inst?.lastSignal !== null || inst.lastExitCode !== null
      return inst?.pid && inst.restarts >= 1 && inst.state === 'starting' && ended
        ? inst
        : undefined
    }).catch((error: unknown) => {
      const status = JSON.stringify(supervisor.get('mute')?.instances)
      throw new Error(`mute never restarted; states ${JSON.stringify(states)}, ${status}`, {
        cause: error,
      })
    })
    // The target moves to the new port (a new target object under the same id): `starting` twice.
    expect(states.slice(0, 3)).toEqual(['starting', 'unhealthy', 'starting'])
    expect(states).not.toContain('healthy')
    // Restarted by us with SIGTERM: pm2 signals the tree bottom-up, so the shell either dies of
    // it or, when `sleep` died first, exits 143 (128 + SIGTERM) on its own.
    const byTerm = restarted.lastSignal === 'SIGTERM' || restarted.lastExitCode === 143
    expect(byTerm, JSON.stringify(restarted)).toBe(true)
    expect(restarted.port).not.toBe(firstPort)
    await supervisor.stopApp('mute')
    expect(supervisor.get('mute')?.instances[0]).toMatchObject({ state: 'stopped', pid: null })
  })

  it('stopApp stops every process of the app, takes it out of the registry and frees its port', async () => {
    const [inst] = (await healthy('py')).instances
    if (!inst?.pid) throw new Error('no py instance')
    const tree = [inst.pid, ...descendants(inst.pid)]
    for (const pid of tree) seen.add(pid)
    expect(tree.length).toBeGreaterThanOrEqual(2)

    await supervisor.stopApp('py')

    expect(tree.filter(isAlive)).toEqual([])
    expect(supervisor.get('py')?.instances[0]).toMatchObject({ state: 'stopped', pid: null })
    expect(registry.upstream(upstreamNameForApp('py')).get('py#0')?.state).toBe('stopped')
    expect(await isPortFree(inst.port)).toBe(true)
  })

  it('close() leaves no process behind, the children of shell apps included', async () => {
    await supervisor.startApp(spec({ name: 'tree', command: `sleep 300 & node ${HTTP_ECHO}` }))
    const [inst] = (await healthy('tree')).instances
    if (!inst?.pid) throw new Error('no tree instance')
    const tree = await waitFor(() => {
      const all = [inst.pid as number, ...descendants(inst.pid as number)]
      return all.length >= 3 ? all : undefined
    })
    for (const pid of tree) seen.add(pid)
    for (const s of supervisor.list()) for (const i of s.instances) if (i.pid) seen.add(i.pid)
    const recorded = (await readInstanceRecords(join(stateDir, 'instances.json'))).map((r) => r.pid)
    expect(recorded).toContain(inst.pid)

    await supervisor.close()

    expect([...seen].filter(isAlive)).toEqual([])
    await waitFor(() => [...seen].every(isGone), { timeoutMs: 10_000, message: 'every pid ESRCH' })
    expect(await readInstanceRecords(join(stateDir, 'instances.json'))).toEqual([])
    const states = supervisor.list().flatMap((a) => a.instances.map((i) => i.state))
    expect(new Set(states)).toEqual(new Set(['stopped']))
    await supervisor.close()
  })
})

describe('Supervisor start-up after a crash, and port collisions', () => {
  const registry = new Registry()
  const seen = new Set<number>()
  const holder = net.createServer()
  let stateDir: string
  let heldPort: number
  let leftover: ChildProcess
  let supervisor: Supervisor

  /**
   * Occupies a port whose neighbour is free, like a foreign process squatting in the range.
   * Both sit below the ephemeral range, so no one else's listen(0) takes the neighbour meanwhile.
   */
  async function holdPortWithFreeNeighbour(): Promise<number> {
    for (let port = 25000; port < 25998; port += 2) {
      if (!(await isPortFree(port)) || !(await isPortFree(port + 1))) continue
      const held = await new Promise<boolean>((resolve) => {
        holder.once('error', () => resolve(false))
        holder.listen(port, '127.0.0.1', () => resolve(true))
      })
      if (held) return port
    }
    throw new Error('no port with a free neighbour in 25000-25999')
  }

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'portico-supervisor-'))
    heldPort = await holdPortWithFreeNeighbour()
    // An instance of a previous run that died without stopping it: still running, recorded.
    leftover = spawn(process.execPath, [HTTP_ECHO], {
      detached: true,
      stdio: 'ignore',
      env: { PORT: '0', PORTICO_APP: 'ghost', PORTICO_INSTANCE: '0' },
    })
    leftover.unref()
    const pid = leftover.pid as number
    seen.add(pid)
    const startTime = await waitFor(() => readProcStat(pid)?.startTime)
    await writeInstanceRecords(join(stateDir, 'instances.json'), [
      { id: 'ghost#0', app: 'ghost', index: 0, pid, startTime },
    ])
    supervisor = await Supervisor.create({
      stateDir,
      configDir: FIXTURES,
      portRange: { from: heldPort, to: heldPort + 1 },
      registry,
      log,
    })
  })

  afterAll(async () => {
    await supervisor?.close()
    await new Promise((resolve) => holder.close(resolve))
    await killSurvivors(seen)
    await rm(stateDir, { recursive: true, force: true })
  })

  it('kills the instances a previous run left behind before starting anything', async () => {
    expect(isAlive(leftover.pid as number)).toBe(false)
    expect(JSON.parse(await readFile(join(stateDir, 'instances.json'), 'utf8'))).toEqual({
      version: 1,
      instances: [],
    })
  })

  it('skips a port another process holds', async () => {
    await supervisor.startApp(spec({ name: 'solo', script: 'http-echo.cjs', cwd: 'apps' }))
    const inst = await waitFor(() => {
      const i = supervisor.get('solo')?.instances[0]
      return i?.state === 'healthy' ? i : undefined
    })
    seen.add(inst.pid as number)
    expect(inst.port).toBe(heldPort + 1)
    expect((await getEcho(inst.port)).body.app).toBe('solo')
  })

  it('refuses an app when the range is exhausted, leaving nothing behind', async () => {
    const start = supervisor.startApp(spec({ name: 'extra', script: 'http-echo.cjs', cwd: 'apps' }))
    await expect(start).rejects.toMatchObject({ code: 'PTC_ERR_PORT_RANGE_EXHAUSTED' })
    expect(supervisor.get('extra')).toBeUndefined()
    await expect(
      supervisor.startApp(spec({ name: 'solo', script: 'x.cjs' })),
    ).rejects.toMatchObject({
      code: 'PTC_ERR_APP_EXISTS',
    })
  })
  it('frees a port once however often the app is stopped, and restartApp starts a stopped app', async () => {
    const healthyOn = (name: string) =>
      waitFor(() => {
        const i = supervisor.get(name)?.instances[0]
        if (i?.pid) seen.add(i.pid)
        return i?.state === 'healthy' ? i : undefined
      })
    await supervisor.stopApp('solo')
    await supervisor.stopApp('solo')
    // "extra" gets solo's old port; while it boots (not listening yet) solo is stopped again:
    // handing that port back would let the next app lease it too (the bind probe cannot tell).
    await supervisor.startApp(spec({ name: 'extra', script: 'http-echo.cjs', cwd: 'apps' }))
    await supervisor.stopApp('solo')
    await expect(
      supervisor.startApp(spec({ name: 'third', script: 'http-echo.cjs', cwd: 'apps' })),
    ).rejects.toMatchObject({ code: 'PTC_ERR_PORT_RANGE_EXHAUSTED' })
    expect((await healthyOn('extra')).port).toBe(heldPort + 1)
    await supervisor.stopApp('extra')
    await supervisor.restartApp('solo')
    expect((await healthyOn('solo')).port).toBe(heldPort + 1)
  })
})
