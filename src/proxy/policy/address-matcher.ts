/** @module compileAddressMatcher: IPv4/IPv6 addresses and CIDR ranges as one compiled predicate. */
import ipaddr from 'ipaddr.js'

type Address = ipaddr.IPv4 | ipaddr.IPv6

/**
 * AddressMatcher answers "is this address listed?" for a fixed list. `has` has the shape of
 * `Set.has`, so code that held a `Set<string>` of exact addresses (edge.trustedProxies) takes a
 * matcher unchanged.
 */
export interface AddressMatcher {
  has(address: string): boolean
  /** How many entries the list had (0: matches nothing). */
  readonly size: number
}

/** A parsed list entry: one address (`bits` = full length) or a range. */
interface Range {
  address: Address
  bits: number
}

const MAPPED_PREFIX = '::ffff:'
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

/** unmapped returns an address without the IPv4-mapped IPv6 prefix (`::ffff:1.2.3.4` → `1.2.3.4`). */
export function unmapped(address: string): string {
  return address.startsWith(MAPPED_PREFIX) && address.includes('.')
    ? address.slice(MAPPED_PREFIX.length)
    : address
}

/**
 * compileAddressMatcher compiles `entries` (addresses and CIDR ranges, IPv4 and IPv6) once, for
 * the request path. `has(address)` takes a socket's remote address or an X-Forwarded-For hop:
 * exact addresses are a Set lookup, ranges are matched only when some entry is a range; an
 * address that does not parse matches nothing. Throws (with the entry named) for a bad entry:
 * the config schema has already refused those, so a throw here is a bug upstream.
 */
export function compileAddressMatcher(entries: readonly string[]): AddressMatcher {
  const exact = new Set<string>()
  const v4: Range[] = []
  const v6: Range[] = []
  for (const entry of entries) {
    const range = parseAddressEntry(entry)
    if (typeof range === 'string') throw new Error(range)
    const full = range.address.kind() === 'ipv4' ? IPV4_BITS : IPV6_BITS
    if (range.bits === full) exact.add(range.address.toString())
    else (range.address.kind() === 'ipv4' ? v4 : v6).push(range)
  }
  const hasRanges = v4.length + v6.length > 0
  return {
    size: entries.length,
    has(address: string): boolean {
      const plain = unmapped(address)
      if (exact.has(plain)) return true
      // A v6 address spelt another way than its canonical form still needs a parse.
      if (!hasRanges && (exact.size === 0 || !plain.includes(':'))) return false
      const parsed = parse(plain)
      if (parsed === undefined) return false
      if (!hasRanges) return exact.has(parsed.toString())
      const ranges = parsed.kind() === 'ipv4' ? v4 : v6
      for (const range of ranges) if (parsed.match(range.address, range.bits)) return true
      return exact.has(parsed.toString())
    },
  }
}

function parse(address: string): Address | undefined {
  // Strict forms only: ipaddr.isValid also takes `0x7f.1` and `127.1`, which no socket reports
  // but a forwarded-for hop could carry to slip past a listed range.
  const valid = address.includes(':')
    ? ipaddr.IPv6.isValid(address) && !address.includes('%')
    : ipaddr.IPv4.isValidFourPartDecimal(address)
  if (!valid) return undefined
  // process() turns an IPv4-mapped IPv6 address (in any spelling) into IPv4.
  return ipaddr.process(address)
}
