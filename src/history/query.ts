/** @module History queries: minute rows merged into evenly spaced buckets of any whole-minute step. */
import type { MinuteRow } from './aggregate.ts'
import { type BucketSummary, createBucket, mergeBucket, summarize } from './bucket.ts'

/** Most buckets one query may ask for (a day at one minute is 1,440). */
export const MAX_BUCKETS = 1_500

/** One bucket of a history answer: its start and what was served in it. */
export interface HistoryPoint extends BucketSummary {
  /** Start of the bucket, ISO 8601. */
  at: string
}

/** What a history query asks for: [fromMs, toMs) in buckets of stepMs (a multiple of a minute). */
export interface BucketRange {
  fromMs: number
  toMs: number
  stepMs: number
}

/** bucketCount returns how many buckets a range spans (the first aligned down to the step). */
export function bucketCount(range: BucketRange): number {
  const start = Math.floor(range.fromMs / range.stepMs) * range.stepMs
  return Math.max(0, Math.ceil((range.toMs - start) / range.stepMs))
}

/**
 * bucketize merges minute rows into one point per step from `fromMs` (aligned down to the step)
 * up to `toMs`, empty steps included (zero requests), oldest first. Percentiles of a bucket are
 * computed from the merged histograms, not averaged. Rows outside the range are ignored.
 */
export function bucketize(rows: Iterable<MinuteRow>, range: BucketRange): HistoryPoint[] {
  const start = Math.floor(range.fromMs / range.stepMs) * range.stepMs
  const buckets = Array.from({ length: bucketCount(range) }, createBucket)
  for (const row of rows) {
    if (row.minuteMs < start || row.minuteMs >= range.toMs) continue
    const bucket = buckets[Math.floor((row.minuteMs - start) / range.stepMs)]
    if (bucket !== undefined) mergeBucket(bucket, row.bucket)
  }
  return buckets.map((bucket, i) => ({
    at: new Date(start + i * range.stepMs).toISOString(),
    ...summarize(bucket),
  }))
}
