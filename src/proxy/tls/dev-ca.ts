/** @module The local development CA: made once in its folder (one per user, see ca-dir.ts), then used to issue a leaf per hostname. */
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { mkdir, readFile, stat } from 'node:fs/promises'
import { isIP } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { generate } from 'selfsigned'
import { DEV_CA_VALIDITY_YEARS, DEV_LEAF_VALIDITY_DAYS } from '../../config/defaults.ts'
import { errors } from '../../errors.ts'
import { writeFileAtomic } from '../../lib/atomic-write.ts'
import type { Logger } from '../../observe/log.ts'
import { normalizeHostname } from './sni.ts'

/** A certificate (PEM, possibly followed by its chain) and its private key (PEM). */
export interface KeyPair {
  certPem: string
  keyPem: string
}

/** File name of the dev CA certificate in its folder (public; users trust this file). */
export const DEV_CA_CERT_FILE = 'dev-ca.crt'
/** File name of the dev CA private key in its folder (mode 0600). */
export const DEV_CA_KEY_FILE = 'dev-ca.key'
/** Common name of the dev CA, as shown in browser and OS trust stores. */
export const DEV_CA_COMMON_NAME = 'Portico Development CA'

/** Certificates start this long before "now", so a client whose clock is behind still accepts them. */
const CLOCK_SKEW_MS = 5 * 60_000
const DAY_MS = 24 * 60 * 60_000
/** Longest commonName X.509 allows (RFC 5280 ub-common-name); longer names live in the SAN only. */
const MAX_COMMON_NAME_LENGTH = 64
const KEY_FILE_MODE = 0o600
const CERT_FILE_MODE = 0o644
const CA_DIR_MODE = 0o700

/**
 * loadOrCreateDevCa returns the dev CA kept in `caDir`, creating it on first run.
 *
 * Creation makes `caDir` (0700 when new), then writes `dev-ca.key` (0600 whatever the umask)
 * and `dev-ca.crt` (0644), each atomically (temp file in the same folder, fsync, rename). The key
 * is written first: a certificate on disk means a complete CA that someone may already trust, so
 * it is never replaced. Later runs reuse both files; if they exist but are unusable (unparsable,
 * mismatched, not a CA, expired) or the key is missing, this throws PTC_ERR_CERT_INVALID naming
 * both files and the fix (delete both, then trust the new CA). A key without a certificate is
 * what an interrupted first run leaves, so a new CA replaces it. Logs once at info where the CA
 * is and how to trust it. Not safe against two processes creating the same CA at once.
 */
export async function loadOrCreateDevCa(caDir: string, log?: Logger): Promise<KeyPair> {
  const certPath = path.join(caDir, DEV_CA_CERT_FILE)
  const keyPath = path.join(caDir, DEV_CA_KEY_FILE)
  const [certPem, keyPem] = await Promise.all([readIfExists(certPath), readIfExists(keyPath)])
  if (certPem !== undefined) {
    if (keyPem === undefined) throw unusableCa(certPath, keyPath, `${keyPath} is missing`)
    const ca = assertUsableCa({ certPem, keyPem }, certPath, keyPath)
    await warnIfKeyExposed(keyPath, log)
    log?.info({ cert: certPath }, trustHint('dev CA loaded', certPath))
    return ca
  }
  if (keyPem !== undefined) {
    log?.warn(
      { key: keyPath },
      'dev CA key without its certificate (interrupted first run?): replacing both',
    )
  }
  const ca = await createCa()
  await mkdir(caDir, { recursive: true, mode: CA_DIR_MODE })
  await writeFileAtomic(keyPath, ca.keyPem, KEY_FILE_MODE)
  await writeFileAtomic(certPath, ca.certPem, CERT_FILE_MODE)
  log?.info({ cert: certPath }, trustHint('dev CA created', certPath))
  return ca
}

/**
 * issueLeaf returns a new EC (or RSA, if the CA key is RSA) server certificate for `hostname`
 * signed by `ca`: sha256, SAN `DNS:hostname` (plus `IP:127.0.0.1` and `IP:::1` for `localhost`;
 * an IP address gets an IP SAN), CA:false, keyUsage digitalSignature, extKeyUsage serverAuth,
 * valid DEV_LEAF_VALIDITY_DAYS from a few minutes ago. Throws PTC_ERR_CERT_INVALID for a wildcard
 * or a malformed name: browsers and OpenSSL reject `*.localhost`, so every name gets its own leaf.
 * Takes ~25 ms of CPU (EC); callers cache the result.
 */
export async function issueLeaf(ca: KeyPair, hostname: string): Promise<KeyPair> {
  const name = isIP(hostname) ? hostname : normalizeHostname(hostname)
  if (name === undefined) {
    const reason = hostname.includes('*')
      ? 'dev certificates are issued per hostname, never for a wildcard'
      : 'not a valid hostname'
    throw new errors.PTC_ERR_CERT_INVALID(hostname, reason)
  }
  const now = Date.now()
  const subject = name.length <= MAX_COMMON_NAME_LENGTH ? [{ name: 'commonName', value: name }] : []
  const pems = await generate(subject, {
    keyType: createPrivateKey(ca.keyPem).asymmetricKeyType === 'rsa' ? 'rsa' : 'ec',
    algorithm: 'sha256',
    ca: { key: ca.keyPem, cert: ca.certPem },
    notBeforeDate: new Date(now - CLOCK_SKEW_MS),
    notAfterDate: new Date(now + DEV_LEAF_VALIDITY_DAYS * DAY_MS),
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: altNamesFor(name) },
    ],
  })
  return { certPem: pems.cert, keyPem: pems.private }
}

type AltName = { type: 2; value: string } | { type: 7; ip: string }

function altNamesFor(name: string): AltName[] {
  if (isIP(name)) return [{ type: 7, ip: name }]
  if (name !== 'localhost') return [{ type: 2, value: name }]
  return [
    { type: 2, value: name },
    { type: 7, ip: '127.0.0.1' },
    { type: 7, ip: '::1' },
  ]
}

async function createCa(): Promise<KeyPair> {
  const now = new Date()
  const notAfter = new Date(now)
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + DEV_CA_VALIDITY_YEARS)
  const attrs = [
    { name: 'commonName', value: DEV_CA_COMMON_NAME },
    { name: 'organizationName', value: 'Portico' },
    // Without Authority Key Identifiers (selfsigned writes none), verifiers find the issuer by
    // name: a unique OU keeps a new CA apart from an old one still in a trust store (mkcert does the same).
    { shortName: 'OU', value: `${caOwner()} ${now.toISOString()}` },
  ]
  const pems = await generate(attrs, {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfterDate: notAfter,
    extensions: [
      { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  })
  return { certPem: pems.cert, keyPem: pems.private }
}

/** user@host, reduced to characters that cannot break selfsigned's `OU=value, …` name string. */
function caOwner(): string {
  let user = 'user'
  try {
    user = os.userInfo().username
  } catch {
    // No passwd entry (containers with an arbitrary uid): the CA only needs a label here.
  }
  return `${user}@${os.hostname()}`.replace(/[^A-Za-z0-9@._-]/g, '-')
}

/**
 * assertUsableCa returns `ca` when its key matches its certificate, the certificate is a CA and
 * it has not expired; otherwise it throws PTC_ERR_CERT_INVALID naming both files and the fix.
 */
export function assertUsableCa(ca: KeyPair, certPath: string, keyPath: string): KeyPair {
  let cert: X509Certificate
  try {
    cert = new X509Certificate(ca.certPem)
  } catch (err) {
    throw unusableCa(certPath, keyPath, `${certPath} is not a PEM certificate`, err)
  }
  let matches: boolean
  try {
    matches = cert.checkPrivateKey(createPrivateKey(ca.keyPem))
  } catch (err) {
    throw unusableCa(certPath, keyPath, `${keyPath} is not a usable PEM private key`, err)
  }
  if (!matches) throw unusableCa(certPath, keyPath, 'the key does not match the certificate')
  if (!cert.ca) throw unusableCa(certPath, keyPath, `${certPath} is not a CA certificate`)
  if (Date.parse(cert.validTo) <= Date.now()) {
    throw unusableCa(certPath, keyPath, `the dev CA expired on ${cert.validTo}`)
  }
  return ca
}

function unusableCa(certPath: string, keyPath: string, reason: string, cause?: unknown): Error {
  const fix = `delete ${certPath} and ${keyPath} to create a new dev CA, then trust the new one`
  return new errors.PTC_ERR_CERT_INVALID(certPath, `unusable dev CA: ${reason}; ${fix}`, { cause })
}

function trustHint(what: string, certPath: string): string {
  return (
    `${what}: ${certPath}. Trust it once for every project with \`portico trust\` (system store, ` +
    'Chrome/Chromium and Firefox); `portico trust --check` tells which stores trust it. Tools: ' +
    `NODE_EXTRA_CA_CERTS=${certPath}, curl --cacert ${certPath}`
  )
}

async function warnIfKeyExposed(keyPath: string, log: Logger | undefined): Promise<void> {
  const { mode } = await stat(keyPath)
  if ((mode & 0o077) !== 0) {
    const octal = (mode & 0o777).toString(8)
    log?.warn(
      { key: keyPath, mode: octal },
      `dev CA key is readable by others: chmod 600 ${keyPath}`,
    )
  }
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}
