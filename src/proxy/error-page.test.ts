import { once } from 'node:events'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { errors } from '../errors.ts'
import { sendError } from './error-page.ts'

describe('sendError', () => {
  it("adds a policy verdict's headers, a repeated name as several fields", async () => {
    const server = http.createServer((req, res) =>
      sendError(req, res, new errors.PTC_ERR_AUTH_REQUIRED('a.test'), {
        requestId: 'r1',
        headers: ['WWW-Authenticate', 'Basic realm="a"', 'WWW-Authenticate', 'Bearer realm="a"'],
      }),
    )
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    try {
      const { port } = server.address() as AddressInfo
      const res = await fetch(`http://127.0.0.1:${port}/`, {
        headers: { accept: 'application/json' },
      })
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('Basic realm="a", Bearer realm="a"')
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(
        'PTC_ERR_AUTH_REQUIRED',
      )
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
