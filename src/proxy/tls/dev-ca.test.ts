import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import { promisify } from 'node:util'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEV_LEAF_VALIDITY_DAYS } from '../../config/defaults.ts'
import {
  DEV_CA_CERT_FILE,
  DEV_CA_KEY_FILE,
  issueLeaf,
  type KeyPair,
  loadOrCreateDevCa,
} from './dev-ca.ts'

const run = promisify(execFile)
const DAY_MS = 24 * 60 * 60_000
const SERVER_AUTH_OID = '1.3.6.1.5.5.7.3.1'

/** captureLog returns a pino logger whose lines land in `lines` (parsed), synchronously. */
function captureLog() {
  const lines: Array<{ level: number; msg: string }> = []
  const log = pino(
    { level: 'debug' },
    { write: (line: string) => void lines.push(JSON.parse(line)) },
  )
  return { log, lines }
}

const tmpDirs: string[] = []
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'portico-dev-ca-'))
  tmpDirs.push(dir)
  return dir
}

afterAll(async () => {
  for (const dir of tmpDirs) await rm(dir, { recursive: true, force: true })
})

describe('loadOrCreateDevCa', () => {
  it('creates the CA once with a 0600 key whatever the umask, then reuses it', async () => {
    const dir = path.join(await tempDir(), 'certs', 'nested')
    const { log, lines } = captureLog()
    const previousUmask = process.umask(0)
    let ca: KeyPair
    try {
      ca = await loadOrCreateDevCa(dir, log)
    } finally {
      process.umask(previousUmask)
    }
    expect((await stat(path.join(dir, DEV_CA_KEY_FILE))).mode & 0o777).toBe(0o600)
    expect((await stat(path.join(dir, DEV_CA_CERT_FILE))).mode & 0o777).toBe(0o644)
    expect((await readdir(dir)).sort()).toEqual([DEV_CA_CERT_FILE, DEV_CA_KEY_FILE])
    expect(await readFile(path.join(dir, DEV_CA_CERT_FILE), 'utf8')).toBe(ca.certPem)

    const again = await loadOrCreateDevCa(dir, log)
    const first = new X509Certificate(ca.certPem)
    expect(new X509Certificate(again.certPem).fingerprint256).toBe(first.fingerprint256)
    expect(again.keyPem).toBe(ca.keyPem)
    const info = lines.filter((l) => l.level === 30)
    expect(info.map((l) => l.msg)).toEqual([
      expect.stringContaining('dev CA created'),
      expect.stringContaining('dev CA loaded'),
    ])
    expect(info[0]?.msg).toContain(path.join(dir, DEV_CA_CERT_FILE))
  })

  it('makes an EC P-256 sha256 CA with critical CA extensions and pathlen 0', async () => {
    const dir = await tempDir()
    const ca = await loadOrCreateDevCa(dir)
    const cert = new X509Certificate(ca.certPem)
    expect(cert.ca).toBe(true)
    expect(cert.subject).toContain('CN=Portico Development CA')
    expect(cert.subject).toContain('O=Portico')
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1')
    const { stdout } = await run('openssl', [
      'x509',
      '-noout',
      '-text',
      '-in',
      path.join(dir, DEV_CA_CERT_FILE),
    ])
    expect(stdout).toContain('ecdsa-with-SHA256')
    expect(stdout).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/)
    expect(stdout).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/)
  })

  it('refuses unparsable CA files and names both files and the fix', async () => {
    const dir = await tempDir()
    await loadOrCreateDevCa(dir)
    await writeFile(path.join(dir, DEV_CA_CERT_FILE), '-----BEGIN CERTIFICATE-----\nnope\n')
    const error = await loadOrCreateDevCa(dir).catch((err: unknown) => err)
    expect(error).toMatchObject({ code: 'PTC_ERR_CERT_INVALID' })
    const message = (error as Error).message
    expect(message).toContain(path.join(dir, DEV_CA_CERT_FILE))
    expect(message).toContain(path.join(dir, DEV_CA_KEY_FILE))
    expect(message).toContain('delete')
  })

  it('refuses a CA whose key does not match, and never overwrites it', async () => {
    const dir = await tempDir()
    const other = await loadOrCreateDevCa(await tempDir())
    const ca = await loadOrCreateDevCa(dir)
    await writeFile(path.join(dir, DEV_CA_KEY_FILE), other.keyPem)
    await expect(loadOrCreateDevCa(dir)).rejects.toThrow(/does not match/)
    expect(await readFile(path.join(dir, DEV_CA_CERT_FILE), 'utf8')).toBe(ca.certPem)
  })

  it('refuses a certificate whose key is missing', async () => {
    const dir = await tempDir()
    await loadOrCreateDevCa(dir)
    await rm(path.join(dir, DEV_CA_KEY_FILE))
    await expect(loadOrCreateDevCa(dir)).rejects.toThrow(/dev-ca\.key is missing/)
  })

  it('replaces a lone key left by an interrupted first run', async () => {
    const dir = await tempDir()
    await writeFile(path.join(dir, DEV_CA_KEY_FILE), 'half-written', { mode: 0o600 })
    const { log, lines } = captureLog()
    const ca = await loadOrCreateDevCa(dir, log)
    expect(await readFile(path.join(dir, DEV_CA_KEY_FILE), 'utf8')).toBe(ca.keyPem)
    expect(lines.some((l) => l.level === 40 && l.msg.includes('without its certificate'))).toBe(
      true,
    )
  })
})

describe('issueLeaf', () => {
  let dir: string
  let ca: KeyPair
  beforeAll(async () => {
    dir = await tempDir()
    ca = await loadOrCreateDevCa(dir)
  })

  it('issues a leaf that openssl verifies for its hostname', async () => {
    const leaf = await issueLeaf(ca, 'web.localhost')
    const leafFile = path.join(dir, 'leaf.pem')
    await writeFile(leafFile, leaf.certPem)
    const caFile = path.join(dir, DEV_CA_CERT_FILE)
    const args = ['verify', '-CAfile', caFile, '-verify_hostname', 'web.localhost', leafFile]
    const { stdout } = await run('openssl', args)
    expect(stdout.trim()).toBe(`${leafFile}: OK`)
    const wrongName = run('openssl', [
      'verify',
      '-CAfile',
      caFile,
      '-verify_hostname',
      'api.localhost',
      leafFile,
    ])
    await expect(wrongName).rejects.toThrow(/hostname mismatch/)
  })

  it('issues a server-only, non-CA, sha256 leaf valid from a few minutes ago', async () => {
    const before = Date.now()
    const leaf = await issueLeaf(ca, 'Web.Localhost.')
    const cert = new X509Certificate(leaf.certPem)
    expect(cert.subjectAltName).toBe('DNS:web.localhost')
    expect(cert.ca).toBe(false)
    expect(cert.keyUsage).toEqual([SERVER_AUTH_OID])
    expect(cert.checkIssued(new X509Certificate(ca.certPem))).toBe(true)
    expect(Date.parse(cert.validFrom)).toBeLessThanOrEqual(before - 60_000)
    const expectedEnd = before + DEV_LEAF_VALIDITY_DAYS * DAY_MS
    expect(Math.abs(Date.parse(cert.validTo) - expectedEnd)).toBeLessThan(60_000)
    const leafFile = path.join(dir, 'leaf-text.pem')
    await writeFile(leafFile, leaf.certPem)
    const { stdout } = await run('openssl', ['x509', '-noout', '-text', '-in', leafFile])
    expect(stdout).toContain('ecdsa-with-SHA256')
    expect(stdout).toMatch(/Basic Constraints: critical\s+CA:FALSE/)
    expect(stdout).toMatch(/Key Usage: critical\s+Digital Signature\n/)
  })

  it('adds 127.0.0.1 and ::1 to the localhost leaf', async () => {
    const leaf = await issueLeaf(ca, 'localhost')
    const cert = new X509Certificate(leaf.certPem)
    expect(cert.subjectAltName).toBe(
      'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    )
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1')
  })

  it('refuses wildcards and malformed names', async () => {
    await expect(issueLeaf(ca, '*.localhost')).rejects.toThrow(/never for a wildcard/)
    await expect(issueLeaf(ca, 'bad name.localhost')).rejects.toMatchObject({
      code: 'PTC_ERR_CERT_INVALID',
    })
    await expect(issueLeaf(ca, '')).rejects.toThrow(/not a valid hostname/)
  })

  it('passes Node TLS verification against the dev CA (authorized === true)', async () => {
    const leaf = await issueLeaf(ca, 'web.localhost')
    const server = tls.createServer({ key: leaf.keyPem, cert: leaf.certPem }, (socket) =>
      socket.end(),
    )
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const { port } = server.address() as { port: number }
      const authorized = await new Promise<boolean>((resolve, reject) => {
        const socket = tls.connect(
          { host: '127.0.0.1', port, servername: 'web.localhost', ca: ca.certPem },
          () => {
            resolve(socket.authorized)
            socket.end()
          },
        )
        socket.once('error', reject)
      })
      expect(authorized).toBe(true)
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
