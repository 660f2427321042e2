/** @module Sampler: a periodic `stats:sampled` event with live traffic, targets and instance usage. */
import type { EventBus } from './events.ts'

/** How often the live sample is taken by default, in milliseconds. */
export const DEFAULT_SAMPLE_INTERVAL_MS = 2_000

/** Traffic over one sampling interval (exact: counted since the previous sample). */
export interface IntervalTraffic {
  requestsPerSecond: number
  /** 5xx answers over requests, 0..1 (0 without requests). */
  errorRate: number
  latencyMs: { p50: number; p99: number }
}

/** One target of a route as sampled. */
export interface LiveTarget {
  id: string
  address: string
  state: string
  available: boolean
  inFlight: number
  fails: number
}

/** One route as sampled: its traffic in the interval and its live admission figures. */
export interface LiveRoute extends IntervalTraffic {
  vHost: string
  app: string | null
  /** Requests in flight and waiting in the route queue. */
  active: number
  queued: number
  targets: LiveTarget[]
}

/** One app instance as sampled. */
export interface LiveInstance {
  app: string
  id: string
  pid: number | null
  port: number
  state: string
  restarts: number
  uptimeMs: number | null
  /** CPU of its process tree in percent of one core, null until measured (or without /proc). */
  cpuPercent: number | null
  memoryBytes: number | null
}

/** The `stats:sampled` payload. */
export interface LiveSample {
  /** When it was taken, epoch milliseconds. */
  atMs: number
  /** The interval its traffic figures cover, in milliseconds. */
  intervalMs: number
  total: IntervalTraffic
  routes: LiveRoute[]
  instances: LiveInstance[]
}

/** Options of a Sampler. */
export interface SamplerOptions {
  events: EventBus
  /** Builds one sample; given when it is taken and the interval it covers. */
  collect: (atMs: number, intervalMs: number) => Promise<LiveSample>
  intervalMs?: number
  now?: () => number
  /** Receives a collect failure (the sampler keeps going). */
  onError: (error: unknown) => void
}

/**
 * Sampler emits `stats:sampled` every `intervalMs` (2 s). Samples are taken even without
 * listeners (the interval counters and CPU readings must advance) but never overlap: a slow
 * collect delays the next one. `close()` stops it.
 */
export class Sampler {
  readonly #o: SamplerOptions
  readonly #intervalMs: number
  readonly #now: () => number
  #lastMs: number
  #timer: NodeJS.Timeout | undefined
  #running = false

  constructor(options: SamplerOptions) {
    this.#o = options
    this.#intervalMs = options.intervalMs ?? DEFAULT_SAMPLE_INTERVAL_MS
    this.#now = options.now ?? Date.now
    this.#lastMs = this.#now()
  }

  /** start begins sampling (idempotent). */
  start(): void {
    if (this.#timer !== undefined) return
    this.#timer = setInterval(() => void this.tick(), this.#intervalMs)
    this.#timer.unref()
  }

  /** tick takes one sample now and emits it (skipped while the previous one runs). */
  async tick(): Promise<void> {
    if (this.#running) return
    this.#running = true
    try {
      const atMs = this.#now()
      const sample = await this.#o.collect(atMs, Math.max(1, atMs - this.#lastMs))
      this.#lastMs = atMs
      this.#o.events.emit('stats:sampled', sample)
    } catch (error) {
      this.#o.onError(error)
    } finally {
      this.#running = false
    }
  }

  /** close stops sampling. */
  close(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }
}
