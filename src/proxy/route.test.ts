import { describe, expect, it } from 'vitest'
import { pathRewriter } from './route.ts'

describe('pathRewriter', () => {
  it('passes paths through when nothing is configured', () => {
    expect(pathRewriter(undefined, undefined)('/a?b=1')).toBe('/a?b=1')
  })

  it('strips a prefix only at a segment boundary, keeping the query', () => {
    const rewrite = pathRewriter('/api', undefined)
    expect(rewrite('/api/users?x=1')).toBe('/users?x=1')
    expect(rewrite('/api')).toBe('/')
    expect(rewrite('/api?x=1')).toBe('/?x=1')
    expect(rewrite('/apix')).toBe('/apix')
    expect(rewrite('/other')).toBe('/other')
  })

  it('adds a prefix after stripping', () => {
    expect(pathRewriter('/api/', '/v2/')('/api/users')).toBe('/v2/users')
    expect(pathRewriter(undefined, '/base')('/x')).toBe('/base/x')
  })
})
