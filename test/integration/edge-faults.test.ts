// Faults at the edge against real loopback servers: resets before a response, clients leaving the
// queue, passive ejection and active recovery, limits; and a user's view through curl.
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Registry } from '../../src/registry/registry.ts'
import { type Backend, startBackend } from '../helpers/backend.ts'
import { startTestEdge, type TestEdge } from '../helpers/edge.ts'
import { request } from '../helpers/http.ts'
import { closedPort } from '../helpers/ports.ts'
import { rawRequest } from '../helpers/raw.ts'
import { waitFor } from '../helpers/wait.ts'

const run = promisify(execFile)

describe('edge faults', () => {
  let a: Backend
  let b: Backend
  let edge: TestEdge
  let ports: { https: number; http: number }
  let registry: Registry
  let revivedPort: number
  let dir: string
  let caFile: string

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portico-faults-'))
    a = await startBackend('a')
    b = await startBackend('b')
    revivedPort = await closedPort()
    const statics = (...bs: number[]) => bs.map((port) => ({ hostname: '127.0.0.1', port }))
    edge = await startTestEdge({
      dir,
      leafHost: 'site.test',
      withProbes: true,
      routes: [
        { vHost: 'crash.test', backends: statics(a.port, b.port), autoHttps: false },
        {
          vHost: 'queue.test',
          backends: statics(a.port),
          reqActiveLength: 1,
          reqQueueLength: 5,
          autoHttps: false,
        },
        {
          vHost: 'passive.test',
          backends: statics(revivedPort, b.port),
          healthCheck: { interval: 100, timeout: 500 },
          autoHttps: false,
        },
        { vHost: 'site.test', backends: statics(a.port), default: true },
      ],
    })
    registry = edge.registry
    ports = edge.ports
    caFile = path.join(dir, 'ca.crt')
    await writeFile(caFile, edge.ca)
  })

  afterAll(async () => {
    await edge?.close()
    await a?.close()
    await b?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('retries a GET reset before any response byte once on the other backend, then answers 502', async () => {
    const res = await request({ port: ports.http, host: 'crash.test', path: '/crash' })
    expect(res.status).toBe(502)
    expect(a.hits.get('/crash')).toBe(1)
    expect(b.hits.get('/crash')).toBe(1)
  })

  it('never replays a POST whose body was sent: 502 after exactly one attempt', async () => {
    const before = (a.hits.get('/crash') ?? 0) + (b.hits.get('/crash') ?? 0)
    const res = await request({
      port: ports.http,
      host: 'crash.test',
      path: '/crash',
      method: 'POST',
      body: 'payload',
    })
    expect(res.status).toBe(502)
    expect((a.hits.get('/crash') ?? 0) + (b.hits.get('/crash') ?? 0) - before).toBe(1)
  })

  it('drops a queued request whose client went away: it never reaches the app', async () => {
    const holder = request({ port: ports.http, host: 'queue.test', path: '/sleep?ms=600' })
    await waitFor(() => a.hits.get('/sleep') === 1, { message: 'slot taken' })
    const leaver = http.get({
      host: '127.0.0.1',
      port: ports.http,
      path: '/echo',
      headers: { Host: 'queue.test' },
    })
    leaver.on('error', () => undefined)
    setTimeout(() => leaver.destroy(), 100)
    expect((await holder).status).toBe(200)
    const after = await request({ port: ports.http, host: 'queue.test', path: '/' })
    expect(after.status).toBe(200)
    expect(a.hits.get('/echo') ?? 0).toBe(0)
  })

  it('ejects a failing backend after 3 failures and brings it back when probes pass', async () => {
    const upstream = registry.get('route:passive.test')
    const dead = upstream?.get(`127.0.0.1:${revivedPort}`)
    expect(dead?.state).toBe('healthy')
    for (let i = 0; i < 6; i++) {
      const res = await request({ port: ports.http, host: 'passive.test' })
      expect(res.status).toBe(200)
      expect(res.body).toBe('b')
    }
    expect(dead?.state).toBe('unhealthy')
    const revived = http
      .createServer((_req, res) => res.end('revived'))
      .listen(revivedPort, '127.0.0.1')
    try {
      await waitFor(() => dead?.state === 'healthy', { message: 'probes bring the backend back' })
      await waitFor(
        async () => (await request({ port: ports.http, host: 'passive.test' })).body === 'revived',
        {
          message: 'revived backend takes traffic',
        },
      )
    } finally {
      revived.closeAllConnections()
      await new Promise((r) => revived.close(r))
    }
  })

  it('serves hosts that match no route with the default route', async () => {
    // Without a default route an unknown host gets 404 on the HTTP listener, never a redirect.
    const plain = await request({ port: ports.http, host: 'anything.example', path: '/' })
    expect(plain.status).toBe(308)
    expect(plain.headers.location).toBe(`https://anything.example:${ports.https}/`)
  })

  it('never lets a chunked body on a GET or DELETE reach the upstream as a second request', async () => {
    const smuggled = 'GET /admin HTTP/1.1\r\nHost: internal\r\n\r\n'
    const chunk = `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`
    const reply = await rawRequest(
      ports.http,
      `DELETE /echo HTTP/1.1\r\nHost: crash.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunk}`,
    )
    expect(reply).toMatch(/^HTTP\/1\.1 200/)
    expect(reply).toContain(`"bodyBytes":${smuggled.length}`)
    await request({ port: ports.http, host: 'crash.test', path: '/' })
    expect(a.hits.get('/admin') ?? 0).toBe(0)
    expect(b.hits.get('/admin') ?? 0).toBe(0)
  })

  it('refuses HTTP/1.0 with Transfer-Encoding (undefined framing) with 400', async () => {
    const reply = await rawRequest(
      ports.http,
      'POST /echo HTTP/1.0\r\nHost: crash.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    )
    expect(reply).toMatch(/^HTTP\/1\.1 400/)
  })

  it('reports an upstream that dies mid-body as a 502 in the access record, and cuts the client off', async () => {
    const seen: { status: number; path: string }[] = []
    const off = edge.events.on('request:completed', (e) => seen.push(e))
    const outcome = await request({ port: ports.http, host: 'queue.test', path: '/mid-body' }).then(
      () => 'complete',
      () => 'cut',
    )
    expect(outcome).toBe('cut')
    // The record is written once the edge has seen the upstream's socket close, just after.
    await waitFor(() => seen.some((e) => e.path === '/mid-body'), { message: 'completion record' })
    off()
    expect(seen.find((e) => e.path === '/mid-body')?.status).toBe(502)
  })

  it('answers 431 for a header block over 16 KiB', async () => {
    const res = await request({
      port: ports.http,
      host: 'crash.test',
      headers: { 'X-Big': 'a'.repeat(17_000) },
    })
    expect(res.status).toBe(431)
  })

  it('works with curl as a user would: HTTPS with --resolve, POST body, gzip, keep-alive', async () => {
    const base = `https://site.test:${ports.https}`
    const common = [
      '-sS',
      '--fail',
      '--cacert',
      caFile,
      '--resolve',
      `site.test:${ports.https}:127.0.0.1`,
    ]
    const post = await run('curl', [
      ...common,
      '-X',
      'POST',
      '--data-binary',
      'hello world',
      `${base}/echo`,
    ])
    expect(JSON.parse(post.stdout)).toMatchObject({ method: 'POST', bodyBytes: 11 })
    const gz = await run('curl', [...common, '--compressed', `${base}/gzip`])
    expect(gz.stdout).toBe('compressed by a')
    const twice = await run('curl', [...common, '-v', `${base}/`, `${base}/`])
    expect(twice.stdout).toBe('aa')
    expect(twice.stderr).toMatch(/Re-using existing connection/i)
    const redirect = await run('curl', [
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code} %{redirect_url}',
      '-H',
      'Host: site.test',
      `http://127.0.0.1:${ports.http}/x?y=1`,
    ])
    expect(redirect.stdout).toBe(`308 https://site.test:${ports.https}/x?y=1`)
  })
})
