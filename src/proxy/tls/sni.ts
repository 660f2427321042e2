/** @module SNI: hardened TLS options, RFC 6066 name normalisation and the SNICallback over a CertStore. */
import type { SecureContext, SecureContextOptions, TlsOptions } from 'node:tls'
import { TLS_HANDSHAKE_TIMEOUT_MS } from '../../config/defaults.ts'
import type { Logger } from '../../observe/log.ts'
import type { CertStore } from './cert-store.ts'

/**
 * TLS 1.2 suites we accept: ECDHE key exchange with an AEAD cipher only. Node's default list also
 * offers static-RSA and CBC suites (testssl `cipherlist_AVERAGE`, `LUCKY13`; reliability.md S9).
 * TLS 1.3 suites are not listed on purpose: Node keeps its TLS 1.3 defaults when the string names
 * none, and all of them are AEAD.
 */
const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':')

/**
 * SECURE_CONTEXT_OPTIONS is what every `tls.createSecureContext` call in Portico spreads in:
 * TLS 1.2 minimum and the ECDHE + AEAD cipher list. A context handed out by the SNICallback
 * brings its own cipher list, so it must be as strict as the server's.
 */
export const SECURE_CONTEXT_OPTIONS = {
  minVersion: 'TLSv1.2',
  ciphers: TLS12_CIPHERS,
  honorCipherOrder: true,
} as const satisfies SecureContextOptions

/**
 * TLS_SERVER_OPTIONS is spread into `https.createServer` / `http2.createSecureServer` options.
 * The protocol range is fixed by the server's own context before SNI picks another one, so
 * `minVersion` must be set here and not only on the SNI contexts. `handshakeTimeout` is
 * TLS_HANDSHAKE_TIMEOUT_MS (Node's 120 s default lets partial ClientHellos hold sockets).
 */
export const TLS_SERVER_OPTIONS = {
  ...SECURE_CONTEXT_OPTIONS,
  handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
} as const satisfies TlsOptions

/** Longest DNS name in its text form, without the trailing dot (RFC 1035 §2.3.4). */
const MAX_HOSTNAME_LENGTH = 253
/** Dot-separated labels of 1–63 letters, digits or hyphens. Linear: labels cannot overlap. */
const HOSTNAME_PATTERN = /^[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63})*$/

/**
 * normalizeHostname returns `name` lower-cased with one trailing dot removed, or undefined when
 * the result is empty, longer than 253 characters, has an empty or over-long label, or holds a
 * character outside `[a-z0-9.-]`. SNI carries DNS names only (RFC 6066 §3), and a trailing dot
 * names the same host (Traefik `matchDomain`). Rejecting empty labels keeps `.example.test`
 * from matching the `*.example.test` certificate.
 */
export function normalizeHostname(name: string): string | undefined {
  if (name.length === 0 || name.length > MAX_HOSTNAME_LENGTH + 1) return undefined
  let host = name.toLowerCase()
  if (host.endsWith('.')) host = host.slice(0, -1)
  if (host.length > MAX_HOSTNAME_LENGTH || !HOSTNAME_PATTERN.test(host)) return undefined
  return host
}

/** The shape of Node's `SNICallback` option. */
export type SniCallback = (
  servername: string,
  cb: (err: Error | null, ctx?: SecureContext) => void,
) => void

/** SNI names are client-controlled: log at most this many characters of one. */
const MAX_LOGGED_NAME_LENGTH = 256

/**
 * createSniCallback returns the `SNICallback` for the HTTPS server: the store's context for the
 * name (user certificate, wildcard, or dev leaf), else the store's default context. It never
 * throws and never passes an error to `cb` (that would drop the handshake, and a throw there was
 * a DoS: CVE-2026-21637); a failure inside, such as a dev leaf that cannot be issued, is logged
 * at warn and the server's own default certificate is served instead.
 */
export function createSniCallback(store: CertStore, log: Logger): SniCallback {
  return function sniCallback(servername, cb) {
    void contextOrDefault(store, servername, log).then((ctx) => cb(null, ctx))
  }
}

async function contextOrDefault(
  store: CertStore,
  servername: string,
  log: Logger,
): Promise<SecureContext | undefined> {
  try {
    return (await store.contextFor(servername)) ?? (await store.defaultContext())
  } catch (err) {
    const name = String(servername).slice(0, MAX_LOGGED_NAME_LENGTH)
    log.warn({ err, servername: name }, 'TLS: no certificate for this name, serving the default')
    return undefined
  }
}
