import { afterEach, describe, expect, it } from 'vitest'
import { completedEvent } from '../../test/helpers/completed.ts'
import { EventBus } from './events.ts'
import { STATUS_CLASSES, statusClassIndex, Tracker, type TrackerOptions } from './tracker.ts'

const START_MS = 1_700_000_000_000

/** FakeClock is a settable epoch-milliseconds clock; nothing to clean up. */
class FakeClock {
  ms = START_MS
  readonly now = (): number => this.ms
  advance(ms: number): void {
    this.ms += ms
  }
}

const trackers: Tracker[] = []

/** setup returns a tracker on a fresh bus with a fake clock; afterEach closes it. */
function setup(options: Partial<TrackerOptions> = {}) {
  const events = new EventBus()
  const clock = new FakeClock()
  const tracker = new Tracker({ events, now: clock.now, ...options })
  trackers.push(tracker)
  return { events, clock, tracker }
}

afterEach(() => {
  for (const tracker of trackers.splice(0)) tracker.close()
})

describe('statusClassIndex', () => {
  it('maps statuses to their class, 499 apart and out-of-range clamped', () => {
    const name = (status: number) => STATUS_CLASSES[statusClassIndex(status)]
    expect([101, 200, 204, 301, 404, 499, 500, 503].map(name)).toEqual([
      '1xx',
      '2xx',
      '2xx',
      '3xx',
      '4xx',
      '499',
      '5xx',
      '5xx',
    ])
    expect([0, 99, 600, 999].map(name)).toEqual(['1xx', '1xx', '5xx', '5xx'])
  })
})

describe('Tracker', () => {
  it('counts a known amount of traffic exactly per route, target and overall', () => {
    const { events, tracker } = setup()
    const statuses = { 200: 50, 302: 10, 404: 20, 499: 5, 502: 15 }
    for (const [status, n] of Object.entries(statuses)) {
      for (let i = 0; i < n; i++) {
        const target = i % 2 === 0 ? 'web#0' : 'web#1'
        events.emit(
          'request:completed',
          completedEvent({ status: Number(status), target, retries: 1 }),
        )
      }
    }
    events.emit(
      'request:completed',
      completedEvent({ route: 'api.localhost', bytesIn: 7, bytesOut: 9 }),
    )

    const web = tracker.routeStats('web.localhost')
    expect(web?.vHost).toBe('web.localhost')
    expect(web?.totalRequests).toBe(100)
    expect(web?.window.requests).toBe(100)
    expect(web?.window.status).toEqual({
      '1xx': 0,
      '2xx': 50,
      '3xx': 10,
      '4xx': 20,
      '5xx': 15,
      '499': 5,
    })
    expect(web?.window.errors).toBe(15)
    expect(web?.window.retries).toBe(100)
    expect(web?.totals).toEqual({
      requests: 100,
      errors: 15,
      status: web?.window.status,
      retries: 100,
      bytesIn: 0,
      bytesOut: 0,
    })
    expect(tracker.routeStats('api.localhost')?.window).toMatchObject({ bytesIn: 7, bytesOut: 9 })

    expect(tracker.targetStats('web#0')?.totalRequests).toBe(25 + 5 + 10 + 3 + 8 + 1)
    expect(tracker.targetStats('web#1')?.totalRequests).toBe(25 + 5 + 10 + 2 + 7)
    expect(tracker.globalStats().totalRequests).toBe(101)
    expect(tracker.globalStats().since).toBe(new Date(START_MS).toISOString())
    expect(tracker.allRouteStats().map((s) => s.vHost)).toEqual(['api.localhost', 'web.localhost'])
  })

  it('reports requests per second over the part of the window covered so far', () => {
    const { events, clock, tracker } = setup()
    for (let second = 0; second < 120; second++) {
      for (let i = 0; i < 10; i++) events.emit('request:completed', completedEvent())
      clock.advance(1000)
    }
    const stats = tracker.routeStats('web.localhost')
    expect(stats?.window.requests).toBe(590)
    expect(stats?.requestsPerSecond).toBeCloseTo(10, 0)
    expect(stats?.totalRequests).toBe(1200)

    const fresh = setup()
    for (let i = 0; i < 30; i++) fresh.events.emit('request:completed', completedEvent())
    fresh.clock.advance(3000)
    expect(fresh.tracker.globalStats().requestsPerSecond).toBe(10)
  })

  it('expires old buckets from the window but keeps the totals', () => {
    const { events, clock, tracker } = setup({ windowSeconds: 10 })
    for (let i = 0; i < 5; i++) events.emit('request:completed', completedEvent({ status: 500 }))
    clock.advance(5000)
    for (let i = 0; i < 3; i++) events.emit('request:completed', completedEvent())
    expect(tracker.routeStats('web.localhost')?.window.requests).toBe(8)

    clock.advance(5000)
    const later = tracker.routeStats('web.localhost')
    expect(later?.window.requests).toBe(3)
    expect(later?.window.errors).toBe(0)
    expect(later?.totals.errors).toBe(5)

    clock.advance(10_000)
    const idle = tracker.routeStats('web.localhost')
    expect(idle?.window.requests).toBe(0)
    expect(idle?.window.latencyMs).toEqual({ p50: 0, p95: 0, p99: 0, mean: 0, max: 0 })
    expect(idle?.requestsPerSecond).toBe(0)
    expect(idle?.totalRequests).toBe(8)
  })

  it('reuses a ring slot a full window later without mixing in the old second', () => {
    const { events, clock, tracker } = setup({ windowSeconds: 3 })
    events.emit('request:completed', completedEvent({ durationMs: 5000 }))
    clock.advance(3000)
    events.emit('request:completed', completedEvent({ durationMs: 2 }))
    const stats = tracker.routeStats('web.localhost')
    expect(stats?.window.requests).toBe(1)
    expect(stats?.window.latencyMs.max).toBe(2)
  })

  it('estimates plausible percentiles and an exact mean', () => {
    const { events, tracker } = setup()
    for (let ms = 1; ms <= 1000; ms++)
      events.emit('request:completed', completedEvent({ durationMs: ms }))
    const latency = tracker.globalStats().window.latencyMs
    expect(latency.mean).toBe(500.5)
    expect(latency.max).toBe(1000)
    expect(latency.p50).toBeGreaterThan(500 * 0.85)
    expect(latency.p50).toBeLessThan(500 * 1.15)
    expect(latency.p95).toBeGreaterThan(950 * 0.85)
    expect(latency.p95).toBeLessThanOrEqual(1000)
    expect(latency.p99).toBeGreaterThan(990 * 0.85)
    expect(latency.p99).toBeLessThanOrEqual(1000)
    expect(latency.p50).toBeLessThanOrEqual(latency.p95)
    expect(latency.p95).toBeLessThanOrEqual(latency.p99)
  })

  it('gives exact percentiles when every sample is equal, including beyond the bins', () => {
    for (const durationMs of [0, 0.4, 100, 90_000]) {
      const { events, tracker } = setup()
      for (let i = 0; i < 50; i++) events.emit('request:completed', completedEvent({ durationMs }))
      const { p50, p95, p99 } = tracker.globalStats().window.latencyMs
      expect([p50, p95, p99]).toEqual([durationMs, durationMs, durationMs])
    }
  })

  it('tracks no target for a request that never reached one', () => {
    const { events, tracker } = setup()
    events.emit('request:completed', completedEvent({ target: undefined, status: 503 }))
    expect(tracker.size().targets).toBe(0)
    expect(tracker.routeStats('web.localhost')?.window.errors).toBe(1)
  })

  it('answers undefined for an unseen route, or zeros with routeStatsOrEmpty', () => {
    const { tracker } = setup()
    expect(tracker.routeStats('nope.localhost')).toBeUndefined()
    expect(tracker.targetStats('nope#0')).toBeUndefined()
    const empty = tracker.routeStatsOrEmpty('nope.localhost')
    expect(empty).toMatchObject({ vHost: 'nope.localhost', totalRequests: 0, requestsPerSecond: 0 })
    expect(empty.window).toMatchObject({ seconds: 60, requests: 0, errors: 0 })
    expect(tracker.targetStatsOrEmpty('nope#0')).toMatchObject({
      target: 'nope#0',
      totalRequests: 0,
    })
  })

  it('evicts the least recently updated key past maxKeys', () => {
    const { events, tracker } = setup({ maxKeys: 3 })
    for (const route of ['a', 'b', 'c']) events.emit('request:completed', completedEvent({ route }))
    events.emit('request:completed', completedEvent({ route: 'a' }))
    events.emit('request:completed', completedEvent({ route: 'd' }))
    expect(tracker.allRouteStats().map((s) => s.vHost)).toEqual(['a', 'c', 'd'])
    expect(tracker.routeStats('a')?.totalRequests).toBe(2)
    expect(tracker.size().routes).toBe(3)
  })

  it('takes the window ring from the least recently updated key past maxWindows', () => {
    const { events, tracker } = setup({ maxWindows: 2 })
    for (const target of ['t1', 't2', 't3'])
      events.emit('request:completed', completedEvent({ target }))
    expect(tracker.targetStats('t1')?.window.requests).toBe(0)
    expect(tracker.targetStats('t1')?.totalRequests).toBe(1)
    expect(tracker.targetStats('t3')?.window.requests).toBe(1)
    expect(tracker.size().windows).toBeLessThanOrEqual(4)
  })

  it('returns the ring of a key idle for a whole window to the pool', () => {
    const { events, clock, tracker } = setup({ windowSeconds: 5 })
    for (let i = 0; i < 100; i++) {
      events.emit('request:completed', completedEvent({ target: `t${i}` }))
      clock.advance(1000)
    }
    // Only the targets of the last window need a ring; the others have given theirs back.
    expect(tracker.size().windows).toBeLessThanOrEqual(1 + 7)
    expect(tracker.size().targets).toBe(100)
    expect(tracker.targetStats('t0')?.totalRequests).toBe(1)
  })

  it('stays within its bounds over 1,000,000 events across 100,000 target keys', () => {
    const { events, clock, tracker } = setup()
    const event = completedEvent()
    for (let i = 0; i < 1_000_000; i++) {
      event.target = `target-${i % 100_000}`
      event.route = `route-${i % 50}`
      event.status = i % 10 === 0 ? 500 : 200
      event.durationMs = i % 1000
      events.emit('request:completed', event)
      if (i % 1000 === 0) clock.advance(7)
    }
    const size = tracker.size()
    expect(size.targets).toBe(10_000)
    expect(size.routes).toBe(50)
    expect(size.windows).toBeLessThanOrEqual(1_000 + 50)
    const global = tracker.globalStats()
    expect(global.totalRequests).toBe(1_000_000)
    expect(global.totals.errors).toBe(100_000)
    expect(global.window.requests).toBe(1_000_000)
    expect(tracker.routeStats('route-0')?.totalRequests).toBe(20_000)
  })

  it('tolerates a clock that steps backwards', () => {
    const { events, clock, tracker } = setup()
    events.emit('request:completed', completedEvent())
    clock.advance(-5000)
    events.emit('request:completed', completedEvent())
    expect(tracker.globalStats().totalRequests).toBe(2)
  })

  it('stops counting after close()', () => {
    const { events, tracker } = setup()
    tracker.close()
    events.emit('request:completed', completedEvent())
    expect(tracker.globalStats().totalRequests).toBe(0)
    expect(events.hasListeners('request:completed')).toBe(false)
  })

  it('rejects a window that is not a positive whole number of seconds', () => {
    expect(() => setup({ windowSeconds: 0 })).toThrow(RangeError)
    expect(() => setup({ maxKeys: 1.5 })).toThrow(RangeError)
  })
})
