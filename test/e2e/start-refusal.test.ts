// Issue 16: `portico start` refuses what would fail later. Each bad certificate file (expired,
// wrong name, key mismatch, half missing) and a routed name with no certificate while ACME is
// off make it exit non-zero before /api/v1/health ever answers 200, naming the file (or the
// hostname) and the fix. `portico dev` keeps starting with a warning; a good file starts.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { generate } from 'selfsigned'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningPortico, spawnPortico, startPortico } from '../helpers/portico.ts'
import { closedPort } from '../helpers/ports.ts'
import { descendants, isAlive } from '../helpers/processes.ts'

const SITE = 'site.example.com'
const DAY_MS = 86_400_000

async function pair(name: string, validity?: { from: number; to: number }) {
  const pems = await generate([{ name: 'commonName', value: name }], {
    keyType: 'ec',
    algorithm: 'sha256',
    ...(validity
      ? { notBeforeDate: new Date(validity.from), notAfterDate: new Date(validity.to) }
      : {}),
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: name }] }],
  })
  return { cert: pems.cert, key: pems.private }
}

describe('portico start refuses certificates that would fail', () => {
  let dir: string
  let backendConfig: string
  const pids = new Set<number>()

  /** certsDir writes the given files into a fresh certs folder. */
  async function certsDir(files: Record<string, string>): Promise<string> {
    const folder = await mkdtemp(path.join(dir, 'certs-'))
    for (const [name, text] of Object.entries(files))
      await writeFile(path.join(folder, name), text, { mode: 0o600 })
    return folder
  }

  /** refusal runs `portico start` and returns its exit code, stderr, and every health status seen. */
  async function refusal(certs: string, config = backendConfig) {
    const apiPort = await closedPort()
    const run = await spawnPortico({
      config,
      mode: 'start',
      env: { PORTICO_CERTS_DIR: certs, PORTICO_API_PORT: String(apiPort), PORTICO_WORKERS: '1' },
    })
    pids.add(run.child.pid as number)
    const statuses: number[] = []
    let exited = false
    const code = run.exited.then((c) => {
      exited = true
      return c
    })
    while (!exited) {
      const status = await fetch(`http://127.0.0.1:${apiPort}/api/v1/health`)
        .then((r) => r.status)
        .catch(() => 0)
      statuses.push(status)
      await Promise.race([code, new Promise((r) => setTimeout(r, 20))])
    }
    await rm(run.dir, { recursive: true, force: true })
    return { code: await code, stderr: run.out.stderr, statuses }
  }

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portico-refusal-'))
    backendConfig = path.join(dir, 'site.json')
    await writeFile(
      backendConfig,
      JSON.stringify({
        routes: [{ vHost: SITE, backends: [{ hostname: '127.0.0.1', port: await closedPort() }] }],
      }),
    )
  })

  afterAll(async () => {
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
    expect([...pids].filter(isAlive)).toEqual([])
    await rm(dir, { recursive: true, force: true })
  })

  it('refuses an expired certificate file, naming it and the fix', async () => {
    const now = Date.now()
    const expired = await pair(SITE, { from: now - 90 * DAY_MS, to: now - DAY_MS })
    const certs = await certsDir({ [`${SITE}.crt`]: expired.cert, [`${SITE}.key`]: expired.key })
    const result = await refusal(certs)
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('PTC_ERR_CERT_REFUSED')
    expect(result.stderr).toContain(
      `${path.join(certs, `${SITE}.crt`)} / ${path.join(certs, `${SITE}.key`)}: the certificate expired on`,
    )
    expect(result.stderr).toContain('fix: replace both with a current, matching pair')
    expect(result.statuses).not.toContain(200)
  })

  it('refuses a certificate file that does not cover its name', async () => {
    const other = await pair('other.example.com')
    const certs = await certsDir({ [`${SITE}.crt`]: other.cert, [`${SITE}.key`]: other.key })
    const result = await refusal(certs)
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(
      `${path.join(certs, `${SITE}.crt`)}: the certificate does not cover ${SITE} (it names other.example.com)`,
    )
    expect(result.stderr).toContain(`with a certificate for ${SITE}`)
    expect(result.statuses).not.toContain(200)
  })

  it('refuses a certificate whose key does not match, and a certificate without its key', async () => {
    const [a, b] = [await pair(SITE), await pair(SITE)]
    const mismatched = await certsDir({ [`${SITE}.crt`]: a.cert, [`${SITE}.key`]: b.key })
    const result = await refusal(mismatched)
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('the private key does not match the certificate')
    expect(result.stderr).toContain(path.join(mismatched, `${SITE}.key`))
    const half = await certsDir({ [`${SITE}.crt`]: a.cert })
    const halfResult = await refusal(half)
    expect(halfResult.code).toBe(1)
    expect(halfResult.stderr).toContain(
      `${path.join(half, `${SITE}.crt`)} has no key beside it; fix: add ${path.join(half, `${SITE}.key`)}`,
    )
    expect([...result.statuses, ...halfResult.statuses]).not.toContain(200)
  })

  it('refuses a routed name with no certificate while ACME is off, naming the hostname', async () => {
    const certs = await certsDir({})
    const result = await refusal(certs)
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(
      `${SITE} has no certificate; fix: put ${path.join(certs, `${SITE}.crt`)}`,
    )
    expect(result.stderr).toContain('or set edge.acme.email')
    expect(result.statuses).not.toContain(200)
  })

  it('refuses a public wildcard without a certificate file when ACME is on: DNS-01 is not supported', async () => {
    const config = path.join(dir, 'wildcard.json')
    await writeFile(
      config,
      JSON.stringify({
        edge: { acme: { email: 'ops@example.com', directory: 'https://127.0.0.1:9/dir' } },
        routes: [{ vHost: '*.example.com', backends: [{ hostname: '127.0.0.1', port: 9 }] }],
      }),
    )
    const result = await refusal(await certsDir({}), config)
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('*.example.com is a wildcard without a certificate file')
    expect(result.stderr).toContain('DNS-01 challenge, which Portico does not support')
    expect(result.stderr).toContain('routes[0].vHost')
  })

  it('starts with a good file; `portico dev` starts even with the expired one (a warning)', async () => {
    const good = await pair(SITE)
    const now = Date.now()
    const expired = await pair(SITE, { from: now - 90 * DAY_MS, to: now - DAY_MS })
    const runs: RunningPortico[] = []
    const env = (certs: string) => ({ PORTICO_CERTS_DIR: certs, PORTICO_WORKERS: '1' })
    try {
      const goodCerts = await certsDir({ [`${SITE}.crt`]: good.cert, [`${SITE}.key`]: good.key })
      runs.push(await startPortico({ config: backendConfig, mode: 'start', env: env(goodCerts) }))
      const badCerts = await certsDir({
        [`${SITE}.crt`]: expired.cert,
        [`${SITE}.key`]: expired.key,
      })
      runs.push(await startPortico({ config: backendConfig, mode: 'dev', env: env(badCerts) }))
      for (const run of runs) {
        pids.add(run.child.pid as number)
        for (const pid of descendants(run.child.pid as number)) pids.add(pid)
        expect((await run.api('/health')).status).toBe(200)
      }
      expect(runs[1]?.stdout()).toContain('the certificate expired on')
    } finally {
      for (const run of runs) {
        run.child.kill('SIGTERM')
        await run.exited
        await rm(run.dir, { recursive: true, force: true })
      }
    }
  })
})
