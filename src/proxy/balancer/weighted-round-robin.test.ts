import { describe, expect, it } from 'vitest'
import type { Target } from '../../registry/target.ts'
import { makeTargets, runStrategyContract } from './strategy.contract.ts'
import { weightedRoundRobin } from './weighted-round-robin.ts'

runStrategyContract('weightedRoundRobin', weightedRoundRobin)

/** weighted builds targets `a`, `b`, `c`… with the given weights. */
function weighted(...weights: number[]): Target[] {
  const targets = makeTargets(weights.length)
  targets.forEach((t, i) => {
    t.setWeight(weights[i] ?? 1)
  })
  return targets
}

describe('weightedRoundRobin', () => {
  it('interleaves weights 5, 1, 1 as nginx does: a a b a c a a', () => {
    const strategy = weightedRoundRobin()
    const targets = weighted(5, 1, 1)
    const picks = Array.from({ length: 14 }, () => strategy.pick(targets, { clientIp: 'x' })?.id)
    expect(picks).toEqual([...'aabacaa', ...'aabacaa'])
  })

  it('splits 300 picks 200/100 for weights 2:1, as a b a…', () => {
    const strategy = weightedRoundRobin()
    const targets = weighted(2, 1)
    const counts = new Map<string | undefined, number>()
    const picks: (string | undefined)[] = []
    for (let i = 0; i < 300; i++) {
      const id = strategy.pick(targets, { clientIp: 'x' })?.id
      picks.push(id)
      counts.set(id, (counts.get(id) ?? 0) + 1)
    }
    expect(picks.slice(0, 6)).toEqual([...'abaaba'])
    expect(counts).toEqual(
      new Map([
        ['a', 200],
        ['b', 100],
      ]),
    )
  })

  it('skips excluded targets and shares among the rest by weight', () => {
    const strategy = weightedRoundRobin()
    const targets = weighted(5, 2, 1)
    const exclude = new Set(targets.slice(0, 1))
    const picks = Array.from(
      { length: 6 },
      () => strategy.pick(targets, { clientIp: 'x' }, exclude)?.id,
    )
    expect(picks).toEqual([...'bcbbcb'])
  })

  it('keys its state by target, so reordering the set continues the same cycle', () => {
    const strategy = weightedRoundRobin()
    const targets = weighted(5, 1, 1)
    const reversed = [...targets].reverse()
    const first = Array.from({ length: 3 }, () => strategy.pick(targets, { clientIp: 'x' })?.id)
    const rest = Array.from({ length: 4 }, () => strategy.pick(reversed, { clientIp: 'x' })?.id)
    expect([...first, ...rest]).toEqual([...'aabacaa'])
  })

  it('keeps shares by weight when a target leaves and returns mid-cycle', () => {
    const strategy = weightedRoundRobin()
    const [a, b, c] = weighted(3, 2, 1)
    if (!a || !b || !c) throw new Error('targets')
    const counts = { a: 0, b: 0, c: 0 }
    for (let i = 0; i < 900; i++) {
      const set = i >= 301 && i < 503 ? [a, b] : [a, b, c]
      const t = strategy.pick(set, { clientIp: 'x' })
      if (t?.id === 'a' || t?.id === 'b' || t?.id === 'c') counts[t.id]++
    }
    // 698 picks at 3:2:1 and 202 at 3:2, give or take the cycles cut at the two changes
    const ideal = { a: 698 / 2 + (202 * 3) / 5, b: 698 / 3 + (202 * 2) / 5, c: 698 / 6 }
    for (const id of ['a', 'b', 'c'] as const)
      expect(Math.abs(counts[id] - ideal[id])).toBeLessThanOrEqual(2)
  })
})
