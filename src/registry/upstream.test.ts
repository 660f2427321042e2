import { describe, expect, it } from 'vitest'
import { Upstream } from './upstream.ts'

const view = (id: string, port: number, state: 'healthy' | 'starting' = 'healthy') => ({
  id,
  host: '127.0.0.1',
  port,
  weight: 1,
  state,
  markedDead: false,
})

describe('Upstream.replace', () => {
  it('swaps the whole target set in one change, keeping the objects whose address is unchanged', () => {
    const upstream = new Upstream('app:web')
    upstream.replace([view('web#0', 1000), view('web#1', 1001)])
    const kept = upstream.get('web#0')
    const moved = upstream.get('web#1')
    kept?.countRequest(2)
    const seen: number[] = []
    upstream.onChange((u) => seen.push(u.available().length))
    upstream.replace([view('web#0', 1000), view('web#1', 1002, 'starting')])
    // One notification, never an intermediate set with nothing available.
    expect(seen).toEqual([1])
    expect(upstream.get('web#0')).toBe(kept)
    expect(upstream.get('web#0')?.inFlight).toBe(2)
    expect(upstream.get('web#1')).not.toBe(moved)
    expect(upstream.get('web#1')?.port).toBe(1002)
    expect(upstream.hasStarting()).toBe(true)
    upstream.replace([{ ...view('web#0', 1000), markedDead: true }])
    expect(upstream.targets().map((t) => t.id)).toEqual(['web#0'])
    expect(upstream.available()).toEqual([])
  })
})
