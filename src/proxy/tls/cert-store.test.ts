import { X509Certificate } from 'node:crypto'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import https from 'node:https'
import os from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import { pino } from 'pino'
import { generate } from 'selfsigned'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CertStore, daysLeft, expiresSoon } from './cert-store.ts'
import { type KeyPair, loadOrCreateDevCa } from './dev-ca.ts'
import { createSniCallback, TLS_SERVER_OPTIONS } from './sni.ts'

type LogLine = { level: number; msg: string; file?: string; domain?: string }

/** captureLog returns a pino logger whose lines land in `lines` (parsed), synchronously. */
function captureLog() {
  const lines: LogLine[] = []
  const log = pino(
    { level: 'debug' },
    { write: (line: string) => void lines.push(JSON.parse(line)) },
  )
  return { log, lines }
}

/** makeTestCa returns a CA that is not the dev CA, standing in for a real issuer. */
async function makeTestCa(): Promise<KeyPair> {
  const pems = await generate([{ name: 'commonName', value: 'Portico Test CA' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, critical: true },
    ],
  })
  return { certPem: pems.cert, keyPem: pems.private }
}

/** makeCert returns a server certificate for `names` (wildcards allowed) signed by `ca`. */
async function makeCert(ca: KeyPair, names: string[]): Promise<KeyPair> {
  const pems = await generate([{ name: 'commonName', value: names[0] ?? 'x' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    ca: { key: ca.keyPem, cert: ca.certPem },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: names.map((value) => ({ type: 2 as const, value })) },
    ],
  })
  return { certPem: pems.cert, keyPem: pems.private }
}

function serialOf(pair: KeyPair): string {
  return new X509Certificate(pair.certPem).serialNumber
}

/** writePair writes `<base>.crt` and `<base>.key` (0600) into `dir`. */
async function writePair(dir: string, base: string, pair: KeyPair): Promise<void> {
  await writeFile(path.join(dir, `${base}.crt`), pair.certPem)
  await writeFile(path.join(dir, `${base}.key`), pair.keyPem, { mode: 0o600 })
}

interface Seen {
  authorized: boolean
  error: string | undefined
  serialNumber: string | undefined
}

/**
 * handshake connects to 127.0.0.1:port with SNI `servername`, verifying against `ca`, and
 * reports the outcome and the serial number the client saw. The socket is closed before it settles.
 */
function handshake(port: number, servername: string, ca: string[]): Promise<Seen> {
  return new Promise((resolve) => {
    let seen: tls.PeerCertificate | undefined
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      servername,
      ca,
      checkServerIdentity: (host, cert) => {
        seen = cert
        return tls.checkServerIdentity(host, cert)
      },
    })
    socket.once('secureConnect', () => {
      const { serialNumber } = socket.getPeerCertificate()
      resolve({ authorized: socket.authorized, error: undefined, serialNumber })
      socket.destroy()
    })
    socket.once('error', (err: NodeJS.ErrnoException) => {
      resolve({ authorized: false, error: err.code, serialNumber: seen?.serialNumber })
    })
  })
}

const servers: https.Server[] = []
/** serve starts an HTTPS server for `store` on 127.0.0.1:0; afterAll closes it. */
async function serve(store: CertStore): Promise<number> {
  const { keyPem, certPem } = await store.defaultKeyPair()
  const SNICallback = createSniCallback(store, pino({ level: 'silent' }))
  const options = { ...TLS_SERVER_OPTIONS, key: keyPem, cert: certPem, SNICallback }
  const server = https.createServer(options, (_req, res) => res.end('ok'))
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as { port: number }).port
}

const tmpDirs: string[] = []
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'portico-certs-'))
  tmpDirs.push(dir)
  return dir
}

let testCa: KeyPair
let exact: KeyPair
let wildcard: KeyPair
beforeAll(async () => {
  testCa = await makeTestCa()
  exact = await makeCert(testCa, ['a.example.test'])
  wildcard = await makeCert(testCa, ['*.example.test'])
})

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
  for (const dir of tmpDirs) await rm(dir, { recursive: true, force: true })
})

describe('CertStore with files in certs/', () => {
  let dir: string
  let devCa: KeyPair
  let store: CertStore
  let lines: LogLine[]
  let port: number
  let trusted: string[]
  let webUser: KeyPair

  beforeAll(async () => {
    dir = await tempDir()
    devCa = await loadOrCreateDevCa(dir)
    trusted = [devCa.certPem, testCa.certPem]
    webUser = await makeCert(testCa, ['web.localhost'])
    await writePair(dir, 'a.example.test', exact)
    await writePair(dir, '_wildcard.example.test', wildcard)
    await writePair(dir, 'web.localhost', webUser)
    await writeFile(path.join(dir, 'README.md'), '# certificates\n')
    const bad = await makeCert(testCa, ['bad.other.test'])
    await writePair(dir, 'bad.other.test', { certPem: bad.certPem, keyPem: exact.keyPem })
    const trunc = await makeCert(testCa, ['trunc.other.test'])
    await writePair(dir, 'trunc.other.test', {
      certPem: trunc.certPem.slice(0, 200),
      keyPem: trunc.keyPem,
    })
    const captured = captureLog()
    lines = captured.lines
    store = new CertStore({ certsDir: dir, devCa, log: captured.log })
    await store.load()
    port = await serve(store)
  })

  it('serves the exact certificate before the wildcard, and the wildcard one level down only', async () => {
    expect(await handshake(port, 'a.example.test', trusted)).toMatchObject({
      authorized: true,
      serialNumber: serialOf(exact),
    })
    expect(await handshake(port, 'B.Example.Test.', trusted)).toMatchObject({
      authorized: true,
      serialNumber: serialOf(wildcard),
    })
    const twoDown = await handshake(port, 'x.b.example.test', trusted)
    expect(twoDown.serialNumber).not.toBe(serialOf(wildcard))
  })

  it('lets a user certificate win over a dev leaf', async () => {
    const seen = await handshake(port, 'web.localhost', trusted)
    expect(seen).toMatchObject({ authorized: true, serialNumber: serialOf(webUser) })
    const dev = await handshake(port, 'api.localhost', trusted)
    expect(dev.authorized).toBe(true)
    expect(store.list().find((c) => c.domain === 'api.localhost')?.source).toBe('dev')
  })

  it('skips a mismatched pair and a truncated certificate, naming the file and the reason', async () => {
    const warnings = lines.filter((l) => l.level === 40)
    const bad = warnings.find((l) => l.file === path.join(dir, 'bad.other.test.crt'))
    expect(bad?.msg).toMatch(/does not match.*skipped/)
    const trunc = warnings.find((l) => l.file === path.join(dir, 'trunc.other.test.crt'))
    expect(trunc?.msg).toMatch(/not a valid PEM certificate.*skipped/)
    expect(warnings.some((l) => /dev-ca|README/.test(l.msg))).toBe(false)
    // Not covered by a user certificate and not issuable (issueFor defaults to *.localhost).
    for (const name of ['bad.other.test', 'trunc.other.test']) {
      expect((await handshake(port, name, trusted)).error).toBe('ERR_TLS_CERT_ALTNAME_INVALID')
    }
  })

  it('lists what it serves without keys', () => {
    const listed = store.list()
    expect(listed.filter((c) => c.source === 'file').map((c) => c.domain)).toEqual([
      '*.example.test',
      'a.example.test',
      'web.localhost',
    ])
    const a = listed.find((c) => c.domain === 'a.example.test')
    expect(a).toMatchObject({ issuer: 'CN=Portico Test CA', serialNumber: serialOf(exact) })
    expect(Number.isNaN(Date.parse(a?.validTo ?? ''))).toBe(false)
    expect(JSON.stringify(listed)).not.toContain('PRIVATE KEY')
  })

  it('keeps the last good certificate through half-written and truncated replacements', async () => {
    const certFile = path.join(dir, 'a.example.test.crt')
    const lastWarning = () =>
      lines.findLast((l) => l.level === 40 && l.domain === 'a.example.test')?.msg
    const next = await makeCert(testCa, ['a.example.test'])
    // The new certificate lands first; its key a moment later (reliability.md D2 b).
    await writeFile(certFile, next.certPem)
    await store.load()
    expect((await handshake(port, 'a.example.test', trusted)).serialNumber).toBe(serialOf(exact))
    expect(lastWarning()).toMatch(/does not match.*keeping the last good certificate/)

    await writeFile(certFile, next.certPem.slice(0, next.certPem.length * 0.4))
    await store.load()
    expect((await handshake(port, 'a.example.test', trusted)).serialNumber).toBe(serialOf(exact))
    expect(lastWarning()).toMatch(/not a valid PEM certificate.*keeping the last good certificate/)

    await writePair(dir, 'a.example.test', next)
    await store.load()
    expect((await handshake(port, 'a.example.test', trusted)).serialNumber).toBe(serialOf(next))

    await rm(path.join(dir, 'a.example.test.key'))
    await store.load()
    expect((await handshake(port, 'a.example.test', trusted)).serialNumber).toBe(serialOf(next))
    expect(lastWarning()).toMatch(/key \(\.key\) file is missing.*keeping/)

    await rm(certFile)
    await store.load()
    // Both files gone: the exact certificate is unloaded and the wildcard covers the name.
    expect((await handshake(port, 'a.example.test', trusted)).serialNumber).toBe(serialOf(wildcard))
  })

  it('warns about a key file readable by group or others', async () => {
    const pair = await makeCert(testCa, ['open.example.test'])
    await writePair(dir, 'open.example.test', pair)
    await chmod(path.join(dir, 'open.example.test.key'), 0o644)
    await store.load()
    const warning = lines.find((l) => l.level === 40 && l.msg.includes('chmod 600'))
    expect(warning?.file).toBe(path.join(dir, 'open.example.test.key'))
    expect((await handshake(port, 'open.example.test', trusted)).serialNumber).toBe(serialOf(pair))
  })

  it('does not let an unchanged file undo a certificate set through the API', async () => {
    const fromApi = await makeCert(testCa, ['web.localhost'])
    await store.setCertificate('web.localhost', fromApi.keyPem, fromApi.certPem)
    await store.load()
    expect((await handshake(port, 'web.localhost', trusted)).serialNumber).toBe(serialOf(fromApi))
  })
})

describe('CertStore.setCertificate', () => {
  let store: CertStore
  let port: number
  beforeAll(async () => {
    store = new CertStore({ certsDir: await tempDir(), log: pino({ level: 'silent' }) })
    port = await serve(store)
  })

  it('rejects a key that does not match the certificate', async () => {
    const other = await makeCert(testCa, ['a.example.test'])
    const error = await store
      .setCertificate('a.example.test', other.keyPem, exact.certPem)
      .catch((e) => e)
    expect(error).toMatchObject({ code: 'PTC_ERR_CERT_INVALID', statusCode: 400 })
    expect((error as Error).message).toMatch(/does not match/)
  })

  it('rejects a domain the certificate does not cover', async () => {
    await expect(store.setCertificate('z.other.test', exact.keyPem, exact.certPem)).rejects.toThrow(
      /does not cover z\.other\.test \(it names a\.example\.test\)/,
    )
    await expect(
      store.setCertificate('*.example.test', exact.keyPem, exact.certPem),
    ).rejects.toThrow(/does not cover/)
  })

  it('rejects empty, unparsable and truncated PEM with a readable reason', async () => {
    await expect(store.setCertificate('a.example.test', '', exact.certPem)).rejects.toThrow(
      /key is empty/,
    )
    await expect(store.setCertificate('a.example.test', exact.keyPem, 'hello')).rejects.toThrow(
      /not a valid PEM certificate/,
    )
    const truncated = exact.keyPem.slice(0, 60)
    await expect(store.setCertificate('a.example.test', truncated, exact.certPem)).rejects.toThrow(
      /not a valid PEM private key/,
    )
    await expect(store.setCertificate('bad host', exact.keyPem, exact.certPem)).rejects.toThrow(
      /not a valid hostname/,
    )
    expect(store.list()).toEqual([])
  })

  it('accepts a wildcard certificate for x.example.test and serves it at once', async () => {
    await store.setCertificate('X.example.test', wildcard.keyPem, wildcard.certPem)
    const seen = await handshake(port, 'x.example.test', [testCa.certPem])
    expect(seen).toMatchObject({ authorized: true, serialNumber: serialOf(wildcard) })
    expect(store.list()).toEqual([
      expect.objectContaining({ domain: 'x.example.test', source: 'api' }),
    ])
  })

  it('installs a wildcard domain that covers one level of names', async () => {
    await store.setCertificate('*.example.test', wildcard.keyPem, wildcard.certPem)
    expect(await store.contextFor('y.example.test')).toBeDefined()
    expect(await store.contextFor('y.z.example.test')).toBeUndefined()
  })
})

describe('CertStore dev leaves and defaults', () => {
  let devCa: KeyPair
  beforeAll(async () => {
    devCa = await loadOrCreateDevCa(await tempDir())
  })

  it('shares one issuance between concurrent lookups of a name', async () => {
    const store = new CertStore({
      certsDir: await tempDir(),
      devCa,
      log: pino({ level: 'silent' }),
    })
    const [first, second] = await Promise.all([
      store.contextFor('x.localhost'),
      store.contextFor('X.localhost.'),
    ])
    expect(first).toBeDefined()
    expect(second).toBe(first)
    expect(store.list().filter((c) => c.domain === 'x.localhost')).toHaveLength(1)
  })

  it('issues nothing for names issueFor refuses, bad names, or without a dev CA', async () => {
    const store = new CertStore({
      certsDir: await tempDir(),
      devCa,
      log: pino({ level: 'silent' }),
    })
    expect(await store.contextFor('example.com')).toBeUndefined()
    expect(await store.contextFor('bad_name.localhost')).toBeUndefined()
    const noCa = new CertStore({ certsDir: await tempDir(), log: pino({ level: 'silent' }) })
    expect(await noCa.contextFor('web.localhost')).toBeUndefined()
  })

  it('bounds the dev leaf cache, dropping the least recently used name', async () => {
    const store = new CertStore({
      certsDir: await tempDir(),
      devCa,
      maxDevLeaves: 2,
      log: pino({ level: 'silent' }),
    })
    const a = await store.contextFor('a.localhost')
    await store.contextFor('b.localhost')
    expect(await store.contextFor('a.localhost')).toBe(a)
    await store.contextFor('c.localhost')
    expect(store.list().map((c) => c.domain)).toEqual(['a.localhost', 'c.localhost'])
    expect(await store.contextFor('b.localhost')).toBeDefined()
    expect(store.list()).toHaveLength(2)
  })

  it('defaults to the localhost dev leaf, which covers 127.0.0.1', async () => {
    const store = new CertStore({
      certsDir: await tempDir(),
      devCa,
      log: pino({ level: 'silent' }),
    })
    const pair = await store.defaultKeyPair()
    expect(new X509Certificate(pair.certPem).subjectAltName).toMatch(
      /^DNS:localhost, IP Address:127\.0\.0\.1/,
    )
    expect(await store.defaultContext()).toBe(await store.contextFor('localhost'))
  })

  it('defaults to the first user certificate without a dev CA', async () => {
    const dir = await tempDir()
    await writePair(dir, 'a.example.test', exact)
    const store = new CertStore({ certsDir: dir, log: pino({ level: 'silent' }) })
    await store.load()
    expect(serialOf(await store.defaultKeyPair())).toBe(serialOf(exact))
  })

  it('falls back to a throwaway self-signed certificate so the server still starts', async () => {
    const store = new CertStore({
      certsDir: path.join(await tempDir(), 'missing'),
      log: pino({ level: 'silent' }),
    })
    await store.load()
    const port = await serve(store)
    const seen = await handshake(port, 'anything.test', [testCa.certPem])
    expect(seen.error).toBe('DEPTH_ZERO_SELF_SIGNED_CERT')
    expect(await store.defaultKeyPair()).toBe(await store.defaultKeyPair())
  })
})

describe('expiry', () => {
  const now = Date.parse('2026-11-23T00:00:00Z')
  it('flags a certificate that expires within 14 days, not one that expires later', () => {
    expect(expiresSoon({ validTo: 'Dec  6 23:00:00 2026 GMT' }, now)).toBe(true)
    expect(expiresSoon({ validTo: 'Dec  8 00:00:00 2026 GMT' }, now)).toBe(false)
    expect(expiresSoon({ validTo: 'Nov  1 00:00:00 2026 GMT' }, now)).toBe(true)
  })

  it('counts whole days left, negative once expired', () => {
    expect(daysLeft({ validTo: 'Dec  3 12:00:00 2026 GMT' }, now)).toBe(10)
    expect(daysLeft({ validTo: 'Nov 21 00:00:00 2026 GMT' }, now)).toBe(-2)
  })
})
