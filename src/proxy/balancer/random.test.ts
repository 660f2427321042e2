import { describe, expect, it } from 'vitest'
import type { Target } from '../../registry/target.ts'
import { random } from './random.ts'
import { makeTargets, runStrategyContract } from './strategy.contract.ts'

runStrategyContract('random', () => random())

/** scripted returns an rnd that yields `values` in turn, then fails the test if called again. */
function scripted(values: number[]): () => number {
  let i = 0
  return () => {
    const value = values[i++]
    if (value === undefined) throw new Error('rnd called more often than scripted')
    return value
  }
}

describe('random', () => {
  it('maps each rnd value onto the targets in order', () => {
    const strategy = random(scripted([0, 0.5, 0.999, 0.34, 0.67, 1]))
    const targets = makeTargets(3)
    const picks = Array.from({ length: 6 }, () => strategy.pick(targets, { clientIp: 'x' })?.id)
    expect(picks).toEqual([...'abcbcc'])
  })

  it('maps rnd onto the non-excluded targets only, and skips rnd when none is left', () => {
    const strategy = random(scripted([0, 0.49, 0.5, 0.99]))
    const targets = makeTargets(4)
    const exclude = new Set([targets[0] as Target, targets[2] as Target])
    const picks = Array.from(
      { length: 4 },
      () => strategy.pick(targets, { clientIp: 'x' }, exclude)?.id,
    )
    expect(picks).toEqual([...'bbdd'])
    expect(strategy.pick(targets, { clientIp: 'x' }, new Set(targets))).toBeUndefined()
  })

  it('spreads 30,000 picks over 3 targets, 30-37 % each', () => {
    const strategy = random()
    const targets = makeTargets(3)
    const counts = new Map<string | undefined, number>()
    for (let i = 0; i < 30_000; i++) {
      const id = strategy.pick(targets, { clientIp: 'x' })?.id
      counts.set(id, (counts.get(id) ?? 0) + 1)
    }
    expect([...counts.keys()].sort()).toEqual(['a', 'b', 'c'])
    for (const count of counts.values()) {
      expect(count).toBeGreaterThanOrEqual(9_000)
      expect(count).toBeLessThanOrEqual(11_100)
    }
  })
})
