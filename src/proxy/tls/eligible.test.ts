import { describe, expect, it } from 'vitest'
import { isLoopbackName, isPublicHostname } from './eligible.ts'

describe('isPublicHostname', () => {
  it.each([
    ['site1.example.com', true],
    ['www.a.co.uk', true],
    ['example.org', true],
    ['web.localhost', false],
    ['localhost', false],
    ['api.test', false],
    ['printer.local', false],
    ['nas.home.arpa', false],
    ['db.internal', false],
    ['intranet', false],
    ['*.example.com', false],
    ['127.0.0.1', false],
    ['::1', false],
  ])('%s → %s', (name, expected) => {
    expect(isPublicHostname(name)).toBe(expected)
  })
})

describe('isLoopbackName', () => {
  it('accepts localhost, *.localhost and IP literals only', () => {
    expect(['localhost', 'a.b.localhost', '127.0.0.1', '::1'].map(isLoopbackName)).toEqual([
      true,
      true,
      true,
      true,
    ])
    expect(['a.test', 'site1.example.com', 'localhost.example.com'].map(isLoopbackName)).toEqual([
      false,
      false,
      false,
    ])
  })
})
