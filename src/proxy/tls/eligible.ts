/** @module isPublicHostname: which routed hostnames an ACME CA can certify (HTTP-01 / TLS-ALPN-01). */
import { isIP } from 'node:net'

/**
 * Top-level names reserved for private or documentation use that no public CA will certify:
 * RFC 6761 (`test`, `localhost`, `invalid`, `example`), RFC 6762 (`local`), RFC 8375
 * (`home.arpa`), and ICANN's `internal` (2024).
 */
const RESERVED_SUFFIXES = [
  'test',
  'localhost',
  'invalid',
  'example',
  'local',
  'internal',
  'home.arpa',
]

/**
 * isLoopbackName reports a name that only ever reaches this machine: `localhost`, a
 * `*.localhost` name, or an IP literal. Such a name cannot get a public certificate and never
 * fails for a remote visitor, so `portico start` serves it with the fallback certificate instead
 * of refusing to start.
 */
export function isLoopbackName(name: string): boolean {
  return name === 'localhost' || name.endsWith('.localhost') || isIP(name) !== 0
}

/**
 * isPublicHostname reports whether ACME can certify `name` with HTTP-01 or TLS-ALPN-01: a
 * lower-case DNS name of two or more labels, not a wildcard (that needs DNS-01), not an IP,
 * and not under a reserved suffix. It cannot know whether the name really resolves to this
 * machine: the CA finds out.
 */
export function isPublicHostname(name: string): boolean {
  if (name.startsWith('*.') || isIP(name) !== 0 || !name.includes('.')) return false
  return !RESERVED_SUFFIXES.some((suffix) => name === suffix || name.endsWith(`.${suffix}`))
}
