import { once } from 'node:events'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Agent } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { forwardAuthPolicy, type PolicyLog } from './forward-auth.ts'
import type { Policy, Verdict } from './policy.ts'
import { requestView } from './request.fixture.ts'

/**
 * A real auth server on 127.0.0.1:0. Bearer "good" → 200 with X-User and X-Extra; "redirect" →
 * 302 to a login page with a cookie; "big" → 401 with a 100 KiB body; "slow" → never answers;
 * anything else → 401 with a JSON body. It records the headers of every request it receives.
 */
let server: http.Server
let port: number
const seen: http.IncomingHttpHeaders[] = []
const agent = new Agent({ keepAliveTimeout: 1_000 })

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push(req.headers)
    const auth = req.headers.authorization ?? ''
    if (auth === 'Bearer good') {
      res.writeHead(200, { 'X-User': 'ann', 'X-Extra': 'no', 'X-Groups': 'a' }).end('ok')
    } else if (auth === 'Bearer redirect') {
      res
        .writeHead(302, {
          Location: 'https://login.test/?rd=x',
          'Set-Cookie': ['a=1; Path=/', 'b=2; Path=/'],
          Connection: 'close, X-Secret',
          'X-Secret': 'hop',
        })
        .end()
    } else if (auth === 'Bearer big') {
      res.writeHead(401).end(Buffer.alloc(100 * 1024, 120))
    } else if (auth === 'Bearer slow') {
      // Never answers: the policy's time limit must end it.
    } else {
      const body = JSON.stringify({ error: 'who are you' })
      res.writeHead(401, { 'Content-Type': 'application/json', 'WWW-Authenticate': 'Bearer' })
      res.end(body)
    }
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  port = (server.address() as AddressInfo).port
})

afterAll(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
  await agent.close()
})

function make(overrides: Partial<Parameters<typeof forwardAuthPolicy>[0]> = {}) {
  const warnings: string[] = []
  const log: PolicyLog = { warn: (_details, message) => warnings.push(message) }
  const policy: Policy = forwardAuthPolicy({
    vHost: 'a.test',
    url: `http://127.0.0.1:${port}/verify?x=1`,
    copyHeaders: ['X-User', 'X-Groups'],
    timeoutMs: 500,
    dispatcher: agent,
    log,
    ...overrides,
  })
  return { policy, warnings }
}

const check = (policy: Policy, authorization?: string) =>
  policy.check(
    requestView({
      method: 'POST',
      path: '/admin/x?y=2',
      clientAddress: '10.0.0.7',
      requestId: 'rid-9',
      headers: {
        host: 'a.test:8443',
        cookie: 'session=s1',
        ...(authorization ? { authorization } : {}),
      },
    }),
  ) as Promise<Verdict>

describe('forwardAuthPolicy', () => {
  it('sends the method, URI and credential headers to the auth server', async () => {
    const { policy } = make()
    seen.length = 0
    await check(policy, 'Bearer good')
    expect(seen[0]).toMatchObject({
      'x-forwarded-method': 'POST',
      'x-forwarded-uri': '/admin/x?y=2',
      'x-forwarded-host': 'a.test:8443',
      'x-forwarded-proto': 'https',
      'x-forwarded-for': '10.0.0.7',
      'x-request-id': 'rid-9',
      authorization: 'Bearer good',
      cookie: 'session=s1',
    })
  })

  it('lets a 2xx through with the named headers copied, replacing client copies', async () => {
    const verdict = await check(make().policy, 'Bearer good')
    expect(verdict).toEqual({
      kind: 'continue',
      edits: { set: ['x-user', 'ann', 'x-groups', 'a'], remove: ['x-user', 'x-groups'] },
    })
    const stripped = await check(make({ stripAuthorization: true }).policy, 'Bearer good')
    expect(stripped.kind === 'continue' && stripped.edits?.remove).toContain('authorization')
  })

  it('returns any other answer to the client as is, minus hop-by-hop headers', async () => {
    const denied = await check(make().policy, 'Bearer nope')
    if (denied.kind !== 'respond') throw new Error('expected the auth answer')
    expect(denied.status).toBe(401)
    expect(JSON.parse(denied.body.toString())).toEqual({ error: 'who are you' })
    expect(denied.headers).toContain('www-authenticate')
    const redirect = await check(make().policy, 'Bearer redirect')
    if (redirect.kind !== 'respond') throw new Error('expected the auth answer')
    expect(redirect.status).toBe(302)
    const names = redirect.headers.filter((_, i) => i % 2 === 0)
    expect(names).toContain('location')
    expect(names.filter((n) => n === 'set-cookie')).toHaveLength(2)
    expect(names).not.toContain('connection')
    expect(names).not.toContain('x-secret')
  })

  it('fails closed with 503 when the auth server is down, slow, or answers too much', async () => {
    const closed = http.createServer()
    closed.listen(0, '127.0.0.1')
    await once(closed, 'listening')
    const downPort = (closed.address() as AddressInfo).port
    await new Promise((resolve) => closed.close(resolve))
    const down = make({ url: `http://127.0.0.1:${downPort}/` })
    const refused = await check(down.policy, 'Bearer good')
    expect(refused.kind === 'reject' && refused.error.code).toBe('PTC_ERR_AUTH_UNAVAILABLE')
    expect(refused.kind === 'reject' && refused.error.statusCode).toBe(503)
    expect(down.warnings).toHaveLength(1)
    const slow = await check(make({ timeoutMs: 100 }).policy, 'Bearer slow')
    expect(slow.kind === 'reject' && slow.error.statusCode).toBe(503)
    const big = await check(make().policy, 'Bearer big')
    expect(big.kind === 'reject' && big.error.statusCode).toBe(503)
  })

  it('caches allowed decisions per credential and URI when a cache time is set', async () => {
    const { policy } = make({ cacheTtlMs: 60_000 })
    seen.length = 0
    await check(policy, 'Bearer good')
    const again = check(policy, 'Bearer good')
    expect(again).not.toBeInstanceOf(Promise)
    expect(seen).toHaveLength(1)
    await check(policy, 'Bearer nope')
    await check(policy, 'Bearer nope')
    expect(seen).toHaveLength(3)
  })
})
