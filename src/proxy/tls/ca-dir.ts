/** @module The user's dev CA: one per user in their data folder, shared by every project; found, adopted from an old certs/, or made. */
import { X509Certificate } from 'node:crypto'
import { chmod, mkdir, readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { writeFileAtomic } from '../../lib/atomic-write.ts'
import type { Logger } from '../../observe/log.ts'
import {
  assertUsableCa,
  DEV_CA_CERT_FILE,
  DEV_CA_KEY_FILE,
  type KeyPair,
  loadOrCreateDevCa,
} from './dev-ca.ts'

/** The dev CA as the rest of Portico sees it: the pair, where its certificate is, its fingerprint. */
export interface UserDevCa {
  ca: KeyPair
  /** Absolute path of `dev-ca.crt` (what users trust, and what NODE_EXTRA_CA_CERTS may name). */
  certPath: string
  /** SHA-256 of the certificate (DER), colon-separated upper-case hex, as browsers show it. */
  fingerprint256: string
}

/** fingerprint256 returns a PEM certificate's SHA-256 fingerprint (`AB:CD:…`). */
export function fingerprint256(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256
}

/**
 * loadUserDevCa returns the dev CA of `caDir` (mode 0700), creating it on first use. A CA that
 * an older Portico made in a project's `certs/` (`legacyDir`) is adopted when `caDir` has none
 * yet, so a browser that already trusts it keeps doing so: both files are copied (key 0600) and
 * the originals are left where they are, for whatever still points at them. When `caDir` has a
 * CA and `legacyDir` holds a different one, a warning says the old one is no longer used.
 */
export async function loadUserDevCa(options: {
  caDir: string
  legacyDir?: string | undefined
  log?: Logger | undefined
}): Promise<UserDevCa> {
  const { caDir, log } = options
  const certPath = path.join(caDir, DEV_CA_CERT_FILE)
  const legacy = options.legacyDir === undefined ? undefined : path.resolve(options.legacyDir)
  const hasOwn = await exists(certPath)
  if (!hasOwn) {
    await mkdir(caDir, { recursive: true, mode: 0o700 })
    await chmod(caDir, 0o700)
    if (legacy !== undefined && legacy !== path.resolve(caDir)) await adopt(legacy, caDir, log)
  } else if (legacy !== undefined && legacy !== path.resolve(caDir)) {
    await warnIfStale(legacy, certPath, log)
  }
  const ca = await loadOrCreateDevCa(caDir, log)
  return { ca, certPath, fingerprint256: fingerprint256(ca.certPem) }
}

/** Copies a usable legacy CA into `caDir`; an unusable one is left alone (a new CA is made). */
async function adopt(legacyDir: string, caDir: string, log: Logger | undefined): Promise<void> {
  const from = {
    cert: path.join(legacyDir, DEV_CA_CERT_FILE),
    key: path.join(legacyDir, DEV_CA_KEY_FILE),
  }
  const [certPem, keyPem] = await Promise.all([readIfExists(from.cert), readIfExists(from.key)])
  if (certPem === undefined || keyPem === undefined) return
  try {
    assertUsableCa({ certPem, keyPem }, from.cert, from.key)
  } catch (error) {
    log?.warn(
      { err: error, cert: from.cert },
      `not adopting the old dev CA ${from.cert}: it is unusable`,
    )
    return
  }
  await writeFileAtomic(path.join(caDir, DEV_CA_KEY_FILE), keyPem, 0o600)
  await writeFileAtomic(path.join(caDir, DEV_CA_CERT_FILE), certPem, 0o644)
  log?.info(
    { from: from.cert, to: caDir },
    `adopted the dev CA of ${legacyDir} as your user-wide dev CA in ${caDir} (trusted stores keep trusting it); the copies in ${legacyDir} are no longer used and may be deleted`,
  )
}

async function warnIfStale(legacyDir: string, certPath: string, log: Logger | undefined) {
  const old = await readIfExists(path.join(legacyDir, DEV_CA_CERT_FILE))
  const own = await readIfExists(certPath)
  if (old === undefined || own === undefined || old.trim() === own.trim()) return
  log?.warn(
    { legacy: legacyDir, caDir: path.dirname(certPath) },
    `${path.join(legacyDir, 'dev-ca.*')} is an older dev CA that Portico no longer uses (it uses ${certPath}); remove it from your trust stores and delete it`,
  )
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file)
    return true
  } catch {
    return false
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

/**
 * appCaFile returns the file apps get as NODE_EXTRA_CA_CERTS: the dev CA's own certificate, or,
 * when Portico itself runs with NODE_EXTRA_CA_CERTS (a company proxy's CA, say), a bundle of
 * both written to `<stateDir>/node-extra-ca-certs.pem`, so the app keeps trusting that CA too.
 */
export async function appCaFile(options: {
  certPath: string
  inherited: string | undefined
  stateDir: string
}): Promise<string> {
  const { certPath, inherited, stateDir } = options
  if (!inherited || path.resolve(inherited) === path.resolve(certPath)) return certPath
  const theirs = await readIfExists(path.resolve(inherited)).catch(() => undefined)
  if (theirs === undefined) return certPath
  const bundle = path.join(stateDir, 'node-extra-ca-certs.pem')
  const own = await readFile(certPath, 'utf8')
  await writeFileAtomic(bundle, `${own.trim()}\n${theirs.trim()}\n`, 0o644)
  return bundle
}
