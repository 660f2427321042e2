import { describe, expect, it } from 'vitest'
import { type BreakerState, CircuitBreaker, DENIED, PASSED } from './circuit-breaker.ts'

function breaker(extra: ConstructorParameters<typeof CircuitBreaker>[0] = {}) {
  const clock = { now: 0 }
  const changes: BreakerState[] = []
  const b = new CircuitBreaker({
    errorRatio: 0.5,
    windowMs: 10_000,
    minRequests: 4,
    cooldownMs: 5_000,
    trialRequests: 2,
    now: () => clock.now,
    onChange: (state) => changes.push(state),
    ...extra,
  })
  return { b, clock, changes }
}

/** feed passes `outcomes` ('+' success, '-' failure) through allow/record. */
function feed(b: CircuitBreaker, outcomes: string): void {
  for (const c of outcomes) {
    const permit = b.allow()
    if (permit !== DENIED) b.record(permit, c === '-')
  }
}

describe('CircuitBreaker', () => {
  it('stays closed below minRequests and below the error ratio', () => {
    const { b, changes } = breaker()
    feed(b, '---')
    expect(b.state).toBe('closed')
    const second = breaker()
    feed(second.b, '++++++---')
    expect(second.b.state).toBe('closed')
    expect([...changes, ...second.changes]).toEqual([])
  })

  it('opens at the error ratio, refuses at once with a Retry-After, then half-opens', () => {
    const { b, clock, changes } = breaker()
    feed(b, '+--+-')
    expect(b.state).toBe('open')
    expect(b.allow()).toBe(DENIED)
    clock.now = 2_000
    expect(b.retryAfterMs()).toBe(3_000)
    clock.now = 5_000
    expect(b.state).toBe('half-open')
    expect(changes).toEqual(['open', 'half-open'])
  })

  it('lets trialRequests through while half-open; their successes close it', () => {
    const { b, clock, changes } = breaker()
    feed(b, '----')
    clock.now = 5_000
    const first = b.allow()
    const second = b.allow()
    expect(first).toBeGreaterThan(0)
    expect(second).toBeGreaterThan(0)
    expect(b.allow()).toBe(DENIED)
    b.record(first, false)
    expect(b.state).toBe('half-open')
    b.record(second, false)
    expect(b.state).toBe('closed')
    expect(b.allow()).toBe(PASSED)
    expect(changes).toEqual(['open', 'half-open', 'closed'])
  })

  it('re-opens on a failed trial, for a new cool-down', () => {
    const { b, clock } = breaker()
    feed(b, '----')
    clock.now = 5_000
    const trial = b.allow()
    b.record(trial, true)
    expect(b.state).toBe('open')
    clock.now = 9_999
    expect(b.state).toBe('open')
    clock.now = 10_000
    expect(b.state).toBe('half-open')
  })

  it('gives back cancelled trials and ignores permits from an earlier round', () => {
    const { b, clock } = breaker()
    feed(b, '----')
    clock.now = 5_000
    const stale = b.allow()
    b.record(b.allow(), true)
    clock.now = 10_000
    expect(b.state).toBe('half-open')
    b.record(stale, true)
    expect(b.state).toBe('half-open')
    const a = b.allow()
    b.cancel(a)
    const c = b.allow()
    const d = b.allow()
    expect([c, d].every((p) => p > 0)).toBe(true)
    b.record(c, false)
    b.record(d, false)
    expect(b.state).toBe('closed')
  })

  it('forgets failures that left the window', () => {
    const { b, clock } = breaker()
    feed(b, '---')
    clock.now = 11_000
    feed(b, '-+++')
    expect(b.state).toBe('closed')
  })
})
