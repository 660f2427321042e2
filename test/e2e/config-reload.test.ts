// Issue 16: reload on command. `POST /api/v1/config/reload` (and `portico reload-config`)
// re-read the config file of a running `portico start`: 200 with the diff and the hostnames
// now served, or 400 naming each bad field with nothing changed. The config reads its sites
// from a JSON file the watcher does not follow (read with readFileSync, not imported), so only
// a reload applies those edits; editing the config file itself is applied by the watcher, in
// `start` as in `dev`.
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { callApi } from '../helpers/api.ts'
import { type Backend, startBackend } from '../helpers/backend.ts'
import { request } from '../helpers/http.ts'
import { BIN, type RunningPortico, startPortico } from '../helpers/portico.ts'
import { descendants, isAlive } from '../helpers/processes.ts'
import { waitFor } from '../helpers/wait.ts'

const run = promisify(execFile)

interface ReloadBody {
  summary: string
  routes: { added: string[]; removed: string[]; changed: string[] }
  hostnames: string[]
  restartRequired: boolean
}
interface ErrorBody {
  error: { code: string; message: string; details: { path: string; message: string }[] }
}

describe('config reload on command (portico start)', () => {
  let dir: string
  let configPath: string
  let sitesPath: string
  let backend: Backend
  let portico: RunningPortico
  const pids = new Set<number>()

  const route = (vHost: string, extra: Record<string, unknown> = {}) => ({
    vHost,
    backends: [{ hostname: '127.0.0.1', port: backend.port }],
    ...extra,
  })
  const writeSites = (sites: unknown[]) => writeFile(sitesPath, JSON.stringify(sites))
  const writeConfig = (inline: string[]) =>
    writeFile(
      configPath,
      `import { readFileSync } from 'node:fs'
const sites = JSON.parse(readFileSync(process.env.SITES_FILE, 'utf8'))
export default {
  edge: { acme: { email: 'ops@example.com', directory: 'https://127.0.0.1:9/dir' } },
  routes: [
    { vHost: 'one.localhost', backends: [{ hostname: '127.0.0.1', port: ${backend.port} }] },
${inline.map((host) => `    { vHost: '${host}', backends: [{ hostname: '127.0.0.1', port: ${backend.port} }] },\n`).join('')}    ...sites,
  ],
}
`,
    )
  const reload = <T>() => callApi<T>(portico.ports.api, 'POST', '/config/reload', { json: {} })
  const hosts = async () =>
    (await callApi<{ vHost: string }[]>(portico.ports.api, 'GET', '/routes')).body.map(
      (r) => r.vHost,
    )
  /** A known host gets 308 to HTTPS on the HTTP listener; an unknown one 404. */
  const plainStatus = async (host: string) =>
    (await request({ port: portico.ports.http, host })).status
  const cli = (...args: string[]) =>
    run(process.execPath, [
      BIN,
      'reload-config',
      '--api',
      `http://127.0.0.1:${portico.ports.api}`,
      ...args,
    ])

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portico-reload-'))
    configPath = path.join(dir, 'apps.config.ts')
    sitesPath = path.join(dir, 'sites.json')
    backend = await startBackend('b')
    await writeSites([])
    await writeConfig([])
    portico = await startPortico({
      config: configPath,
      mode: 'start',
      env: {
        SITES_FILE: sitesPath,
        PORTICO_STATE_DIR: path.join(dir, 'state'),
        PORTICO_WORKERS: '1',
      },
    })
    pids.add(portico.child.pid as number)
    for (const pid of descendants(portico.child.pid as number)) pids.add(pid)
  })

  afterAll(async () => {
    if (portico && portico.child.exitCode === null) {
      portico.child.kill('SIGTERM')
      await portico.exited
    }
    await backend?.close()
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
    expect([...pids].filter(isAlive)).toEqual([])
    await rm(dir, { recursive: true, force: true })
  })

  it('applies an edit only on command and answers with the diff and the hostnames now served', async () => {
    expect(portico.stdout()).toContain(
      'one.localhost has no certificate; it is served with the self-signed fallback',
    )
    await writeSites([route('two.localhost')])
    expect(await plainStatus('two.localhost')).toBe(404)
    const first = await reload<ReloadBody>()
    expect(first.status).toBe(200)
    expect(first.body.summary).toBe('+route two.localhost')
    expect(first.body.routes).toEqual({ added: ['two.localhost'], removed: [], changed: [] })
    expect(first.body.hostnames).toEqual(['one.localhost', 'two.localhost'])
    expect(first.body.restartRequired).toBe(false)
    expect(await plainStatus('two.localhost')).toBe(308)
    const again = await reload<ReloadBody>()
    expect(again.body.summary).toBe('no changes')
    expect(again.body.hostnames).toEqual(['one.localhost', 'two.localhost'])
  })

  it('answers 400 naming each bad field and changes nothing', async () => {
    await writeSites([
      route('two.localhost'),
      route('bad.localhost', { reqActiveLength: 0, strategy: 'FASTEST' }),
    ])
    const res = await reload<ErrorBody>()
    expect(res.status).toBe(400)
    expect(res.body.error.code).toBe('PTC_ERR_CONFIG_REJECTED')
    const paths = res.body.error.details.map((d) => d.path).sort()
    expect(paths).toEqual(['routes[2].reqActiveLength', 'routes[2].strategy'])
    expect(res.body.error.message).toContain(
      'routes[2].reqActiveLength: expected a positive integer, got 0',
    )
    expect(await hosts()).toEqual(['one.localhost', 'two.localhost'])
    expect(await plainStatus('bad.localhost')).toBe(404)
  })

  it('refuses a public wildcard without a certificate file while ACME is on (DNS-01 is not supported)', async () => {
    await writeSites([route('two.localhost'), route('*.example.com')])
    const res = await reload<ErrorBody>()
    expect(res.status).toBe(400)
    expect(res.body.error.details).toEqual([
      {
        path: 'routes[2].vHost',
        message: expect.stringContaining('DNS-01 challenge, which Portico does not support'),
      },
    ])
    expect(await hosts()).not.toContain('*.example.com')
  })

  it('`portico reload-config` prints the summary, or the problems with a non-zero exit', async () => {
    await writeSites([route('two.localhost', { reqActiveLength: -1 })])
    await expect(cli()).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining(
        'PTC_ERR_CONFIG_REJECTED: the config file was not applied (nothing changed):\n  routes[1].reqActiveLength',
      ),
    })
    await writeSites([])
    const { stdout } = await cli()
    expect(stdout).toContain('config reloaded: -route two.localhost')
    expect(stdout).toContain('serving: one.localhost')
  })

  it('is in the OpenAPI document', async () => {
    const doc = (
      await callApi<{ paths: Record<string, Record<string, unknown>> }>(
        portico.ports.api,
        'GET',
        '/openapi.json',
      )
    ).body
    expect(doc.paths['/api/v1/config/reload']?.post).toBeDefined()
  })

  it('the file watcher applies edits of the config file itself in `start` too', async () => {
    await writeConfig(['three.localhost'])
    await waitFor(async () => (await hosts()).includes('three.localhost'), { timeoutMs: 15_000 })
    expect(await plainStatus('three.localhost')).toBe(308)
  })
})
