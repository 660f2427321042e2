// Live edits end to end: the real bin watching a temporary config and certs/ while we edit them.
// Untouched apps keep their processes and their open WebSockets; bad edits change nothing.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { issueLeaf, loadOrCreateDevCa } from '../../src/proxy/tls/dev-ca.ts'
import { callApi } from '../helpers/api.ts'
import { request } from '../helpers/http.ts'
import { ROOT, type RunningPortico, startPortico } from '../helpers/portico.ts'
import { descendants, isAlive } from '../helpers/processes.ts'
import { waitFor } from '../helpers/wait.ts'

const HELLO = path.join(ROOT, 'test/fixtures/apps/hello.mjs')

interface AppView {
  name: string
  hostnames: string[]
  instances: { pid: number | null; state: string }[]
}

/** configText renders a config with the given extra app entries (as TS source). */
function configText(apps: string[]): string {
  return `export default {\n  apps: [\n    { name: 'one', script: ${JSON.stringify(HELLO)} },\n${apps.map((a) => `    ${a},\n`).join('')}  ],\n}\n`
}

describe('live edits of apps.config.ts and certs/', () => {
  let dir: string
  let configPath: string
  let certsDir: string
  let portico: RunningPortico
  let devCa: string
  const pids = new Set<number>()

  const api = <T>(p: string) => callApi<T>(portico.ports.api, 'GET', p)
  const app = async (name: string) => (await api<AppView>(`/apps/${name}`)).body
  const healthyPids = async (name: string) => {
    const view = await app(name)
    if (!view.instances || view.instances.some((i) => i.state !== 'healthy' || i.pid === null))
      return undefined
    const list = view.instances.map((i) => i.pid as number)
    for (const pid of list) {
      pids.add(pid)
      for (const child of descendants(pid)) pids.add(child)
    }
    return list
  }
  const get = (host: string) => request({ port: portico.ports.https, host, ca: devCa })
  const edit = async (apps: string[]) => writeFile(configPath, configText(apps))
  const appliedCount = () => portico.stdout().split('config applied').length - 1

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portico-live-'))
    configPath = path.join(dir, 'apps.config.ts')
    certsDir = path.join(dir, 'certs')
    await edit([])
    portico = await startPortico({
      config: configPath,
      env: { PORTICO_STATE_DIR: path.join(dir, 'state'), PORTICO_CERTS_DIR: certsDir },
    })
    devCa = await readFile(path.join(certsDir, 'dev-ca.crt'), 'utf8')
    await waitFor(() => healthyPids('one'), { timeoutMs: 20_000 })
  })

  afterAll(async () => {
    if (portico?.child.exitCode === null) {
      portico.child.kill('SIGINT')
      await portico.exited
    }
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
    await rm(dir, { recursive: true, force: true })
  })

  it('applies app additions, hostname renames, scaling and env changes; untouched apps keep their pids and WebSockets', async () => {
    const onePids = await healthyPids('one')
    // ws has no type for `servername`, but passes it to tls.connect: SNI must name the app.
    const tlsOptions = { ca: devCa, servername: 'one.localhost' }
    const ws = new WebSocket(`wss://127.0.0.1:${portico.ports.https}/`, {
      headers: { Host: 'one.localhost' },
      ...tlsOptions,
    })
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
    let wsClosed = false
    ws.on('close', () => {
      wsClosed = true
    })
    const echo = async (text: string) => {
      const reply = new Promise<string>((resolve) =>
        ws.once('message', (d) => resolve(d.toString())),
      )
      ws.send(text)
      return reply
    }
    expect(await echo('before')).toBe('one#0:before')

    await edit([`{ name: 'two', script: ${JSON.stringify(HELLO)} }`])
    const twoPids = await waitFor(() => healthyPids('two'), {
      timeoutMs: 20_000,
      message: 'new app starts',
    })
    expect((await get('two.localhost')).status).toBe(200)

    await edit([`{ name: 'two', script: ${JSON.stringify(HELLO)}, hostnames: ['deux.localhost'] }`])
    await waitFor(async () => (await get('deux.localhost')).status === 200, {
      message: 'renamed hostname serves',
    })
    expect((await get('two.localhost')).status).toBe(404)
    expect(await healthyPids('two')).toEqual(twoPids)

    await edit([
      `{ name: 'two', script: ${JSON.stringify(HELLO)}, hostnames: ['deux.localhost'], instances: 2 }`,
    ])
    await waitFor(async () => (await healthyPids('two'))?.length === 2, {
      timeoutMs: 20_000,
      message: 'scaled to 2',
    })

    await edit([
      `{ name: 'two', script: ${JSON.stringify(HELLO)}, hostnames: ['deux.localhost'], instances: 2, env: { GREETING: 'hi' } }`,
    ])
    await waitFor(async () => JSON.parse((await get('deux.localhost')).body).greeting === 'hi', {
      timeoutMs: 20_000,
      message: 'env change reloads',
    })
    await waitFor(async () => (await healthyPids('two'))?.length === 2, { timeoutMs: 20_000 })

    expect(await healthyPids('one')).toEqual(onePids)
    expect(wsClosed).toBe(false)
    expect(await echo('after')).toBe('one#0:after')
    ws.close()
    expect(portico.stdout()).toContain('+app two')
  })

  it('keeps running the previous config when an edit is broken, and applies the fix', async () => {
    const before = appliedCount()
    await writeFile(configPath, 'export default { apps: [ { name: "one", script: \n')
    await waitFor(() => portico.stdout().includes('config not applied'), {
      message: 'syntax error reported',
    })
    await writeFile(configPath, configText(["{ name: 'two', script: 'x', instances: 'two' }"]))
    await waitFor(() => portico.stdout().includes('instances: expected a positive integer'), {
      message: 'schema error reported',
    })
    expect(appliedCount()).toBe(before)
    expect((await get('deux.localhost')).status).toBe(200)
    expect((await get('one.localhost')).status).toBe(200)

    await edit([])
    await waitFor(async () => (await get('deux.localhost')).status === 404, {
      timeoutMs: 20_000,
      message: 'fixed file applies',
    })
    await waitFor(() => portico.stdout().includes('-app two'), {
      message: 'summary line of the removal',
    })
  })

  it('serves a certificate dropped into certs/ and keeps the old one while a pair is half-written', async () => {
    const caDir = path.join(dir, 'user-ca')
    const userCa = await loadOrCreateDevCa(caDir)
    const first = await issueLeaf(userCa, 'one.localhost')
    await writeFile(path.join(certsDir, 'one.localhost.key'), first.keyPem, { mode: 0o600 })
    await writeFile(path.join(certsDir, 'one.localhost.crt'), first.certPem)
    const serialOf = async () =>
      (await request({ port: portico.ports.https, host: 'one.localhost', ca: userCa.certPem }))
        .serialNumber
    const firstSerial = await waitFor(() => serialOf().catch(() => undefined), {
      message: 'user certificate served',
    })

    const second = await issueLeaf(userCa, 'one.localhost')
    await writeFile(path.join(certsDir, 'one.localhost.key'), second.keyPem, { mode: 0o600 })
    // Only the key is new: the pair does not match, so the old certificate keeps serving.
    await waitFor(() => /certificate [^"]*one\.localhost[^"]*: [^"]*keep/i.test(portico.stdout()), {
      message: 'the mismatched pair was seen and refused',
    })
    expect(await serialOf()).toBe(firstSerial)

    await writeFile(path.join(certsDir, 'one.localhost.crt'), second.certPem)
    await waitFor(async () => (await serialOf()) !== firstSerial, {
      message: 'new certificate served',
    })
  })
})
