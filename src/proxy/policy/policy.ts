/** @module The route policy contract: the request view a policy reads and the verdict it returns. */
import type { PorticoError } from '../../errors.ts'

/**
 * RequestView is what a policy may read of a request: built once per request by the loop, only
 * for routes that have policies. HTTP/1.1 requests, WebSocket upgrades and HTTP/2 streams all
 * present the same view, so a policy never knows which one it judges.
 */
export interface RequestView {
  readonly method: string
  /** Path and query as the client sent them (origin-form, before any route rewrite). */
  readonly path: string
  /** The routed host: lower case, without port or trailing dot. */
  readonly host: string
  /**
   * The client's address: the peer's, or the nearest untrusted hop of X-Forwarded-For when the
   * peer is a trusted proxy (clientAddressFrom); IPv4-mapped IPv6 is given as plain IPv4.
   */
  readonly clientAddress: string
  /** Request headers by lower-cased name (Node's `req.headers`; HTTP/2 pseudo-headers included). */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  /** A WebSocket upgrade: HTTP/1.1 `Upgrade: websocket`, or HTTP/2 extended CONNECT (RFC 8441). */
  readonly upgrade: boolean
  /** The client reached the edge over TLS. */
  readonly secure: boolean
  /** The request's one id (logs, error pages, the forward-auth request). */
  readonly requestId: string
}

/**
 * HeaderEdits are changes to the request sent upstream: every client copy of a `remove` name is
 * dropped, then `set` is appended. Forward auth uses it to replace client-sent `X-User` with the
 * auth server's; `stripAuthorization` removes the credential.
 */
export interface HeaderEdits {
  /** Headers to add, as a flat [name, value, …] list. */
  readonly set: readonly string[]
  /** Lower-cased names removed from the client's headers (before `set` is added). */
  readonly remove: readonly string[]
}

/** Let the request go on (to the next policy, then admission), with optional upstream edits. */
export interface Continue {
  readonly kind: 'continue'
  readonly edits?: HeaderEdits | undefined
}

/**
 * Answer with an error page for `error` (its status and code), plus `headers` as a flat list
 * (`WWW-Authenticate`, `Retry-After`, `RateLimit`, …). The request never reaches admission.
 */
export interface Reject {
  readonly kind: 'reject'
  readonly error: PorticoError
  readonly headers: readonly string[]
}

/** Answer with exactly this response (a forward-auth server's denial relayed as is). */
export interface Respond {
  readonly kind: 'respond'
  readonly status: number
  /** Flat [name, value, …] list, hop-by-hop headers already removed. */
  readonly headers: readonly string[]
  readonly body: Buffer
}

/** What a policy decides about one request. */
export type Verdict = Continue | Reject | Respond

/**
 * Policy is one check a route runs before admission. `check` returns a verdict synchronously
 * whenever it can (access lists, a rate-limit token in hand, a cached auth decision): the runner
 * then allocates no promise. It returns a promise only when it must wait (password hashing,
 * forward auth, a token lease). It never throws or rejects for a request's sake: failures of
 * its own dependencies are verdicts (503); a throw is a bug and becomes a 500.
 */
export interface Policy {
  /** Short name for logs and tests: `access-list`, `rate-limit`, `auth`, `auth-provider`. */
  readonly name: string
  check(request: RequestView): Verdict | Promise<Verdict>
}

/** The shared "go on" verdict: returning it allocates nothing. */
export const CONTINUE: Continue = Object.freeze({ kind: 'continue' })

const NO_HEADERS: readonly string[] = Object.freeze([])

/** reject returns a Reject verdict for `error` with extra response headers (a flat list). */
export function reject(error: PorticoError, headers: readonly string[] = NO_HEADERS): Reject {
  return { kind: 'reject', error, headers }
}

/** isPromise tells a pending verdict from a ready one without allocating. */
export function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown }).then === 'function'
}

/** mergeEdits returns `first` then `second` as one edit (the later policy's values win). */
export function mergeEdits(first: HeaderEdits, second: HeaderEdits): HeaderEdits {
  return {
    set: [...dropNames(first.set, second.remove), ...second.set],
    remove: [...first.remove, ...second.remove],
  }
}

function dropNames(flat: readonly string[], lowerNames: readonly string[]): string[] {
  if (lowerNames.length === 0) return [...flat]
  const out: string[] = []
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i] as string
    if (!lowerNames.includes(name.toLowerCase())) out.push(name, flat[i + 1] as string)
  }
  return out
}

/**
 * applyHeaderEdits returns the upstream header list (flat, as buildRequestHeaders makes it) with
 * `edits` applied: names in `remove` dropped, then `set` appended. The policies never name a
 * header Portico owns (X-Forwarded-*, X-Real-IP, X-Request-Id, Host: the schema refuses them),
 * so this can run on the finished list.
 */
export function applyHeaderEdits(flat: readonly string[], edits: HeaderEdits): string[] {
  const out = dropNames(flat, edits.remove)
  for (const item of edits.set) out.push(item)
  return out
}
