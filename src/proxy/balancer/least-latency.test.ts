import { describe, expect, it } from 'vitest'
import type { Target } from '../../registry/target.ts'
import { leastLatency } from './least-latency.ts'
import { makeTargets, runStrategyContract } from './strategy.contract.ts'

runStrategyContract('leastLatency', leastLatency)

/** measured builds targets `a`, `b`, `c`… with the given averages (0 = unmeasured). */
function measured(...latenciesMs: number[]): Target[] {
  const targets = makeTargets(latenciesMs.length)
  targets.forEach((t, i) => {
    t.recordLatency(latenciesMs[i] ?? 0)
  })
  return targets
}

describe('leastLatency', () => {
  it('tries unmeasured targets first, in turn', () => {
    const strategy = leastLatency()
    const targets = measured(5, 0, 40, 0)
    const picks = Array.from({ length: 4 }, () => strategy.pick(targets, { clientIp: 'x' })?.id)
    expect(picks).toEqual([...'bdbd'])
  })

  it('measures every target once, then keeps to the fastest', () => {
    const strategy = leastLatency()
    const targets = makeTargets(3)
    const sampleMs = new Map([
      ['a', 30],
      ['b', 10],
      ['c', 20],
    ])
    const picks = Array.from({ length: 6 }, () => {
      const t = strategy.pick(targets, { clientIp: 'x' })
      if (!t) throw new Error('no pick')
      t.recordLatency(sampleMs.get(t.id) ?? 0)
      return t.id
    })
    expect(picks).toEqual([...'abcbbb'])
  })

  it('picks the lowest average, skipping an excluded one', () => {
    const strategy = leastLatency()
    const targets = measured(30, 10, 20)
    expect(strategy.pick(targets, { clientIp: 'x' })?.id).toBe('b')
    expect(strategy.pick(targets, { clientIp: 'x' }, new Set(targets.slice(1, 2)))?.id).toBe('c')
  })

  it('rotates among equal averages', () => {
    const strategy = leastLatency()
    const targets = measured(12, 12, 12)
    const picks = Array.from({ length: 4 }, () => strategy.pick(targets, { clientIp: 'x' })?.id)
    expect(picks).toEqual([...'abca'])
  })
})

describe('recordLatency', () => {
  it('sets the average from the first sample, then moves it by alpha of the difference', () => {
    const [t] = makeTargets(1)
    if (!t) throw new Error('target')
    t.recordLatency(100)
    expect(t.latencyEwmaMs).toBe(100)
    t.recordLatency(200)
    expect(t.latencyEwmaMs).toBeCloseTo(130, 9)
    t.recordLatency(30, 1)
    expect(t.latencyEwmaMs).toBe(30)
    t.recordLatency(50, 0.5)
    expect(t.latencyEwmaMs).toBe(40)
  })

  it('ignores negative and non-finite samples', () => {
    const [t] = makeTargets(1)
    if (!t) throw new Error('target')
    t.recordLatency(100)
    for (const ms of [Number.NaN, -5, Number.POSITIVE_INFINITY]) t.recordLatency(ms)
    expect(t.latencyEwmaMs).toBe(100)
  })
})
