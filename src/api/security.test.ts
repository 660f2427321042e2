import { describe, expect, it } from 'vitest'
import { errors, PorticoError } from '../errors.ts'
import {
  assertSafeBind,
  isAllowedOrigin,
  isLoopbackAddress,
  isLoopbackHost,
  isTokenValid,
  parseJsonBody,
} from './security.ts'

describe('assertSafeBind (S13: fail closed off loopback)', () => {
  it('throws PTC_ERR_API_UNSAFE_BIND for a non-loopback address without a token', () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.5', 'example.com', '[::]']) {
      expect(() => assertSafeBind(host, undefined), host).toThrow(errors.PTC_ERR_API_UNSAFE_BIND)
      expect(() => assertSafeBind(host, ''), host).toThrow(PorticoError)
    }
  })

  it('allows any address with a token, and loopback without one', () => {
    expect(() => assertSafeBind('0.0.0.0', 'token')).not.toThrow()
    for (const host of [
      '127.0.0.1',
      '127.1.2.3',
      '::1',
      '[::1]',
      'localhost',
      '::ffff:127.0.0.1',
    ]) {
      expect(() => assertSafeBind(host, undefined), host).not.toThrow()
    }
  })

  it('says what to do in its message', () => {
    expect(() => assertSafeBind('0.0.0.0', undefined)).toThrow(/PORTICO_API_TOKEN/)
  })

  it('treats only 127.0.0.0/8 as IPv4 loopback', () => {
    expect(isLoopbackAddress('128.0.0.1')).toBe(false)
    expect(isLoopbackAddress('127.0.0.1.example')).toBe(false)
  })
})

describe('isLoopbackHost', () => {
  it('accepts the three loopback names with an optional numeric port', () => {
    for (const host of ['localhost', 'localhost:8844', '127.0.0.1:1', '[::1]', '[::1]:8844']) {
      expect(isLoopbackHost(host), host).toBe(true)
    }
  })

  it('refuses anything else, a missing Host included', () => {
    const hosts = [undefined, '', 'localhost:abc', 'localhost:', 'evil.example', '::1', '[::1']
    for (const host of hosts) expect(isLoopbackHost(host), String(host)).toBe(false)
  })
})

describe('isAllowedOrigin', () => {
  it('allows http on a loopback name at the Host port only', () => {
    expect(isAllowedOrigin('http://localhost:8844', '127.0.0.1:8844')).toBe(true)
    expect(isAllowedOrigin('http://[::1]:8844', 'localhost:8844')).toBe(true)
    expect(isAllowedOrigin('http://localhost', 'localhost')).toBe(true)
    expect(isAllowedOrigin('http://localhost:80', 'localhost')).toBe(true)
    expect(isAllowedOrigin('http://localhost:3000', 'localhost:8844')).toBe(false)
    expect(isAllowedOrigin('null', 'localhost:8844')).toBe(false)
    expect(isAllowedOrigin('http://evil.example:8844', 'localhost:8844')).toBe(false)
  })
})

describe('isTokenValid', () => {
  it('accepts only `Bearer <token>` exactly', () => {
    expect(isTokenValid('Bearer abc', 'abc')).toBe(true)
    expect(isTokenValid('BEARER abc', 'abc')).toBe(true)
    expect(isTokenValid('Bearer abcd', 'abc')).toBe(false)
    expect(isTokenValid('Bearer ab', 'abc')).toBe(false)
    expect(isTokenValid('abc', 'abc')).toBe(false)
    expect(isTokenValid(undefined, 'abc')).toBe(false)
    expect(isTokenValid('Bearer ', '')).toBe(false)
  })
})

describe('parseJsonBody', () => {
  it('parses JSON and reads an empty body as no body', () => {
    expect(parseJsonBody('{"a":[1,{"b":null}]}')).toEqual({ a: [1, { b: null }] })
    expect(parseJsonBody('  ')).toBeUndefined()
  })

  it('throws PTC_ERR_BAD_JSON with the parser position for malformed JSON', () => {
    expect(() => parseJsonBody('{"a":')).toThrow(errors.PTC_ERR_BAD_JSON)
    expect(() => parseJsonBody('{bad')).toThrow(/position|JSON/)
  })

  it('refuses __proto__ and constructor.prototype at any depth', () => {
    for (const text of [
      '{"__proto__":{}}',
      '[{"x":{"__proto__":1}}]',
      '{"constructor":{"prototype":{}}}',
    ]) {
      expect(() => parseJsonBody(text), text).toThrow(/not allowed/)
    }
    expect(parseJsonBody('{"constructor":"fine"}')).toEqual({ constructor: 'fine' })
  })
})
