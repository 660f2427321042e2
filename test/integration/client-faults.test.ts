// Issue 12: no client can take a site down. Everything an admitted request holds (its slot, its
// queue place, its target's in-flight count) comes back whichever way the client goes, and one
// client cannot hold a route's capacity with slow uploads, slow reads or slow headers.
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RequestCompleted } from '../../src/observe/events.ts'
import type { Route } from '../../src/proxy/route.ts'
import { UploadWatch } from '../../src/proxy/upload.ts'
import { type Backend, startBackend } from '../helpers/backend.ts'
import { startTestEdge, type TestEdge } from '../helpers/edge.ts'
import { request } from '../helpers/http.ts'
import { waitFor } from '../helpers/wait.ts'

/** Another client on loopback: Linux answers for all of 127.0.0.0/8. */
const OTHER_CLIENT = '127.0.0.2'

/** open connects to the edge's plain HTTP port and writes `bytes`; the caller destroys it. */
function open(port: number, bytes: string | Buffer): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(bytes)
      resolve(socket)
    })
    socket.on('error', reject)
  })
}

/** idle reports whether a route and its targets hold nothing any more. */
function idle(route: Route): boolean {
  return (
    route.admission.active === 0 &&
    route.admission.queued === 0 &&
    route.upstream.targets().every((t) => t.inFlight === 0)
  )
}

describe('client faults (issue 12)', () => {
  let dir: string
  let backend: Backend
  /** Default slow-client limits (a 60 s send timeout would hide a leak for this file's life). */
  let plain: TestEdge
  /** Short slow-client limits, so cut-offs happen within a test. */
  let edge: TestEdge
  const completed: RequestCompleted[] = []
  const host = (name: string) => `${name}.test`
  const routeOf = (name: string, on = edge) => on.table.lookup(host(name)) as Route
  const backends = () => [{ hostname: '127.0.0.1', port: backend.port }]
  const sockets: net.Socket[] = []

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portico-client-faults-'))
    backend = await startBackend('a')
    const route = (name: string, active: number, queue: number) => ({
      vHost: host(name),
      backends: backends(),
      autoHttps: false,
      reqActiveLength: active,
      reqQueueLength: queue,
    })
    plain = await startTestEdge({
      dir,
      leafHost: 'pipe.test',
      routes: [route('pipe', 64, 256), route('queue', 1, 8), route('upload', 4, 8)],
    })
    edge = await startTestEdge({
      dir,
      leafHost: 'share.test',
      routes: [
        route('share', 4, 8),
        route('rate', 4, 8),
        route('read', 4, 8),
        route('headers', 4, 8),
      ],
      slowClients: {
        sendTimeoutMs: 500,
        uploads: new UploadWatch({ graceMs: 300, minBytesPerS: 10_000, intervalMs: 100 }),
      },
    })
    edge.events.on('request:completed', (event) => completed.push(event))
  })

  afterAll(async () => {
    for (const socket of sockets) socket.destroy()
    await plain?.close()
    await edge?.close()
    await backend?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('gives every slot back when pipelined requests die with their connection', async () => {
    const pipelined =
      'GET /sleep?ms=300 HTTP/1.1\r\nHost: pipe.test\r\n\r\nGET /x HTTP/1.1\r\nHost: pipe.test\r\n\r\n'
    const clients = await Promise.all(
      Array.from({ length: 20 }, () => open(plain.ports.http, pipelined)),
    )
    await waitFor(() => routeOf('pipe', plain).admission.active > 0, {
      message: 'requests admitted',
    })
    for (const socket of clients) setTimeout(() => socket.destroy(), 100)
    await waitFor(() => idle(routeOf('pipe', plain)), {
      timeoutMs: 5_000,
      message: 'every slot and in-flight count back to zero',
    })
    const res = await request({ port: plain.ports.http, host: 'pipe.test', path: '/after' })
    expect(res.status).toBe(200)
  })

  it('gives a queue place back at once when a queued client leaves', async () => {
    const holder = request({ port: plain.ports.http, host: 'queue.test', path: '/sleep?ms=1500' })
    await waitFor(() => routeOf('queue', plain).admission.active === 1)
    const queued = await open(plain.ports.http, 'GET / HTTP/1.1\r\nHost: queue.test\r\n\r\n')
    await waitFor(() => routeOf('queue', plain).admission.queued === 1)
    queued.destroy()
    // Well before the 5 s queue timeout: the place is given back when the client leaves.
    await waitFor(() => routeOf('queue', plain).admission.queued === 0, { timeoutMs: 1_000 })
    expect((await holder).status).toBe(200)
    await waitFor(() => idle(routeOf('queue', plain)))
  })

  it('gives the slot back when a client leaves in the middle of a streamed body', async () => {
    const head = 'POST /echo HTTP/1.1\r\nHost: upload.test\r\nContent-Length: 200000\r\n\r\n'
    const socket = await open(
      plain.ports.http,
      Buffer.concat([Buffer.from(head), Buffer.alloc(100_000)]),
    )
    await waitFor(() => routeOf('upload', plain).admission.active === 1)
    socket.destroy()
    await waitFor(() => idle(routeOf('upload', plain)), { timeoutMs: 5_000 })
  })

  it('reads small bodies before admission: 128 slow uploads from one address hold no slot', async () => {
    const head = 'POST /echo HTTP/1.1\r\nHost: share.test\r\nContent-Length: 1000\r\n\r\nabc'
    for (let i = 0; i < 128; i++) sockets.push(await open(edge.ports.http, head))
    const res = await request({
      port: edge.ports.http,
      host: 'share.test',
      localAddress: OTHER_CLIENT,
      timeoutMs: 3_000,
    })
    expect(res.status).toBe(200)
    expect(routeOf('share').admission.active).toBe(0)
    for (const socket of sockets.splice(0)) socket.destroy()
  })

  it('holds one address to its share of the slots with streamed uploads', async () => {
    const route = routeOf('share')
    const head = 'POST /echo HTTP/1.1\r\nHost: share.test\r\nContent-Length: 500000\r\n\r\n'
    const body = Buffer.concat([Buffer.from(head), Buffer.alloc(1000)])
    for (let i = 0; i < 16; i++) sockets.push(await open(edge.ports.http, body))
    await waitFor(() => route.admission.active === route.admission.clientLimits.maxActive)
    const res = await request({
      port: edge.ports.http,
      host: 'share.test',
      localAddress: OTHER_CLIENT,
      timeoutMs: 3_000,
    })
    expect(res.status).toBe(200)
    expect(route.admission.active).toBeLessThanOrEqual(route.admission.clientLimits.maxActive)
    for (const socket of sockets.splice(0)) socket.destroy()
    await waitFor(() => idle(route))
  })

  it('cuts off a streamed upload slower than the minimum rate, and counts it', async () => {
    const head = 'POST /echo HTTP/1.1\r\nHost: rate.test\r\nContent-Length: 200000\r\n\r\n'
    const socket = await open(
      edge.ports.http,
      Buffer.concat([Buffer.from(head), Buffer.alloc(100)]),
    )
    const closed = new Promise((resolve) => socket.once('close', resolve))
    await waitFor(() => routeOf('rate').admission.active === 1)
    await closed
    await waitFor(() => idle(routeOf('rate')))
    const event = await waitFor(() => completed.find((e) => e.route === 'rate.test'))
    expect(event).toMatchObject({ status: 408, cutOff: 'slow-upload' })
  })

  it('cuts off a client that does not read its response within the send timeout', async () => {
    const socket = await open(edge.ports.http, 'GET /big?mb=64 HTTP/1.1\r\nHost: read.test\r\n\r\n')
    sockets.push(socket)
    socket.pause()
    await waitFor(() => routeOf('read').admission.active === 1)
    // The client reads nothing: once the socket buffers are full the edge waits 500 ms, then cuts.
    const event = await waitFor(() => completed.find((e) => e.route === 'read.test'))
    expect(event.cutOff).toBe('slow-read')
    await waitFor(() => idle(routeOf('read')))
  })

  it('serves other clients while one address holds 128 slow request heads', async () => {
    for (let i = 0; i < 128; i++)
      sockets.push(
        await open(edge.ports.http, 'GET / HTTP/1.1\r\nHost: headers.test\r\nX-A: 1\r\n'),
      )
    const res = await request({
      port: edge.ports.http,
      host: 'headers.test',
      localAddress: OTHER_CLIENT,
      timeoutMs: 3_000,
    })
    expect(res.status).toBe(200)
    for (const socket of sockets.splice(0)) socket.destroy()
  })
})
