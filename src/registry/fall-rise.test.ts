import { describe, expect, it } from 'vitest'
import { FallRise } from './fall-rise.ts'

/** run feeds a sequence ('+' pass, '-' fail) and returns the edges as a string ('.' for none). */
function run(machine: FallRise, sequence: string): string {
  return [...sequence]
    .map((c) => {
      const edge = machine.record(c === '+')
      return edge === 'fell' ? 'F' : edge === 'rose' ? 'R' : '.'
    })
    .join('')
}

describe('FallRise', () => {
  it('falls after `fall` failures in a row and rises after `rise` passes, once each', () => {
    const machine = new FallRise({ fall: 3, rise: 2 })
    expect(run(machine, '++--+---+-++++--')).toBe('.......F...R....')
    expect(machine.healthy).toBe(true)
  })

  it('reports each edge once, however long the streak goes on', () => {
    const machine = new FallRise({ fall: 2, rise: 2 })
    expect(run(machine, '----------')).toBe('.F........')
    expect(machine.healthy).toBe(false)
    expect(run(machine, '++++')).toBe('.R..')
  })

  it('starts unhealthy when asked (an instance not yet proven), and can be reset', () => {
    const machine = new FallRise({ rise: 1, healthy: false })
    expect(run(machine, '+')).toBe('R')
    machine.reset(false)
    expect(machine.healthy).toBe(false)
    expect(run(machine, '-+')).toBe('.R')
  })

  it('treats fall or rise below 1 as 1', () => {
    const machine = new FallRise({ fall: 0, rise: 0 })
    expect(run(machine, '-+')).toBe('FR')
  })
})
