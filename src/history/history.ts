/** @module History: request events and app events kept per minute in `<stateDir>/history.db`, flushed in batches. */
import type { EventBus, EventMap } from '../observe/events.ts'
import type { Logger } from '../observe/log.ts'
import { type MinuteRow, type SeriesKind, TrafficAggregator } from './aggregate.ts'
import { type BucketRange, bucketize, type HistoryPoint } from './query.ts'
import { type AppEvent, HistoryStore, problemKind, type StoreProblem, setAside } from './store.ts'

/** Default retention of history rows and events: 7 days, in milliseconds. */
export const DEFAULT_RETENTION_MS = 7 * 24 * 60 * 60 * 1000
const DEFAULT_FLUSH_INTERVAL_MS = 15_000
const DEFAULT_PRUNE_INTERVAL_MS = 60 * 60 * 1000
const DEFAULT_MAX_PENDING_ROWS = 20_000
const DEFAULT_MAX_PENDING_EVENTS = 10_000
/** Failed writes in a row (SQLITE_BUSY) after which the file counts as locked and is set aside. */
const MAX_BUSY_WRITES = 3

/** Options of History.open. */
export interface HistoryOptions {
  /** The database file, `<stateDir>/history.db`. */
  file: string
  events: EventBus
  log: Logger
  /** Rows and events older than this are deleted, in milliseconds. Default 7 days. */
  retentionMs?: number
  now?: () => number
  /** How often closed minutes and events are written, in milliseconds. Default 15 s. */
  flushIntervalMs?: number
  /** How often old rows are pruned, in milliseconds. Default 1 h (and once at start). */
  pruneIntervalMs?: number
  /** Most closed minute rows kept in memory while the file is unusable. Default 20,000. */
  maxPendingRows?: number
}

/** How the history is kept, for `GET /stats/history/status` and the dashboard. */
export interface HistoryStatus {
  /** `file`: written to the database; `memory`: the file is unusable, recent minutes kept in memory. */
  storage: 'file' | 'memory'
  file: string
  retentionMs: number
  /** The last problem with the file, if any. */
  problem: { kind: StoreProblem; message: string; atMs: number } | null
  /** Where a corrupt or locked file was moved to, if one was. */
  setAside: string | null
  /** Minute rows dropped because the file stayed unusable too long. */
  droppedRows: number
}

/** appEventOf turns an instance transition into a history event, or undefined when not worth one. */
export function appEventOf(change: EventMap['instance:state-changed'], atMs: number) {
  const kind =
    change.to === 'healthy'
      ? 'ready'
      : change.to === 'crashed' || change.to === 'stopped' || change.to === 'unhealthy'
        ? change.to
        : change.from === 'healthy' && change.to === 'starting'
          ? 'exited'
          : undefined
  if (kind === undefined) return undefined
  const detail = change.pid === null ? null : `pid ${change.pid}`
  return { atMs, app: change.app, instance: change.instance, kind, detail } satisfies AppEvent
}

/**
 * History keeps per-minute traffic (per route, per app and in total) and app events in SQLite.
 * The main process folds every `request:completed` into in-memory minute buckets (bounded, see
 * TrafficAggregator); a timer writes closed minutes and events in one transaction every
 * `flushIntervalMs` and prunes past the retention hourly, so the database is never touched on the
 * request path. `close()` writes the minute still running too. A corrupt or locked file is set
 * aside (renamed) and a new one started; when no file can be used the history stays in memory,
 * bounded, and serving is never affected. Queries merge stored and in-memory minutes.
 */
export class History {
  readonly aggregator: TrafficAggregator
  readonly #o: Required<Omit<HistoryOptions, 'maxPendingRows'>>
  #store: HistoryStore | undefined
  #events: AppEvent[] = []
  #status: HistoryStatus
  #timer: NodeJS.Timeout | undefined
  #stops: Array<() => void> = []
  #busyWrites = 0
  #lastPruneMs = 0
  #closed = false

  private constructor(options: HistoryOptions) {
    this.#o = {
      retentionMs: DEFAULT_RETENTION_MS,
      now: Date.now,
      flushIntervalMs: DEFAULT_FLUSH_INTERVAL_MS,
      pruneIntervalMs: DEFAULT_PRUNE_INTERVAL_MS,
      ...options,
    }
    this.aggregator = new TrafficAggregator({
      now: this.#o.now,
      maxPendingRows: options.maxPendingRows ?? DEFAULT_MAX_PENDING_ROWS,
    })
    this.#status = {
      storage: 'memory',
      file: options.file,
      retentionMs: this.#o.retentionMs,
      problem: null,
      setAside: null,
      droppedRows: 0,
    }
  }

  /** open opens the file (reporting and setting aside a bad one), subscribes and starts the timer. */
  static open(options: HistoryOptions): History {
    const history = new History(options)
    history.#openStore()
    history.#subscribe()
    history.#timer = setInterval(() => void history.flush(), history.#o.flushIntervalMs)
    history.#timer.unref()
    void history.#pruneIfDue()
    return history
  }

  /** record adds an app event (written at the next flush; bounded while the file is away). */
  record(event: Omit<AppEvent, 'atMs'>): void {
    this.#events.push({ atMs: this.#o.now(), ...event })
    const excess = this.#events.length - DEFAULT_MAX_PENDING_EVENTS
    if (excess > 0) this.#events.splice(0, excess)
  }

  /**
   * flush writes the minutes that have ended (with `force`, the running one too) and pending
   * events. On failure they stay in memory for the next flush; a corrupt file, or one that stayed
   * locked for three flushes, is set aside and a new one started.
   */
  async flush(force = false): Promise<void> {
    this.aggregator.roll(this.#o.now(), force)
    const rows = this.aggregator.takeRows()
    const events = this.#events.splice(0)
    if (this.#store === undefined) this.#openStore()
    const store = this.#store
    if (store === undefined) return this.#keep(rows, events)
    try {
      store.write(rows, events)
      this.#busyWrites = 0
    } catch (error) {
      this.#keep(rows, events)
      this.#onWriteError(store, error)
    }
    await this.#pruneIfDue()
  }

  /**
   * points answers a history query for one series: stored minutes plus those still in memory,
   * merged into buckets (see bucketize).
   */
  points(kind: SeriesKind, name: string, range: BucketRange): HistoryPoint[] {
    const rows: MinuteRow[] = []
    try {
      rows.push(...(this.#store?.rows(kind, name, range.fromMs, range.toMs) ?? []))
    } catch (error) {
      this.#log('history database could not be read; answering from memory', error)
    }
    const mine = (row: MinuteRow) => row.kind === kind && row.name === name
    rows.push(
      ...this.aggregator.pendingRows().filter(mine),
      ...this.aggregator.openRows().filter(mine),
    )
    return bucketize(rows, range)
  }

  /** appEvents returns app events in [fromMs, toMs), newest first, stored and pending, at most `limit`. */
  appEvents(app: string | undefined, fromMs: number, toMs: number, limit: number): AppEvent[] {
    let stored: AppEvent[] = []
    try {
      stored = this.#store?.events(app, fromMs, toMs, limit) ?? []
    } catch (error) {
      this.#log('history database could not be read; answering from memory', error)
    }
    const pending = this.#events.filter(
      (e) => (app === undefined || e.app === app) && e.atMs >= fromMs && e.atMs < toMs,
    )
    return [...pending.reverse(), ...stored].slice(0, limit)
  }

  /** status says where the history is kept and the last problem with its file. */
  status(): HistoryStatus {
    return { ...this.#status, droppedRows: this.aggregator.droppedRows }
  }

  /** close stops the timer and subscriptions, writes everything buffered, closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#timer)
    for (const stop of this.#stops.splice(0)) stop()
    await this.flush(true)
    this.#store?.close()
    this.#store = undefined
  }

  #subscribe(): void {
    const { events } = this.#o
    this.#stops.push(
      events.on('request:completed', (event) => this.aggregator.record(event)),
      events.on('instance:state-changed', (change) => {
        const event = appEventOf(change, this.#o.now())
        if (event !== undefined) this.#events.push(event)
      }),
      events.on('app:changed', (change) =>
        this.record({
          app: change.app,
          instance: null,
          kind: change.ok ? change.action : `${change.action}-failed`,
          detail: change.detail,
        }),
      ),
    )
  }

  #openStore(): void {
    const opened = HistoryStore.open(this.#o.file, this.#o.now())
    this.#store = opened.store
    if (opened.setAside !== undefined) this.#status.setAside = opened.setAside
    if (opened.problem !== undefined) {
      this.#status.problem = { ...opened.problem, atMs: this.#o.now() }
      const { kind, message } = opened.problem
      const where =
        opened.setAside === undefined ? '' : `; moved to ${opened.setAside}, a new file was started`
      this.#o.log.error(
        { file: this.#o.file, problem: kind },
        opened.store === undefined
          ? `history database ${this.#o.file} cannot be used (${message}); keeping recent history in memory only`
          : `history database ${this.#o.file} was ${kind} (${message})${where}`,
      )
    }
    this.#status.storage = this.#store === undefined ? 'memory' : 'file'
  }

  #keep(rows: MinuteRow[], events: AppEvent[]): void {
    this.aggregator.putBack(rows)
    this.#events.unshift(...events)
  }

  #onWriteError(store: HistoryStore, error: unknown): void {
    const kind = problemKind(error)
    this.#status.problem = { kind, message: String(error), atMs: this.#o.now() }
    if (kind === 'locked' && ++this.#busyWrites < MAX_BUSY_WRITES) return
    if (kind === 'unavailable') {
      this.#log('history could not be written; keeping it in memory and retrying', error)
      return
    }
    store.close()
    this.#store = undefined
    this.#busyWrites = 0
    try {
      this.#status.setAside = setAside(store.file, kind, this.#o.now())
    } catch (renameError) {
      this.#log('a bad history database could not be moved aside', renameError)
    }
    this.#log(`history database was ${kind}; set aside, starting a new one`, error)
    this.#openStore()
  }

  async #pruneIfDue(): Promise<void> {
    const nowMs = this.#o.now()
    if (this.#store === undefined || nowMs - this.#lastPruneMs < this.#o.pruneIntervalMs) return
    this.#lastPruneMs = nowMs
    try {
      const removed = await this.#store.prune(nowMs - this.#o.retentionMs)
      if (removed > 0) this.#o.log.debug({ removed }, 'history rows past retention pruned')
    } catch (error) {
      this.#log('history rows past retention could not be pruned', error)
    }
  }

  #log(message: string, error: unknown): void {
    this.#o.log.error({ err: error, file: this.#o.file }, message)
  }
}
