/** @module The retry decision: which failed attempts may be tried again on another target. */
import type { Failure } from './forward.ts'

/** Retries after a connect-phase failure (reliability.md: up to 2, each on another target). */
export const MAX_DIAL_RETRIES = 2
/** Retries after a reset of a body-less idempotent request. */
export const MAX_RESET_RETRIES = 1

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/** What shouldRetry needs to know about the request and its history. */
export interface RetryState {
  failure: Failure
  method: string
  hasBody: boolean
  /** Retries already made for this request. */
  retries: number
}

/**
 * shouldRetry returns whether a failed attempt may be repeated on another target (Caddy's
 * tryAgain): a dial failure sent nothing, so any method retries; a reset before any response byte
 * retries only GET/HEAD/OPTIONS without a body; a body already sent (`sent`) or a timeout never
 * retries (retrying timeouts amplifies overload).
 */
export function shouldRetry(state: RetryState): boolean {
  switch (state.failure) {
    case 'dial':
      return state.retries < MAX_DIAL_RETRIES
    case 'reset':
      return state.retries < MAX_RESET_RETRIES && !state.hasBody && SAFE_METHODS.has(state.method)
    case 'sent':
    case 'timeout':
      return false
  }
}
