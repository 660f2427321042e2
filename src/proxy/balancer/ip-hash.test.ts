import { describe, expect, it } from 'vitest'
import type { Target } from '../../registry/target.ts'
import { ipHash } from './ip-hash.ts'
import { makeTargets, runStrategyContract } from './strategy.contract.ts'

runStrategyContract('ipHash', ipHash)

const CLIENTS = 10_000

/** ip returns the i-th of `CLIENTS` distinct client addresses. */
function ip(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`
}

/** assign maps each client to the id of the target ipHash picks for it. */
function assign(targets: readonly Target[], exclude?: ReadonlySet<Target>): string[] {
  const strategy = ipHash()
  return Array.from({ length: CLIENTS }, (_, i) => {
    const t = strategy.pick(targets, { clientIp: ip(i) }, exclude)
    if (!t) throw new Error('no pick')
    return t.id
  })
}

describe('ipHash', () => {
  it('sends the same IP to the same target every time', () => {
    const strategy = ipHash()
    const targets = makeTargets(4)
    const picked = new Set(
      Array.from({ length: 100 }, () => strategy.pick(targets, { clientIp: '203.0.113.7' })),
    )
    expect(picked.size).toBe(1)
  })

  it('does not depend on the order of the targets', () => {
    const targets = makeTargets(4)
    expect(assign([...targets].reverse())).toEqual(assign(targets))
  })

  it('spreads 10,000 IPs over 4 targets, 20-30 % each', () => {
    const counts = new Map<string, number>()
    for (const id of assign(makeTargets(4))) counts.set(id, (counts.get(id) ?? 0) + 1)
    expect([...counts.keys()].sort()).toEqual(['a', 'b', 'c', 'd'])
    for (const count of counts.values()) {
      expect(count).toBeGreaterThanOrEqual(0.2 * CLIENTS)
      expect(count).toBeLessThanOrEqual(0.3 * CLIENTS)
    }
  })

  it('moves about 1/5 of the clients when a fifth target joins, all of them to it', () => {
    const before = assign(makeTargets(4))
    const after = assign(makeTargets(5))
    const moved = before.filter((id, i) => after[i] !== id).length
    expect(moved).toBeGreaterThanOrEqual(0.12 * CLIENTS)
    expect(moved).toBeLessThanOrEqual(0.28 * CLIENTS)
    expect(new Set(after.filter((id, i) => before[i] !== id))).toEqual(new Set(['e']))
  })

  it("moves only the removed target's clients when one of 5 leaves", () => {
    const five = makeTargets(5)
    const before = assign(five)
    const after = assign(five.filter((t) => t.id !== 'c'))
    before.forEach((id, i) => {
      if (id !== 'c') expect(after[i]).toBe(id)
    })
    expect(new Set(after.filter((_, i) => before[i] === 'c')).size).toBe(4)
  })

  it("falls back to the IP's next-highest target when its first is excluded", () => {
    const targets = makeTargets(5)
    const first = assign(targets)
    const retried = assign(targets, new Set(targets.filter((t) => t.id === 'c')))
    const withoutC = assign(targets.filter((t) => t.id !== 'c'))
    expect(retried).toEqual(withoutC)
    expect(retried.filter((id, i) => id !== first[i]).length).toBe(
      first.filter((id) => id === 'c').length,
    )
  })
})
