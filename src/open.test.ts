import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { waitFor } from '../test/helpers/wait.ts'
import { openDashboard, openerFor } from './open.ts'

describe('portico open', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup()
  })

  it('prints the dashboard URL and hands it to the browser once the API answers', async () => {
    const server = http.createServer((req, res) =>
      res.end(req.url === '/api/v1/health' ? '{}' : ''),
    )
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise((resolve) => server.close(() => resolve())))
    const dir = await mkdtemp(path.join(os.tmpdir(), 'portico-open-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    const browser = path.join(dir, 'browser.sh')
    const seen = path.join(dir, 'seen')
    await writeFile(browser, `#!/bin/sh\necho "$1" > ${seen}\n`)
    await chmod(browser, 0o755)
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const result = await openDashboard({ base, token: undefined }, { BROWSER: browser }, 'linux')
    expect(result).toMatchObject({ ok: true })
    expect(result.text).toContain(`Dashboard: ${base}/`)
    expect(await waitFor(() => readFile(seen, 'utf8'))).toBe(`${base}/\n`)
  })

  it('says so when no Portico answers, and opens nothing', async () => {
    const result = await openDashboard(
      { base: 'http://127.0.0.1:1', token: undefined },
      { BROWSER: 'none' },
      'linux',
    )
    expect(result).toMatchObject({ ok: false, exitCode: 1 })
    expect(result.text).toContain('no Portico answers at http://127.0.0.1:1')
  })

  it('picks xdg-open, open or $BROWSER', () => {
    expect(openerFor('linux', {})).toEqual(['xdg-open'])
    expect(openerFor('darwin', {})).toEqual(['open'])
    expect(openerFor('linux', { BROWSER: 'firefox' })).toEqual(['firefox'])
    expect(openerFor('linux', { BROWSER: 'none' })).toBeUndefined()
  })
})
