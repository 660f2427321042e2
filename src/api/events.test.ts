import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it, vi } from 'vitest'
import WebSocket from 'ws'
import { completedEvent } from '../../test/helpers/completed.ts'
import { EventBus } from '../observe/events.ts'
import { createLogger } from '../observe/log.ts'
import type { AppsService } from './apps.ts'
import type { EventFrame, EventStreamOptions } from './events.ts'
import type { RoutesService } from './routes.ts'
import { buildApi } from './server.ts'

const unused = async (): Promise<never> => {
  throw new Error('not used by these tests')
}
const NO_APPS: AppsService = {
  list: () => [],
  get: () => undefined,
  create: unused,
  update: unused,
  remove: unused,
  act: unused,
  scale: unused,
  logs: () => [],
}
const NO_ROUTES: RoutesService = {
  list: () => [],
  get: () => undefined,
  create: unused,
  remove: unused,
  addBackend: unused,
  removeBackend: unused,
  setDead: unused,
}

const closers: Array<() => unknown> = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

/** setup builds the real API with a fresh bus; afterEach closes the API (and its sockets). */
async function setup(options: { token?: string; eventStream?: EventStreamOptions } = {}) {
  const events = new EventBus()
  const app = await buildApi({
    log: createLogger({ level: 'silent' }),
    events,
    apps: NO_APPS,
    routes: NO_ROUTES,
    certificates: { list: () => [], add: unused },
    health: { ports: () => ({ https: 0, http: 0, api: 0 }), mode: 'dev' },
    stats: { all: () => ({}), route: () => undefined, metrics: () => '' },
    ...options,
  })
  closers.push(() => app.close())
  await app.ready()
  return { app, events }
}

/** connect opens an injected event stream and collects its frames; afterEach closes it. */
async function connect(app: FastifyInstance, query = '') {
  const ws = await app.injectWS(`/api/v1/events${query}`, { headers: { host: 'localhost' } })
  closers.push(() => ws.terminate())
  const frames: EventFrame[] = []
  ws.on('message', (data: Buffer) => frames.push(JSON.parse(data.toString()) as EventFrame))
  const closed = new Promise<number>((resolve) => ws.on('close', (code: number) => resolve(code)))
  return { ws, frames, closed }
}

const LOG = { app: 'web', instance: 'web#0', stream: 'out', line: 'hello' } as const

describe('GET /api/v1/events', () => {
  it('sends a bus event as one JSON frame { type, at, data }', async () => {
    const { app, events } = await setup({ eventStream: { now: () => 0 } })
    const { frames } = await connect(app)
    events.emit('config:applied', { summary: '1 app added' })
    await vi.waitFor(() => expect(frames).toHaveLength(1))
    expect(frames[0]).toEqual({
      type: 'config:applied',
      at: '1970-01-01T00:00:00.000Z',
      data: { summary: '1 app added' },
    })
  })

  it('streams everything but request:completed by default; ?types= picks', async () => {
    const { app, events } = await setup()
    const all = await connect(app)
    const picked = await connect(app, '?types=request:completed,target:up')
    events.emit('request:completed', completedEvent())
    events.emit('target:up', { upstream: 'web', target: 'web#0' })
    events.emit('route:changed', { vHost: 'a.test', change: 'added' })
    await vi.waitFor(() => expect(all.frames).toHaveLength(2))
    await vi.waitFor(() => expect(picked.frames).toHaveLength(2))
    expect(all.frames.map((f) => f.type)).toEqual(['target:up', 'route:changed'])
    expect(picked.frames.map((f) => f.type)).toEqual(['request:completed', 'target:up'])
    expect(events.hasListeners('request:completed')).toBe(true)
  })

  it('refuses an unknown event name with 400 before the upgrade', async () => {
    const { app } = await setup()
    await expect(connect(app, '?types=config:applied,nope')).rejects.toThrow(/400/)
    await expect(connect(app, '?types=')).rejects.toThrow(/400/)
  })

  it('?app= keeps that app and events without an app', async () => {
    const { app, events } = await setup()
    const { frames } = await connect(app, '?app=web')
    events.emit('instance:log', { ...LOG, app: 'api', line: 'not mine' })
    events.emit('instance:log', LOG)
    events.emit('config:applied', { summary: 'x' })
    await vi.waitFor(() => expect(frames).toHaveLength(2))
    expect(frames.map((f) => f.type)).toEqual(['instance:log', 'config:applied'])
    expect(frames[0]?.data).toEqual(LOG)
  })

  it('drops a client that does not read (1013) instead of buffering without bound', async () => {
    const { app, events } = await setup({ eventStream: { maxBufferedBytes: 64 * 1024 } })
    const { ws, closed } = await connect(app)
    ws.pause()
    const line = 'x'.repeat(16 * 1024)
    for (let i = 0; i < 200 && events.hasListeners('instance:log'); i++) {
      events.emit('instance:log', { ...LOG, line })
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(events.hasListeners('instance:log')).toBe(false)
    ws.resume()
    expect(await closed).toBe(1013)
  })

  it('closes clients past maxClients with 1013', async () => {
    const { app, events } = await setup({ eventStream: { maxClients: 1 } })
    const first = await connect(app)
    const second = await connect(app)
    expect(await second.closed).toBe(1013)
    events.emit('config:applied', { summary: 'x' })
    // The client within the limit keeps streaming.
    await vi.waitFor(() => expect(first.frames).toHaveLength(1))
    const third = await connect(app)
    expect(await third.closed).toBe(1013)
  })
})

describe('GET /api/v1/events over a real socket', () => {
  /** listen starts the API on 127.0.0.1:0; afterEach closes it. */
  async function listen(options: { token?: string; eventStream?: EventStreamOptions } = {}) {
    const { app, events } = await setup(options)
    await app.listen({ host: '127.0.0.1', port: 0 })
    return { events, url: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}` }
  }

  /** open resolves with the socket once open, or with the refusing HTTP status. */
  function open(url: string, options: WebSocket.ClientOptions = {}) {
    const ws = new WebSocket(`${url}/api/v1/events`, options)
    closers.push(() => ws.terminate())
    return new Promise<WebSocket | number>((resolve, reject) => {
      ws.on('open', () => resolve(ws))
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      ws.on('error', reject)
    })
  }

  it('runs the Origin and token guards on the upgrade', async () => {
    const { url, events } = await listen({ token: 'tok' })
    expect(
      await open(url, { origin: 'http://evil.example', headers: { authorization: 'Bearer tok' } }),
    ).toBe(403)
    expect(await open(url)).toBe(401)
    expect(await open(url, { headers: { host: 'evil.example' } })).toBe(403)
    const ws = await open(url, { headers: { authorization: 'Bearer tok' } })
    if (typeof ws === 'number') throw new Error(`refused with ${ws}`)
    const frame = new Promise<string>((resolve) =>
      ws.once('message', (d: Buffer) => resolve(d.toString())),
    )
    events.emit('route:changed', { vHost: 'a.test', change: 'removed' })
    expect(JSON.parse(await frame)).toMatchObject({
      type: 'route:changed',
      data: { vHost: 'a.test' },
    })
  })

  it('unsubscribes from the bus when the client closes', async () => {
    const { url, events } = await listen()
    const ws = await open(url)
    if (typeof ws === 'number') throw new Error(`refused with ${ws}`)
    expect(events.hasListeners('config:applied')).toBe(true)
    const closed = new Promise((resolve) => ws.once('close', resolve))
    ws.close()
    await closed
    await vi.waitFor(() => expect(events.hasListeners('config:applied')).toBe(false))
  })

  it('terminates a client that stops answering pings', async () => {
    const { url, events } = await listen({ eventStream: { pingIntervalMs: 50 } })
    const ws = await open(url, { autoPong: false })
    if (typeof ws === 'number') throw new Error(`refused with ${ws}`)
    const code = await new Promise<number>((resolve) => ws.once('close', resolve))
    expect(code).toBe(1006)
    await vi.waitFor(() => expect(events.hasListeners('config:applied')).toBe(false))
  })
})
