import { describe, expect, it } from 'vitest'
import { accessListPolicy } from './access-list.ts'
import { CONTINUE, type Policy, type Verdict } from './policy.ts'
import { requestView } from './request.fixture.ts'

function verdictFor(policy: Policy, clientAddress: string): Verdict {
  const verdict = policy.check(requestView({ clientAddress }))
  if (verdict instanceof Promise) throw new Error('access lists must answer synchronously')
  return verdict
}

function statusFor(policy: Policy, clientAddress: string): number | 'continue' {
  const verdict = verdictFor(policy, clientAddress)
  return verdict.kind === 'reject' ? verdict.error.statusCode : 'continue'
}

describe('accessListPolicy', () => {
  it('is absent when neither list has entries', () => {
    expect(accessListPolicy({ vHost: 'a.test' })).toBeUndefined()
    expect(accessListPolicy({ vHost: 'a.test', allow: [], deny: [] })).toBeUndefined()
  })

  it('lets only allowed addresses and ranges in, IPv4 and IPv6', () => {
    const policy = accessListPolicy({ vHost: 'a.test', allow: ['10.0.0.0/8', '::1'] })
    if (!policy) throw new Error('expected a policy')
    expect(verdictFor(policy, '10.2.3.4')).toBe(CONTINUE)
    expect(statusFor(policy, '::1')).toBe('continue')
    expect(statusFor(policy, '::ffff:10.0.0.9')).toBe('continue')
    expect(statusFor(policy, '127.0.0.1')).toBe(403)
    expect(statusFor(policy, '2001:db8::1')).toBe(403)
  })

  it('refuses denied addresses, deny winning over allow', () => {
    const policy = accessListPolicy({
      vHost: 'a.test',
      allow: ['10.0.0.0/8'],
      deny: ['10.0.0.66', 'fd00::/8'],
    })
    if (!policy) throw new Error('expected a policy')
    expect(statusFor(policy, '10.0.0.65')).toBe('continue')
    expect(statusFor(policy, '10.0.0.66')).toBe(403)
    const denyOnly = accessListPolicy({ vHost: 'a.test', deny: ['fd00::/8', '192.0.2.0/24'] })
    if (!denyOnly) throw new Error('expected a policy')
    expect(statusFor(denyOnly, 'fd00::1')).toBe(403)
    expect(statusFor(denyOnly, '192.0.2.200')).toBe(403)
    expect(statusFor(denyOnly, '198.51.100.1')).toBe('continue')
  })

  it('answers with PTC_ERR_ACCESS_DENIED naming the route, not the client', () => {
    const policy = accessListPolicy({ vHost: 'a.test', allow: ['10.0.0.1'] })
    if (!policy) throw new Error('expected a policy')
    const verdict = verdictFor(policy, '192.0.2.1')
    expect(verdict.kind === 'reject' && verdict.error.code).toBe('PTC_ERR_ACCESS_DENIED')
    expect(verdict.kind === 'reject' && verdict.error.message).not.toContain('192.0.2.1')
  })
})
