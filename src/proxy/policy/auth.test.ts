import { createHash } from 'node:crypto'
import bcrypt from 'bcryptjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { ConcurrencyGate } from '../../lib/concurrency-gate.ts'
import { authPolicy } from './auth.ts'
import { hashPassword } from './password-hash.ts'
import type { Policy, Verdict } from './policy.ts'
import { requestView } from './request.fixture.ts'

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
const sha256 = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`

let users: Record<string, string>

beforeAll(async () => {
  users = {
    ann: await hashPassword('ann-pw'),
    bob: bcrypt.hashSync('bob-pw', 4).replace(/^\$2b\$/, '$2y$'),
  }
})

function make(extra: Partial<Parameters<typeof authPolicy>[0]> = {}): Policy {
  const policy = authPolicy({ vHost: 'a.test', users, gate: new ConcurrencyGate(2, 8), ...extra })
  if (!policy) throw new Error('expected a policy')
  return policy
}

async function statusOf(policy: Policy, authorization?: string): Promise<number | 'continue'> {
  const verdict = await policy.check(
    requestView(authorization === undefined ? {} : { headers: { authorization } }),
  )
  return verdict.kind === 'continue'
    ? 'continue'
    : verdict.kind === 'reject'
      ? verdict.error.statusCode
      : verdict.status
}

describe('authPolicy (Basic)', () => {
  it('lets right scrypt and bcrypt passwords in, and refuses wrong or missing ones with 401', async () => {
    const policy = make()
    expect(await statusOf(policy, basic('ann', 'ann-pw'))).toBe('continue')
    expect(await statusOf(policy, basic('bob', 'bob-pw'))).toBe('continue')
    expect(await statusOf(policy, basic('ann', 'bob-pw'))).toBe(401)
    expect(await statusOf(policy, basic('carol', 'ann-pw'))).toBe(401)
    expect(await statusOf(policy)).toBe(401)
    expect(await statusOf(policy, 'Basic !!!')).toBe(401)
    expect(await statusOf(policy, 'Bearer abc')).toBe(401)
  })

  it('sends a Basic challenge naming the realm (default: the vHost)', async () => {
    const verdict = (await make().check(requestView())) as Verdict
    expect(verdict.kind === 'reject' && verdict.headers).toEqual([
      'WWW-Authenticate',
      'Basic realm="a.test", charset="UTF-8"',
    ])
    const named = (await make({ realm: 'staff' }).check(requestView())) as Verdict
    expect(named.kind === 'reject' && named.headers[1]).toBe('Basic realm="staff", charset="UTF-8"')
  })

  it('answers a cached credential synchronously, and checks again once the entry expires', async () => {
    let clock = 0
    const policy = make({ cacheTtlMs: 1_000, now: () => clock })
    const header = basic('ann', 'ann-pw')
    const first = policy.check(requestView({ headers: { authorization: header } }))
    expect(first).toBeInstanceOf(Promise)
    await first
    const second = policy.check(requestView({ headers: { authorization: header } }))
    expect(second).not.toBeInstanceOf(Promise)
    expect((second as Verdict).kind).toBe('continue')
    clock = 1_000
    expect(policy.check(requestView({ headers: { authorization: header } }))).toBeInstanceOf(
      Promise,
    )
  })

  it('strips Authorization from the upstream request when asked', async () => {
    const verdict = await make({ stripAuthorization: true }).check(
      requestView({ headers: { authorization: basic('ann', 'ann-pw') } }),
    )
    expect(verdict).toEqual({ kind: 'continue', edits: { set: [], remove: ['authorization'] } })
  })

  it('answers 503 when too many password checks are already waiting', async () => {
    const policy = make({ gate: new ConcurrencyGate(1, 0), cacheTtlMs: 0 })
    const first = policy.check(requestView({ headers: { authorization: basic('ann', 'ann-pw') } }))
    expect(await statusOf(policy, basic('ann', 'x'))).toBe(503)
    await first
  })
})

describe('authPolicy (Bearer)', () => {
  it('accepts a token whose sha256 is listed, refuses others with a Bearer challenge', async () => {
    const policy = authPolicy({
      vHost: 'a.test',
      tokens: [sha256('t0ken-one'), sha256('t0ken-two').toUpperCase().replace('SHA256', 'sha256')],
      gate: new ConcurrencyGate(1, 1),
    })
    if (!policy) throw new Error('expected a policy')
    expect(await statusOf(policy, 'Bearer t0ken-one')).toBe('continue')
    expect(await statusOf(policy, 'bearer t0ken-two')).toBe('continue')
    expect(
      policy.check(requestView({ headers: { authorization: 'Bearer t0ken-one' } })),
    ).not.toBeInstanceOf(Promise)
    expect(await statusOf(policy, 'Bearer t0ken-three')).toBe(401)
    expect(await statusOf(policy, 'Bearer ')).toBe(401)
    expect(await statusOf(policy, basic('ann', 'ann-pw'))).toBe(401)
    const verdict = (await policy.check(requestView())) as Verdict
    expect(verdict.kind === 'reject' && verdict.headers).toEqual([
      'WWW-Authenticate',
      'Bearer realm="a.test"',
    ])
  })

  it('offers both challenges when both schemes are configured', async () => {
    const policy = make({ tokens: [sha256('tok')] })
    expect(await statusOf(policy, 'Bearer tok')).toBe('continue')
    expect(await statusOf(policy, basic('ann', 'ann-pw'))).toBe('continue')
    const verdict = (await policy.check(requestView())) as Verdict
    expect(verdict.kind === 'reject' && verdict.headers.filter((_, i) => i % 2 === 1)).toEqual([
      'Basic realm="a.test", charset="UTF-8"',
      'Bearer realm="a.test"',
    ])
  })

  it('is absent without users or tokens, and refuses malformed hashes at build time', () => {
    expect(authPolicy({ vHost: 'a.test', gate: new ConcurrencyGate(1, 1) })).toBeUndefined()
    expect(() =>
      authPolicy({ vHost: 'a.test', tokens: ['md5:abc'], gate: new ConcurrencyGate(1, 1) }),
    ).toThrow(/sha256:<64 hex digits>/)
  })
})
