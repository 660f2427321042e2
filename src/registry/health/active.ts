/** @module ActiveProbe: brings ejected targets back once probes pass `rise` times in a row. */

import type { Target } from '../target.ts'
import type { Upstream } from '../upstream.ts'
import { probe } from './probe.ts'

/** Consecutive passing probes before an unhealthy target rejoins rotation. */
export const ACTIVE_RISE = 2

/** Options of an ActiveProbe. */
export interface ActiveProbeOptions {
  upstream: Upstream
  intervalMs: number
  timeoutMs: number
  path?: string | undefined
  /** Called when a target rejoins rotation (for logs and events). */
  onRecovered?: (target: Target) => void
}

/**
 * ActiveProbe periodically probes the upstream's `unhealthy` targets (ejected by passive health
 * or by a failing probe) and moves a target back to `healthy` after ACTIVE_RISE passes in a row.
 * Targets the supervisor owns the state of (`starting`, `draining`, `stopped`, `crashed`) and
 * targets an operator marked dead are left alone. `close()` stops the loop.
 */
export class ActiveProbe {
  #options: ActiveProbeOptions
  #passes = new WeakMap<Target, number>()
  #timer: NodeJS.Timeout | undefined
  #running = false

  constructor(options: ActiveProbeOptions) {
    this.#options = options
  }

  /** start begins probing every intervalMs. */
  start(): void {
    if (this.#timer) return
    this.#timer = setInterval(() => void this.tick(), this.#options.intervalMs)
    this.#timer.unref()
    // Probe at once: a probe replaced by a config change must not push recovery a full
    // interval further each time.
    void this.tick()
  }

  /** tick probes every unhealthy target once (exposed for tests). Overlapping ticks are skipped. */
  async tick(): Promise<void> {
    if (this.#running) return
    this.#running = true
    try {
      const sick = this.#options.upstream
        .targets()
        .filter((t) => t.state === 'unhealthy' && !t.markedDead)
      await Promise.all(sick.map((t) => this.#check(t)))
    } finally {
      this.#running = false
    }
  }

  close(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  async #check(target: Target): Promise<void> {
    const ok = await probe({
      host: target.host,
      port: target.port,
      path: this.#options.path,
      timeoutMs: this.#options.timeoutMs,
    })
    if (!ok) {
      this.#passes.delete(target)
      return
    }
    const passes = (this.#passes.get(target) ?? 0) + 1
    if (passes < ACTIVE_RISE) {
      this.#passes.set(target, passes)
      return
    }
    this.#passes.delete(target)
    target.setFailures(0)
    // The target may have been replaced under the same id while we probed (moved instance).
    if (this.#options.upstream.get(target.id) !== target) return
    if (target.state === 'unhealthy' && this.#options.upstream.setState(target.id, 'healthy')) {
      this.#options.onRecovered?.(target)
    }
  }
}
