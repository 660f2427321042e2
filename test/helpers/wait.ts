/** @module waitFor: poll a probe until it yields a truthy value or a deadline passes (never a bare sleep). */

/** Options of waitFor. */
export interface WaitOptions {
  /** Give up after this long, in milliseconds. Default 15000. */
  timeoutMs?: number
  /** Pause between probes, in milliseconds. Default 50. */
  intervalMs?: number
  /** Said in the error when the deadline passes. */
  message?: string
}

/**
 * waitFor calls `probe` until it returns (or resolves to) a truthy value and returns that value.
 * A probe that throws counts as "not yet"; its last error is reported if the deadline passes.
 */
export async function waitFor<T>(
  probe: () => T | Promise<T>,
  options: WaitOptions = {},
): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 15_000
  const intervalMs = options.intervalMs ?? 50
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value) return value as NonNullable<T>
    } catch (error) {
      lastError = error
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : ''
      throw new Error(
        `waitFor timed out after ${timeoutMs} ms: ${options.message ?? 'condition not met'}${why}`,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}
