/** @module Tracker: sliding-window and all-time request stats per route, per target and overall. */
import type { EventBus, RequestCompleted } from './events.ts'

const MS_PER_SECOND = 1000
const DEFAULT_WINDOW_SECONDS = 60
const DEFAULT_MAX_KEYS = 10_000
const DEFAULT_MAX_WINDOWS = 1_000
const CLIENT_CLOSED_STATUS = 499
const ROUND_DIGITS = 1000

/**
 * The status classes stats are counted under, in a fixed order. `499` (the client went away
 * before the answer) is a class of its own and is not counted in `4xx`, so the classes add up to
 * the requests and `4xx` holds only answers a client actually received.
 */
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', '499'] as const
export type StatusClass = (typeof STATUS_CLASSES)[number]

/**
 * statusClassIndex returns the index in STATUS_CLASSES a status counts under: 499 apart, else its
 * hundred, with anything below 200 as `1xx` and anything from 500 up as `5xx`. Allocation-free.
 */
export function statusClassIndex(status: number): number {
  if (status === CLIENT_CLOSED_STATUS) return STATUS_CLASSES.length - 1
  return Math.min(Math.max(Math.floor(status / 100), 1), 5) - 1
}

// Latency histogram: bin 0 holds ≤ 1 ms, bins 1..40 split (1 ms, 60 s] on a log scale (each bin
// ~32% wider than the last, so a percentile is within that ratio before interpolation), and the
// last bin holds anything slower than 60 s.
const LATENCY_MIN_MS = 1
const LATENCY_MAX_MS = 60_000
const LATENCY_STEPS = 40
const LATENCY_BINS = LATENCY_STEPS + 2
const LOG_STEP = Math.log(LATENCY_MAX_MS / LATENCY_MIN_MS) / LATENCY_STEPS

function latencyBin(ms: number): number {
  if (!(ms > LATENCY_MIN_MS)) return 0
  if (ms > LATENCY_MAX_MS) return LATENCY_BINS - 1
  return Math.min(LATENCY_STEPS, Math.ceil(Math.log(ms / LATENCY_MIN_MS) / LOG_STEP))
}

function binUpperMs(bin: number): number {
  if (bin > LATENCY_STEPS) return Number.POSITIVE_INFINITY
  return bin === LATENCY_STEPS ? LATENCY_MAX_MS : LATENCY_MIN_MS * Math.exp(bin * LOG_STEP)
}

function binLowerMs(bin: number): number {
  return bin === 0 ? 0 : binUpperMs(bin - 1)
}

// Field layout of one 1-second slot (and, for the first TOTAL_FIELDS, of the all-time totals).
const F_REQUESTS = 0
const F_STATUS = 1
const F_RETRIES = F_STATUS + STATUS_CLASSES.length
const F_BYTES_IN = F_RETRIES + 1
const F_BYTES_OUT = F_BYTES_IN + 1
const TOTAL_FIELDS = F_BYTES_OUT + 1
const F_LATENCY_SUM = TOTAL_FIELDS
const F_LATENCY_MIN = F_LATENCY_SUM + 1
const F_LATENCY_MAX = F_LATENCY_MIN + 1
const F_BINS = F_LATENCY_MAX + 1
const SLOT_FIELDS = F_BINS + LATENCY_BINS
const I_5XX = STATUS_CLASSES.indexOf('5xx')

/** Request counts by status class; the six classes add up to the requests. */
export type StatusCounts = Record<StatusClass, number>

/** Approximate latency percentiles over the window, in milliseconds (0 when no request). */
export interface LatencySummary {
  p50: number
  p95: number
  p99: number
  mean: number
  max: number
}

/**
 * All-time counts since the tracker started (or since the key was first seen after an eviction);
 * `errors` counts 5xx answers only.
 */
export interface TotalStats {
  requests: number
  errors: number
  status: StatusCounts
  retries: number
  bytesIn: number
  bytesOut: number
}

/** What happened within the sliding window: the same counts as TotalStats, plus latency. */
export interface WindowStats extends TotalStats {
  /** The window length in seconds (the `windowSeconds` option). */
  seconds: number
  latencyMs: LatencySummary
}

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

interface Ring {
  /** The epoch second each slot holds, NaN when never used. */
  stamps: Float64Array
  data: Float64Array
}

interface Link<T> {
  readonly value: T
  prev: Link<T> | undefined
  next: Link<T> | undefined
  linked: boolean
}

function link<T>(value: T): Link<T> {
  return { value, prev: undefined, next: undefined, linked: false }
}

/** The totals and (while it holds one) the window ring of one key, linked into two recency lists. */
class Series {
  readonly key: string
  readonly totals = new Float64Array(TOTAL_FIELDS)
  ring: Ring | undefined
  /** The newest second recorded, which tells when the ring holds nothing of the window any more. */
  lastSecond = 0
  readonly byUse: Link<Series> = link(this)
  readonly byRing: Link<Series> = link(this)

  constructor(key: string) {
    this.key = key
  }
}

/** One request reduced to what the counters need; one instance is reused for every request. */
interface Sample {
  second: number
  statusIndex: number
  bin: number
  durationMs: number
  retries: number
  bytesIn: number
  bytesOut: number
}

function at(values: Float64Array, index: number): number {
  return values[index] ?? 0
}

function add(values: Float64Array, index: number, amount: number): void {
  values[index] = at(values, index) + amount
}

function round(value: number): number {
  return Math.round(value * ROUND_DIGITS) / ROUND_DIGITS
}

function createRing(slots: number): Ring {
  return {
    stamps: new Float64Array(slots).fill(Number.NaN),
    data: new Float64Array(slots * SLOT_FIELDS),
  }
}

function addCounts(values: Float64Array, base: number, sample: Sample): void {
  add(values, base + F_REQUESTS, 1)
  add(values, base + F_STATUS + sample.statusIndex, 1)
  add(values, base + F_RETRIES, sample.retries)
  add(values, base + F_BYTES_IN, sample.bytesIn)
  add(values, base + F_BYTES_OUT, sample.bytesOut)
}

/** recordRing adds a sample to the slot of its second, clearing the slot first if it is stale. */
function recordRing(ring: Ring, sample: Sample): void {
  const slots = ring.stamps.length
  const slot = ((sample.second % slots) + slots) % slots
  const base = slot * SLOT_FIELDS
  const data = ring.data
  if (ring.stamps[slot] !== sample.second) {
    ring.stamps[slot] = sample.second
    data.fill(0, base, base + SLOT_FIELDS)
    data[base + F_LATENCY_MIN] = Number.POSITIVE_INFINITY
  }
  addCounts(data, base, sample)
  add(data, base + F_LATENCY_SUM, sample.durationMs)
  data[base + F_LATENCY_MIN] = Math.min(at(data, base + F_LATENCY_MIN), sample.durationMs)
  data[base + F_LATENCY_MAX] = Math.max(at(data, base + F_LATENCY_MAX), sample.durationMs)
  add(data, base + F_BINS + sample.bin, 1)
}

/** sumWindow adds up the slots of the last `slots` seconds up to `nowSecond` into `into`. */
function sumWindow(ring: Ring | undefined, nowSecond: number, into: Float64Array): void {
  into.fill(0)
  into[F_LATENCY_MIN] = Number.POSITIVE_INFINITY
  if (ring === undefined) return
  const slots = ring.stamps.length
  for (let slot = 0; slot < slots; slot++) {
    const stamp = ring.stamps[slot] ?? Number.NaN
    if (!(stamp > nowSecond - slots && stamp <= nowSecond)) continue
    const base = slot * SLOT_FIELDS
    for (let field = 0; field < SLOT_FIELDS; field++) {
      const value = at(ring.data, base + field)
      if (field === F_LATENCY_MIN) into[field] = Math.min(at(into, field), value)
      else if (field === F_LATENCY_MAX) into[field] = Math.max(at(into, field), value)
      else add(into, field, value)
    }
  }
}

/** percentile estimates the q-quantile from summed bins, interpolating inside the bin found. */
function percentile(sum: Float64Array, q: number): number {
  const count = at(sum, F_REQUESTS)
  if (count === 0) return 0
  const min = at(sum, F_LATENCY_MIN)
  const max = at(sum, F_LATENCY_MAX)
  const rank = q * count
  let seen = 0
  for (let bin = 0; bin < LATENCY_BINS; bin++) {
    const n = at(sum, F_BINS + bin)
    if (n > 0 && seen + n >= rank) {
      const lower = Math.max(binLowerMs(bin), min)
      const upper = Math.min(binUpperMs(bin), max)
      return round(Math.min(lower + ((rank - seen) / n) * (upper - lower), max))
    }
    seen += n
  }
  return round(max)
}

function statusCounts(values: Float64Array): StatusCounts {
  return {
    '1xx': at(values, F_STATUS),
    '2xx': at(values, F_STATUS + 1),
    '3xx': at(values, F_STATUS + 2),
    '4xx': at(values, F_STATUS + 3),
    '5xx': at(values, F_STATUS + 4),
    '499': at(values, F_STATUS + 5),
  }
}

function totalStats(values: Float64Array): TotalStats {
  return {
    requests: at(values, F_REQUESTS),
    errors: at(values, F_STATUS + I_5XX),
    status: statusCounts(values),
    retries: at(values, F_RETRIES),
    bytesIn: at(values, F_BYTES_IN),
    bytesOut: at(values, F_BYTES_OUT),
  }
}

function windowStats(sum: Float64Array, seconds: number): WindowStats {
  const requests = at(sum, F_REQUESTS)
  return {
    seconds,
    ...totalStats(sum),
    latencyMs: {
      p50: percentile(sum, 0.5),
      p95: percentile(sum, 0.95),
      p99: percentile(sum, 0.99),
      mean: requests === 0 ? 0 : round(at(sum, F_LATENCY_SUM) / requests),
      max: requests === 0 ? 0 : round(at(sum, F_LATENCY_MAX)),
    },
  }
}

/** Recency orders links from least to most recently touched; every operation is O(1). */
class Recency<T> {
  #head: Link<T> | undefined
  #tail: Link<T> | undefined

  oldest(): T | undefined {
    return this.#head?.value
  }

  touch(link: Link<T>): void {
    this.remove(link)
    link.prev = this.#tail
    if (this.#tail) this.#tail.next = link
    else this.#head = link
    this.#tail = link
    link.linked = true
  }

  remove(link: Link<T>): void {
    if (!link.linked) return
    if (link.prev) link.prev.next = link.next
    else this.#head = link.next
    if (link.next) link.next.prev = link.prev
    else this.#tail = link.prev
    link.prev = undefined
    link.next = undefined
    link.linked = false
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
  #byUse = new Recency<Series>()
  #byRing = new Recency<Series>()
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
    addCounts(series.totals, 0, sample)
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
    ring.stamps.fill(Number.NaN)
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
  #globalTotals = new Float64Array(TOTAL_FIELDS)
  #routes: SeriesMap
  #targets: SeriesMap
  #scratch = new Float64Array(SLOT_FIELDS)
  #sample: Sample = {
    second: 0,
    statusIndex: 0,
    bin: 0,
    durationMs: 0,
    retries: 0,
    bytesIn: 0,
    bytesOut: 0,
  }
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
    addCounts(this.#globalTotals, 0, sample)
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
    const all = totalStats(totals ?? new Float64Array(TOTAL_FIELDS))
    return {
      totalRequests: all.requests,
      requestsPerSecond: round(window.requests / Math.max(1, coveredSeconds)),
      window,
      totals: all,
    }
  }
}
