/** @module Request and response header rewriting: hop-by-hop strip, X-Forwarded-*, route headers. */

/** Hop-by-hop headers (RFC 9110 §7.6.1) plus the legacy ones proxies must not forward. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

/** Request headers Portico sets itself; client copies are dropped (S3: spoofing). */
const OWNED_REQUEST_HEADERS = new Set([
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-real-ip',
  'forwarded',
  // The request's one id is decided once (handler's requestIdOf keeps a well-formed client id).
  'x-request-id',
  // The edge has already answered `100 Continue` itself; the upstream must not wait for it.
  'expect',
])

/** What the proxy knows about the client connection, for the forwarding headers. */
export interface ForwardInfo {
  clientIp: string
  proto: 'http' | 'https'
  /** The Host the client sent (X-Forwarded-Host). */
  host: string
  requestId: string
  /** Extra headers from the route, as a flat [name, value, …] list built once per route. */
  routeHeaders: readonly string[]
  /** Lower-cased names in routeHeaders; the client's copies of these are dropped. */
  routeHeaderNames: ReadonlySet<string>
  /** Whether to keep the client's X-Forwarded-For chain (peer is a trusted proxy). */
  trustForwarded: boolean
}

/** connectionTokens returns the lower-cased header names listed in Connection values. */
function connectionTokens(raw: readonly string[]): Set<string> | undefined {
  let tokens: Set<string> | undefined
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() !== 'connection') continue
    for (const token of (raw[i + 1] as string).split(',')) {
      const name = token.trim().toLowerCase()
      if (name === '') continue
      tokens ??= new Set()
      tokens.add(name)
    }
  }
  return tokens
}

/**
 * buildRequestHeaders returns the flat raw header list to send upstream: the client's end-to-end
 * headers in their order and case, minus hop-by-hop ones, those named in Connection, names with
 * an underscore (nginx default; they alias dashes in CGI-style apps) and client X-Forwarded-*;
 * then the forwarding headers and the route's headers.
 */
export function buildRequestHeaders(rawHeaders: readonly string[], info: ForwardInfo): string[] {
  const named = connectionTokens(rawHeaders)
  const out: string[] = []
  let priorFor: string | undefined
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string
    const lower = name.toLowerCase()
    const value = rawHeaders[i + 1] as string
    if (lower === 'x-forwarded-for') {
      if (info.trustForwarded) priorFor = priorFor === undefined ? value : `${priorFor}, ${value}`
      continue
    }
    if (
      HOP_BY_HOP.has(lower) ||
      OWNED_REQUEST_HEADERS.has(lower) ||
      named?.has(lower) ||
      lower.includes('_') ||
      info.routeHeaderNames.has(lower)
    ) {
      if (lower === 'te' && value.trim().toLowerCase() === 'trailers') out.push(name, value)
      continue
    }
    out.push(name, value)
  }
  out.push(
    'X-Forwarded-For',
    priorFor === undefined ? info.clientIp : `${priorFor}, ${info.clientIp}`,
    'X-Forwarded-Proto',
    info.proto,
    'X-Forwarded-Host',
    info.host,
    'X-Real-IP',
    info.clientIp,
    'X-Request-Id',
    info.requestId,
  )
  for (const h of info.routeHeaders) out.push(h)
  return out
}

/**
 * buildResponseHeaders returns the upstream's response headers minus hop-by-hop ones and those
 * its Connection header names, as a flat raw list for `writeHead`.
 */
export function buildResponseHeaders(rawHeaders: readonly string[]): string[] {
  const named = connectionTokens(rawHeaders)
  const out: string[] = []
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string
    const lower = name.toLowerCase()
    if (HOP_BY_HOP.has(lower) || named?.has(lower)) continue
    out.push(name, rawHeaders[i + 1] as string)
  }
  return out
}

/**
 * rawHeaderValue returns the first value of header `lowerName` in a raw list. Reading
 * `message.headers` instead builds a whole header object per message; the response path needs
 * one value only.
 */
export function rawHeaderValue(
  rawHeaders: readonly string[],
  lowerName: string,
): string | undefined {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string
    if (name.length === lowerName.length && name.toLowerCase() === lowerName)
      return rawHeaders[i + 1]
  }
  return undefined
}

/** flattenHeaders turns a route's `headers` record into the flat list ForwardInfo carries. */
export function flattenHeaders(headers: Readonly<Record<string, string>>): string[] {
  return Object.entries(headers).flat()
}

/** clientAddress returns the peer address without the IPv4-mapped IPv6 prefix. */
export function clientAddress(remote: string | undefined): string {
  if (remote === undefined) return 'unknown'
  return remote.startsWith('::ffff:') ? remote.slice(7) : remote
}

/**
 * clientKey returns the key a client's share of a route is counted under: its IPv4 address, or
 * the /64 prefix of its IPv6 address (one host usually owns a whole /64, so counting single
 * addresses would let it take a route's capacity by rotating them).
 */
export function clientKey(address: string): string {
  if (!address.includes(':')) return address
  const bare = address.split('%', 1)[0] as string
  const [head = '', tail] = bare.split('::', 2)
  const front = head === '' ? [] : head.split(':')
  let groups = front
  if (tail !== undefined) {
    const back = tail === '' ? [] : tail.split(':')
    // A dotted IPv4 tail (`::1.2.3.4`) fills two groups.
    const backGroups = back.length + (back.at(-1)?.includes('.') ? 1 : 0)
    const fill = Math.max(0, 8 - front.length - backGroups)
    groups = [...front, ...Array<string>(fill).fill('0'), ...back]
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`
}
