// Issue 15, item 6 (`portico init`): a commented apps.config.ts written from a workspace
// project's package.json files, refused when a config exists, and served as written: the Vite
// stand-in of one workspace gets its flags through `npm run dev`.
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/load.ts'
import { runCli } from '../helpers/cli.ts'
import { request } from '../helpers/http.ts'
import { ROOT, type RunningPortico, startPortico } from '../helpers/portico.ts'
import { waitFor } from '../helpers/wait.ts'

const API_SERVER = `import http from 'node:http'
http.createServer((req, res) => res.end('api ' + process.env.PORTICO_URL)).listen(Number(process.env.PORT), '127.0.0.1')
`

describe('portico init (end to end)', () => {
  let project: string
  let file: string
  let portico: RunningPortico | undefined

  const write = async (rel: string, text: string) => {
    await mkdir(path.dirname(path.join(project, rel)), { recursive: true })
    await writeFile(path.join(project, rel), text)
  }

  beforeAll(async () => {
    project = await mkdtemp(path.join(os.tmpdir(), 'portico-initproj-'))
    file = path.join(project, 'apps.config.ts')
    const json = (value: object) => JSON.stringify(value, null, 2)
    await write(
      'package.json',
      json({
        private: true,
        workspaces: ['packages/*'],
        scripts: { dev: 'npm run dev --workspaces' },
      }),
    )
    await write(
      'packages/web/package.json',
      json({ name: '@acme/web', scripts: { dev: 'vite', build: 'vite build' } }),
    )
    await write(
      'packages/api/package.json',
      json({ name: 'api', scripts: { start: 'node server.mjs' } }),
    )
    await write('packages/api/server.mjs', API_SERVER)
    await write('packages/types/package.json', json({ name: 'types', scripts: { build: 'tsc' } }))
    await mkdir(path.join(project, 'packages/web/node_modules/.bin'), { recursive: true })
    await symlink(
      path.join(ROOT, 'test/fixtures/apps/fake-vite.mjs'),
      path.join(project, 'packages/web/node_modules/.bin/vite'),
    )
  })

  afterAll(async () => {
    if (portico && portico.child.exitCode === null) {
      portico.child.kill('SIGKILL')
      await portico.exited
    }
    if (portico) await rm(portico.dir, { recursive: true, force: true })
    await rm(project, { recursive: true, force: true })
  })

  it('writes a commented config with one app per workspace that has a dev or start script', async () => {
    const result = await runCli(['init'], { cwd: project })
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toContain(`wrote ${file} with 2 app(s): api, web`)
    const text = await readFile(file, 'utf8')
    expect(text).toContain(
      '// vite ignores PORT: Portico adds --port $PORT --strictPort --host 127.0.0.1',
    )
    expect(text).toContain('// api: packages/api, script "start": node server.mjs')
    const config = await loadConfig(file)
    expect(config.apps.map((a) => [a.name, a.command, a.cwd])).toEqual([
      ['api', 'npm run start', 'packages/api'],
      ['web', 'npm run dev', 'packages/web'],
    ])
  })

  it('refuses to overwrite an existing config, and leaves it as it was', async () => {
    const before = await readFile(file, 'utf8')
    const result = await runCli(['init'], { cwd: project })
    expect(result.code).toBe(1)
    expect(result.stderr.trim()).toBe(
      `portico: PTC_ERR_CONFIG_EXISTS: ${file} already exists; portico init never overwrites a config (move it away to start afresh)`,
    )
    expect(await readFile(file, 'utf8')).toBe(before)
  })

  it('serves what it wrote', async () => {
    portico = await startPortico({ config: file })
    const running = portico
    const ca = await readFile(path.join(running.caDir, 'dev-ca.crt'), 'utf8')
    const web = await waitFor(
      async () => {
        const res = await request({ port: running.ports.https, host: 'web.localhost', ca })
        return res.status === 200
          ? (JSON.parse(res.body) as { argv: string[]; port: number })
          : undefined
      },
      { timeoutMs: 40_000, message: 'web served' },
    )
    expect(web.argv.join(' ')).toBe(`--port ${web.port} --strictPort --host 127.0.0.1`)
    const api = await request({ port: running.ports.https, host: 'api.localhost', ca })
    expect(api.body).toBe(`api https://api.localhost:${running.ports.https}`)
    running.child.kill('SIGINT')
    expect(await running.exited).toBe(0)
  })
})
