// The edge request path against real backends on loopback: routing, forwarding headers, bodies,
// queueing, failover and error pages. No pm2 here; static backends are Targets like instances.
import { mkdtemp, rm } from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { gunzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EventBus } from '../../src/observe/events.ts'
import { type Backend, startBackend } from '../helpers/backend.ts'
import { startTestEdge, type TestEdge } from '../helpers/edge.ts'
import { request } from '../helpers/http.ts'
import { closedPort } from '../helpers/ports.ts'
import { rawRequest } from '../helpers/raw.ts'

describe('edge (static backends)', () => {
  let a: Backend
  let b: Backend
  let edge: TestEdge
  let events: EventBus
  let ports: { https: number; http: number }
  let ca: string
  let dir: string

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portico-edge-'))
    a = await startBackend('a')
    b = await startBackend('b')
    const dead = await closedPort()
    edge = await startTestEdge({
      dir,
      leafHost: 'app.test',
      upstreamTimeoutMs: 1_000,
      listHosts: true,
      drainMs: 1_000,
      routes: [
        {
          vHost: 'app.test',
          backends: [
            { hostname: '127.0.0.1', port: a.port },
            { hostname: '127.0.0.1', port: b.port },
          ],
          headers: { 'X-Route': 'app' },
          autoHttps: false,
        },
        { vHost: 'redirect.test', backends: [{ hostname: '127.0.0.1', port: a.port }] },
        {
          vHost: 'failover.test',
          backends: [
            { hostname: '127.0.0.1', port: dead },
            { hostname: '127.0.0.1', port: b.port },
          ],
          autoHttps: false,
        },
        {
          vHost: 'narrow.test',
          backends: [{ hostname: '127.0.0.1', port: a.port }],
          reqActiveLength: 2,
          reqQueueLength: 3,
          autoHttps: false,
        },
        {
          vHost: 'prefix.test',
          backends: [{ hostname: '127.0.0.1', port: a.port }],
          stripPrefix: '/api',
          addPrefix: '/v2',
          autoHttps: false,
        },
        {
          vHost: 'down.test',
          backends: [{ hostname: '127.0.0.1', port: dead }],
          autoHttps: false,
        },
        {
          vHost: '*.wild.test',
          backends: [{ hostname: '127.0.0.1', port: b.port }],
          autoHttps: false,
        },
      ],
    })
    events = edge.events
    ports = edge.ports
    ca = edge.ca
  })

  afterAll(async () => {
    await edge?.close()
    await a?.close()
    await b?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('routes by Host over HTTPS, verified against the CA, ignoring case, port and trailing dot', async () => {
    const res = await request({ port: ports.https, host: 'app.test', ca, path: '/' })
    expect(res.status).toBe(200)
    expect(['a', 'b']).toContain(res.body)
    const odd = await request({ port: ports.http, host: 'APP.Test.:8080', path: '/' })
    expect(odd.status).toBe(200)
  })

  it('alternates ROUND_ROBIN between two backends', async () => {
    const bodies: string[] = []
    for (let i = 0; i < 4; i++)
      bodies.push((await request({ port: ports.http, host: 'app.test' })).body)
    expect(bodies.filter((x) => x === 'a')).toHaveLength(2)
    expect(bodies.filter((x) => x === 'b')).toHaveLength(2)
  })

  it('sets forwarding headers, strips hop-by-hop both ways, injects route headers', async () => {
    const res = await request({
      port: ports.https,
      host: 'app.test',
      ca,
      path: '/echo',
      headers: {
        Connection: 'close, X-Foo',
        'X-Foo': '1',
        'Keep-Alive': '1',
        'X-Forwarded-For': '1.2.3.4',
        'X-Route': 'client',
        'X-Request-Id': 'given-id',
      },
    })
    const sent = JSON.parse(res.body) as { headers: string[] }
    const seen = new Map<string, string>()
    for (let i = 0; i < sent.headers.length; i += 2)
      seen.set(sent.headers[i]?.toLowerCase() ?? '', sent.headers[i + 1] ?? '')
    expect(seen.get('x-forwarded-for')).toBe('127.0.0.1')
    expect(seen.get('x-real-ip')).toBe('127.0.0.1')
    expect(seen.get('x-forwarded-proto')).toBe('https')
    expect(seen.get('x-forwarded-host')).toBe('app.test')
    expect(seen.get('x-request-id')).toBe('given-id')
    expect(seen.get('x-route')).toBe('app')
    expect(seen.has('x-foo')).toBe(false)
    expect(seen.has('keep-alive')).toBe(false)
    expect(res.headers['x-bar']).toBeUndefined()
  })

  it('streams a POST body upstream and passes gzip and chunked bodies through untouched', async () => {
    const body = 'x'.repeat(200_000)
    const echo = await request({
      port: ports.http,
      host: 'app.test',
      path: '/echo',
      method: 'POST',
      body,
    })
    expect(JSON.parse(echo.body)).toMatchObject({ method: 'POST', bodyBytes: 200_000 })
    const gz = await new Promise<Buffer>((resolve, reject) => {
      http
        .get(
          {
            host: '127.0.0.1',
            port: ports.http,
            path: '/gzip',
            headers: { Host: 'app.test', 'Accept-Encoding': 'gzip' },
          },
          (res) => {
            expect(res.headers['content-encoding']).toBe('gzip')
            const chunks: Buffer[] = []
            res.on('data', (c: Buffer) => chunks.push(c))
            res.on('end', () => resolve(Buffer.concat(chunks)))
          },
        )
        .on('error', reject)
    })
    expect(gunzipSync(gz).toString()).toMatch(/^compressed by [ab]$/)
    expect((await request({ port: ports.http, host: 'app.test', path: '/chunked' })).body).toBe(
      'one,two,three',
    )
  })

  it('keeps client keep-alive connections across requests', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    const sockets = new Set<unknown>()
    agent.on('free', (socket) => sockets.add(socket))
    for (let i = 0; i < 3; i++)
      expect((await request({ port: ports.http, host: 'app.test', agent })).status).toBe(200)
    expect(sockets.size).toBe(1)
    agent.destroy()
  })

  it('strips and adds path prefixes per route, keeping the query', async () => {
    const res = await request({ port: ports.http, host: 'prefix.test', path: '/api/echo?q=1' })
    expect(
      JSON.parse((await request({ port: ports.http, host: 'app.test', path: '/echo' })).body).url,
    ).toBe('/echo')
    expect(res.status).toBe(200)
    expect(a.hits.get('/v2/echo')).toBe(1)
  })

  it('emits one request:completed event per routed request with status, target and bytes', async () => {
    const seen: { status: number; target: string | undefined; bytesOut: number; route: string }[] =
      []
    const off = events.on('request:completed', (e) => seen.push(e))
    await request({ port: ports.http, host: 'app.test', path: '/' })
    await request({ port: ports.http, host: 'down.test', path: '/' })
    await request({ port: ports.http, host: 'app.test', path: '/chunked' })
    off()
    expect(seen).toHaveLength(3)
    // A chunked body has no Content-Length: its bytes are counted as they pass.
    expect(seen[2]).toMatchObject({ status: 200, bytesOut: 'one,two,three'.length })
    expect(seen[0]).toMatchObject({ route: 'app.test', status: 200, bytesOut: 1 })
    expect([`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`]).toContain(seen[0]?.target)
    expect(seen[1]).toMatchObject({ route: 'down.test', status: 502 })
  })

  it('matches wildcard routes', async () => {
    expect((await request({ port: ports.http, host: 'x.wild.test' })).body).toBe('b')
  })

  it('answers an unknown host with a 404 page listing the sites, in HTML or JSON', async () => {
    const html = await request({ port: ports.http, host: 'nope.test' })
    expect(html.status).toBe(404)
    expect(html.headers['content-type']).toContain('text/html')
    expect(html.body).toContain('app.test')
    const json = await request({
      port: ports.http,
      host: 'nope.test',
      headers: { Accept: 'application/json' },
    })
    expect(json.status).toBe(404)
    expect(JSON.parse(json.body).error.code).toBe('PTC_ERR_ROUTE_NOT_FOUND')
  })

  it('redirects plain HTTP to HTTPS with 308 for known hosts only', async () => {
    const res = await request({ port: ports.http, host: 'redirect.test', path: '/a/b?c=d' })
    expect(res.status).toBe(308)
    expect(res.headers.location).toBe(`https://redirect.test:${ports.https}/a/b?c=d`)
    expect((await request({ port: ports.http, host: 'unknown.test', path: '/' })).status).toBe(404)
  })

  it('answers 400 for a malformed or duplicated Host and 431 for too many headers', async () => {
    expect((await request({ port: ports.http, host: 'user@app.test' })).status).toBe(400)
    expect((await request({ port: ports.http, host: 'app.test:99999' })).status).toBe(400)
    const many: Record<string, string> = {}
    for (let i = 0; i < 150; i++) many[`X-H${i}`] = '1'
    expect((await request({ port: ports.http, host: 'app.test', headers: many })).status).toBe(431)
    const raw = await rawRequest(
      ports.http,
      'GET / HTTP/1.1\r\nHost: app.test\r\nHost: evil.test\r\n\r\n',
      1_000,
    )
    expect(raw).toMatch(/^HTTP\/1\.1 400/)
  })

  it('fails over a refused connection to another backend, POST included', async () => {
    for (let i = 0; i < 4; i++) {
      const res = await request({
        port: ports.http,
        host: 'failover.test',
        path: '/echo',
        method: 'POST',
        body: 'hello',
      })
      expect(res.status).toBe(200)
      expect(JSON.parse(res.body)).toMatchObject({ id: 'b', bodyBytes: 5 })
    }
  })

  it('answers 502 when every backend refuses', async () => {
    const res = await request({
      port: ports.http,
      host: 'down.test',
      headers: { Accept: 'application/json' },
    })
    expect(res.status).toBe(502)
    expect(JSON.parse(res.body).error.code).toBe('PTC_ERR_UPSTREAM_FAILED')
  })

  it('answers 504 when the upstream is too slow', async () => {
    const res = await request({
      port: ports.http,
      host: 'app.test',
      path: '/sleep?ms=3000',
      headers: { Accept: 'application/json' },
    })
    expect(res.status).toBe(504)
    expect(JSON.parse(res.body).error.code).toBe('PTC_ERR_UPSTREAM_TIMEOUT')
  })

  it('serves reqActiveLength + reqQueueLength requests and answers the rest 503 with Retry-After', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        request({ port: ports.http, host: 'narrow.test', path: '/sleep?ms=300' }),
      ),
    )
    const ok = results.filter((r) => r.status === 200)
    const rejected = results.filter((r) => r.status === 503)
    expect(ok).toHaveLength(5)
    expect(rejected).toHaveLength(3)
    for (const r of rejected) expect(r.headers['retry-after']).toBeDefined()
  })
})
