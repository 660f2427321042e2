import { describe, expect, it } from 'vitest'
import type { RequestCompleted } from '../observe/events.ts'
import { latencyBin } from '../observe/window.ts'
import { MINUTE_MS, OVERFLOW_NAME, TrafficAggregator } from './aggregate.ts'
import {
  createBucket,
  decodeBins,
  encodeBins,
  percentile,
  recordRequest,
  summarize,
} from './bucket.ts'
import { bucketize } from './query.ts'

const T0 = Date.UTC(2026, 11, 1, 10, 0, 0)

function request(overrides: Partial<RequestCompleted> = {}): RequestCompleted {
  return {
    requestId: 'r',
    route: 'web.localhost',
    app: 'web',
    target: 'web#0',
    method: 'GET',
    path: '/',
    status: 200,
    durationMs: 10,
    queueMs: 0,
    retries: 0,
    bytesIn: 5,
    bytesOut: 100,
    ...overrides,
  }
}

describe('Bucket', () => {
  it('estimates percentiles from its histogram within a bin of the truth', () => {
    const bucket = createBucket()
    for (let i = 1; i <= 100; i++) recordRequest(bucket, 1, latencyBin(i), i, 0, 0)
    expect(percentile(bucket, 0.5)).toBeGreaterThan(50 / 1.33)
    expect(percentile(bucket, 0.5)).toBeLessThan(50 * 1.33)
    expect(percentile(bucket, 0.99)).toBeGreaterThan(99 / 1.33)
    expect(percentile(bucket, 0.99)).toBeLessThanOrEqual(100)
  })

  it('round-trips its histogram through the compact encoding', () => {
    const bucket = createBucket()
    recordRequest(bucket, 1, 3, 2, 0, 0)
    recordRequest(bucket, 4, 30, 900, 0, 0)
    const copy = createBucket()
    decodeBins(copy, encodeBins(bucket))
    expect(encodeBins(bucket)).toHaveLength(10)
    expect(encodeBins(copy)).toEqual(encodeBins(bucket))
  })
})

describe('TrafficAggregator', () => {
  it('closes a minute into rows per route, app and total when the next minute starts', () => {
    let now = T0 + 5_000
    const agg = new TrafficAggregator({ now: () => now })
    for (let i = 0; i < 10; i++) agg.record(request({ status: i < 2 ? 503 : 200 }))
    agg.record(request({ route: 'api.localhost', app: undefined }))
    expect(agg.takeRows()).toEqual([])
    now = T0 + MINUTE_MS + 1
    agg.roll()
    const rows = agg.takeRows()
    const byKey = new Map(rows.map((r) => [`${r.kind}:${r.name}`, summarize(r.bucket)]))
    expect([...byKey.keys()].sort()).toEqual([
      'app:web',
      'route:api.localhost',
      'route:web.localhost',
      'total:*',
    ])
    expect(byKey.get('route:web.localhost')?.requests).toBe(10)
    expect(byKey.get('route:web.localhost')?.errors).toBe(2)
    expect(byKey.get('total:*')?.requests).toBe(11)
    expect(byKey.get('app:web')?.bytesOut).toBe(1000)
    expect(rows.every((r) => r.minuteMs === T0)).toBe(true)
  })

  it('counts each interval once and starts the next one empty', () => {
    const agg = new TrafficAggregator({ now: () => T0 })
    agg.record(request())
    agg.record(request())
    const first = agg.takeInterval()
    expect(first.route.get('web.localhost')?.requests).toBe(2)
    expect(agg.takeInterval().route.size).toBe(0)
  })

  it('keeps memory bounded: keys past maxSeries count under _other, idle keys are dropped', () => {
    let now = T0
    const agg = new TrafficAggregator({ now: () => now, maxSeries: 10, maxPendingRows: 50 })
    for (let i = 0; i < 100; i++) agg.record(request({ route: `r${i}.test`, app: undefined }))
    expect(agg.seriesCount).toBeLessThanOrEqual(12)
    now += MINUTE_MS
    agg.roll()
    const rows = agg.takeRows()
    const other = rows.find((r) => r.name === OVERFLOW_NAME)
    expect(summarize(other?.bucket ?? createBucket()).requests).toBeGreaterThan(80)
    agg.takeInterval()
    now += MINUTE_MS
    agg.roll()
    expect(agg.seriesCount).toBe(0)
    // Rows the database could not take are capped too.
    for (let minute = 0; minute < 100; minute++) {
      agg.record(request())
      now += MINUTE_MS
      agg.roll()
    }
    expect(agg.pendingRows().length).toBeLessThanOrEqual(50)
    expect(agg.droppedRows).toBeGreaterThan(0)
  })

  it('closes the running minute on a forced roll (a graceful stop)', () => {
    const agg = new TrafficAggregator({ now: () => T0 + 1000 })
    agg.record(request())
    agg.roll(T0 + 2000, true)
    expect(agg.takeRows().map((r) => r.kind)).toContain('total')
  })
})

describe('bucketize', () => {
  it('merges minutes into steps, fills empty steps and keeps the histograms exact', () => {
    const agg = new TrafficAggregator({ now: () => T0 })
    const rows = [0, 1, 2, 7].map((m) => {
      const bucket = createBucket()
      recordRequest(bucket, 1, 5, 3, 0, 0)
      return { kind: 'total' as const, name: '*', minuteMs: T0 + m * MINUTE_MS, bucket }
    })
    expect(agg.seriesCount).toBe(0)
    const points = bucketize(rows, { fromMs: T0, toMs: T0 + 10 * MINUTE_MS, stepMs: 5 * MINUTE_MS })
    expect(points.map((p) => p.requests)).toEqual([3, 1])
    expect(points[0]?.at).toBe(new Date(T0).toISOString())
  })
})
