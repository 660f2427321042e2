import { describe, expect, it } from 'vitest'
import { errors } from '../../errors.ts'
import { runPolicies } from './chain.ts'
import {
  applyHeaderEdits,
  CONTINUE,
  type Policy,
  type RequestView,
  reject,
  type Verdict,
} from './policy.ts'

const request: RequestView = {
  method: 'GET',
  path: '/',
  host: 'a.test',
  clientAddress: '127.0.0.1',
  headers: {},
  upgrade: false,
  secure: true,
  requestId: 'r1',
}

function policy(name: string, verdict: Verdict | (() => Promise<Verdict>), seen: string[]): Policy {
  return {
    name,
    check() {
      seen.push(name)
      return typeof verdict === 'function' ? verdict() : verdict
    },
  }
}

describe('runPolicies', () => {
  it('returns the shared CONTINUE synchronously when every policy lets the request on', () => {
    const seen: string[] = []
    const verdict = runPolicies([policy('a', CONTINUE, seen), policy('b', CONTINUE, seen)], request)
    expect(verdict).toBe(CONTINUE)
    expect(seen).toEqual(['a', 'b'])
    expect(runPolicies([], request)).toBe(CONTINUE)
  })

  it('stops at the first rejection, synchronously, without running later policies', () => {
    const seen: string[] = []
    const denied = reject(new errors.PTC_ERR_ACCESS_DENIED('a.test'))
    const verdict = runPolicies(
      [policy('a', CONTINUE, seen), policy('b', denied, seen), policy('c', CONTINUE, seen)],
      request,
    )
    expect(verdict).toBe(denied)
    expect(seen).toEqual(['a', 'b'])
  })

  it('continues after an asynchronous verdict and merges the edits in order', async () => {
    const seen: string[] = []
    const verdict = runPolicies(
      [
        policy('a', { kind: 'continue', edits: { set: ['X-A', '1'], remove: ['x-a'] } }, seen),
        policy(
          'b',
          async () => ({ kind: 'continue', edits: { set: ['X-User', 'ann'], remove: ['x-user'] } }),
          seen,
        ),
        policy('c', { kind: 'continue', edits: { set: [], remove: ['authorization'] } }, seen),
      ],
      request,
    )
    expect(verdict).toBeInstanceOf(Promise)
    const done = await verdict
    expect(seen).toEqual(['a', 'b', 'c'])
    expect(done).toEqual({
      kind: 'continue',
      edits: { set: ['X-A', '1', 'X-User', 'ann'], remove: ['x-a', 'x-user', 'authorization'] },
    })
  })

  it('stops at an asynchronous rejection', async () => {
    const seen: string[] = []
    const denied = reject(new errors.PTC_ERR_AUTH_REQUIRED('a.test'))
    const verdict = await runPolicies(
      [policy('a', async () => denied, seen), policy('b', CONTINUE, seen)],
      request,
    )
    expect(verdict).toBe(denied)
    expect(seen).toEqual(['a'])
  })
})

describe('applyHeaderEdits', () => {
  it('drops every client copy of a removed name and appends the set values', () => {
    const upstream = ['x-user', 'mallory', 'Authorization', 'Basic x', 'X-Forwarded-For', '1.2.3.4']
    const edited = applyHeaderEdits(upstream, {
      set: ['X-User', 'ann'],
      remove: ['x-user', 'authorization'],
    })
    expect(edited).toEqual(['X-Forwarded-For', '1.2.3.4', 'X-User', 'ann'])
  })
})
