// Slow clients cannot hold the edge's sockets (reliability.md B1): a request head that never ends
// and a TLS handshake that never finishes are both cut by the server, and the edge stays alive.
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CLIENT_HEADERS_TIMEOUT_MS, TLS_HANDSHAKE_TIMEOUT_MS } from '../../src/config/defaults.ts'
import { type Backend, startBackend } from '../helpers/backend.ts'
import { startTestEdge, type TestEdge } from '../helpers/edge.ts'
import { request } from '../helpers/http.ts'

/** slowSocket writes `bytes` and never finishes; resolves with what came back once the server closes. */
function slowSocket(
  port: number,
  bytes: Buffer | string,
): Promise<{ reply: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes))
    let reply = ''
    socket.on('data', (d) => {
      reply += d.toString('latin1')
    })
    // Generous safety net only; the assertion is that the server closed first.
    socket.setTimeout(CLIENT_HEADERS_TIMEOUT_MS * 3, () =>
      socket.destroy(new Error('server never closed the slow socket')),
    )
    socket.on('close', () => resolve({ reply, closedAfterMs: Date.now() - started }))
    socket.on('error', reject)
  })
}

// The two cases wait on server timers, not on each other: run them side by side.
describe.concurrent('slow clients', () => {
  let dir: string
  let backend: Backend
  let edge: TestEdge

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portico-slow-'))
    backend = await startBackend('a')
    edge = await startTestEdge({
      dir,
      leafHost: 'slow.test',
      routes: [
        {
          vHost: 'slow.test',
          backends: [{ hostname: '127.0.0.1', port: backend.port }],
          autoHttps: false,
        },
      ],
    })
  })

  afterAll(async () => {
    await edge?.close()
    await backend?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it(
    'closes a connection whose request head never ends with 408, and the request never reaches the app',
    async () => {
      const { reply } = await slowSocket(
        edge.ports.http,
        'GET /slow-head HTTP/1.1\r\nHost: slow.test\r\nX-Slow: 1\r\n',
      )
      expect(reply).toMatch(/^HTTP\/1\.1 408/)
      // By path: the TLS case beside this one sends its own request to the same backend.
      expect(backend.hits.get('/slow-head') ?? 0).toBe(0)
      expect((await request({ port: edge.ports.http, host: 'slow.test' })).status).toBe(200)
    },
    CLIENT_HEADERS_TIMEOUT_MS * 4,
  )

  it(
    'closes a TLS connection whose handshake never finishes',
    async () => {
      // The first 5 bytes of a ClientHello record header, then silence.
      // slowSocket resolves only when the server closes; its own safety net rejects instead.
      const { reply } = await slowSocket(
        edge.ports.https,
        Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]),
      )
      expect(reply).toBe('')
      expect(
        (await request({ port: edge.ports.https, host: 'slow.test', ca: edge.ca })).status,
      ).toBe(200)
    },
    TLS_HANDSHAKE_TIMEOUT_MS * 4,
  )
})
