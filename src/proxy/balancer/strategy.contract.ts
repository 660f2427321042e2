/** @module Shared contract every Strategy's test runs (Hono's common router suite). */
import { describe, expect, it } from 'vitest'
import { Target, type TargetState } from '../../registry/target.ts'
import type { Strategy } from './strategy.ts'

/** targets builds available targets `a`, `b`, `c`… on consecutive ports. */
export function makeTargets(n: number, state: TargetState = 'healthy'): Target[] {
  return Array.from(
    { length: n },
    (_, i) =>
      new Target({ id: String.fromCharCode(97 + i), host: '127.0.0.1', port: 10_000 + i, state }),
  )
}

/** runStrategyContract checks what every strategy must do, whatever its distribution. */
export function runStrategyContract(name: string, make: () => Strategy): void {
  describe(`${name} contract`, () => {
    it('returns undefined for an empty set', () => {
      expect(make().pick([], { clientIp: '127.0.0.1' })).toBeUndefined()
    })

    it('only ever picks from the given targets', () => {
      const strategy = make()
      const targets = makeTargets(3)
      for (let i = 0; i < 30; i++)
        expect(targets).toContain(strategy.pick(targets, { clientIp: `10.0.0.${i}` }))
    })

    it('never picks an excluded target, and returns undefined when all are excluded', () => {
      const strategy = make()
      const targets = makeTargets(3)
      const exclude = new Set([targets[0] as Target, targets[2] as Target])
      for (let i = 0; i < 10; i++)
        expect(strategy.pick(targets, { clientIp: `10.0.0.${i}` }, exclude)).toBe(targets[1])
      expect(strategy.pick(targets, { clientIp: '10.0.0.1' }, new Set(targets))).toBeUndefined()
    })
  })
}
