// Issue 15, item 7: a port that is taken or refused is one clear line (the port, the cause, the
// process holding it, the fix), never a stack trace; and a port below 1024 works for a user
// granted CAP_NET_BIND_SERVICE. Real sockets on free ports; the refused port is tried as
// `nobody` (no root), the granted one as `nobody` with the capability.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.ts'
import { BIN, ROOT, spawnPortico } from '../helpers/portico.ts'
import { isAlive } from '../helpers/processes.ts'
import { waitFor } from '../helpers/wait.ts'

const NOBODY = { uid: 65534, gid: 65534 }
const isRoot = process.getuid?.() === 0

/** A listener of this test on 127.0.0.1:0: the process holding the port Portico wants. */
async function holdPort(): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { server, port: (server.address() as net.AddressInfo).port }
}

/** A port below 1024 that is free on 127.0.0.1 right now (bound and released as root). */
async function freePrivilegedPort(): Promise<number> {
  for (let port = 1023; port >= 900; port--) {
    const server = net.createServer()
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false))
      server.listen(port, '127.0.0.1', () => resolve(true))
    })
    if (ok) {
      await new Promise((resolve) => server.close(resolve))
      return port
    }
  }
  throw new Error('no free port below 1024')
}

/** The lines a run printed on stderr, and a check that none is a stack frame. */
function oneLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '')
  expect(stderr).not.toMatch(/^\s+at /m)
  expect(lines, stderr).toHaveLength(1)
  return lines[0] as string
}

describe('a port that is taken', () => {
  let held: { server: net.Server; port: number }
  const config = path.join(ROOT, 'test/fixtures/basic.config.ts')

  beforeAll(async () => {
    held = await holdPort()
  })
  afterAll(async () => {
    await new Promise((resolve) => held.server.close(resolve))
  })

  for (const [role, variable] of [
    ['https', 'PORTICO_HTTPS_PORT'],
    ['api', 'PORTICO_API_PORT'],
  ] as const) {
    it(`names the ${role} port, the process holding it and ${variable}, in one line`, async () => {
      const run = await spawnPortico({ config, env: { [variable]: String(held.port) } })
      try {
        expect(await run.exited).toBe(1)
        const line = oneLine(run.out.stderr)
        expect(line).toContain(
          `PTC_ERR_PORT_IN_USE: cannot listen on 127.0.0.1:${held.port} (${role}): port ${held.port} is in use by pid ${process.pid} (`,
        )
        expect(line).toContain(`set ${variable} to another port`)
        // Nothing was started: no app ran, no state was made.
        expect(run.out.stdout).not.toContain('app started')
      } finally {
        await rm(run.dir, { recursive: true, force: true })
      }
    })
  }
})

describe.runIf(isRoot)('a port below 1024', () => {
  let dir: string
  let port: number
  let child: ChildProcess | undefined

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portico-lowport-'))
    await writeFile(path.join(dir, 'apps.config.json'), JSON.stringify({ apps: [] }))
    await chown(dir, NOBODY.uid, NOBODY.gid)
    port = await freePrivilegedPort()
  })
  afterAll(async () => {
    if (child?.pid !== undefined && isAlive(child.pid)) child.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  })

  const env = () => ({
    HOME: dir,
    PORTICO_HTTPS_PORT: String(port),
    PORTICO_HTTP_PORT: '0',
    PORTICO_API_PORT: '0',
    PORTICO_STATE_DIR: path.join(dir, 'state'),
    PORTICO_CERTS_DIR: path.join(dir, 'certs'),
    PORTICO_CA_DIR: path.join(dir, 'ca'),
  })

  it('is refused without root: one line with the cause and both fixes', async () => {
    const result = await runCli(['dev', '--config', path.join(dir, 'apps.config.json')], {
      env: env(),
      as: NOBODY,
    })
    expect(result.code).toBe(1)
    const line = oneLine(result.stderr)
    expect(line).toContain(`PTC_ERR_PORT_DENIED: cannot listen on 127.0.0.1:${port} (https)`)
    expect(line).toContain('CAP_NET_BIND_SERVICE')
    expect(line).toContain(`setcap 'cap_net_bind_service=+ep' ${process.execPath}`)
    expect(line).toContain('set PORTICO_HTTPS_PORT')
  })

  it('works for a user granted CAP_NET_BIND_SERVICE', async () => {
    const caps = '+net_bind_service'
    child = spawn(
      'setpriv',
      [
        ...[`--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, '--clear-groups'],
        ...[`--inh-caps=${caps}`, `--ambient-caps=${caps}`],
        ...[process.execPath, BIN, 'dev', '--config', path.join(dir, 'apps.config.json')],
      ],
      { cwd: ROOT, env: { ...process.env, ...env() }, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let out = ''
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
    })
    const exited = once(child, 'exit')
    await waitFor(() => out.includes(`https on :${port},`), {
      timeoutMs: 30_000,
      message: 'portico announced the low port',
    })
    const socket = net.connect(port, '127.0.0.1')
    await once(socket, 'connect')
    socket.destroy()
    child.kill('SIGINT')
    const [code] = await exited
    expect(code).toBe(0)
  })
})
