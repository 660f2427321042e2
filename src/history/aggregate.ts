/** @module TrafficAggregator: request events folded into per-minute and per-interval buckets, per route and per app. */
import type { RequestCompleted } from '../observe/events.ts'
import { latencyBin, statusClassIndex } from '../observe/window.ts'
import {
  type Bucket,
  type BucketSummary,
  clearBucket,
  createBucket,
  recordRequest,
  requestsIn,
  summarize,
} from './bucket.ts'

/** A minute is the unit of history, in milliseconds. */
export const MINUTE_MS = 60_000
/** The name that stands in for every key first seen once `maxSeries` keys are held. */
export const OVERFLOW_NAME = '_other'
const DEFAULT_MAX_SERIES = 2_000
const DEFAULT_MAX_PENDING_ROWS = 120_000

/** What a history row is about: a route (by vHost), an app (by name), or every route together. */
export type SeriesKind = 'route' | 'app' | 'total'
/** The name of the one `total` series. */
export const TOTAL_NAME = '*'

/** One closed (or, from openRows, still open) minute of one route or app. */
export interface MinuteRow {
  /** Start of the minute, epoch milliseconds. */
  minuteMs: number
  kind: SeriesKind
  name: string
  bucket: Bucket
}

/** Options of a TrafficAggregator. */
export interface AggregatorOptions {
  /** Clock in epoch milliseconds; default Date.now. */
  now?: () => number
  /** Most routes plus apps counted at once; later keys count under `_other`. Default 2,000. */
  maxSeries?: number
  /** Most closed rows held while the database is away; the oldest are dropped. Default 120,000. */
  maxPendingRows?: number
}

interface Series {
  kind: SeriesKind
  name: string
  minute: Bucket
  interval: Bucket
}

/**
 * TrafficAggregator turns `request:completed` events into buckets: one per route and per app for
 * the open minute (closed into rows when the minute ends, for the history database) and one for
 * the live interval (read and reset by the sampler every few seconds). Per request the work is two
 * map lookups and two bucket updates, allocation-free once a key is known.
 *
 * Memory is bounded: at most `maxSeries` keys (~3 KB each; later keys are counted under
 * `_other`), keys idle for a whole minute are dropped at the next roll, and closed rows waiting
 * for the database are capped at `maxPendingRows` (the oldest dropped and counted). A request is
 * counted in the minute its event arrives in (edge workers send events in batches within a second).
 */
export class TrafficAggregator {
  readonly #now: () => number
  readonly #maxSeries: number
  readonly #maxPendingRows: number
  readonly #series = new Map<string, Series>()
  #openMinuteMs: number
  #pending: MinuteRow[] = []
  #droppedRows = 0

  constructor(options: AggregatorOptions = {}) {
    this.#now = options.now ?? Date.now
    this.#maxSeries = options.maxSeries ?? DEFAULT_MAX_SERIES
    this.#maxPendingRows = options.maxPendingRows ?? DEFAULT_MAX_PENDING_ROWS
    this.#openMinuteMs = minuteOf(this.#now())
  }

  /** record counts one finished request under the total, its route and, if it has one, its app. */
  record(event: RequestCompleted): void {
    const minuteMs = minuteOf(this.#now())
    if (minuteMs > this.#openMinuteMs) this.roll(minuteMs)
    const statusIndex = statusClassIndex(event.status)
    const bin = latencyBin(event.durationMs)
    const add = (series: Series) => {
      recordRequest(
        series.minute,
        statusIndex,
        bin,
        event.durationMs,
        event.bytesIn,
        event.bytesOut,
      )
      recordRequest(
        series.interval,
        statusIndex,
        bin,
        event.durationMs,
        event.bytesIn,
        event.bytesOut,
      )
    }
    add(this.#seriesFor('total', TOTAL_NAME))
    add(this.#seriesFor('route', event.route))
    if (event.app !== undefined) add(this.#seriesFor('app', event.app))
  }

  /**
   * roll closes the open minute if `nowMs` lies past it: every key with requests in it becomes a
   * pending row, keys with nothing left to report are dropped. Called by record and by the
   * history's flush timer; `force` also closes the minute still running (a graceful stop).
   */
  roll(nowMs = this.#now(), force = false): void {
    const minuteMs = minuteOf(nowMs)
    if (!force && minuteMs <= this.#openMinuteMs) return
    for (const [key, series] of this.#series) {
      if (requestsIn(series.minute) > 0) {
        const { kind, name, minute } = series
        this.#pending.push({ kind, name, minuteMs: this.#openMinuteMs, bucket: minute })
        series.minute = createBucket()
      } else if (requestsIn(series.interval) === 0) {
        this.#series.delete(key)
      }
    }
    this.#trimPending()
    this.#openMinuteMs = Math.max(minuteMs, this.#openMinuteMs)
  }

  /** takeRows returns the closed rows waiting for the database and forgets them. */
  takeRows(): MinuteRow[] {
    return this.#pending.splice(0)
  }

  /** putBack returns rows a failed write could not store, ahead of newer ones (still bounded). */
  putBack(rows: MinuteRow[]): void {
    this.#pending.unshift(...rows)
    this.#trimPending()
  }

  /** pendingRows returns the closed rows not yet taken (read-only: for queries). */
  pendingRows(): readonly MinuteRow[] {
    return this.#pending
  }

  /** openRows returns the running minute of every key with requests in it (live buckets: do not change them). */
  openRows(): MinuteRow[] {
    const rows: MinuteRow[] = []
    for (const series of this.#series.values()) {
      if (requestsIn(series.minute) === 0) continue
      rows.push({
        kind: series.kind,
        name: series.name,
        minuteMs: this.#openMinuteMs,
        bucket: series.minute,
      })
    }
    return rows
  }

  /**
   * takeInterval returns what each route and app served since the previous call, summarised,
   * and starts a new interval. Keys without requests in the interval are left out.
   */
  takeInterval(): Record<SeriesKind, Map<string, BucketSummary>> {
    const taken: Record<SeriesKind, Map<string, BucketSummary>> = {
      route: new Map(),
      app: new Map(),
      total: new Map(),
    }
    for (const series of this.#series.values()) {
      if (requestsIn(series.interval) === 0) continue
      taken[series.kind].set(series.name, summarize(series.interval))
      clearBucket(series.interval)
    }
    return taken
  }

  /** droppedRows counts the rows dropped because the database stayed away too long. */
  get droppedRows(): number {
    return this.#droppedRows
  }

  /** seriesCount returns how many keys are held (for bounds checks and tests). */
  get seriesCount(): number {
    return this.#series.size
  }

  #seriesFor(kind: SeriesKind, name: string): Series {
    const key = `${kind}:${name}`
    const found = this.#series.get(key)
    if (found !== undefined) return found
    if (this.#series.size >= this.#maxSeries) {
      return this.#series.get(`${kind}:${OVERFLOW_NAME}`) ?? this.#create(kind, OVERFLOW_NAME)
    }
    return this.#create(kind, name)
  }

  #create(kind: SeriesKind, name: string): Series {
    const series = { kind, name, minute: createBucket(), interval: createBucket() }
    this.#series.set(`${kind}:${name}`, series)
    return series
  }

  #trimPending(): void {
    const excess = this.#pending.length - this.#maxPendingRows
    if (excess <= 0) return
    this.#pending.splice(0, excess)
    this.#droppedRows += excess
  }
}

/** minuteOf returns the start of the minute holding `ms`. */
export function minuteOf(ms: number): number {
  return Math.floor(ms / MINUTE_MS) * MINUTE_MS
}
