import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { authHookPolicy } from './auth-hook.ts'
import type { PolicyLog } from './forward-auth.ts'
import type { Verdict } from './policy.ts'
import { requestView } from './request.fixture.ts'

const fixture = (name: string) =>
  fileURLToPath(new URL(`../../../test/fixtures/auth-hooks/${name}`, import.meta.url))

function make(name: string, extra: Partial<Parameters<typeof authHookPolicy>[0]> = {}) {
  const warnings: string[] = []
  const log: PolicyLog = {
    warn: (details, message) =>
      warnings.push(`${message}: ${String((details as { err?: Error }).err?.message)}`),
  }
  const policy = authHookPolicy({
    vHost: 'a.test',
    modulePath: fixture(name),
    timeoutMs: 2_000,
    log,
    ...extra,
  })
  return { policy, warnings }
}

const run = (policy: ReturnType<typeof make>['policy'], overrides = {}) =>
  Promise.resolve(policy.check(requestView(overrides))) as Promise<Verdict>

describe('authHookPolicy', () => {
  it('lets a request in with the headers the TypeScript hook sets, replacing client copies', async () => {
    const { policy } = make('allow-token.ts')
    const verdict = await run(policy, { headers: { 'x-token': 'let-me-in', 'x-user': 'mallory' } })
    expect(verdict).toEqual({
      kind: 'continue',
      edits: { set: ['X-User', 'ann'], remove: ['x-user'] },
    })
  })

  it("answers with the hook's status and headers when it refuses", async () => {
    const verdict = await run(make('allow-token.ts').policy)
    expect(verdict).toEqual({
      kind: 'respond',
      status: 401,
      headers: ['WWW-Authenticate', 'Token'],
      body: Buffer.alloc(0),
    })
  })

  it('answers 403 for a plain false from a JS hook, and lets true through', async () => {
    const { policy } = make('plain-false.mjs')
    expect((await run(policy, { method: 'GET' })).kind).toBe('continue')
    const refused = await run(policy, { method: 'DELETE' })
    expect(refused.kind === 'reject' && refused.error.code).toBe('PTC_ERR_AUTH_DENIED')
    expect(refused.kind === 'reject' && refused.error.statusCode).toBe(403)
  })

  it('fails closed with 503, logged, for a hook that throws, hangs, or answers nonsense', async () => {
    for (const name of [
      'throws.ts',
      'hangs.ts',
      'bad-answer.ts',
      'not-a-function.ts',
      'reserved-header.ts',
      'missing.ts',
    ]) {
      const { policy, warnings } = make(name, { timeoutMs: 300 })
      const verdict = await run(policy)
      expect(verdict.kind === 'reject' && verdict.error.code, name).toBe('PTC_ERR_AUTH_UNAVAILABLE')
      expect(verdict.kind === 'reject' && verdict.error.statusCode, name).toBe(503)
      expect(warnings, name).toHaveLength(1)
    }
  })

  it('says why in the log', async () => {
    const { policy, warnings } = make('throws.ts')
    await run(policy)
    expect(warnings[0]).toMatch(/auth hook failed.*hook bug/)
    const hung = make('hangs.ts', { timeoutMs: 100 })
    await run(hung.policy)
    expect(hung.warnings[0]).toMatch(/no answer within 100 ms/)
  })

  it('loads the module once, and tries again after a failed load only after a pause', async () => {
    let clock = 0
    let loads = 0
    const { policy } = make('allow-token.ts', {
      now: () => clock,
      preload: false,
      load: async () => {
        loads++
        if (loads === 1) throw new Error('syntax error')
        return () => true
      },
    })
    expect((await run(policy)).kind).toBe('reject')
    expect((await run(policy)).kind).toBe('reject')
    expect(loads).toBe(1)
    clock = 5_000
    expect((await run(policy)).kind).toBe('continue')
    expect((await run(policy)).kind).toBe('continue')
    expect(loads).toBe(2)
  })

  it('strips Authorization on the way through when asked', async () => {
    const { policy } = make('plain-false.mjs', { stripAuthorization: true })
    expect(await run(policy)).toEqual({
      kind: 'continue',
      edits: { set: [], remove: ['authorization'] },
    })
  })
})
