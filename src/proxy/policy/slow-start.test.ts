import { describe, expect, it } from 'vitest'
import type { Target } from '../../registry/target.ts'
import { leastConnections } from '../balancer/least-connections.ts'
import { roundRobin } from '../balancer/round-robin.ts'
import { makeTargets, runStrategyContract } from '../balancer/strategy.contract.ts'
import type { Strategy } from '../balancer/strategy.ts'
import { slowStart } from './slow-start.ts'

runStrategyContract('slowStart(roundRobin)', () => slowStart(roundRobin(), { durationMs: 30_000 }))

/** A deterministic random source (an LCG), so shares are exact from run to run. */
function lcg(seed = 42): () => number {
  let state = seed
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state / 2 ** 32
  }
}

/** shareOf returns the fraction of `picks` picks that went to `target`. */
function shareOf(strategy: Strategy, available: readonly Target[], target: Target, picks = 2000) {
  let hits = 0
  for (let i = 0; i < picks; i++) if (strategy.pick(available, { clientIp: 'x' }) === target) hits++
  return hits / picks
}

describe('slowStart', () => {
  it("ramps a joining target's share of ROUND_ROBIN picks up over the duration", () => {
    let clock = 0
    const strategy = slowStart(roundRobin(), {
      durationMs: 30_000,
      now: () => clock,
      random: lcg(),
    })
    const [a, b, c] = makeTargets(3) as [Target, Target, Target]
    strategy.pick([a, b], { clientIp: 'x' })
    const joined = [a, b, c]
    // c joins at 0: the wrapper sees it in the available set for the first time.
    strategy.pick(joined, { clientIp: 'x' })
    const shares = [3_000, 15_000, 29_000, 30_000].map((t) => {
      clock = t
      return shareOf(strategy, joined, c)
    })
    expect(shares[0]).toBeLessThan(0.06)
    expect(shares[1]).toBeGreaterThan(0.12)
    expect(shares[1]).toBeLessThan(0.25)
    expect(shares[2]).toBeGreaterThan(shares[1] as number)
    expect(shares[3]).toBeCloseTo(1 / 3, 2)
  })

  it('keeps LEAST_CONNECTIONS from flooding an idle new target', () => {
    let clock = 0
    const strategy = slowStart(leastConnections(), {
      durationMs: 10_000,
      now: () => clock,
      random: lcg(),
    })
    const [a, b] = makeTargets(2) as [Target, Target]
    strategy.pick([a], { clientIp: 'x' })
    strategy.pick([a, b], { clientIp: 'x' })
    a.countRequest(5)
    clock = 1_000
    // Without slow start the empty target would get every pick; with it about 10 %.
    expect(leastConnections().pick([a, b], { clientIp: 'x' })).toBe(b)
    const early = shareOf(strategy, [a, b], b)
    expect(early).toBeGreaterThan(0.05)
    expect(early).toBeLessThan(0.15)
    clock = 10_000
    expect(shareOf(strategy, [a, b], b)).toBe(1)
  })

  it('does not ramp the targets present at the first pick, nor fail when only the new one is left', () => {
    const strategy = slowStart(roundRobin(), {
      durationMs: 30_000,
      now: () => 0,
      random: () => 0.99,
    })
    const [a, b] = makeTargets(2) as [Target, Target]
    expect(shareOf(strategy, [a, b], b, 100)).toBe(0.5)
    const late = makeTargets(3)[2] as Target
    expect(strategy.pick([late], { clientIp: 'x' })).toBe(late)
    expect(strategy.pick([a, late], { clientIp: 'x' }, new Set([a]))).toBe(late)
  })

  it('ramps again after a target leaves and rejoins', () => {
    let clock = 0
    const strategy = slowStart(roundRobin(), {
      durationMs: 10_000,
      now: () => clock,
      random: lcg(),
    })
    const [a, b] = makeTargets(2) as [Target, Target]
    strategy.pick([a, b], { clientIp: 'x' })
    clock = 50_000
    strategy.pick([a], { clientIp: 'x' })
    clock = 51_000
    expect(shareOf(strategy, [a, b], b)).toBeLessThan(0.1)
  })

  it('uses the join time the caller knows, when given', () => {
    const strategy = slowStart(roundRobin(), {
      durationMs: 10_000,
      now: () => 10_000,
      random: lcg(),
      availableSince: (target) => (target.id === 'b' ? 9_000 : undefined),
    })
    const [a, b] = makeTargets(2) as [Target, Target]
    expect(shareOf(strategy, [a, b], b)).toBeLessThan(0.1)
  })
})
