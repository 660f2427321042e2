/** @module StickyCookie: the signed cookie naming a client's target (HMAC-SHA256, optional expiry). */
import { createHmac, timingSafeEqual } from 'node:crypto'

/** Options of a route's sticky cookie. */
export interface StickyCookieOptions {
  /** Cookie name (`sticky.cookie`). */
  name: string
  /** Lifetime in milliseconds (`sticky.ttl`); without it, a session cookie that never expires. */
  ttlMs?: number | undefined
  /** The HMAC key: made once per state dir (loadOrCreateSecret), the same in every worker. */
  secret: Buffer
  now?: () => number
}

/** Signature length in bytes (128 bits of HMAC-SHA256: forgery is out of reach, the cookie short). */
const MAC_BYTES = 16

/**
 * StickyCookie writes and reads the cookie that pins a client to a target:
 * `<base64url(target id)>.<expiry, base-36 seconds, 0 for none>.<base64url(mac)>`, where the MAC
 * covers the cookie name, the id and the expiry. The id is readable (it names an instance, e.g.
 * `web#0`, or a backend id) but cannot be forged or moved to another expiry; a cookie that fails
 * the check, or has expired, reads as no cookie.
 */
export class StickyCookie {
  readonly name: string
  #ttlMs: number | undefined
  #secret: Buffer
  #now: () => number
  #attributes: string

  constructor(options: StickyCookieOptions) {
    this.name = options.name
    this.#ttlMs = options.ttlMs
    this.#secret = options.secret
    this.#now = options.now ?? Date.now
    const maxAge = options.ttlMs === undefined ? '' : `; Max-Age=${Math.ceil(options.ttlMs / 1000)}`
    this.#attributes = `; Path=/${maxAge}; HttpOnly; SameSite=Lax`
  }

  /**
   * read returns the target id in the request's `Cookie` header (Node's joined string), or
   * undefined when the cookie is absent, malformed, forged or expired.
   */
  read(cookieHeader: string | undefined): string | undefined {
    const value = cookieHeader === undefined ? undefined : cookieValue(cookieHeader, this.name)
    if (value === undefined) return undefined
    const [encodedId, expiry, mac] = value.split('.')
    if (encodedId === undefined || expiry === undefined || mac === undefined) return undefined
    const given = Buffer.from(mac, 'base64url')
    const expected = this.#mac(encodedId, expiry)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
    const expiresAtS = Number.parseInt(expiry, 36)
    if (expiresAtS !== 0 && expiresAtS * 1000 <= this.#now()) return undefined
    return Buffer.from(encodedId, 'base64url').toString('utf8')
  }

  /** setCookie returns a `Set-Cookie` value naming `targetId` (`Secure` for a TLS client). */
  setCookie(targetId: string, secure: boolean): string {
    const encodedId = Buffer.from(targetId, 'utf8').toString('base64url')
    const expiry =
      this.#ttlMs === undefined ? '0' : Math.ceil((this.#now() + this.#ttlMs) / 1000).toString(36)
    const mac = this.#mac(encodedId, expiry).toString('base64url')
    return `${this.name}=${encodedId}.${expiry}.${mac}${this.#attributes}${secure ? '; Secure' : ''}`
  }

  #mac(encodedId: string, expiry: string): Buffer {
    const hmac = createHmac('sha256', this.#secret)
    hmac.update(this.name).update('\0').update(encodedId).update('\0').update(expiry)
    return hmac.digest().subarray(0, MAC_BYTES)
  }
}

/** cookieValue returns the value of cookie `name` in a Cookie header (RFC 6265 §5.4 form). */
export function cookieValue(header: string, name: string): string | undefined {
  let start = 0
  while (start < header.length) {
    let end = header.indexOf(';', start)
    if (end === -1) end = header.length
    const pair = header.slice(start, end).trim()
    const eq = pair.indexOf('=')
    if (eq !== -1 && pair.slice(0, eq).trim() === name) {
      const value = pair.slice(eq + 1).trim()
      return value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value
    }
    start = end + 1
  }
  return undefined
}
