/** @module Tracker: sliding-window and all-time request stats per route, per target and overall. */
import { type RecencyLink, RecencyList, recencyLink } from '../lib/recency-list.ts'
import type { EventBus, RequestCompleted } from './events.ts'
import {
  clearRing,
  createRing,
  createSample,
  createTotals,
  createWindowSum,
  latencyBin,
  type Ring,
  recordRing,
  recordTotals,
  round,
  type Sample,
  statusClassIndex,
  sumWindow,
  type TotalStats,
  totalStats,
  type WindowStats,
  windowStats,
} from './window.ts'

export {
  type LatencySummary,
  STATUS_CLASSES,
  type StatusClass,
  type StatusCounts,
  statusClassIndex,
  type TotalStats,
  type WindowStats,
} from './window.ts'

const MS_PER_SECOND = 1000
const DEFAULT_WINDOW_SECONDS = 60
const DEFAULT_MAX_KEYS = 10_000
const DEFAULT_MAX_WINDOWS = 1_000

/** Traffic figures shared by route, target and global stats. */
export interface TrafficStats {
  /** Requests since start; never resets (equals `totals.requests`). */
  totalRequests: number
  /** Window requests divided by the seconds the window covers (less than `seconds` just after start). */
  requestsPerSecond: number
  window: WindowStats
  totals: TotalStats
}

/** Stats of one route, keyed by its configured vHost (`*.x` for a wildcard route). */
export interface RouteStats extends TrafficStats {
  vHost: string
}

/** Stats of one target, keyed by target id (`web#0`, `host:port`). */
export interface TargetStats extends TrafficStats {
  target: string
}

/** Stats over every routed request; `since` is when the tracker started (ISO 8601). */
export interface GlobalStats extends TrafficStats {
  since: string
}

/** How many series the tracker holds; each is bounded by an option (see Tracker). */
export interface TrackerSize {
  routes: number
  targets: number
  /** Window rings allocated for routes and targets together (the bulk of the memory). */
  windows: number
}

/** Options of a Tracker. */
export interface TrackerOptions {
  events: EventBus
  /** Clock in epoch milliseconds; default `Date.now`. */
  now?: () => number
  /** Sliding window length in whole seconds (1-second buckets); default 60. */
  windowSeconds?: number
  /** Most route keys and, separately, target keys kept; default 10,000. */
  maxKeys?: number
  /** Most window rings held for routes and, separately, targets; default 1,000. */
  maxWindows?: number
}

/** The totals and (while it holds one) the window ring of one key, linked into two recency lists. */
class Series {
  readonly key: string
  readonly totals = createTotals()
  ring: Ring | undefined
  /** The newest second recorded, which tells when the ring holds nothing of the window any more. */
  lastSecond = 0
  readonly byUse: RecencyLink<Series> = recencyLink(this)
  readonly byRing: RecencyLink<Series> = recencyLink(this)

  constructor(key: string) {
    this.key = key
  }
}

/**
 * SeriesMap keeps the series of one kind of key (routes or targets) within two bounds: at most
 * `maxKeys` series (the least recently updated is dropped whole) and at most `maxWindows` window
 * rings (the least recently updated holder gives its ring up and keeps its totals). A ring whose
 * newest second has left the window is returned to a pool, one per recorded request, so idle
 * keys cost only their totals.
 */
class SeriesMap {
  #byKey = new Map<string, Series>()
  #byUse = new RecencyList<Series>()
  #byRing = new RecencyList<Series>()
  #pool: Ring[] = []
  #rings = 0
  #slots: number
  #maxKeys: number
  #maxWindows: number

  constructor(slots: number, maxKeys: number, maxWindows: number) {
    this.#slots = slots
    this.#maxKeys = maxKeys
    this.#maxWindows = maxWindows
  }

  get(key: string): Series | undefined {
    return this.#byKey.get(key)
  }

  values(): IterableIterator<Series> {
    return this.#byKey.values()
  }

  get size(): number {
    return this.#byKey.size
  }

  get rings(): number {
    return this.#rings
  }

  record(key: string, sample: Sample): void {
    const series = this.#byKey.get(key) ?? this.#create(key)
    this.#byUse.touch(series.byUse)
    series.ring ??= this.#takeRing()
    this.#byRing.touch(series.byRing)
    recordTotals(series.totals, sample)
    recordRing(series.ring, sample)
    series.lastSecond = sample.second
    const oldest = this.#byRing.oldest()
    if (oldest && oldest.lastSecond <= sample.second - this.#slots) this.#dropRing(oldest)
  }

  #create(key: string): Series {
    if (this.#byKey.size >= this.#maxKeys) {
      const oldest = this.#byUse.oldest()
      if (oldest) {
        this.#byKey.delete(oldest.key)
        this.#byUse.remove(oldest.byUse)
        this.#dropRing(oldest)
      }
    }
    const series = new Series(key)
    this.#byKey.set(key, series)
    return series
  }

  #dropRing(series: Series): void {
    if (series.ring === undefined) return
    this.#byRing.remove(series.byRing)
    this.#pool.push(series.ring)
    series.ring = undefined
  }

  #takeRing(): Ring {
    if (this.#pool.length === 0) {
      if (this.#rings < this.#maxWindows) {
        this.#rings++
        return createRing(this.#slots)
      }
      const oldest = this.#byRing.oldest()
      if (oldest) this.#dropRing(oldest)
    }
    const ring = this.#pool.pop() ?? createRing(this.#slots)
    clearRing(ring)
    return ring
  }
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`Tracker: ${name} must be a positive integer, got ${value}`)
  }
  return value
}

/**
 * Tracker turns `request:completed` events into live stats: for each route, each target and
 * overall, a sliding window of 1-second buckets (`windowSeconds`, default 60) and all-time totals.
 *
 * Work per request is O(1) and allocation-free once a key is known: three ring slots are
 * updated (global, route, target; a request without a target skips the last). Percentiles come
 * from a fixed 42-bin log-scale histogram per bucket (≤ 1 ms, 40 bins over (1 ms, 60 s], > 60 s),
 * interpolated within the bin and clamped to the window's observed min/max, so they are
 * approximate (within ~30%, exact when all samples are equal) while memory stays fixed.
 *
 * Memory is bounded whatever the traffic: at most `maxKeys` (10,000) route keys and, separately,
 * target keys, the least recently updated dropped first (its totals are lost; a dropped key
 * starts again from zero); and at most `maxWindows` (1,000) window rings per kind (~27 KB each at
 * 60 s; past that the least recently updated key loses its window, not its totals), so ≤ ~55 MB
 * in the worst case. A ring idle for a whole window goes back to a pool, so in practice memory is
 * ~27 KB per key active in the last window plus ~200 bytes per idle key.
 * Reads (`routeStats`, …) cost O(windowSeconds × 55) per key.
 * Call `close()` to unsubscribe.
 */
export class Tracker {
  #now: () => number
  #slots: number
  #startedMs: number
  #global: Ring
  #globalTotals = createTotals()
  #routes: SeriesMap
  #targets: SeriesMap
  #scratch = createWindowSum()
  #sample: Sample = createSample()
  #unsubscribe: () => void

  constructor(options: TrackerOptions) {
    this.#now = options.now ?? Date.now
    this.#slots = positiveInteger('windowSeconds', options.windowSeconds ?? DEFAULT_WINDOW_SECONDS)
    const maxKeys = positiveInteger('maxKeys', options.maxKeys ?? DEFAULT_MAX_KEYS)
    const maxWindows = positiveInteger('maxWindows', options.maxWindows ?? DEFAULT_MAX_WINDOWS)
    this.#startedMs = this.#now()
    this.#global = createRing(this.#slots)
    this.#routes = new SeriesMap(this.#slots, maxKeys, maxWindows)
    this.#targets = new SeriesMap(this.#slots, maxKeys, maxWindows)
    this.#unsubscribe = options.events.on('request:completed', (event) => this.#record(event))
  }

  /** routeStats returns the stats of a route by vHost, or undefined if it has had no request. */
  routeStats(route: string): RouteStats | undefined {
    const series = this.#routes.get(route)
    return series && { vHost: route, ...this.#traffic(series.totals, series.ring) }
  }

  /** routeStatsOrEmpty returns routeStats, or all-zero stats for a route that had no request. */
  routeStatsOrEmpty(route: string): RouteStats {
    return this.routeStats(route) ?? { vHost: route, ...this.#traffic(undefined, undefined) }
  }

  /** allRouteStats returns the stats of every tracked route, sorted by vHost. */
  allRouteStats(): RouteStats[] {
    const stats: RouteStats[] = []
    for (const series of this.#routes.values()) {
      stats.push({ vHost: series.key, ...this.#traffic(series.totals, series.ring) })
    }
    return stats.sort((a, b) => (a.vHost < b.vHost ? -1 : a.vHost > b.vHost ? 1 : 0))
  }

  /** targetStats returns the stats of a target by id, or undefined if it has had no request. */
  targetStats(target: string): TargetStats | undefined {
    const series = this.#targets.get(target)
    return series && { target, ...this.#traffic(series.totals, series.ring) }
  }

  /** targetStatsOrEmpty returns targetStats, or all-zero stats for a target that had no request. */
  targetStatsOrEmpty(target: string): TargetStats {
    return this.targetStats(target) ?? { target, ...this.#traffic(undefined, undefined) }
  }

  /** globalStats returns the stats over every request the tracker has seen. */
  globalStats(): GlobalStats {
    const since = new Date(this.#startedMs).toISOString()
    return { since, ...this.#traffic(this.#globalTotals, this.#global) }
  }

  /** size returns how many keys and window rings are held (for bounds checks and tests). */
  size(): TrackerSize {
    return {
      routes: this.#routes.size,
      targets: this.#targets.size,
      windows: this.#routes.rings + this.#targets.rings,
    }
  }

  /** close unsubscribes from the event bus; stats stay readable. Idempotent. */
  close(): void {
    this.#unsubscribe()
  }

  #record(event: RequestCompleted): void {
    const sample = this.#sample
    sample.second = Math.floor(this.#now() / MS_PER_SECOND)
    sample.statusIndex = statusClassIndex(event.status)
    sample.bin = latencyBin(event.durationMs)
    sample.durationMs = event.durationMs
    sample.retries = event.retries
    sample.bytesIn = event.bytesIn
    sample.bytesOut = event.bytesOut
    recordTotals(this.#globalTotals, sample)
    recordRing(this.#global, sample)
    this.#routes.record(event.route, sample)
    if (event.target !== undefined) this.#targets.record(event.target, sample)
  }

  #traffic(totals: Float64Array | undefined, ring: Ring | undefined): TrafficStats {
    const nowMs = this.#now()
    const nowSecond = Math.floor(nowMs / MS_PER_SECOND)
    sumWindow(ring, nowSecond, this.#scratch)
    const windowStartMs = (nowSecond - this.#slots + 1) * MS_PER_SECOND
    const coveredSeconds = (nowMs - Math.max(this.#startedMs, windowStartMs)) / MS_PER_SECOND
    const window = windowStats(this.#scratch, this.#slots)
    const all = totalStats(totals ?? createTotals())
    return {
      totalRequests: all.requests,
      requestsPerSecond: round(window.requests / Math.max(1, coveredSeconds)),
      window,
      totals: all,
    }
  }
}
