// Issue 15, items 1 and 2: a dev server that ignores PORT (a stand-in for Vite) started through
// npx, an npm script and pnpm-style wrappers gets --port $PORT --strictPort --host 127.0.0.1;
// one told not to (`framework: false`) is reported at once as listening on the wrong port,
// and an app listening on ::1 only is found and served.
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request } from '../helpers/http.ts'
import { ROOT, type RunningPortico, startPortico } from '../helpers/portico.ts'
import { closedPort } from '../helpers/ports.ts'
import { descendants, isAlive } from '../helpers/processes.ts'
import { waitFor } from '../helpers/wait.ts'

const FIXTURES = path.join(ROOT, 'test/fixtures')

interface InstanceView {
  id: string
  port: number
  pid: number | null
  state: string
  restarts: number
  listeningOn: string[]
  problem: string | null
}
interface AppView {
  name: string
  instances: InstanceView[]
}

/** npm's update check waits on the network; apps inherit no npm_* variable, so say it here. */
const QUIET_NPM = { npm_config_update_notifier: 'false', npm_config_fund: 'false' }

describe('dev servers that ignore PORT (end to end)', () => {
  let dir: string
  let portico: RunningPortico
  let ca: string
  let ownPort: number
  const pids = new Set<number>()
  const WRAPPED = ['vnpx', 'vscript', 'vpnpm', 'vpnpmscript'] as const

  const app = async (name: string) => (await portico.api<AppView>(`/apps/${name}`)).body
  const get = (host: string) => request({ port: portico.ports.https, host, ca })

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portico-devservers-'))
    const project = path.join(dir, 'web')
    await mkdir(path.join(project, 'node_modules', '.bin'), { recursive: true })
    await symlink(
      path.join(FIXTURES, 'apps/fake-vite.mjs'),
      path.join(project, 'node_modules/.bin/vite'),
    )
    await writeFile(
      path.join(project, 'package.json'),
      JSON.stringify({ name: 'web', private: true, scripts: { dev: 'vite', build: 'vite build' } }),
    )
    ownPort = await closedPort()
    const config = {
      apps: [
        { name: 'vnpx', command: 'npx vite', cwd: 'web', env: QUIET_NPM },
        { name: 'vscript', command: 'npm run dev', cwd: 'web', env: QUIET_NPM },
        { name: 'vpnpm', command: 'pnpm exec vite', cwd: 'web' },
        { name: 'vpnpmscript', command: 'pnpm dev', cwd: 'web' },
        {
          name: 'voff',
          command: 'exec ./node_modules/.bin/vite',
          cwd: 'web',
          framework: false,
          startTimeout: 4000,
          env: { FAKE_VITE_PORT: String(ownPort) },
        },
        { name: 'v6', script: path.join(FIXTURES, 'apps/ipv6-only.mjs') },
      ],
    }
    await writeFile(path.join(dir, 'apps.config.json'), JSON.stringify(config))
    portico = await startPortico({
      config: path.join(dir, 'apps.config.json'),
      env: { PATH: `${path.join(FIXTURES, 'bin')}:${process.env.PATH}` },
    })
    ca = await readFile(path.join(portico.caDir, 'dev-ca.crt'), 'utf8')
  })

  afterAll(async () => {
    if (portico && portico.child.exitCode === null) {
      portico.child.kill('SIGKILL')
      await portico.exited
    }
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
    if (portico) await rm(portico.dir, { recursive: true, force: true })
    await rm(dir, { recursive: true, force: true })
  })

  it('adds --port $PORT --strictPort --host 127.0.0.1 through npx, npm run, pnpm exec and pnpm <script>', async () => {
    for (const name of WRAPPED) {
      const [inst] = await waitFor(
        async () => {
          const { instances } = await app(name)
          return instances.every((i) => i.state === 'healthy') ? instances : undefined
        },
        { timeoutMs: 30_000, message: `${name} healthy` },
      )
      const res = await get(`${name}.localhost`)
      expect(res.status, name).toBe(200)
      const body = JSON.parse(res.body) as { argv: string[]; port: number; host: string }
      expect(body.port, name).toBe(inst?.port)
      expect(body.host, name).toBe('127.0.0.1')
      expect(body.argv.join(' '), name).toContain(
        `--port ${inst?.port} --strictPort --host 127.0.0.1`,
      )
    }
  })

  it('says in the app’s output what it added', async () => {
    const { body } = await portico.api<{ lines: string[] }>('/apps/vscript/logs?tail=50')
    expect(body.lines.join('\n')).toContain(
      '[portico] vite: running `npm run dev -- --port $PORT --strictPort --host 127.0.0.1`',
    )
  })

  it('reports an instance on another port within 30 s: log, terminal and API, without a crash loop', async () => {
    const port = (await app('voff')).instances[0]?.port
    const line = `voff#0 listens on ${ownPort}, not ${port}: pass --port $PORT`
    await waitFor(() => portico.stdout().includes(line), {
      timeoutMs: 30_000,
      message: 'wrong-port line in the log',
    })
    const logLine = portico
      .stdout()
      .split('\n')
      .find((l) => l.includes('"PTC_ERR_APP_WRONG_PORT"'))
    expect(logLine).toContain('"app":"voff"')
    // The dev terminal shows the instance's own output, Portico's note among it.
    expect(portico.stdout()).toMatch(/voff#0\s+! \[portico\] voff#0 listens on \d+, not \d+/)
    const inst = (await app('voff')).instances[0]
    expect(inst?.problem).toContain(line)
    expect(inst?.listeningOn).toContain(`127.0.0.1:${ownPort}`)
    expect(inst?.state).toBe('unhealthy')
    // Past its startTimeout (4 s) it is left running as it is: no relaunch, no crash loop.
    await waitFor(() => portico.stdout().includes('left running, out of rotation'), {
      timeoutMs: 15_000,
      message: 'start timeout handled',
    })
    const later = (await app('voff')).instances[0]
    expect(later).toMatchObject({ pid: inst?.pid, restarts: 0, state: 'unhealthy' })
    expect((await get('voff.localhost')).status).toBe(503)
  })

  it('finds and serves an app that listens on ::1 only', async () => {
    const inst = await waitFor(
      async () => {
        const [i] = (await app('v6')).instances
        return i?.state === 'healthy' && i.listeningOn.length > 0 ? i : undefined
      },
      { timeoutMs: 30_000, message: 'v6 healthy' },
    )
    expect(inst.listeningOn).toEqual([`[::1]:${inst.port}`])
    const res = await get('v6.localhost')
    expect(res.status).toBe(200)
    expect(JSON.parse(res.body)).toEqual({ app: 'v6', family: 'IPv6' })
  })

  it('stops every app and its children on SIGINT', async () => {
    const { body } = await portico.api<AppView[]>('/apps')
    for (const a of body) {
      for (const i of a.instances) {
        if (i.pid === null) continue
        pids.add(i.pid)
        for (const child of descendants(i.pid)) pids.add(child)
      }
    }
    expect(pids.size).toBeGreaterThanOrEqual(6)
    portico.child.kill('SIGINT')
    expect(await portico.exited).toBe(0)
    for (const pid of pids) expect(isAlive(pid), `pid ${pid} survived`).toBe(false)
  })
})
