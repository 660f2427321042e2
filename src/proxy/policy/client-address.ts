/** @module clientAddressFrom: the client's address behind trusted proxies (X-Forwarded-For, right to left). */
import { type AddressMatcher, unmapped } from './address-matcher.ts'

/** Hops of X-Forwarded-For looked at, at most: a longer chain is cut (bounded work per request). */
export const MAX_FORWARDED_HOPS = 32

/**
 * clientAddressFrom returns the address policies judge: the peer's own address, unless the peer
 * is a trusted proxy; then X-Forwarded-For is read from the right, skipping hops that are
 * trusted proxies too, and the first untrusted hop is the client (the hops left of it were
 * written by the client and prove nothing). If every hop is trusted, the leftmost is taken. A
 * hop that is not an address ends the walk and is returned as is: it matches no access list
 * entry, so `allow` refuses it. IPv4-mapped IPv6 comes back as plain IPv4.
 *
 * `forwardedFor` is the raw header (Node joins repeated headers with ", ").
 */
export function clientAddressFrom(
  peer: string,
  forwardedFor: string | undefined,
  trusted: AddressMatcher,
): string {
  let address = unmapped(peer)
  if (forwardedFor === undefined || trusted.size === 0 || !trusted.has(address)) return address
  let end = forwardedFor.length
  for (let hop = 0; hop < MAX_FORWARDED_HOPS && end > 0; hop++) {
    const comma = forwardedFor.lastIndexOf(',', end - 1)
    const candidate = forwardedFor.slice(comma + 1, end).trim()
    end = comma === -1 ? 0 : comma
    if (candidate === '') continue
    address = unmapped(candidate)
    if (!trusted.has(address)) return address
  }
  return address
}
