// WebSocket tunnelling through the edge against a real `ws` server on loopback.
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import { startTestEdge, type TestEdge } from '../helpers/edge.ts'
import { request } from '../helpers/http.ts'
import { rawRequest } from '../helpers/raw.ts'
import { waitFor } from '../helpers/wait.ts'

describe('edge WebSockets', () => {
  let backend: http.Server
  let wss: WebSocketServer
  let edge: TestEdge
  let slowAnswered = 0
  let ports: { https: number; http: number }
  let ca: string
  let dir: string
  const serverSockets = new Set<WebSocket>()

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portico-ws-'))
    backend = http.createServer((_req, res) => res.end('plain'))
    wss = new WebSocketServer({ noServer: true })
    backend.on('upgrade', (req, socket, head) => {
      if (req.url === '/forbidden') {
        socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope')
        return
      }
      if (req.url === '/forbidden-chunked') {
        socket.end(
          'HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nnope\r\n0\r\n\r\n',
        )
        return
      }
      if (req.url === '/slow') {
        // Answers the handshake only after 300 ms: the client will have left by then.
        setTimeout(() => {
          slowAnswered++
          wss.handleUpgrade(req, socket, head, (ws) => {
            serverSockets.add(ws)
            ws.on('close', () => serverSockets.delete(ws))
          })
        }, 300)
        return
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        serverSockets.add(ws)
        ws.on('close', () => serverSockets.delete(ws))
        ws.on('message', (data) => {
          if (data.toString() === 'close-please') ws.close(1000, 'bye')
          else ws.send(`echo:${data.toString()}:${req.headers['x-forwarded-for']}`)
        })
      })
    })
    backend.listen(0, '127.0.0.1')
    await once(backend, 'listening')
    const port = (backend.address() as AddressInfo).port
    edge = await startTestEdge({
      dir,
      leafHost: 'ws.test',
      routes: [
        { vHost: 'ws.test', backends: [{ hostname: '127.0.0.1', port }], autoHttps: false },
        // One slot, no queue: an open WebSocket must not keep holding it.
        {
          vHost: 'one.test',
          backends: [{ hostname: '127.0.0.1', port }],
          reqActiveLength: 1,
          reqQueueLength: 0,
          autoHttps: false,
        },
      ],
    })
    ports = edge.ports
    ca = edge.ca
  })

  afterAll(async () => {
    await edge?.close()
    for (const ws of serverSockets) ws.terminate()
    wss?.close()
    backend?.closeAllConnections()
    await new Promise((r) => backend?.close(r))
    await rm(dir, { recursive: true, force: true })
  })

  function connect(url: string, options: { ca?: string } = {}): Promise<WebSocket> {
    const ws = new WebSocket(url, {
      headers: { Host: 'ws.test' },
      ...(options.ca ? { ca: options.ca, servername: 'ws.test' } : {}),
    })
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(ws))
      ws.once('error', reject)
    })
  }

  function nextMessage(ws: WebSocket): Promise<string> {
    return new Promise((resolve) => ws.once('message', (d) => resolve(d.toString())))
  }

  it('echoes through the edge over ws:// and wss:// with X-Forwarded-For set', async () => {
    const plain = await connect(`ws://127.0.0.1:${ports.http}/`)
    plain.send('hi')
    expect(await nextMessage(plain)).toBe('echo:hi:127.0.0.1')
    plain.close()
    const secure = await connect(`wss://127.0.0.1:${ports.https}/`, { ca })
    secure.send('there')
    expect(await nextMessage(secure)).toBe('echo:there:127.0.0.1')
    secure.close()
  })

  it('closes the upstream side when the client closes', async () => {
    const ws = await connect(`ws://127.0.0.1:${ports.http}/`)
    ws.send('x')
    await nextMessage(ws)
    expect(serverSockets.size).toBeGreaterThan(0)
    ws.terminate()
    await waitFor(() => serverSockets.size === 0, { message: 'upstream socket should close' })
  })

  it('closes the client side when the upstream closes', async () => {
    const ws = await connect(`ws://127.0.0.1:${ports.http}/`)
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))
    ws.send('close-please')
    expect(await closed).toBe(1000)
  })

  it('relays an upstream refusal (403) and closes', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${ports.http}/forbidden`, {
      headers: { Host: 'ws.test' },
    })
    const status = await new Promise<number>((resolve) =>
      ws.once('unexpected-response', (req, res) => {
        req.destroy()
        resolve(res.statusCode ?? 0)
      }),
    )
    expect(status).toBe(403)
  })

  it('relays a chunked refusal with framing the client can parse', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${ports.http}/forbidden-chunked`, {
      headers: { Host: 'ws.test' },
    })
    const outcome = await new Promise<string>((resolve) => {
      ws.once('unexpected-response', (req, res) => {
        let body = ''
        res.on('data', (d: Buffer) => {
          body += d.toString()
        })
        res.on('end', () => {
          req.destroy()
          resolve(`${res.statusCode} ${body}`)
        })
        res.on('error', (e) => resolve(`error ${e.message}`))
      })
      ws.once('error', (e) => resolve(`error ${e.message}`))
    })
    expect(outcome).toBe('403 nope')
  })

  it('leaves nothing open when the client goes away during the upstream handshake', async () => {
    const target = edge.registry.get('route:ws.test')?.targets()[0]
    expect(target?.inFlight).toBe(0)
    const socket = net.connect(ports.http, '127.0.0.1', () =>
      socket.write(
        'GET /slow HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      ),
    )
    socket.on('error', () => undefined)
    // While the upstream has not answered, the handshake counts as in flight: a drain waits.
    const answeredWhenCounted = await waitFor(
      () => (target?.inFlight === 1 ? { answered: slowAnswered } : undefined),
      { message: 'the pending handshake counts as a request in flight' },
    )
    expect(answeredWhenCounted.answered).toBe(0)
    socket.resetAndDestroy()
    await waitFor(() => slowAnswered === 1, { message: 'the upstream answered the slow handshake' })
    await waitFor(() => serverSockets.size === 0 && target?.inFlight === 0, {
      message: 'upstream side closed, inFlight back to 0',
    })
  })

  it('gives the route slot back once the upgrade is done: open WebSockets do not block requests', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${ports.http}/`, { headers: { Host: 'one.test' } })
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
    const res = await request({ port: ports.http, host: 'one.test' })
    expect(res.status).toBe(200)
    expect(res.body).toBe('plain')
    ws.close()
  })

  it('answers an upgrade for an unknown host with a complete 404', async () => {
    const reply = await rawRequest(
      ports.http,
      'GET / HTTP/1.1\r\nHost: nope.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    )
    expect(reply).toMatch(/^HTTP\/1\.1 404 /)
    expect(reply).toContain('PTC_ERR_ROUTE_NOT_FOUND')
  })

  it('never tunnels an h2c upgrade', async () => {
    const reply = await rawRequest(
      ports.http,
      'GET / HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n',
    )
    expect(reply).toMatch(/^HTTP\/1\.1 400 /)
  })
})
