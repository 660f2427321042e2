import { describe, expect, it } from 'vitest'
import { parseConfig } from '../config/load.ts'
import { share } from '../proxy/routes.ts'
import { Registry } from '../registry/registry.ts'
import { buildRouteTable } from './route-table.ts'

const config = (port: number, headers: Record<string, string> = {}) =>
  parseConfig(
    {
      routes: [{ vHost: 'a.test', backends: [{ id: 'b1', hostname: '127.0.0.1', port }], headers }],
    },
    'test',
  )

describe('buildRouteTable', () => {
  it('reuses an unchanged route object (its queue and counters carry over)', () => {
    const registry = new Registry()
    const first = buildRouteTable(config(1000), registry)
    const second = buildRouteTable(config(1000), registry, first)
    expect(second.lookup('a.test')).toBe(first.lookup('a.test'))
  })

  it('replaces a backend whose address changed under the same id', () => {
    const registry = new Registry()
    const first = buildRouteTable(config(1000), registry)
    buildRouteTable(config(1050), registry, first)
    const target = registry.get('route:a.test')?.get('b1')
    expect(target?.port).toBe(1050)
    expect(target?.state).toBe('healthy')
  })

  it('keeps a passively ejected backend out of rotation across a rebuild', () => {
    const registry = new Registry()
    const first = buildRouteTable(config(1000), registry)
    registry.get('route:a.test')?.setState('b1', 'unhealthy')
    buildRouteTable(config(1000, { 'X-New': '1' }), registry, first)
    expect(registry.get('route:a.test')?.get('b1')?.state).toBe('unhealthy')
  })

  it('lets routes it replaced stop listening to their upstream', () => {
    const registry = new Registry()
    let table = buildRouteTable(config(1000), registry)
    for (let i = 0; i < 20; i++)
      table = buildRouteTable(config(1000, { 'X-Rev': String(i) }), registry, table)
    expect(registry.get('route:a.test')?.listenerCount).toBe(1)
  })

  it("gives each of N edge workers its share of a route's limits, at least one", () => {
    const limited = parseConfig(
      {
        routes: [
          {
            vHost: 'a.test',
            reqActiveLength: 5,
            reqQueueLength: 1,
            backends: [{ hostname: '127.0.0.1', port: 1000 }],
          },
        ],
      },
      'test',
    )
    const whole = buildRouteTable(limited, new Registry()).lookup('a.test')
    const half = buildRouteTable(limited, new Registry(), undefined, { shares: 2 }).lookup('a.test')
    expect(whole?.admission.limits).toEqual({ maxActive: 5, maxQueue: 1 })
    expect(half?.admission.limits).toEqual({ maxActive: 3, maxQueue: 1 })
    expect(share(64, 2)).toBe(32)
    expect(share(1, 4)).toBe(1)
  })
})
