/**
 * @module The config's policy values, parsed: rates, address ranges, password and token hashes,
 * status lists. Each parser returns the value or a message saying what to write instead, so the
 * schema (config time) and the request path (proxy/policy) read values the same way.
 */
import ipaddr from 'ipaddr.js'

/** A rate as written in the config: `count` requests per `windowMs`. */
export interface Rate {
  count: number
  windowMs: number
}

const WINDOW_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000 }
const RATE = /^\s*(\d{1,9})\s*\/\s*(s|m|h)\s*$/

/**
 * parseRate reads `"100/s"`, `"6000/m"` or `"20000/h"` (requests per second, minute or hour).
 * Returns a message saying what to write instead of throwing, for the config schema.
 */
export function parseRate(text: string): Rate | string {
  const match = RATE.exec(text)
  const count = Number(match?.[1])
  if (match === null || !(count > 0)) {
    return `expected a rate such as "100/s", "6000/m" or "20000/h" (a positive count per s, m or h), got "${text}"`
  }
  return { count, windowMs: WINDOW_MS[match[2] as string] as number }
}

type Address = ipaddr.IPv4 | ipaddr.IPv6

/** A parsed list entry: one address (`bits` = full length) or a range. */
export interface Range {
  address: Address
  bits: number
}

const IPV4_BITS = 32
const IPV6_BITS = 128
/** An IPv4-mapped IPv6 range `::ffff:a.b.c.d/n` covers IPv4 `a.b.c.d/(n - 96)`. */
const MAPPED_BITS = 96

/**
 * parseAddressEntry parses one list entry, an address (`10.0.0.1`, `::1`) or a CIDR range
 * (`10.0.0.0/8`, `fd00::/8`). IPv4 must be four-part decimal; IPv4-mapped IPv6 entries
 * (`::ffff:10.0.0.0/104`) are turned into their IPv4 form, so either spelling matches both the
 * plain and the mapped form of a client address. Returns a message saying what is wrong instead
 * of throwing (the config schema shows it).
 */
export function parseAddressEntry(entry: string): Range | string {
  const text = entry.trim()
  const slash = text.indexOf('/')
  const host = slash === -1 ? text : text.slice(0, slash)
  const isV4 = ipaddr.IPv4.isValidFourPartDecimal(host)
  if (!isV4 && (!ipaddr.IPv6.isValid(host) || host.includes('%'))) {
    return `expected an IPv4 or IPv6 address or CIDR range such as "10.0.0.0/8" or "fd00::/8", got "${entry}"`
  }
  const max = isV4 ? IPV4_BITS : IPV6_BITS
  let bits = max
  if (slash !== -1) {
    const suffix = text.slice(slash + 1)
    bits = /^\d{1,3}$/.test(suffix) ? Number(suffix) : Number.NaN
    if (!(bits >= 0 && bits <= max)) {
      return `expected a prefix length from 0 to ${max} after "/", got "${entry}"`
    }
  }
  const address = ipaddr.parse(host)
  if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()) {
    if (bits >= MAPPED_BITS)
      return { address: (address as ipaddr.IPv6).toIPv4Address(), bits: bits - MAPPED_BITS }
  }
  return { address, bits }
}

/** A parsed, checkable password hash. */
export type PasswordHash =
  | { kind: 'scrypt'; ln: number; r: number; p: number; salt: Buffer; key: Buffer }
  | { kind: 'bcrypt'; hash: string; cost: number }

/** Largest scrypt memory a hash may ask for (128 · N · r bytes): the edge checks several at once. */
export const MAX_SCRYPT_MEMORY_BYTES = 256 * 1024 * 1024
/**
 * Highest bcrypt cost accepted. bcryptjs runs on the event loop (in slices, but on the edge's one
 * thread): cost 10 took ~70 ms here, and each step doubles it. Prefer scrypt for new hashes.
 */
export const MAX_BCRYPT_COST = 14

const PHC_SCRYPT =
  /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/
const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/

/**
 * parsePasswordHash reads a hash as written in `auth.basic.users`, or returns a message saying
 * which forms are accepted (for the config schema). scrypt salt and key are PHC "B64": standard
 * base64 without padding.
 */
export function parsePasswordHash(text: string): PasswordHash | string {
  const scryptMatch = PHC_SCRYPT.exec(text)
  if (scryptMatch !== null) {
    const [ln, r, p] = [1, 2, 3].map((i) => Number(scryptMatch[i]))
    const salt = Buffer.from(scryptMatch[4] as string, 'base64')
    const key = Buffer.from(scryptMatch[5] as string, 'base64')
    if (!(ln && r && p) || ln > 20 || 128 * 2 ** ln * r > MAX_SCRYPT_MEMORY_BYTES) {
      return `scrypt parameters ln=${ln},r=${r},p=${p} are outside what the edge checks (128 · 2^ln · r must stay within 256 MiB); make a new hash with \`portico hash-password\``
    }
    if (salt.length < 8 || key.length < 16) return 'scrypt salt or key is too short'
    return { kind: 'scrypt', ln: ln as number, r: r as number, p: p as number, salt, key }
  }
  const bcryptMatch = BCRYPT.exec(text)
  if (bcryptMatch !== null) {
    const cost = Number(bcryptMatch[1])
    if (cost < 4 || cost > MAX_BCRYPT_COST) {
      return `bcrypt cost ${cost} is outside 4..${MAX_BCRYPT_COST} (bcrypt runs on the edge's event loop); use a lower cost or an scrypt hash from \`portico hash-password\``
    }
    return { kind: 'bcrypt', hash: text, cost }
  }
  return 'expected a password hash: "$scrypt$ln=…,r=…,p=…$salt$key" (from `portico hash-password`) or htpasswd bcrypt "$2y$…"/"$2b$…" (`htpasswd -nB user`)'
}

const TOKEN_HASH = /^sha256:([0-9a-f]{64})$/i

/** parseTokenHash reads `sha256:<64 hex>`, or returns a message saying how to make one. */
export function parseTokenHash(text: string): Buffer | string {
  const match = TOKEN_HASH.exec(text)
  if (match === null) {
    return 'expected a token hash "sha256:<64 hex digits>" (e.g. `printf %s "$TOKEN" | sha256sum`)'
  }
  return Buffer.from(match[1] as string, 'hex')
}

const STATUS_CLASS = /^([1-5])xx$/i

/**
 * parseStatusEntry reads one `unhealthyStatus` entry: an integer 100-599 or a class `"5xx"`.
 * Returns the covered range, or a message saying what to write.
 */
export function parseStatusEntry(entry: number | string): [number, number] | string {
  if (typeof entry === 'number') {
    return Number.isInteger(entry) && entry >= 100 && entry <= 599
      ? [entry, entry]
      : `expected a status code from 100 to 599, got ${entry}`
  }
  const match = STATUS_CLASS.exec(entry.trim())
  if (match === null) return `expected a status code or a class such as "5xx", got "${entry}"`
  const first = Number(match[1]) * 100
  return [first, first + 99]
}
