import { describe, expect, it } from 'vitest'
import {
  buildRequestHeaders,
  buildResponseHeaders,
  clientKey,
  type ForwardInfo,
  rawHeaderValue,
} from './headers.ts'

const info: ForwardInfo = {
  clientIp: '127.0.0.1',
  proto: 'https',
  host: 'web.localhost:8443',
  requestId: 'req-1',
  routeHeaders: ['X-Route', 'yes'],
  routeHeaderNames: new Set(['x-route']),
  trustForwarded: false,
}

function asMap(flat: string[]): Map<string, string[]> {
  const map = new Map<string, string[]>()
  for (let i = 0; i < flat.length; i += 2) {
    const name = (flat[i] as string).toLowerCase()
    map.set(name, [...(map.get(name) ?? []), flat[i + 1] as string])
  }
  return map
}

describe('buildRequestHeaders', () => {
  it('strips hop-by-hop headers and those named in Connection', () => {
    const out = asMap(
      buildRequestHeaders(
        [
          'Host',
          'web.localhost',
          'Connection',
          'close, X-Foo',
          'X-Foo',
          '1',
          'Keep-Alive',
          '1',
          'Proxy-Authorization',
          'x',
          'TE',
          'gzip',
          'Upgrade',
          'h2c',
          'Accept',
          '*/*',
        ],
        info,
      ),
    )
    for (const gone of [
      'connection',
      'x-foo',
      'keep-alive',
      'proxy-authorization',
      'te',
      'upgrade',
    ])
      expect(out.has(gone)).toBe(false)
    expect(out.get('accept')).toEqual(['*/*'])
    expect(out.get('host')).toEqual(['web.localhost'])
  })

  it('keeps TE: trailers', () => {
    expect(asMap(buildRequestHeaders(['TE', 'trailers'], info)).get('te')).toEqual(['trailers'])
  })

  it('replaces spoofed forwarding headers and drops underscore names', () => {
    const out = asMap(
      buildRequestHeaders(
        [
          'X-Forwarded-For',
          '1.2.3.4',
          'X-Forwarded-Proto',
          'http',
          'X-Forwarded-Host',
          'evil',
          'Forwarded',
          'for=1.2.3.4',
          'X-Real-IP',
          '1.2.3.4',
          'X_Forwarded_For',
          '1.2.3.4',
        ],
        info,
      ),
    )
    expect(out.get('x-forwarded-for')).toEqual(['127.0.0.1'])
    expect(out.get('x-forwarded-proto')).toEqual(['https'])
    expect(out.get('x-forwarded-host')).toEqual(['web.localhost:8443'])
    expect(out.get('x-real-ip')).toEqual(['127.0.0.1'])
    expect(out.has('forwarded')).toBe(false)
    expect(out.has('x_forwarded_for')).toBe(false)
  })

  it('appends to X-Forwarded-For only from a trusted proxy', () => {
    const out = asMap(
      buildRequestHeaders(['X-Forwarded-For', '1.2.3.4'], { ...info, trustForwarded: true }),
    )
    expect(out.get('x-forwarded-for')).toEqual(['1.2.3.4, 127.0.0.1'])
  })

  it('sends the request id it is given, replacing any client copy', () => {
    expect(asMap(buildRequestHeaders(['X-Request-Id', 'abc'], info)).get('x-request-id')).toEqual([
      'req-1',
    ])
    expect(asMap(buildRequestHeaders([], info)).get('x-request-id')).toEqual(['req-1'])
  })

  it('injects route headers, replacing client copies', () => {
    const out = asMap(buildRequestHeaders(['X-Route', 'client'], info))
    expect(out.get('x-route')).toEqual(['yes'])
  })
})

describe('buildResponseHeaders', () => {
  it('strips hop-by-hop response headers and those named in Connection, keeps duplicates', () => {
    const out = buildResponseHeaders([
      'Connection',
      'X-Bar',
      'X-Bar',
      '1',
      'Transfer-Encoding',
      'chunked',
      'Set-Cookie',
      'a=1',
      'Set-Cookie',
      'b=2',
    ])
    expect(out).toEqual(['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'])
  })
})

describe('rawHeaderValue', () => {
  it('finds the first value of a header whatever its case, or undefined', () => {
    expect(
      rawHeaderValue(
        ['Content-Type', 'a', 'CONTENT-LENGTH', '12', 'content-length', '13'],
        'content-length',
      ),
    ).toBe('12')
    expect(rawHeaderValue(['Content-Type', 'a'], 'content-length')).toBeUndefined()
  })
})

describe('clientKey', () => {
  it('keeps IPv4 addresses and reduces IPv6 ones to their /64', () => {
    expect(clientKey('127.0.0.2')).toBe('127.0.0.2')
    expect(clientKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64')
    expect(clientKey('2001:DB8:1:2::9')).toBe('2001:db8:1:2::/64')
    expect(clientKey('2001:db8::1')).toBe('2001:db8:0:0::/64')
    expect(clientKey('::1')).toBe('0:0:0:0::/64')
    expect(clientKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64')
    expect(clientKey('0064:ff9b::1.2.3.4')).toBe('64:ff9b:0:0::/64')
  })
})
