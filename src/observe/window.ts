/** @module Window: a ring of 1-second buckets with status counts and a latency histogram. */

const CLIENT_CLOSED_STATUS = 499
const ROUND_DIGITS = 1000

/**
 * The status classes stats are counted under, in a fixed order. `499` (the client went away
 * before the answer) is a class of its own and is not counted in `4xx`, so the classes add up to
 * the requests and `4xx` holds only answers a client actually received.
 */
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', '499'] as const
/** One of STATUS_CLASSES. */
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
/** How many bins a latency histogram has (shared with the minute history). */
export const LATENCY_BINS = LATENCY_STEPS + 2
const LOG_STEP = Math.log(LATENCY_MAX_MS / LATENCY_MIN_MS) / LATENCY_STEPS

/** latencyBin returns the histogram bin a duration in milliseconds falls in. */
export function latencyBin(ms: number): number {
  if (!(ms > LATENCY_MIN_MS)) return 0
  if (ms > LATENCY_MAX_MS) return LATENCY_BINS - 1
  return Math.min(LATENCY_STEPS, Math.ceil(Math.log(ms / LATENCY_MIN_MS) / LOG_STEP))
}

/** binUpperMs returns the upper edge of a latency bin in milliseconds (Infinity for the last). */
export function binUpperMs(bin: number): number {
  if (bin > LATENCY_STEPS) return Number.POSITIVE_INFINITY
  return bin === LATENCY_STEPS ? LATENCY_MAX_MS : LATENCY_MIN_MS * Math.exp(bin * LOG_STEP)
}

/** binLowerMs returns the lower edge of a latency bin in milliseconds. */
export function binLowerMs(bin: number): number {
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

/** A fixed ring of 1-second slots; the slot of second `s` is `s mod slots`. */
export interface Ring {
  /** The epoch second each slot holds, NaN when never used. */
  stamps: Float64Array
  data: Float64Array
}

/** One request reduced to what the counters need; one instance is reused for every request. */
export interface Sample {
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

/** round rounds a reported figure to three decimals. */
export function round(value: number): number {
  return Math.round(value * ROUND_DIGITS) / ROUND_DIGITS
}

/** createSample returns an all-zero sample, to be filled in and reused for every request. */
export function createSample(): Sample {
  return { second: 0, statusIndex: 0, bin: 0, durationMs: 0, retries: 0, bytesIn: 0, bytesOut: 0 }
}

/** createTotals returns all-zero all-time totals, as recordTotals and totalStats read them. */
export function createTotals(): Float64Array {
  return new Float64Array(TOTAL_FIELDS)
}

/** createWindowSum returns a scratch buffer for sumWindow, reusable across reads. */
export function createWindowSum(): Float64Array {
  return new Float64Array(SLOT_FIELDS)
}

/** createRing returns an empty ring of `slots` 1-second slots. */
export function createRing(slots: number): Ring {
  return {
    stamps: new Float64Array(slots).fill(Number.NaN),
    data: new Float64Array(slots * SLOT_FIELDS),
  }
}

/** clearRing marks every slot of a ring unused, so a pooled ring can serve another key. */
export function clearRing(ring: Ring): void {
  ring.stamps.fill(Number.NaN)
}

function addCounts(values: Float64Array, base: number, sample: Sample): void {
  add(values, base + F_REQUESTS, 1)
  add(values, base + F_STATUS + sample.statusIndex, 1)
  add(values, base + F_RETRIES, sample.retries)
  add(values, base + F_BYTES_IN, sample.bytesIn)
  add(values, base + F_BYTES_OUT, sample.bytesOut)
}

/** recordTotals adds a sample to all-time totals made by createTotals. */
export function recordTotals(totals: Float64Array, sample: Sample): void {
  addCounts(totals, 0, sample)
}

/** recordRing adds a sample to the slot of its second, clearing the slot first if it is stale. */
export function recordRing(ring: Ring, sample: Sample): void {
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
export function sumWindow(ring: Ring | undefined, nowSecond: number, into: Float64Array): void {
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

/** totalStats reads the counts of totals (or of a window sum) as TotalStats. */
export function totalStats(values: Float64Array): TotalStats {
  return {
    requests: at(values, F_REQUESTS),
    errors: at(values, F_STATUS + I_5XX),
    status: statusCounts(values),
    retries: at(values, F_RETRIES),
    bytesIn: at(values, F_BYTES_IN),
    bytesOut: at(values, F_BYTES_OUT),
  }
}

/** windowStats reads a sum made by sumWindow as WindowStats for a window of `seconds`. */
export function windowStats(sum: Float64Array, seconds: number): WindowStats {
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
