/** @module compileAddressMatcher: IPv4/IPv6 addresses and CIDR ranges as one compiled predicate. */
import ipaddr from 'ipaddr.js'
import { parseAddressEntry, type Range } from '../../config/policy-values.ts'

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

const MAPPED_PREFIX = '::ffff:'
const IPV4_BITS = 32
const IPV6_BITS = 128
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
