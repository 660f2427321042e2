// Issue 15, item 4, seen by a real browser: headless Chromium (Debian's /usr/bin/chromium)
// refuses https://node.localhost before `portico trust` and loads it after, from the NSS
// database of a temporary HOME; after `portico untrust` it refuses it again.
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.ts'
import { ROOT, type RunningPortico, startPortico } from '../helpers/portico.ts'
import { descendants, isAlive } from '../helpers/processes.ts'
import { waitFor } from '../helpers/wait.ts'

const CHROMIUM = '/usr/bin/chromium'

describe.runIf(existsSync(CHROMIUM))('headless Chromium and portico trust', () => {
  let home: string
  let portico: RunningPortico
  let env: Record<string, string>
  const pids = new Set<number>()

  /** The page Chromium renders for `url` (an error page when it refuses the certificate). */
  function dumpDom(url: string): Promise<string> {
    return new Promise((resolve) => {
      execFile(
        CHROMIUM,
        [
          ...['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run'],
          `--user-data-dir=${path.join(home, 'chromium')}`,
          '--dump-dom',
          url,
        ],
        { env: { ...process.env, HOME: home }, timeout: 60_000, encoding: 'utf8' },
        (_error, stdout) => resolve(stdout),
      )
    })
  }

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'portico-browser-'))
    // No system store here: only the user's own NSS database is in play.
    env = {
      HOME: home,
      XDG_DATA_HOME: '',
      PORTICO_CA_DIR: '',
      PORTICO_SYSTEM_TRUST_ROOT: path.join(home, 'no-system-store'),
    }
    portico = await startPortico({
      config: path.join(ROOT, 'test/fixtures/basic.config.ts'),
      env,
    })
    await waitFor(
      async () => {
        const { body } = await portico.api<{ instances: { state: string; pid: number }[] }>(
          '/apps/node',
        )
        for (const i of body.instances ?? []) pids.add(i.pid)
        return body.instances?.every((i) => i.state === 'healthy')
      },
      { timeoutMs: 30_000, message: 'node healthy' },
    )
  })

  afterAll(async () => {
    for (const pid of [...pids]) for (const child of descendants(pid)) pids.add(child)
    if (portico && portico.child.exitCode === null) {
      portico.child.kill('SIGINT')
      await portico.exited
    }
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
    if (portico) await rm(portico.dir, { recursive: true, force: true })
    await rm(home, { recursive: true, force: true })
  })

  it('refuses, then loads after trust, then refuses after untrust', async () => {
    const url = `https://node.localhost:${portico.ports.https}/browser`
    expect(await dumpDom(url)).not.toContain('"url":"/browser"')
    expect((await runCli(['trust'], { env })).code).toBe(0)
    expect(await dumpDom(url)).toContain('"url":"/browser"')
    expect((await runCli(['untrust'], { env })).code).toBe(0)
    expect(await dumpDom(url)).not.toContain('"url":"/browser"')
  }, 180_000)
})
