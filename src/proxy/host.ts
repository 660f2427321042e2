/** @module Host header normalisation: the one place that decides which hostname a request names. */

const HOST_CHARS = /^[a-z0-9.-]+$/
const IPV6_LITERAL = /^\[[0-9a-f:.]+\]$/

/**
 * normalizeHost returns the routing key for a raw Host (or `:authority`) value: lower-cased,
 * port and one trailing dot removed (RFC 9112 §3.2). It returns null when the value is malformed
 * (empty, userinfo, bad port, stray characters, unbalanced IPv6 brackets); callers answer 400.
 * IPv6 literals keep their brackets (`[::1]`) so they never collide with a hostname.
 */
export function normalizeHost(raw: string | undefined): string | null {
  if (raw === undefined) return null
  const value = raw.trim().toLowerCase()
  if (value === '' || value.length > 260) return null
  let host = value
  let port: string | undefined
  if (value.startsWith('[')) {
    const end = value.indexOf(']')
    if (end === -1) return null
    host = value.slice(0, end + 1)
    const rest = value.slice(end + 1)
    if (rest !== '') {
      if (!rest.startsWith(':')) return null
      port = rest.slice(1)
    }
    if (!IPV6_LITERAL.test(host)) return null
  } else {
    const colon = value.indexOf(':')
    if (colon !== -1) {
      host = value.slice(0, colon)
      port = value.slice(colon + 1)
    }
    if (host.endsWith('.')) host = host.slice(0, -1)
    if (host === '' || !HOST_CHARS.test(host) || host.includes('..') || host.startsWith('.'))
      return null
  }
  if (port !== undefined && !isPort(port)) return null
  return host
}

function isPort(s: string): boolean {
  if (s.length === 0 || s.length > 5) return false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 48 || c > 57) return false
  }
  return Number(s) <= 65535
}
