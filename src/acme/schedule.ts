/** @module When to renew a certificate and when to try again after a failure: pure, clock and chance injected. */
import {
  ACME_MIN_RENEWAL_SPACING_MS,
  ACME_RATE_LIMIT_PAUSE_MS,
  ACME_RETRY_BASE_MS,
  ACME_RETRY_MAX_MS,
} from '../config/defaults.ts'

/** A certificate's validity, in epoch milliseconds. */
export interface Validity {
  notBeforeMs: number
  notAfterMs: number
}

/** What the CA said about a failure, when it said anything. */
export interface FailureHint {
  /** The server's Retry-After, in milliseconds from now. */
  retryAfterMs?: number | undefined
  /** The failure was a rate limit (HTTP 429 or `urn:ietf:params:acme:error:rateLimited`). */
  rateLimited?: boolean | undefined
}

/** Jitter spreads retries over ±20 % so many names (or many servers) do not retry in step. */
const JITTER = 0.2

/**
 * renewAtMs returns when renewal of a certificate starts: once `windowRatio` of its lifetime is
 * left (1/3 by default, so at two thirds; 1 means at once). Let's Encrypt's 90-day certificates
 * renew after 60 days, its 6-day ones after 4.
 */
export function renewAtMs(validity: Validity, windowRatio: number): number {
  const lifetimeMs = validity.notAfterMs - validity.notBeforeMs
  return validity.notBeforeMs + Math.round(lifetimeMs * (1 - windowRatio))
}

/**
 * nextRenewalMs returns when a valid certificate is next looked at: its renewal time, but never
 * sooner than ACME_MIN_RENEWAL_SPACING_MS after `obtainedAtMs` (set when this process obtained
 * it), so a window ratio of 1 renews once per start instead of in a loop.
 */
export function nextRenewalMs(
  validity: Validity,
  windowRatio: number,
  obtainedAtMs: number | undefined,
): number {
  const renewAt = renewAtMs(validity, windowRatio)
  return obtainedAtMs === undefined
    ? renewAt
    : Math.max(renewAt, obtainedAtMs + ACME_MIN_RENEWAL_SPACING_MS)
}

/**
 * retryDelayMs returns the pause before the next attempt after `failures` failures in a row
 * (1 for the first): ACME_RETRY_BASE_MS doubled per failure up to ACME_RETRY_MAX_MS, jittered
 * ±20 %, and never shorter than the server's Retry-After (RFC 8555 §6.6) or, for a rate limit
 * that named no time, ACME_RATE_LIMIT_PAUSE_MS. `random` returns [0, 1).
 */
export function retryDelayMs(
  failures: number,
  hint: FailureHint = {},
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, failures - 1)
  const backoffMs = Math.min(ACME_RETRY_BASE_MS * 2 ** exponent, ACME_RETRY_MAX_MS)
  const jittered = Math.round(backoffMs * (1 - JITTER + 2 * JITTER * random()))
  const floorMs = hint.retryAfterMs ?? (hint.rateLimited === true ? ACME_RATE_LIMIT_PAUSE_MS : 0)
  return Math.max(jittered, floorMs)
}
