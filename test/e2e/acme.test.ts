// Issue 16: automatic certificates end to end. The real `portico start` (two edge workers, as
// on a server) against a real Pebble ACME server and pebble-challtestsrv, all on loopback:
// Pebble validates challenges on Portico's own ports, its fake DNS sends every name to
// 127.0.0.1, and clients trust nothing but Pebble's root.
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { callApi } from '../helpers/api.ts'
import { type Backend, startBackend } from '../helpers/backend.ts'
import { request } from '../helpers/http.ts'
import { type Pebble, pebbleSurvivors, startPebble } from '../helpers/pebble.ts'
import { type RunningPortico, startPortico } from '../helpers/portico.ts'
import { closedPort } from '../helpers/ports.ts'
import { descendants, isAlive } from '../helpers/processes.ts'
import { tlsHandshake } from '../helpers/tls.ts'
import { waitFor } from '../helpers/wait.ts'

interface CertView {
  domain: string
  source: string
  validTo: string | null
  serialNumber: string | null
  nextRenewal: string | null
  lastError: string | null
}

interface SiteConfig {
  sites: string[]
  challenges: { http01: boolean; tlsAlpn01: boolean }
  renewalWindowRatio?: number
  accessLog?: string
}

/** Each test starts (and may restart) Portico with two forked workers: allow for a slow machine. */
const RUN_TIMEOUT_MS = 120_000
/** How long an order may take on a busy machine (Pebble itself answers in well under a second). */
const ISSUE_TIMEOUT_MS = 45_000

describe('ACME with Pebble (portico start)', { timeout: RUN_TIMEOUT_MS }, () => {
  let dir: string
  let pebble: Pebble
  let backend: Backend
  let ports: { https: number; http: number }
  let root: string
  let portico: RunningPortico | undefined
  const pids = new Set<number>()

  const configFile = (name: string) => path.join(dir, `${name}.json`)
  async function writeConfig(file: string, config: SiteConfig): Promise<void> {
    const edge = {
      acme: {
        email: 'ops@example.com',
        directory: pebble.directory,
        caBundle: pebble.caBundle,
        challenges: config.challenges,
        ...(config.renewalWindowRatio ? { renewalWindowRatio: config.renewalWindowRatio } : {}),
      },
      ...(config.accessLog
        ? { accessLog: { file: config.accessLog, maxBytes: 4096, keep: 2 } }
        : {}),
    }
    const routes = config.sites.map((vHost) => ({
      vHost,
      backends: [{ hostname: '127.0.0.1', port: backend.port }],
    }))
    await writeFile(file, JSON.stringify({ edge, routes }))
  }

  async function start(config: string, state: string, workers = '2'): Promise<RunningPortico> {
    // One Portico at a time on the fixed ports Pebble validates (a failed test may leave one).
    if (portico) await stop(portico)
    const running = await startPortico({
      config,
      mode: 'start',
      env: {
        PORTICO_HTTPS_PORT: String(ports.https),
        PORTICO_HTTP_PORT: String(ports.http),
        PORTICO_STATE_DIR: path.join(dir, state),
        PORTICO_CERTS_DIR: path.join(dir, `${state}-certs`),
        PORTICO_WORKERS: workers,
      },
    })
    portico = running
    pids.add(running.child.pid as number)
    for (const pid of descendants(running.child.pid as number)) pids.add(pid)
    return running
  }

  async function stop(running: RunningPortico): Promise<void> {
    if (process.env.DEBUG_ACME) console.log(running.stdout(), running.stderr())
    if (running.child.exitCode === null && running.child.signalCode === null) {
      running.child.kill('SIGTERM')
    }
    await running.exited
    portico = undefined
  }

  const certificates = async (running: RunningPortico) =>
    (await callApi<CertView[]>(running.ports.api, 'GET', '/certificates')).body
  const acmeCert = async (running: RunningPortico, domain: string) =>
    (await certificates(running)).find((c) => c.domain === domain && c.source === 'acme')
  const issued = async (running: RunningPortico, domain: string) => {
    const cert = await acmeCert(running, domain)
    return cert?.serialNumber ? cert : undefined
  }
  const verified = (domain: string) =>
    tlsHandshake({ port: ports.https, servername: domain, ca: root })

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portico-acme-'))
    ports = { https: await closedPort(), http: await closedPort() }
    pebble = await startPebble({ dir, httpPort: ports.http, tlsPort: ports.https })
    backend = await startBackend('site')
    root = (await pebble.issuingRoots()).root
  })

  afterAll(async () => {
    if (portico) await stop(portico)
    await backend?.close()
    await pebble?.stop()
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
    expect([...pids].filter(isAlive)).toEqual([])
    if (pebble) expect(pebbleSurvivors(pebble)).toEqual([])
    await rm(dir, { recursive: true, force: true })
  })

  it('obtains a certificate over HTTP-01 (TLS-ALPN-01 off), stores it privately and serves it verified by Pebble’s root', async () => {
    const accessLog = path.join(dir, 'logs', 'access.log')
    await writeConfig(configFile('http01'), {
      sites: ['site1.example.com'],
      challenges: { http01: true, tlsAlpn01: false },
      accessLog,
    })
    const running = await start(configFile('http01'), 'state-a')
    const cert = await waitFor(() => issued(running, 'site1.example.com'), {
      timeoutMs: ISSUE_TIMEOUT_MS,
    })
    expect(cert.validTo).not.toBeNull()
    expect(cert.lastError).toBeNull()
    expect(Date.parse(cert.nextRenewal as string)).toBeGreaterThan(Date.now())
    const res = await request({ port: ports.https, host: 'site1.example.com', ca: root })
    expect(res.status).toBe(200)
    expect(res.body).toBe('site')
    expect(res.serialNumber).toBe(cert.serialNumber)
    expect(running.stdout()).toMatch(/"challenge":"http-01".*ACME challenge ready/)
    expect(running.stdout()).not.toContain('"challenge":"tls-alpn-01"')
    // Stored under the state dir: files 0600 in 0700 folders.
    const acmeDir = path.join(dir, 'state-a', 'acme')
    const [folder] = await readdir(acmeDir)
    const certs = path.join(acmeDir, folder as string, 'certs')
    for (const d of [acmeDir, certs]) expect((await stat(d)).mode & 0o777).toBe(0o700)
    for (const f of ['site1.example.com.crt', 'site1.example.com.key', '../account.key'])
      expect((await stat(path.join(certs, f))).mode & 0o777).toBe(0o600)
    // Expiry per name on /metrics.
    const metrics = await (await fetch(`http://127.0.0.1:${running.ports.api}/metrics`)).text()
    const expiry = Date.parse(cert.validTo as string) / 1000
    expect(metrics).toContain(
      `portico_certificate_expiry_timestamp_seconds{domain="site1.example.com",source="acme"} ${expiry}`,
    )
    // The access log goes to its file (written by the main process for both workers), not stdout.
    await waitFor(async () =>
      (await readFile(accessLog, 'utf8')).includes('"route":"site1.example.com"'),
    )
    expect(running.stdout()).not.toContain('"msg":"request"')
  })

  it('answers a TLS handshake for a site added over the API only once its first certificate exists (the visitor waits)', async () => {
    const running = portico as RunningPortico
    const stream = new WebSocket(
      `ws://127.0.0.1:${running.ports.api}/api/v1/events?types=cert:issued`,
    )
    const issuedAt = new Map<string, number>()
    stream.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { data: { domain: string } }
      issuedAt.set(frame.data.domain, Date.now())
    })
    await new Promise((resolve) => stream.once('open', resolve))
    const added = await callApi(running.ports.api, 'POST', '/routes', {
      json: {
        vHost: 'site3.example.com',
        backends: [{ hostname: '127.0.0.1', port: backend.port }],
      },
    })
    expect(added.status).toBe(201)
    const startedAt = Date.now()
    // One handshake, no retry: it must be held until the certificate is there, then verify.
    const handshake = await verified('site3.example.com')
    await waitFor(() => issuedAt.get('site3.example.com'))
    stream.close()
    expect(handshake.subjectAltName).toBe('DNS:site3.example.com')
    expect(issuedAt.get('site3.example.com')).toBeGreaterThanOrEqual(startedAt)
    expect((await issued(running, 'site3.example.com'))?.serialNumber).toBe(handshake.serialNumber)
  })

  it('gets a certificate for a site added to the config file of the running server, without a restart', async () => {
    const running = portico as RunningPortico
    await writeConfig(configFile('http01'), {
      sites: ['site1.example.com', 'site2.example.com'],
      challenges: { http01: true, tlsAlpn01: false },
      accessLog: path.join(dir, 'logs', 'access.log'),
    })
    const handshake = await waitFor(() => verified('site2.example.com'), {
      timeoutMs: ISSUE_TIMEOUT_MS,
    })
    expect(handshake.subjectAltName).toBe('DNS:site2.example.com')
    const res = await request({ port: ports.https, host: 'site2.example.com', ca: root })
    expect(res.status).toBe(200)
    expect(running.child.exitCode).toBeNull()
  })

  it('reuses the stored certificate after a restart (here in one process): same serial, no new order', async () => {
    const before = await issued(portico as RunningPortico, 'site1.example.com')
    await stop(portico as RunningPortico)
    const running = await start(configFile('http01'), 'state-a', '1')
    const handshake = await verified('site1.example.com')
    expect(handshake.serialNumber).toBe(before?.serialNumber)
    expect(running.stdout()).toContain('ACME certificate loaded')
    expect(running.stdout()).not.toContain('obtaining certificate')
    expect(running.stdout()).not.toContain('renewing certificate')
    // The in-process edge answers HTTP-01 too: a site added now gets its certificate.
    const site = {
      vHost: 'site4.example.com',
      backends: [{ hostname: '127.0.0.1', port: backend.port }],
    }
    expect((await callApi(running.ports.api, 'POST', '/routes', { json: site })).status).toBe(201)
    const added = await waitFor(() => verified('site4.example.com'), {
      timeoutMs: ISSUE_TIMEOUT_MS,
    })
    expect(added.subjectAltName).toBe('DNS:site4.example.com')
  })

  it('keeps serving the old certificate when a renewal’s challenge fails, and backs off', async () => {
    const before = await issued(portico as RunningPortico, 'site1.example.com')
    await stop(portico as RunningPortico)
    // Pebble now looks for site1 at 127.0.0.2, where nothing listens: its HTTP-01 check fails.
    await pebble.setAddress('site1.example.com', '127.0.0.2')
    await writeConfig(configFile('renew'), {
      sites: ['site1.example.com'],
      challenges: { http01: true, tlsAlpn01: false },
      renewalWindowRatio: 1,
    })
    const running = await start(configFile('renew'), 'state-a')
    const failed = await waitFor(
      async () => {
        const cert = await acmeCert(running, 'site1.example.com')
        return cert?.lastError ? cert : undefined
      },
      { timeoutMs: ISSUE_TIMEOUT_MS },
    )
    expect(failed.lastError).toContain('127.0.0.2')
    expect(failed.serialNumber).toBe(before?.serialNumber)
    // Backed off: the next attempt is about a minute away (60 s ± 20 %), not now.
    const waitMs = Date.parse(failed.nextRenewal as string) - Date.now()
    expect(waitMs).toBeGreaterThan(30_000)
    expect(waitMs).toBeLessThan(80_000)
    expect((await verified('site1.example.com')).serialNumber).toBe(before?.serialNumber)
    expect(running.stdout()).toMatch(/"failures":1[^\n]*next attempt at/)
    const attempts = running.stdout().split('"domain":"site1.example.com","renewal":true')
    expect(attempts.length - 1).toBe(1)
    await pebble.clearAddress('site1.example.com')
  })

  it('renews a due certificate and swaps it in every worker while handshakes keep verifying', async () => {
    const before = await issued(portico as RunningPortico, 'site1.example.com')
    await stop(portico as RunningPortico)
    const running = await start(configFile('renew'), 'state-a')
    const serials = new Set<string>()
    const renewed = await waitFor(
      async () => {
        // Every handshake along the way verifies against Pebble's root: old or new, never none.
        serials.add((await verified('site1.example.com')).serialNumber)
        const cert = await issued(running, 'site1.example.com')
        return cert && cert.serialNumber !== before?.serialNumber ? cert : undefined
      },
      { timeoutMs: ISSUE_TIMEOUT_MS },
    )
    // Both workers serve the new one (connections are dealt to them in turn).
    for (let i = 0; i < 4; i++)
      expect((await verified('site1.example.com')).serialNumber).toBe(renewed.serialNumber)
    for (const serial of serials)
      expect([before?.serialNumber, renewed.serialNumber]).toContain(serial)
    expect(running.stdout()).toContain('certificate renewed (ACME)')
    await stop(running)
  })

  for (const workers of ['1', '2']) {
    it(`obtains a certificate over TLS-ALPN-01 (HTTP-01 off) with ${workers} edge worker(s)`, async () => {
      const config = configFile(`alpn-${workers}`)
      const site = `alpn${workers}.example.com`
      await writeConfig(config, { sites: [site], challenges: { http01: false, tlsAlpn01: true } })
      const running = await start(config, `state-alpn-${workers}`, workers)
      const cert = await waitFor(() => issued(running, site), { timeoutMs: ISSUE_TIMEOUT_MS })
      expect((await verified(site)).serialNumber).toBe(cert.serialNumber)
      expect(running.stdout()).toMatch(/"challenge":"tls-alpn-01".*ACME challenge ready/)
      expect(running.stdout()).not.toContain('"challenge":"http-01"')
      await stop(running)
    })
  }
})
