import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { errors, PorticoError } from './errors.ts'

const errorsMd = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8')

describe('error catalogue', () => {
  it('keys equal codes and every code has a status', () => {
    for (const [key, E] of Object.entries(errors)) {
      expect(E.code).toBe(key)
      expect(E.statusCode).toBeGreaterThanOrEqual(400)
    }
  })

  it('has the expected number of codes (update docs/errors.md with any change)', () => {
    expect(Object.keys(errors)).toHaveLength(50)
  })

  it('documents every code in docs/errors.md', () => {
    for (const key of Object.keys(errors)) {
      expect(errorsMd, key).toContain(`<a id="${key.toLowerCase()}">${key}</a>`)
    }
  })

  it('fills the message template and keeps cause and details', () => {
    const cause = new Error('boom')
    const error = new errors.PTC_ERR_CERT_INVALID('a.test', 'key does not match', {
      cause,
      details: { x: 1 },
    })
    expect(error).toBeInstanceOf(PorticoError)
    expect(error.message).toBe('invalid certificate for "a.test": key does not match')
    expect(error.statusCode).toBe(400)
    expect(error.cause).toBe(cause)
    expect(error.details).toEqual({ x: 1 })
  })
})
