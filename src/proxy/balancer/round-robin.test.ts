import { describe, expect, it } from 'vitest'
import { roundRobin } from './round-robin.ts'
import { makeTargets, runStrategyContract } from './strategy.contract.ts'

runStrategyContract('roundRobin', roundRobin)

describe('roundRobin', () => {
  it('cycles through targets in order', () => {
    const strategy = roundRobin()
    const targets = makeTargets(3)
    const picks = Array.from({ length: 7 }, () => strategy.pick(targets, { clientIp: 'x' })?.id)
    expect(picks).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a'])
  })

  it('keeps cycling when the set shrinks', () => {
    const strategy = roundRobin()
    const targets = makeTargets(3)
    strategy.pick(targets, { clientIp: 'x' })
    strategy.pick(targets, { clientIp: 'x' })
    const two = targets.slice(0, 2)
    const picks = Array.from({ length: 4 }, () => strategy.pick(two, { clientIp: 'x' })?.id)
    expect(new Set(picks)).toEqual(new Set(['a', 'b']))
  })
})
