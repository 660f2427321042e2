import { mkdtemp, rm } from 'node:fs/promises'
import https from 'node:https'
import os from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CertStore } from './cert-store.ts'
import { type KeyPair, loadOrCreateDevCa } from './dev-ca.ts'
import {
  createSniCallback,
  normalizeHostname,
  type SniCallback,
  TLS_SERVER_OPTIONS,
} from './sni.ts'

/** captureLog returns a pino logger whose lines land in `lines` (parsed), synchronously. */
function captureLog() {
  const lines: Array<{ level: number; msg: string; servername?: string }> = []
  const log = pino(
    { level: 'debug' },
    { write: (line: string) => void lines.push(JSON.parse(line)) },
  )
  return { log, lines }
}

interface Handshake {
  authorized: boolean
  error: string | undefined
  serialNumber: string | undefined
  subjectaltname: string | undefined
  protocol: string | null | undefined
  cipher: string | undefined
}

/**
 * handshake connects to 127.0.0.1:port with full verification and reports what the client saw.
 * The certificate is captured in checkServerIdentity, so it is known even when the name check
 * fails. The socket is closed before the promise settles.
 */
function handshake(port: number, options: tls.ConnectionOptions): Promise<Handshake> {
  return new Promise((resolve) => {
    let seen: tls.PeerCertificate | undefined
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      ...options,
      checkServerIdentity: (host, cert) => {
        seen = cert
        return tls.checkServerIdentity(host, cert)
      },
    })
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate()
      resolve({
        authorized: socket.authorized,
        error: undefined,
        serialNumber: cert.serialNumber,
        subjectaltname: cert.subjectaltname,
        protocol: socket.getProtocol(),
        cipher: socket.getCipher().name,
      })
      socket.destroy()
    })
    socket.once('error', (err: NodeJS.ErrnoException) => {
      resolve({
        authorized: false,
        error: err.code,
        serialNumber: seen?.serialNumber,
        subjectaltname: seen?.subjectaltname,
        protocol: undefined,
        cipher: undefined,
      })
    })
  })
}

const servers: https.Server[] = []
/** startServer listens on 127.0.0.1:0 with the hardened options; afterAll closes it. */
async function startServer(defaultCert: KeyPair, SNICallback?: SniCallback): Promise<number> {
  const options = { ...TLS_SERVER_OPTIONS, key: defaultCert.keyPem, cert: defaultCert.certPem }
  const server = https.createServer(
    SNICallback ? { ...options, SNICallback } : options,
    (_req, res) => res.end('ok'),
  )
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as { port: number }).port
}

let dir: string
let ca: KeyPair
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'portico-sni-'))
  ca = await loadOrCreateDevCa(dir)
})

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
  await rm(dir, { recursive: true, force: true })
})

describe('normalizeHostname', () => {
  it.each([
    ['Web.Localhost', 'web.localhost'],
    ['web.localhost.', 'web.localhost'],
    ['localhost', 'localhost'],
    ['a-b.c0.test', 'a-b.c0.test'],
    ['', undefined],
    ['.', undefined],
    ['web.localhost..', undefined],
    ['.example.test', undefined],
    ['a..b', undefined],
    ['under_score.test', undefined],
    ['*.example.test', undefined],
    ['ex ample.test', undefined],
    ['xn--bcher-kva.test', 'xn--bcher-kva.test'],
    ['bücher.test', undefined],
    [`${'a'.repeat(64)}.test`, undefined],
    [`${'a.'.repeat(125)}abc`, `${'a.'.repeat(125)}abc`],
    [`${'a.'.repeat(125)}abc.`, `${'a.'.repeat(125)}abc`],
    [`${'a.'.repeat(125)}abcd`, undefined],
  ])('%s (%#)', (input, expected) => {
    expect(normalizeHostname(input)).toBe(expected)
  })
})

describe('TLS_SERVER_OPTIONS', () => {
  let port: number
  beforeAll(async () => {
    const store = new CertStore({ certsDir: dir, devCa: ca, log: pino({ level: 'silent' }) })
    port = await startServer(
      await store.defaultKeyPair(),
      createSniCallback(store, pino({ level: 'silent' })),
    )
  })

  it('negotiates TLS 1.3 by default', async () => {
    const seen = await handshake(port, { servername: 'web.localhost', ca: ca.certPem })
    expect(seen).toMatchObject({ authorized: true, protocol: 'TLSv1.3' })
  })

  it('refuses a TLS 1.1 client', async () => {
    const seen = await handshake(port, {
      servername: 'web.localhost',
      ca: ca.certPem,
      minVersion: 'TLSv1.1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT@SECLEVEL=0',
    })
    expect(seen.authorized).toBe(false)
    expect(seen.error).toBe('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION')
  })

  it('offers TLS 1.2 clients ECDHE with AEAD ciphers only', async () => {
    const tls12 = { servername: 'web.localhost', ca: ca.certPem, maxVersion: 'TLSv1.2' } as const
    const aead = await handshake(port, tls12)
    expect(aead).toMatchObject({ authorized: true, protocol: 'TLSv1.2' })
    expect(aead.cipher).toMatch(/^ECDHE-ECDSA-(AES\d+-GCM|CHACHA20-POLY1305)/)
    const cbc = await handshake(port, {
      ...tls12,
      ciphers: 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA',
    })
    expect(cbc.error).toBe('ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE')
  })
})

describe('createSniCallback', () => {
  it('serves dev leaves for web.localhost and any foo.localhost that issueFor allows', async () => {
    const store = new CertStore({
      certsDir: dir,
      devCa: ca,
      issueFor: (name) => name.endsWith('.localhost'),
      log: pino({ level: 'silent' }),
    })
    const port = await startServer(
      await store.defaultKeyPair(),
      createSniCallback(store, pino({ level: 'silent' })),
    )
    for (const servername of ['web.localhost', 'foo.localhost', 'FOO.localhost.']) {
      const seen = await handshake(port, { servername, ca: ca.certPem })
      const expectedName = normalizeHostname(servername)
      expect(seen).toMatchObject({ authorized: true, subjectaltname: `DNS:${expectedName}` })
    }
  })

  it('serves the default certificate when issueFor refuses the name', async () => {
    const store = new CertStore({
      certsDir: dir,
      devCa: ca,
      issueFor: (name) => name === 'web.localhost',
      log: pino({ level: 'silent' }),
    })
    const port = await startServer(
      await store.defaultKeyPair(),
      createSniCallback(store, pino({ level: 'silent' })),
    )
    const web = await handshake(port, { servername: 'web.localhost', ca: ca.certPem })
    expect(web).toMatchObject({ authorized: true, subjectaltname: 'DNS:web.localhost' })

    const foo = await handshake(port, { servername: 'foo.localhost', ca: ca.certPem })
    expect(foo.error).toBe('ERR_TLS_CERT_ALTNAME_INVALID')
    expect(foo.subjectaltname).toMatch(/^DNS:localhost, IP Address:127\.0\.0\.1/)
    expect(store.list().map((c) => c.domain)).not.toContain('foo.localhost')

    const weird = await handshake(port, {
      servername: `${'a'.repeat(100)}.localhost`,
      ca: ca.certPem,
    })
    expect(weird.subjectaltname).toMatch(/^DNS:localhost,/)

    // No SNI at all (an IP host): the server's own certificate, which covers 127.0.0.1.
    const bare = await handshake(port, { ca: ca.certPem })
    expect(bare).toMatchObject({ authorized: true })
    expect(bare.subjectaltname).toMatch(/^DNS:localhost,/)
  })

  it('falls back to the server default and logs at warn when the store fails', async () => {
    const failing = {
      contextFor: () => Promise.reject(new Error('issuer exploded')),
      defaultContext: () => Promise.reject(new Error('unused')),
    } as unknown as CertStore
    const store = new CertStore({ certsDir: dir, devCa: ca, log: pino({ level: 'silent' }) })
    const { log, lines } = captureLog()
    const port = await startServer(await store.defaultKeyPair(), createSniCallback(failing, log))
    const seen = await handshake(port, { servername: 'localhost', ca: ca.certPem })
    expect(seen).toMatchObject({ authorized: true })
    expect(lines).toEqual([expect.objectContaining({ level: 40, servername: 'localhost' })])
  })
})
