import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { closedPort } from '../../test/helpers/ports.ts'
import { createLogger } from '../observe/log.ts'
import { ChallengeStore } from './challenges.ts'
import { AcmeFiles } from './files.ts'
import { classifyHttpFailure, configureAcmeHttp, Issuer, retryAfterMs } from './issuer.ts'

describe('ACME failure classification', () => {
  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs('120')).toBe(120_000)
    expect(retryAfterMs('Wed, 02 Dec 2026 20:00:00 GMT', Date.parse('2026-12-02T19:59:00Z'))).toBe(
      60_000,
    )
    expect(retryAfterMs('soon')).toBeUndefined()
    expect(retryAfterMs(undefined)).toBeUndefined()
  })

  it('keeps the rate limit and its Retry-After, leaves ordinary ACME errors to acme-client', () => {
    const limited = classifyHttpFailure({
      response: {
        status: 429,
        headers: { 'retry-after': '3600' },
        data: { type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many certificates' },
      },
    })
    expect(limited).toMatchObject({
      message: 'rate limited: too many certificates',
      retryAfterMs: 3_600_000,
      rateLimited: true,
    })
    const unavailable = classifyHttpFailure({
      response: { status: 503, headers: { 'retry-after': '5' }, data: {} },
    })
    expect(unavailable).toMatchObject({ message: 'HTTP 503', retryAfterMs: 5_000 })
    expect(unavailable?.rateLimited).toBeUndefined()
    const badNonce = { status: 400, data: { type: 'urn:ietf:params:acme:error:badNonce' } }
    expect(classifyHttpFailure({ response: badNonce })).toBeUndefined()
  })

  it('names the unreachable URL and the socket error', () => {
    const error = classifyHttpFailure({
      config: { url: 'https://ca.example/dir' },
      code: 'ECONNREFUSED',
    })
    expect(error?.message).toBe('cannot reach https://ca.example/dir: ECONNREFUSED')
  })

  it('an order against an unreachable CA fails with a readable reason (acme-client alone would report a TypeError)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'portico-issuer-'))
    const directoryUrl = `https://127.0.0.1:${await closedPort()}/dir`
    configureAcmeHttp(undefined)
    const files = new AcmeFiles(dir, directoryUrl)
    await files.prepare()
    const issuer = new Issuer({
      directoryUrl,
      email: 'ops@example.com',
      files,
      challenges: new ChallengeStore({ http01: true, tlsAlpn01: false }),
      log: createLogger({ level: 'silent' }),
    })
    await expect(issuer.order('site.example.com', ['http-01'])).rejects.toMatchObject({
      code: 'PTC_ERR_ACME_ORDER_FAILED',
      message: `could not obtain a certificate for "site.example.com": cannot reach ${directoryUrl}: ECONNREFUSED`,
    })
    await rm(dir, { recursive: true, force: true })
  })
})
