/** @module PEM: parse and check a certificate/key pair; a readable reason for each rejection. */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto'
import { createSecureContext, type SecureContext } from 'node:tls'
import type { KeyPair } from './dev-ca.ts'
import { SECURE_CONTEXT_OPTIONS } from './sni.ts'

/** A pair that parsed, matched and was accepted by TLS. */
export interface ValidPem {
  cert: X509Certificate
  /** Built with SECURE_CONTEXT_OPTIONS. */
  context: SecureContext
}

/**
 * validatePem parses a pair and builds its context; it throws an Error whose message is the
 * readable reason (empty, unparsable, encrypted key, mismatched key, rejected by TLS). It does
 * not check names or expiry: see assertCovers and assertNotExpired.
 */
export function validatePem(pair: KeyPair): ValidPem {
  const cert = parseCertificate(pair.certPem)
  const key = parseKey(pair.keyPem)
  if (!keyMatches(cert, key)) throw new Error('the private key does not match the certificate')
  let context: SecureContext
  try {
    context = createSecureContext({
      ...SECURE_CONTEXT_OPTIONS,
      cert: pair.certPem,
      key: pair.keyPem,
    })
  } catch (err) {
    throw new Error(`TLS rejects the pair (${codeOf(err)})`, { cause: err })
  }
  return { cert, context }
}

function parseCertificate(pem: string): X509Certificate {
  if (pem.trim() === '') throw new Error('the certificate is empty')
  try {
    return new X509Certificate(pem)
  } catch (err) {
    throw new Error(`the certificate is not a valid PEM certificate (${codeOf(err)})`, {
      cause: err,
    })
  }
}

function parseKey(pem: string): KeyObject {
  if (pem.trim() === '') throw new Error('the private key is empty')
  try {
    return createPrivateKey(pem)
  } catch (err) {
    const code = codeOf(err)
    if (code === 'ERR_MISSING_PASSPHRASE') {
      throw new Error('the private key is encrypted; give it without a passphrase', { cause: err })
    }
    throw new Error(`the private key is not a valid PEM private key (${code})`, { cause: err })
  }
}

function keyMatches(cert: X509Certificate, key: KeyObject): boolean {
  try {
    return cert.checkPrivateKey(key)
  } catch {
    // OpenSSL throws instead of answering false for some key-type mixes (EC cert, RSA key).
    return false
  }
}

function codeOf(err: unknown): string {
  const { code, message } = err as { code?: unknown; message?: unknown }
  return typeof code === 'string' ? code : String(message)
}

/** The DNS names a certificate is for: its SAN DNS entries, else its subject CN. */
function namesOf(cert: X509Certificate): string[] {
  const san = (cert.subjectAltName ?? '')
    .split(', ')
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice('DNS:'.length).toLowerCase())
  if (san.length > 0) return san
  const cn = /^CN=(.*)$/m.exec(cert.subject)?.[1]
  return cn === undefined ? [] : [cn.toLowerCase()]
}

/**
 * assertCovers throws unless the certificate is valid for `domain`: a hostname is matched per
 * RFC 6125 (`checkHost`, wildcards included); a `*.parent` domain needs that exact SAN.
 */
export function assertCovers(cert: X509Certificate, domain: string): void {
  const names = namesOf(cert)
  const covered = domain.startsWith('*.')
    ? names.includes(domain)
    : cert.checkHost(domain) !== undefined
  if (covered) return
  const listed = names.length > 0 ? names.join(', ') : 'no DNS name'
  throw new Error(`the certificate does not cover ${domain} (it names ${listed})`)
}

/** assertNotExpired throws if the certificate's validity has ended (by `Date.now()`). */
export function assertNotExpired(cert: X509Certificate): void {
  if (Date.parse(cert.validTo) <= Date.now()) {
    throw new Error(`the certificate expired on ${cert.validTo}`)
  }
}

/** assertWildcardAllowed throws for a wildcard right under a top-level name (`*.test`). */
export function assertWildcardAllowed(_cert: X509Certificate, domain: string): void {
  if (domain.startsWith('*.') && !domain.slice(2).includes('.')) {
    throw new Error(
      `browsers and OpenSSL reject a wildcard right under a top-level name (${domain})`,
    )
  }
}
