import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { EventBus, type RequestCompleted } from '../observe/events.ts'
import { createLogger } from '../observe/log.ts'
import { MINUTE_MS } from './aggregate.ts'
import { History } from './history.ts'
import { HistoryStore } from './store.ts'

const T0 = Date.UTC(2026, 11, 1, 10, 0, 0)
const DAY_MS = 24 * 60 * MINUTE_MS

function completed(route: string, status = 200, durationMs = 12): RequestCompleted {
  return {
    requestId: 'r',
    route,
    app: route.split('.')[0],
    target: undefined,
    method: 'GET',
    path: '/',
    status,
    durationMs,
    queueMs: 0,
    retries: 0,
    bytesIn: 0,
    bytesOut: 10,
  }
}

describe('History (real SQLite file)', () => {
  let dir: string
  let file: string
  let now: number
  let events: EventBus
  const log = createLogger({ level: 'silent' })
  const opened: History[] = []

  const open = (retentionMs = 7 * DAY_MS) => {
    const history = History.open({
      file,
      events,
      log,
      now: () => now,
      retentionMs,
      flushIntervalMs: 60_000,
    })
    opened.push(history)
    return history
  }

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portico-history-'))
    file = path.join(dir, 'history.db')
    now = T0
    events = new EventBus()
  })
  afterEach(async () => {
    for (const h of opened.splice(0)) await h.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('writes rows under load in batches, one per route/app/total and minute, 0600', async () => {
    const history = open()
    for (let minute = 0; minute < 3; minute++) {
      for (let i = 0; i < 5000; i++) {
        now = T0 + minute * MINUTE_MS + (i % 50_000)
        events.emit(
          'request:completed',
          completed(i % 2 ? 'a.test' : 'b.test', i % 100 === 0 ? 500 : 200),
        )
      }
    }
    now = T0 + 3 * MINUTE_MS + 1
    await history.flush()
    const db = new Database(file, { readonly: true })
    const rows = db
      .prepare(
        "SELECT name, minute_ms, requests, s5xx FROM traffic WHERE kind = 'route' ORDER BY name, minute_ms",
      )
      .all() as { requests: number; s5xx: number }[]
    db.close()
    expect(rows).toHaveLength(6)
    expect(rows.reduce((n, r) => n + r.requests, 0)).toBe(15_000)
    expect(rows.reduce((n, r) => n + r.s5xx, 0)).toBe(150)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    const points = history.points('route', 'a.test', { fromMs: T0, toMs: now, stepMs: MINUTE_MS })
    expect(points.map((p) => p.requests)).toEqual([2500, 2500, 2500, 0])
  })

  it('reads back after a restart, the unflushed running minute included (graceful stop)', async () => {
    let history = open()
    for (let i = 0; i < 40; i++) events.emit('request:completed', completed('a.test'))
    events.emit('app:changed', { app: 'a', action: 'reload', ok: true, detail: null })
    await history.close()
    opened.pop()
    events = new EventBus()
    now += 10_000
    history = open()
    for (let i = 0; i < 2; i++) events.emit('request:completed', completed('a.test'))
    const points = history.points('route', 'a.test', {
      fromMs: T0,
      toMs: T0 + MINUTE_MS,
      stepMs: MINUTE_MS,
    })
    expect(points).toHaveLength(1)
    expect(points[0]?.requests).toBe(42)
    expect(history.appEvents('a', T0, now + 1, 10).map((e) => e.kind)).toEqual(['reload'])
    // Same minute written twice: merged, not replaced.
    await history.close()
    opened.pop()
    const store = HistoryStore.open(file).store
    expect(store?.rows('route', 'a.test', T0, T0 + MINUTE_MS)[0]?.bucket[0]).toBe(42)
    store?.close()
  })

  it('prunes rows and events past the retention', async () => {
    const history = open(2 * DAY_MS)
    events.emit('request:completed', completed('a.test'))
    events.emit('app:changed', { app: 'a', action: 'start', ok: true, detail: null })
    now = T0 + MINUTE_MS
    await history.flush()
    now = T0 + 3 * DAY_MS
    events.emit('request:completed', completed('a.test'))
    now += 2 * 60 * MINUTE_MS // past the hourly prune interval
    await history.flush()
    const points = history.points('route', 'a.test', {
      fromMs: T0,
      toMs: now,
      stepMs: 60 * MINUTE_MS,
    })
    expect(points.reduce((n, p) => n + p.requests, 0)).toBe(1)
    expect(history.appEvents(undefined, 0, now, 10)).toEqual([])
  })

  it('sets a corrupt file aside, reports it and starts a new one', async () => {
    writeFileSync(file, 'this is not a database, just text that happens to be here '.repeat(200))
    const history = open()
    const status = history.status()
    expect(status.storage).toBe('file')
    expect(status.problem?.kind).toBe('corrupt')
    expect(status.setAside).toMatch(/history\.db\.corrupt-/)
    expect(readFileSync(status.setAside ?? '', 'utf8')).toContain('not a database')
    events.emit('request:completed', completed('a.test'))
    now += MINUTE_MS
    await history.flush()
    expect(
      history.points('total', '*', { fromMs: T0, toMs: now, stepMs: MINUTE_MS })[0]?.requests,
    ).toBe(1)
  })

  it('sets a file locked by another process aside', async () => {
    const other = new Database(file)
    other.exec('CREATE TABLE t (x); BEGIN EXCLUSIVE; INSERT INTO t VALUES (1)')
    try {
      const history = open()
      expect(history.status().problem?.kind).toBe('locked')
      expect(history.status().storage).toBe('file')
      expect((await readdir(dir)).some((f) => f.startsWith('history.db.locked-'))).toBe(true)
    } finally {
      other.close()
    }
  })

  it('keeps recent minutes in memory when no file can be used', async () => {
    file = path.join(dir, 'missing-folder', 'history.db')
    const history = open()
    expect(history.status().storage).toBe('memory')
    expect(history.status().problem?.kind).toBe('unavailable')
    events.emit('request:completed', completed('a.test'))
    now += MINUTE_MS
    await history.flush()
    expect(
      history.points('route', 'a.test', { fromMs: T0, toMs: now, stepMs: MINUTE_MS })[0]?.requests,
    ).toBe(1)
  })
})
