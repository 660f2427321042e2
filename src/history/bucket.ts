/** @module Bucket: one period's request counts, bytes and latency histogram; merge, summarise, encode. */
import {
  binLowerMs,
  binUpperMs,
  LATENCY_BINS,
  round,
  STATUS_CLASSES,
  type StatusCounts,
} from '../observe/window.ts'

// Field layout of a bucket (a Float64Array): counts first, then the latency histogram.
const F_REQUESTS = 0
const F_STATUS = 1
const F_BYTES_IN = F_STATUS + STATUS_CLASSES.length
const F_BYTES_OUT = F_BYTES_IN + 1
const F_LATENCY_SUM = F_BYTES_OUT + 1
const F_LATENCY_MIN = F_LATENCY_SUM + 1
const F_LATENCY_MAX = F_LATENCY_MIN + 1
const F_BINS = F_LATENCY_MAX + 1
const BUCKET_FIELDS = F_BINS + LATENCY_BINS
const I_5XX = STATUS_CLASSES.indexOf('5xx')
/** Bytes per non-empty bin in an encoded histogram: a 1-byte bin index and a 4-byte count. */
const BIN_ENTRY_BYTES = 5
const MAX_UINT32 = 0xffff_ffff

/** A bucket: request counts, bytes, latency sum/min/max and a histogram, in one Float64Array. */
export type Bucket = Float64Array

/** What a bucket reads as in the API and the database. */
export interface BucketSummary {
  requests: number
  /** Requests per status class; `499` is "the client went away first". */
  status: StatusCounts
  /** 5xx answers (the same as `status['5xx']`). */
  errors: number
  bytesIn: number
  bytesOut: number
  /** Approximate percentiles from the histogram (0 when no request), in milliseconds. */
  latencyMs: { p50: number; p95: number; p99: number; max: number }
}

/** createBucket returns an empty bucket. */
export function createBucket(): Bucket {
  const bucket = new Float64Array(BUCKET_FIELDS)
  bucket[F_LATENCY_MIN] = Number.POSITIVE_INFINITY
  return bucket
}

/** clearBucket empties a bucket in place, so it can be reused. */
export function clearBucket(bucket: Bucket): void {
  bucket.fill(0)
  bucket[F_LATENCY_MIN] = Number.POSITIVE_INFINITY
}

function at(bucket: Bucket, field: number): number {
  return bucket[field] ?? 0
}

/**
 * recordRequest adds one request to a bucket: its status class index (see statusClassIndex),
 * its latency bin (see latencyBin), its duration and its bytes. Allocation-free.
 */
export function recordRequest(
  bucket: Bucket,
  statusIndex: number,
  bin: number,
  durationMs: number,
  bytesIn: number,
  bytesOut: number,
): void {
  bucket[F_REQUESTS] = at(bucket, F_REQUESTS) + 1
  bucket[F_STATUS + statusIndex] = at(bucket, F_STATUS + statusIndex) + 1
  bucket[F_BYTES_IN] = at(bucket, F_BYTES_IN) + bytesIn
  bucket[F_BYTES_OUT] = at(bucket, F_BYTES_OUT) + bytesOut
  bucket[F_LATENCY_SUM] = at(bucket, F_LATENCY_SUM) + durationMs
  bucket[F_LATENCY_MIN] = Math.min(at(bucket, F_LATENCY_MIN), durationMs)
  bucket[F_LATENCY_MAX] = Math.max(at(bucket, F_LATENCY_MAX), durationMs)
  bucket[F_BINS + bin] = at(bucket, F_BINS + bin) + 1
}

/** mergeBucket adds `from` into `into` (counts summed, min/max kept). */
export function mergeBucket(into: Bucket, from: Bucket): void {
  for (let field = 0; field < BUCKET_FIELDS; field++) {
    if (field === F_LATENCY_MIN) into[field] = Math.min(at(into, field), at(from, field))
    else if (field === F_LATENCY_MAX) into[field] = Math.max(at(into, field), at(from, field))
    else into[field] = at(into, field) + at(from, field)
  }
}

/** requestsIn returns how many requests a bucket holds. */
export function requestsIn(bucket: Bucket): number {
  return at(bucket, F_REQUESTS)
}

/** percentile estimates the q-quantile from the histogram, interpolating inside the bin found. */
export function percentile(bucket: Bucket, q: number): number {
  const count = at(bucket, F_REQUESTS)
  if (count === 0) return 0
  const min = at(bucket, F_LATENCY_MIN)
  const max = at(bucket, F_LATENCY_MAX)
  const rank = q * count
  let seen = 0
  for (let bin = 0; bin < LATENCY_BINS; bin++) {
    const n = at(bucket, F_BINS + bin)
    if (n > 0 && seen + n >= rank) {
      const lower = Math.max(binLowerMs(bin), min)
      const upper = Math.min(binUpperMs(bin), max)
      return round(Math.min(lower + ((rank - seen) / n) * (upper - lower), max))
    }
    seen += n
  }
  return round(max)
}

function statusCounts(bucket: Bucket): StatusCounts {
  const counts = {} as StatusCounts
  STATUS_CLASSES.forEach((name, i) => {
    counts[name] = at(bucket, F_STATUS + i)
  })
  return counts
}

/** summarize reads a bucket as the API and the database show it. */
export function summarize(bucket: Bucket): BucketSummary {
  const requests = at(bucket, F_REQUESTS)
  return {
    requests,
    status: statusCounts(bucket),
    errors: at(bucket, F_STATUS + I_5XX),
    bytesIn: at(bucket, F_BYTES_IN),
    bytesOut: at(bucket, F_BYTES_OUT),
    latencyMs: {
      p50: percentile(bucket, 0.5),
      p95: percentile(bucket, 0.95),
      p99: percentile(bucket, 0.99),
      max: requests === 0 ? 0 : round(at(bucket, F_LATENCY_MAX)),
    },
  }
}

/** The scalar columns a bucket is stored as (the histogram goes in `encodeBins`). */
export interface BucketColumns {
  requests: number
  s1xx: number
  s2xx: number
  s3xx: number
  s4xx: number
  s5xx: number
  s499: number
  bytesIn: number
  bytesOut: number
  latencySum: number
  latencyMin: number
  latencyMax: number
}

/** toColumns returns a bucket's scalar fields, named as the database stores them. */
export function toColumns(bucket: Bucket): BucketColumns {
  const requests = at(bucket, F_REQUESTS)
  return {
    requests,
    s1xx: at(bucket, F_STATUS),
    s2xx: at(bucket, F_STATUS + 1),
    s3xx: at(bucket, F_STATUS + 2),
    s4xx: at(bucket, F_STATUS + 3),
    s5xx: at(bucket, F_STATUS + 4),
    s499: at(bucket, F_STATUS + 5),
    bytesIn: at(bucket, F_BYTES_IN),
    bytesOut: at(bucket, F_BYTES_OUT),
    latencySum: at(bucket, F_LATENCY_SUM),
    latencyMin: requests === 0 ? 0 : at(bucket, F_LATENCY_MIN),
    latencyMax: at(bucket, F_LATENCY_MAX),
  }
}

/** fromColumns rebuilds a bucket from its stored columns and encoded histogram. */
export function fromColumns(columns: BucketColumns, bins: Uint8Array): Bucket {
  const bucket = createBucket()
  const status = [
    columns.s1xx,
    columns.s2xx,
    columns.s3xx,
    columns.s4xx,
    columns.s5xx,
    columns.s499,
  ]
  bucket[F_REQUESTS] = columns.requests
  status.forEach((n, i) => {
    bucket[F_STATUS + i] = n
  })
  bucket[F_BYTES_IN] = columns.bytesIn
  bucket[F_BYTES_OUT] = columns.bytesOut
  bucket[F_LATENCY_SUM] = columns.latencySum
  if (columns.requests > 0) bucket[F_LATENCY_MIN] = columns.latencyMin
  bucket[F_LATENCY_MAX] = columns.latencyMax
  decodeBins(bucket, bins)
  return bucket
}

/**
 * encodeBins writes the non-empty histogram bins as 5-byte entries (bin index, count as uint32
 * little-endian): most minutes touch a handful of the 42 bins, so a row stays small.
 */
export function encodeBins(bucket: Bucket): Buffer {
  let used = 0
  for (let bin = 0; bin < LATENCY_BINS; bin++) if (at(bucket, F_BINS + bin) > 0) used++
  const out = Buffer.alloc(used * BIN_ENTRY_BYTES)
  let offset = 0
  for (let bin = 0; bin < LATENCY_BINS; bin++) {
    const n = at(bucket, F_BINS + bin)
    if (n === 0) continue
    out.writeUInt8(bin, offset)
    out.writeUInt32LE(Math.min(n, MAX_UINT32), offset + 1)
    offset += BIN_ENTRY_BYTES
  }
  return out
}

/** decodeBins adds encoded histogram entries into a bucket; malformed trailing bytes are ignored. */
export function decodeBins(bucket: Bucket, bins: Uint8Array): void {
  const view = Buffer.from(bins.buffer, bins.byteOffset, bins.byteLength)
  for (let offset = 0; offset + BIN_ENTRY_BYTES <= view.length; offset += BIN_ENTRY_BYTES) {
    const bin = view.readUInt8(offset)
    if (bin >= LATENCY_BINS) continue
    bucket[F_BINS + bin] = at(bucket, F_BINS + bin) + view.readUInt32LE(offset + 1)
  }
}
