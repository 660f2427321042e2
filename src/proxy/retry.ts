/** @module The retry decision: which failed attempts may be tried again on another target. */
import type { Failure } from './forward.ts'

/** Retries after a connect-phase failure (reliability.md: up to 2, each on another target). */
export const MAX_DIAL_RETRIES = 2
/** Retries after a reset of a body-less idempotent request. */
export const MAX_RESET_RETRIES = 1

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])
/** RFC 9110 §9.2.2: repeating these has the effect of doing them once. */
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])

/**
 * A route's retry settings (`retries`, `retryOn`, `tryDuration`). Without them (or with a field
 * left out) the defaults hold: 2 retries after a dial failure, 1 after a reset, none on a status,
 * no time budget.
 */
export interface RetryPolicy {
  /** Most retries of one request, for every kind of failure. */
  retries?: number | undefined
  /** Statuses on which an idempotent, body-less request is tried again on another target. */
  retryOn?: ReadonlySet<number> | undefined
  /** No retry starts once this long has passed since the request arrived, in milliseconds. */
  tryDurationMs?: number | undefined
}

/**
 * What failed: a forward Failure, or `status`: the target answered with a status listed in
 * `retryOn` (the loop has not relayed that answer yet).
 */
export type RetryFailure = Failure | 'status'

/** What shouldRetry needs to know about the request and its history. */
export interface RetryState {
  failure: RetryFailure
  method: string
  hasBody: boolean
  /** Retries already made for this request. */
  retries: number
  /** The answer's status, for `failure: 'status'`. */
  status?: number | undefined
  /** Time since the request arrived, in milliseconds (for `tryDuration`). */
  elapsedMs?: number | undefined
}

/**
 * shouldRetry returns whether a failed attempt may be repeated on another target (Caddy's
 * tryAgain): a dial failure sent nothing, so any method retries; a reset before any response byte
 * retries only GET/HEAD/OPTIONS without a body; a status in `retryOn` retries only an idempotent
 * method (RFC 9110 §9.2.2) without a body; a body already sent (`sent`) or a timeout never
 * retries (retrying timeouts amplifies overload). `policy` sets the count and the time budget.
 */
export function shouldRetry(state: RetryState, policy?: RetryPolicy): boolean {
  if (policy?.tryDurationMs !== undefined && (state.elapsedMs ?? 0) >= policy.tryDurationMs) {
    return false
  }
  const limit = policy?.retries
  switch (state.failure) {
    case 'dial':
      return state.retries < (limit ?? MAX_DIAL_RETRIES)
    case 'reset':
      return (
        state.retries < (limit ?? MAX_RESET_RETRIES) &&
        !state.hasBody &&
        SAFE_METHODS.has(state.method)
      )
    case 'status':
      return (
        state.status !== undefined &&
        policy?.retryOn?.has(state.status) === true &&
        state.retries < (limit ?? MAX_RESET_RETRIES) &&
        !state.hasBody &&
        IDEMPOTENT_METHODS.has(state.method)
      )
    case 'sent':
    case 'timeout':
      return false
  }
}
