import { describe, expect, it } from 'vitest'
import { errors } from '../../errors.ts'
import { reject } from './policy.ts'
import { verdictReply } from './socket-reply.ts'

describe('verdictReply', () => {
  it('writes a refusal as a complete closing response with its headers and a JSON body', () => {
    const bytes = verdictReply(
      reject(new errors.PTC_ERR_AUTH_REQUIRED('a.test'), ['WWW-Authenticate', 'Bearer realm="a"']),
      'r1',
    ).toString('latin1')
    const [head, body] = bytes.split('\r\n\r\n') as [string, string]
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 401 Unauthorized')
    expect(head).toContain('\r\nWWW-Authenticate: Bearer realm="a"')
    expect(head).toContain('\r\nConnection: close')
    expect(head).toContain(`\r\nContent-Length: ${Buffer.byteLength(body)}`)
    expect(JSON.parse(body).error).toMatchObject({ code: 'PTC_ERR_AUTH_REQUIRED', requestId: 'r1' })
  })

  it("relays an auth server's answer with its body and content type", () => {
    const bytes = verdictReply(
      {
        kind: 'respond',
        status: 302,
        headers: ['location', '/login', 'content-type', 'text/plain', 'content-length', '99'],
        body: Buffer.from('go'),
      },
      'r2',
    ).toString('latin1')
    expect(bytes).toBe(
      'HTTP/1.1 302 Found\r\nlocation: /login\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\ngo',
    )
  })
})
