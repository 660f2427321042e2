/** @module Passive health outcomes: which answered responses count as a failure of their target. */
import { parseStatusEntry } from '../../config/policy-values.ts'

/** Upstream statuses that count as failures by default (a proxy's signs of a sick app). */
export const DEFAULT_UNHEALTHY_STATUS = [502, 503, 504] as const

/** What makes an answered response a failure (`unhealthyStatus`, `unhealthyLatency`). */
export interface OutcomePolicy {
  /** Status codes (100-599) or classes (`"5xx"`) that count as failures. */
  unhealthyStatus?: readonly (number | string)[] | undefined
  /** A response whose headers took longer than this, in milliseconds, counts as a failure. */
  unhealthyLatencyMs?: number | undefined
}

/** A compiled OutcomePolicy: the request loop calls `failed` once per answered attempt. */
export interface ResponseOutcome {
  failed(status: number, latencyMs: number): boolean
}

/**
 * compileOutcome returns the passive-health test of a route or app: a response fails when its
 * status is listed (default 502, 503, 504) or when it took longer than `unhealthyLatencyMs`
 * (default: latency never fails). Statuses are a 600-entry table, so `failed` is two lookups.
 * Connect errors, resets and timeouts are failures regardless, and counted by the loop itself.
 */
export function compileOutcome(policy: OutcomePolicy = {}): ResponseOutcome {
  const table = new Uint8Array(600)
  for (const entry of policy.unhealthyStatus ?? DEFAULT_UNHEALTHY_STATUS) {
    const range = parseStatusEntry(entry)
    if (typeof range === 'string') throw new Error(range)
    table.fill(1, range[0], range[1] + 1)
  }
  const slowMs = policy.unhealthyLatencyMs ?? Number.POSITIVE_INFINITY
  return {
    failed(status, latencyMs) {
      return table[status] === 1 || latencyMs > slowMs
    },
  }
}
