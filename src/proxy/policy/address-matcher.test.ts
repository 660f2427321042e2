import { describe, expect, it } from 'vitest'
import { parseAddressEntry } from '../../config/policy-values.ts'
import { compileAddressMatcher } from './address-matcher.ts'
import { clientAddressFrom } from './client-address.ts'

describe('compileAddressMatcher', () => {
  it('matches exact IPv4 and IPv6 addresses, in any IPv6 spelling', () => {
    const m = compileAddressMatcher(['127.0.0.1', '::1', '2001:db8::5'])
    expect(m.has('127.0.0.1')).toBe(true)
    expect(m.has('127.0.0.2')).toBe(false)
    expect(m.has('::1')).toBe(true)
    expect(m.has('0:0:0:0:0:0:0:1')).toBe(true)
    expect(m.has('2001:0db8:0:0:0:0:0:5')).toBe(true)
    expect(m.has('2001:db8::6')).toBe(false)
  })

  it('matches IPv4 and IPv6 CIDR ranges', () => {
    const m = compileAddressMatcher(['10.0.0.0/8', '192.168.1.0/24', 'fd00::/8'])
    expect(m.has('10.255.1.2')).toBe(true)
    expect(m.has('11.0.0.1')).toBe(false)
    expect(m.has('192.168.1.77')).toBe(true)
    expect(m.has('192.168.2.1')).toBe(false)
    expect(m.has('fd12:3456::1')).toBe(true)
    expect(m.has('fe80::1')).toBe(false)
  })

  it('treats IPv4-mapped IPv6 client addresses as IPv4, and mapped entries as IPv4 ranges', () => {
    const plain = compileAddressMatcher(['10.0.0.0/8', '127.0.0.1'])
    expect(plain.has('::ffff:10.1.2.3')).toBe(true)
    expect(plain.has('::ffff:127.0.0.1')).toBe(true)
    expect(plain.has('::ffff:a01:203')).toBe(true)
    const mapped = compileAddressMatcher(['::ffff:10.0.0.0/104'])
    expect(mapped.has('10.9.9.9')).toBe(true)
    expect(mapped.has('11.0.0.1')).toBe(false)
  })

  it('matches nothing for garbage or lax IPv4 spellings', () => {
    const m = compileAddressMatcher(['127.0.0.0/8'])
    for (const bad of ['', 'unknown', '127.1', '0x7f.0.0.1', '127.0.0.1%eth0', 'fe80::1%eth0'])
      expect(m.has(bad), bad).toBe(false)
    expect(compileAddressMatcher([]).has('127.0.0.1')).toBe(false)
  })

  it('says what is wrong with a bad entry', () => {
    expect(parseAddressEntry('10.0.0.0/33')).toMatch(/prefix length from 0 to 32/)
    expect(parseAddressEntry('fd00::/129')).toMatch(/prefix length from 0 to 128/)
    expect(parseAddressEntry('10.0.0/8')).toMatch(/IPv4 or IPv6 address or CIDR/)
    expect(parseAddressEntry('localhost')).toMatch(/IPv4 or IPv6/)
    expect(parseAddressEntry('10.0.0.0/x')).toMatch(/prefix length/)
    expect(() => compileAddressMatcher(['nope'])).toThrow(/"nope"/)
  })
})

describe('clientAddressFrom', () => {
  const trusted = compileAddressMatcher(['127.0.0.1', '10.0.0.0/8'])

  it('is the peer when the peer is not trusted, whatever X-Forwarded-For says', () => {
    expect(clientAddressFrom('203.0.113.9', '1.2.3.4', trusted)).toBe('203.0.113.9')
    expect(clientAddressFrom('::ffff:203.0.113.9', undefined, trusted)).toBe('203.0.113.9')
  })

  it('walks X-Forwarded-For from the right past trusted hops', () => {
    expect(clientAddressFrom('127.0.0.1', '6.6.6.6, 198.51.100.7, 10.1.1.1', trusted)).toBe(
      '198.51.100.7',
    )
    expect(clientAddressFrom('::ffff:127.0.0.1', '198.51.100.7', trusted)).toBe('198.51.100.7')
  })

  it('takes the leftmost hop when every hop is trusted, and stops at garbage', () => {
    expect(clientAddressFrom('127.0.0.1', '10.0.0.2, 10.0.0.3', trusted)).toBe('10.0.0.2')
    expect(clientAddressFrom('127.0.0.1', '1.1.1.1, evil', trusted)).toBe('evil')
    expect(clientAddressFrom('127.0.0.1', ' , ', trusted)).toBe('127.0.0.1')
  })
})
