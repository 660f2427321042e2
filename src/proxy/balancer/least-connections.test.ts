import { describe, expect, it } from 'vitest'
import { leastConnections } from './least-connections.ts'
import { makeTargets, runStrategyContract } from './strategy.contract.ts'

runStrategyContract('leastConnections', leastConnections)

describe('leastConnections', () => {
  it('picks the target with the fewest requests in flight', () => {
    const strategy = leastConnections()
    const [a, b, c] = makeTargets(3)
    if (!a || !b || !c) throw new Error('targets')
    a.countRequest(5)
    b.countRequest(1)
    c.countRequest(3)
    expect(strategy.pick([a, b, c], { clientIp: 'x' })).toBe(b)
  })

  it('spreads sequential requests when all are idle', () => {
    const strategy = leastConnections()
    const targets = makeTargets(3)
    const picks = Array.from({ length: 6 }, () => strategy.pick(targets, { clientIp: 'x' })?.id)
    expect(picks).toEqual(['a', 'b', 'c', 'a', 'b', 'c'])
  })

  it('spreads concurrent requests: each in-flight request steers the next pick', () => {
    const strategy = leastConnections()
    const targets = makeTargets(2)
    const counts = new Map<string, number>()
    for (let i = 0; i < 10; i++) {
      const t = strategy.pick(targets, { clientIp: 'x' })
      if (!t) throw new Error('no pick')
      t.countRequest(1)
      counts.set(t.id, (counts.get(t.id) ?? 0) + 1)
    }
    expect(counts).toEqual(
      new Map([
        ['a', 5],
        ['b', 5],
      ]),
    )
  })
})
