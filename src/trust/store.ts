/** @module TrustStore: one place that may trust the dev CA (the system store, an NSS database), behind one small interface. */
import { X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'

/** The CA to trust, with the names stores keep it under. */
export interface TrustedCa {
  /** Absolute path of its PEM certificate. */
  certPath: string
  certPem: string
  /** SHA-256, `AB:CD:…`. */
  fingerprint256: string
  /** SHA-1 without colons (what macOS `security` names certificates by). */
  sha1: string
  /** File name stem in system stores: `portico-dev-ca-<first 8 hex of its SHA-256>`. */
  fileStem: string
  /** NSS nickname: `Portico Development CA <first 8 hex>`, distinct per CA. */
  nickname: string
}

/** readTrustedCa loads the certificate at `certPath` and derives its names. */
export async function readTrustedCa(certPath: string): Promise<TrustedCa> {
  const certPem = await readFile(certPath, 'utf8')
  const cert = new X509Certificate(certPem)
  const short = cert.fingerprint256.replace(/:/g, '').slice(0, 8).toLowerCase()
  return {
    certPath,
    certPem,
    fingerprint256: cert.fingerprint256,
    sha1: cert.fingerprint.replace(/:/g, ''),
    fileStem: `portico-dev-ca-${short}`,
    nickname: `Portico Development CA ${short}`,
  }
}

/** What one action did to one store. */
export type Outcome =
  /** Changed as asked. */
  | { status: 'done' }
  /** Already as asked: nothing to do (actions are idempotent). */
  | { status: 'already' }
  /** Could not be changed: why, and how to do it by hand (root needed, a tool failed). */
  | { status: 'failed'; detail: string }

/** Whether a store exists here and can be used: if not, why (and how to get it). */
export type Availability = { ok: true } | { ok: false; why: string }

/**
 * TrustStore is one place that may trust the dev CA. `install` and `remove` are idempotent and
 * verify their result with `isTrusted`; they say `failed` (never throw) when they cannot act.
 */
export interface TrustStore {
  /** What the user reads: `system (Debian/Ubuntu: /usr/local/share/ca-certificates)`. */
  readonly name: string
  available(): Promise<Availability>
  isTrusted(ca: TrustedCa): Promise<boolean>
  install(ca: TrustedCa): Promise<Outcome>
  remove(ca: TrustedCa): Promise<Outcome>
}

/** pemBody returns the base64 of a PEM certificate on one line, to find it in a bundle. */
export function pemBody(pem: string): string {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '')
}

/** bundleHas reports whether the PEM bundle file at `bundle` holds the certificate `pem`. */
export async function bundleHas(bundle: string, pem: string): Promise<boolean> {
  let text: string
  try {
    text = await readFile(bundle, 'utf8')
  } catch {
    return false
  }
  return text.replace(/\s+/g, '').includes(pemBody(pem))
}
