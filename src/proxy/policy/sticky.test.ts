import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { Target } from '../../registry/target.ts'
import { roundRobin } from '../balancer/round-robin.ts'
import { makeTargets, runStrategyContract } from '../balancer/strategy.contract.ts'
import { needsCookie, stableId, stickyStrategy } from './sticky.ts'
import { cookieValue, StickyCookie } from './sticky-cookie.ts'

runStrategyContract('stickyStrategy(roundRobin)', () => stickyStrategy(roundRobin()))

const secret = randomBytes(32)

describe('StickyCookie', () => {
  it('round-trips a target id, and reads nothing from a forged or foreign cookie', () => {
    const cookie = new StickyCookie({ name: 'srv', secret })
    const set = cookie.setCookie('web#0', true)
    expect(set).toMatch(/^srv=[\w-]+\.0\.[\w-]{22}; Path=\/; HttpOnly; SameSite=Lax; Secure$/)
    const value = set.slice(4, set.indexOf(';'))
    expect(cookie.read(`a=1; srv=${value}; b=2`)).toBe('web#0')
    const forged = `${Buffer.from('web#1').toString('base64url')}.0.${value.split('.')[2]}`
    expect(cookie.read(`srv=${forged}`)).toBeUndefined()
    expect(
      new StickyCookie({ name: 'srv', secret: randomBytes(32) }).read(`srv=${value}`),
    ).toBeUndefined()
    expect(new StickyCookie({ name: 'other', secret }).read(`other=${value}`)).toBeUndefined()
    expect(cookie.read(undefined)).toBeUndefined()
    expect(cookie.read('srv=garbage')).toBeUndefined()
    expect(cookie.read('srv=a.b.c')).toBeUndefined()
  })

  it('expires with its ttl (Max-Age for the browser, the signed expiry for the edge)', () => {
    let clock = 1_000_000
    const cookie = new StickyCookie({ name: 's', secret, ttlMs: 60_000, now: () => clock })
    const set = cookie.setCookie('b:1', false)
    expect(set).toContain('; Max-Age=60;')
    expect(set).not.toContain('Secure')
    const value = set.slice(2, set.indexOf(';'))
    clock += 59_000
    expect(cookie.read(`s=${value}`)).toBe('b:1')
    clock += 2_000
    expect(cookie.read(`s=${value}`)).toBeUndefined()
  })

  it('finds a cookie among others, quoted or not', () => {
    expect(cookieValue('a=1;b=2; c = 3', 'c')).toBe('3')
    expect(cookieValue('a="x.y"', 'a')).toBe('x.y')
    expect(cookieValue('ab=1', 'a')).toBeUndefined()
  })
})

describe('stickyStrategy', () => {
  const ctx = (affinity?: string) => ({ clientIp: '10.0.0.1', affinity })

  it('keeps picking the target the cookie names while it is available', () => {
    const strategy = stickyStrategy(roundRobin())
    const targets = makeTargets(3)
    for (let i = 0; i < 5; i++) expect(strategy.pick(targets, ctx('c'))?.id).toBe('c')
    expect(strategy.pick(targets, ctx())?.id).toBe('a')
    expect(strategy.pick(targets, ctx())?.id).toBe('b')
  })

  it('re-balances when the named target is gone or already tried, and asks for a new cookie', () => {
    const strategy = stickyStrategy(roundRobin())
    const targets = makeTargets(3)
    const withoutC = targets.slice(0, 2)
    const picked = strategy.pick(withoutC, ctx('c')) as Target
    expect(['a', 'b']).toContain(picked.id)
    expect(needsCookie(picked, 'c')).toBe(true)
    const retried = strategy.pick(targets, ctx('c'), new Set([targets[2] as Target]))
    expect(retried?.id).not.toBe('c')
    expect(needsCookie(targets[2] as Target, 'c')).toBe(false)
    expect(needsCookie(targets[2] as Target, undefined)).toBe(true)
  })

  it('follows a slot through a rolling reload (web#0 → web#0.next → web#0)', () => {
    const strategy = stickyStrategy(roundRobin())
    const make = (id: string, port: number) =>
      new Target({ id, host: '127.0.0.1', port, state: 'healthy' })
    const old0 = make('web#0', 1)
    const web1 = make('web#1', 2)
    const next0 = make('web#0.next', 3)
    expect(strategy.pick([old0, web1, next0], ctx('web#0'))).toBe(old0)
    const during = strategy.pick([web1, next0], ctx('web#0')) as Target
    expect(during).toBe(next0)
    expect(needsCookie(during, 'web#0')).toBe(false)
    const after = make('web#0', 3)
    expect(strategy.pick([after, web1], ctx('web#0'))).toBe(after)
    expect(stableId('web#0.next')).toBe('web#0')
    expect(stableId('10.0.0.1:80')).toBe('10.0.0.1:80')
  })
})
