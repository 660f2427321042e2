import { describe, expect, it } from 'vitest'
import { normalizeHost } from './host.ts'

describe('normalizeHost', () => {
  it.each([
    ['web.localhost', 'web.localhost'],
    ['WEB.Localhost', 'web.localhost'],
    ['web.localhost.', 'web.localhost'],
    ['web.localhost:8443', 'web.localhost'],
    ['web.localhost.:8443', 'web.localhost'],
    ['[::1]:8443', '[::1]'],
    ['[::1]', '[::1]'],
    ['127.0.0.1:80', '127.0.0.1'],
  ])('%s → %s', (raw, expected) => {
    expect(normalizeHost(raw)).toBe(expected)
  })

  it.each([
    [undefined],
    [''],
    ['user@web.localhost'],
    ['web.localhost:99999'],
    ['web.localhost:'],
    ['web.localhost:8a'],
    ['[::1'],
    ['[::1]x'],
    ['a b'],
    ['..'],
    ['.web'],
    ['a..b'],
    ['web.localhost\r\nx'],
  ])('%j is malformed', (raw) => {
    expect(normalizeHost(raw)).toBeNull()
  })
})
