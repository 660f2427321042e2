/** @module HistoryStore: the SQLite file of per-minute traffic rows and app events (better-sqlite3). */
import { chmodSync, closeSync, existsSync, openSync, renameSync } from 'node:fs'
import { createRequire } from 'node:module'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import type BetterSqlite3 from 'better-sqlite3'
import type { MinuteRow, SeriesKind } from './aggregate.ts'
import {
  type Bucket,
  type BucketColumns,
  encodeBins,
  fromColumns,
  mergeBucket,
  percentile,
  toColumns,
} from './bucket.ts'

/** The schema this code writes; a file with a newer one is set aside rather than misread. */
export const SCHEMA_VERSION = 1
/** How long a statement waits for a lock held by another connection before failing, in ms. */
const BUSY_TIMEOUT_MS = 500
/** Rows deleted per statement when pruning, so one prune never blocks the loop for long. */
const PRUNE_CHUNK_ROWS = 5_000

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS traffic (
  kind TEXT NOT NULL, name TEXT NOT NULL, minute_ms INTEGER NOT NULL,
  requests INTEGER NOT NULL, s1xx INTEGER NOT NULL, s2xx INTEGER NOT NULL, s3xx INTEGER NOT NULL,
  s4xx INTEGER NOT NULL, s5xx INTEGER NOT NULL, s499 INTEGER NOT NULL,
  bytes_in INTEGER NOT NULL, bytes_out INTEGER NOT NULL,
  latency_sum_ms REAL NOT NULL, latency_min_ms REAL NOT NULL, latency_max_ms REAL NOT NULL,
  p50_ms REAL NOT NULL, p95_ms REAL NOT NULL, p99_ms REAL NOT NULL, bins BLOB NOT NULL,
  PRIMARY KEY (kind, name, minute_ms)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS traffic_by_minute ON traffic (minute_ms);
CREATE TABLE IF NOT EXISTS app_events (
  at_ms INTEGER NOT NULL, app TEXT NOT NULL, instance TEXT, kind TEXT NOT NULL, detail TEXT
);
CREATE INDEX IF NOT EXISTS app_events_by_app ON app_events (app, at_ms);
CREATE INDEX IF NOT EXISTS app_events_by_at ON app_events (at_ms);
`

/** One recorded app event: a start, an exit, a crash, a reload, a scale… */
export interface AppEvent {
  atMs: number
  app: string
  /** The instance it concerns (`web#0`), or null for the whole app. */
  instance: string | null
  /** What happened: `ready`, `exited`, `crashed`, `stopped`, or an action (`reload`, `scale`, …). */
  kind: string
  detail: string | null
}

/** Why a database file could not be used. */
export type StoreProblem = 'corrupt' | 'locked' | 'unavailable'

/** The outcome of opening the history file. */
export interface OpenResult {
  store?: HistoryStore
  /** What went wrong with the file found (it was set aside when corrupt or locked). */
  problem?: { kind: StoreProblem; message: string }
  /** Where a corrupt or locked file was moved to. */
  setAside?: string
}

interface TrafficRecord extends BucketColumns {
  bins: Uint8Array
}

/** problemKind classifies a SQLite or loading error: corrupt and locked files are set aside. */
export function problemKind(error: unknown): StoreProblem {
  const code = String((error as { code?: unknown }).code ?? '')
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT') || code === 'SCHEMA_NEWER')
    return 'corrupt'
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'locked'
  return 'unavailable'
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

let driver: typeof BetterSqlite3 | undefined
/** loadDriver imports better-sqlite3 on first use, so a missing native build only disables history. */
function loadDriver(): typeof BetterSqlite3 {
  driver ??= createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3
  return driver
}

/**
 * setAside renames a database file (and its -wal/-shm companions) to
 * `<file>.<reason>-<timestamp>` and returns the new name. The old file is kept for inspection.
 */
export function setAside(file: string, reason: StoreProblem, nowMs: number): string {
  const target = `${file}.${reason}-${new Date(nowMs).toISOString().replace(/[:.]/g, '-')}`
  renameSync(file, target)
  for (const suffix of ['-wal', '-shm']) {
    if (existsSync(file + suffix)) renameSync(file + suffix, target + suffix)
  }
  return target
}

/**
 * HistoryStore is the history database: table `traffic` (one row per route, app or total per
 * minute: requests, status classes, bytes, latency sum/min/max, p50/p95/p99 and the encoded
 * histogram that lets a query merge minutes into any step) and table `app_events`. Every call is
 * synchronous (better-sqlite3): the History calls it from a timer in batches, never per request.
 */
export class HistoryStore {
  readonly file: string
  readonly #db: BetterSqlite3.Database
  readonly #upsert: BetterSqlite3.Statement
  readonly #existing: BetterSqlite3.Statement
  readonly #insertEvent: BetterSqlite3.Statement

  private constructor(file: string, db: BetterSqlite3.Database) {
    this.file = file
    this.#db = db
    this.#upsert = db.prepare(
      `INSERT OR REPLACE INTO traffic VALUES (@kind, @name, @minuteMs, @requests, @s1xx, @s2xx,
       @s3xx, @s4xx, @s5xx, @s499, @bytesIn, @bytesOut, @latencySum, @latencyMin, @latencyMax,
       @p50, @p95, @p99, @bins)`,
    )
    this.#existing = db.prepare(
      `SELECT ${COLUMNS} FROM traffic WHERE kind = ? AND name = ? AND minute_ms = ?`,
    )
    this.#insertEvent = db.prepare(
      'INSERT INTO app_events VALUES (@atMs, @app, @instance, @kind, @detail)',
    )
  }

  /**
   * open opens (or creates) the file, checks it (`quick_check`, schema version, a write lock
   * within 500 ms) and returns a store. A corrupt or locked file is set aside and a fresh one
   * made; when no file can be used (no native driver, read-only folder) `store` is absent and
   * `problem` says why. Never throws.
   */
  static open(file: string, nowMs: number = Date.now()): OpenResult {
    try {
      return { store: new HistoryStore(file, openChecked(file)) }
    } catch (error) {
      const kind = problemKind(error)
      const problem = { kind, message: messageOf(error) }
      if (kind === 'unavailable' || !existsSync(file)) return { problem }
      try {
        const moved = setAside(file, kind, nowMs)
        return { store: new HistoryStore(file, openChecked(file)), problem, setAside: moved }
      } catch (again) {
        return { problem: { kind: problemKind(again), message: messageOf(again) } }
      }
    }
  }

  /**
   * write stores closed minutes and app events in one transaction. A row for a minute already
   * stored (a stop and a start within one minute) is merged into it, not overwritten.
   */
  write(rows: readonly MinuteRow[], events: readonly AppEvent[]): void {
    this.#db.transaction(() => {
      for (const row of rows) this.#writeRow(row)
      for (const event of events) this.#insertEvent.run(event)
    })()
  }

  /** rows returns the stored minutes of one series in [fromMs, toMs), oldest first. */
  rows(kind: SeriesKind, name: string, fromMs: number, toMs: number): MinuteRow[] {
    const found = this.#db
      .prepare(
        `SELECT minute_ms AS minuteMs, ${COLUMNS} FROM traffic
         WHERE kind = ? AND name = ? AND minute_ms >= ? AND minute_ms < ? ORDER BY minute_ms`,
      )
      .all(kind, name, fromMs, toMs) as (TrafficRecord & { minuteMs: number })[]
    return found.map((r) => ({
      kind,
      name,
      minuteMs: r.minuteMs,
      bucket: fromColumns(r, r.bins),
    }))
  }

  /** events returns app events in [fromMs, toMs), newest first, at most `limit`. */
  events(app: string | undefined, fromMs: number, toMs: number, limit: number): AppEvent[] {
    const where = app === undefined ? '' : 'app = @app AND'
    return this.#db
      .prepare(
        `SELECT at_ms AS atMs, app, instance, kind, detail FROM app_events
         WHERE ${where} at_ms >= @fromMs AND at_ms < @toMs ORDER BY at_ms DESC LIMIT @limit`,
      )
      .all({ app, fromMs, toMs, limit }) as AppEvent[]
  }

  /**
   * prune deletes traffic rows and events older than `beforeMs`, a few thousand rows per
   * statement with a turn of the event loop between, and returns how many rows went.
   */
  async prune(beforeMs: number): Promise<number> {
    const traffic = this.#db.prepare(
      `DELETE FROM traffic WHERE (kind, name, minute_ms) IN
       (SELECT kind, name, minute_ms FROM traffic WHERE minute_ms < ? LIMIT ${PRUNE_CHUNK_ROWS})`,
    )
    const events = this.#db.prepare(
      `DELETE FROM app_events WHERE rowid IN
       (SELECT rowid FROM app_events WHERE at_ms < ? LIMIT ${PRUNE_CHUNK_ROWS})`,
    )
    let total = 0
    for (const statement of [traffic, events]) {
      for (;;) {
        const { changes } = statement.run(beforeMs)
        total += changes
        if (changes < PRUNE_CHUNK_ROWS) break
        await yieldToLoop()
      }
    }
    return total
  }

  /** close closes the database (idempotent). */
  close(): void {
    if (this.#db.open) this.#db.close()
  }

  #writeRow(row: MinuteRow): void {
    const stored = this.#existing.get(row.kind, row.name, row.minuteMs) as TrafficRecord | undefined
    let bucket: Bucket = row.bucket
    if (stored !== undefined) {
      bucket = fromColumns(stored, stored.bins)
      mergeBucket(bucket, row.bucket)
    }
    this.#upsert.run({
      kind: row.kind,
      name: row.name,
      minuteMs: row.minuteMs,
      ...toColumns(bucket),
      p50: percentile(bucket, 0.5),
      p95: percentile(bucket, 0.95),
      p99: percentile(bucket, 0.99),
      bins: encodeBins(bucket),
    })
  }
}

const COLUMNS = `requests, s1xx, s2xx, s3xx, s4xx, s5xx, s499, bytes_in AS bytesIn,
  bytes_out AS bytesOut, latency_sum_ms AS latencySum, latency_min_ms AS latencyMin,
  latency_max_ms AS latencyMax, bins`

/** openChecked opens a file, proves it is a usable database of our schema, and returns it. */
function openChecked(file: string): BetterSqlite3.Database {
  const Database = loadDriver()
  // Private like every state file: SQLite gives its -wal and -shm files the database's mode.
  closeSync(openSync(file, 'a', 0o600))
  chmodSync(file, 0o600)
  const db = new Database(file, { timeout: BUSY_TIMEOUT_MS })
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
    const check = db.pragma('quick_check', { simple: true })
    if (check !== 'ok')
      throw Object.assign(new Error(`quick_check: ${check}`), { code: 'SQLITE_CORRUPT' })
    // Takes the write lock: a file another process holds fails here (SQLITE_BUSY), not later.
    db.exec('BEGIN IMMEDIATE')
    db.exec(SCHEMA)
    const version = db.prepare("SELECT value FROM meta WHERE key = 'schema'").pluck().get()
    if (version !== undefined && Number(version) > SCHEMA_VERSION) {
      throw Object.assign(new Error(`schema ${version} is newer than ${SCHEMA_VERSION}`), {
        code: 'SCHEMA_NEWER',
      })
    }
    db.prepare("INSERT OR REPLACE INTO meta VALUES ('schema', ?)").run(String(SCHEMA_VERSION))
    db.exec('COMMIT')
    return db
  } catch (error) {
    db.close()
    throw error
  }
}
