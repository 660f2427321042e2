import { describe, expect, it } from 'vitest'
import { RouteTable } from './router.ts'

describe('RouteTable', () => {
  const table = new RouteTable<string>()
    .set('web.localhost', 'web')
    .set('*.example.com', 'wild')
    .set('*.api.example.com', 'api-wild')
    .set('exact.api.example.com', 'exact')

  it('matches exact names before wildcards', () => {
    expect(table.lookup('exact.api.example.com')).toBe('exact')
    expect(table.lookup('web.localhost')).toBe('web')
  })

  it('prefers the most specific wildcard', () => {
    expect(table.lookup('v1.api.example.com')).toBe('api-wild')
    expect(table.lookup('www.example.com')).toBe('wild')
  })

  it('matches a wildcard at any depth below it, but not the bare domain', () => {
    expect(table.lookup('a.b.example.com')).toBe('wild')
    expect(table.lookup('example.com')).toBeUndefined()
  })

  it('falls back to the default route, or undefined', () => {
    expect(table.lookup('nope.test')).toBeUndefined()
    const withDefault = new RouteTable<string>().set('a.test', 'a').setFallback('default')
    expect(withDefault.lookup('nope.test')).toBe('default')
  })

  it('lists hosts sorted, wildcards included', () => {
    expect(table.hosts()).toEqual([
      '*.api.example.com',
      '*.example.com',
      'exact.api.example.com',
      'web.localhost',
    ])
  })
})
