// Issue 15, item 3 (and the CA's home from item 4): an app inherits Portico's environment minus
// its secrets and the deny list, plus its .env files, plus `env` from the config, in that order
// of precedence; it gets PORTICO_URL and NODE_EXTRA_CA_CERTS; an edited .env reloads it.
import { X509Certificate } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request } from '../helpers/http.ts'
import { ROOT, type RunningPortico, startPortico } from '../helpers/portico.ts'
import { descendants, isAlive } from '../helpers/processes.ts'
import { waitFor } from '../helpers/wait.ts'

const TOKEN = 'e2e-token-never-passed-to-apps'
const auth = { headers: { authorization: `Bearer ${TOKEN}` } }

interface Echo {
  pid: number
  env: Record<string, string>
}
interface AppView {
  instances: { pid: number | null; port: number; state: string }[]
}

describe('the app’s environment (end to end)', () => {
  let dir: string
  let home: string
  let portico: RunningPortico
  let ca: string
  const pids = new Set<number>()

  const echo = async (): Promise<Echo> => {
    const res = await request({ port: portico.ports.https, host: 'envy.localhost', ca })
    expect(res.status).toBe(200)
    return JSON.parse(res.body) as Echo
  }

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portico-appenv-'))
    home = path.join(dir, 'home')
    await mkdir(path.join(dir, 'envy'), { recursive: true })
    await writeFile(
      path.join(dir, 'envy', '.env'),
      'SHARED=dotenv\nFROM_DOTENV=dotenv\nLOCAL_WINS=env\nQUOTED="two words"\n',
    )
    await writeFile(path.join(dir, 'envy', '.env.local'), 'LOCAL_WINS=local\n')
    const config = {
      apps: [
        {
          name: 'envy',
          script: path.join(ROOT, 'test/fixtures/apps/env-echo.mjs'),
          cwd: 'envy',
          env: { SHARED: 'config', FROM_CONFIG: 'config' },
        },
      ],
    }
    await writeFile(path.join(dir, 'apps.config.json'), JSON.stringify(config))
    portico = await startPortico({
      config: path.join(dir, 'apps.config.json'),
      env: {
        // No PORTICO_CA_DIR: the CA goes to $HOME/.local/share/portico (a temporary HOME).
        PORTICO_CA_DIR: '',
        HOME: home,
        XDG_DATA_HOME: '',
        PORTICO_API_TOKEN: TOKEN,
        PORTICO_ENV_DENY: 'DENIED_*, ALSO_DENIED',
        DENIED_ONE: 'x',
        ALSO_DENIED: 'x',
        SHARED: 'shell',
        FROM_SHELL: 'shell',
      },
    })
    ca = await readFile(path.join(home, '.local/share/portico/dev-ca.crt'), 'utf8')
    await waitFor(
      async () => {
        const { body } = await portico.api<AppView>('/apps/envy', auth)
        return body.instances?.every((i) => i.state === 'healthy')
      },
      { timeoutMs: 30_000, message: 'envy healthy' },
    )
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

  it('layers config env over .env over the inherited environment, minus secrets and the deny list', async () => {
    const { env } = await echo()
    expect(env).toMatchObject({
      SHARED: 'config',
      FROM_CONFIG: 'config',
      FROM_DOTENV: 'dotenv',
      LOCAL_WINS: 'local',
      QUOTED: 'two words',
      FROM_SHELL: 'shell',
      HOME: home,
      PORTICO_APP: 'envy',
      PORTICO_INSTANCE: '0',
    })
    for (const name of ['PORTICO_API_TOKEN', 'DENIED_ONE', 'ALSO_DENIED']) {
      expect(env[name], name).toBeUndefined()
    }
    const { body } = await portico.api<AppView>('/apps/envy', auth)
    expect(env.PORT).toBe(String(body.instances[0]?.port))
  })

  it('gets PORTICO_URL and a NODE_EXTRA_CA_CERTS that lets it call another app over https', async () => {
    const { env } = await echo()
    expect(env.PORTICO_URL).toBe(`https://envy.localhost:${portico.ports.https}`)
    expect(await readFile(env.NODE_EXTRA_CA_CERTS as string, 'utf8')).toContain(ca.trim())
    const res = await request({
      port: portico.ports.https,
      host: 'envy.localhost',
      ca,
      path: `/call?port=${portico.ports.https}&host=envy.localhost`,
    })
    expect(JSON.parse(res.body)).toEqual({ status: 200 })
  })

  it('keeps one dev CA per user in the data folder and reports it at /health', async () => {
    const { body } = await portico.api<{ ca: { path: string; sha256: string } }>('/health', auth)
    const certPath = path.join(home, '.local/share/portico/dev-ca.crt')
    expect(body.ca).toEqual({ path: certPath, sha256: new X509Certificate(ca).fingerprint256 })
  })

  it('reloads the app when its .env changes', async () => {
    const before = await echo()
    await writeFile(path.join(dir, 'envy', '.env'), 'SHARED=dotenv\nFROM_DOTENV=edited\n')
    const after = await waitFor(
      async () => {
        const e = await echo()
        return e.env.FROM_DOTENV === 'edited' ? e : undefined
      },
      { timeoutMs: 20_000, message: 'the edited .env reached the app' },
    )
    expect(after.pid).not.toBe(before.pid)
    expect(after.env.LOCAL_WINS).toBe('local')
    expect(portico.stdout()).toContain('envy: .env changed; reloading')
  })

  it('stops every app on SIGINT', async () => {
    const { body } = await portico.api<AppView>('/apps/envy', auth)
    for (const i of body.instances) {
      if (i.pid === null) continue
      pids.add(i.pid)
      for (const child of descendants(i.pid)) pids.add(child)
    }
    portico.child.kill('SIGINT')
    expect(await portico.exited).toBe(0)
    for (const pid of pids) expect(isAlive(pid), `pid ${pid} survived`).toBe(false)
  })
})
