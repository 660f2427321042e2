import { describe, expect, it } from 'vitest'
import { ConcurrencyGate } from './concurrency-gate.ts'

function deferred() {
  let resolve = () => {}
  const promise = new Promise<void>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

describe('ConcurrencyGate', () => {
  it('runs at most maxRunning at once, queues maxWaiting in order, refuses the rest', async () => {
    const gate = new ConcurrencyGate(1, 1)
    const first = deferred()
    const order: string[] = []
    const a = gate.run(async () => {
      order.push('a')
      await first.promise
    })
    const b = gate.run(async () => {
      order.push('b')
    })
    expect(gate.run(async () => order.push('c'))).toBeUndefined()
    expect(gate.running).toBe(1)
    expect(order).toEqual(['a'])
    first.resolve()
    await a
    await b
    expect(order).toEqual(['a', 'b'])
    expect(gate.running).toBe(0)
  })

  it('frees the slot when a task rejects', async () => {
    const gate = new ConcurrencyGate(1, 0)
    await expect(gate.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    expect(await gate.run(async () => 'ok')).toBe('ok')
  })
})
