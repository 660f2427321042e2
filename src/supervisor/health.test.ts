import http from 'node:http'
import net from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { probeOnce, waitUntilReady } from './health.ts'

const servers: net.Server[] = []

function track<T extends net.Server>(server: T): T {
  servers.push(server)
  return server
}

function listen(server: net.Server, port = 0): Promise<number> {
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port))
  })
}

/** A port nothing listens on (bound, then closed). */
async function deadPort(): Promise<number> {
  const server = net.createServer()
  const port = await listen(server)
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** An HTTP server answering `statuses` in turn, then the last one forever. */
async function scripted(statuses: number[]): Promise<{ port: number; hits: () => number }> {
  let hits = 0
  const server = track(
    http.createServer((_req, res) => {
      res.writeHead(statuses[Math.min(hits++, statuses.length - 1)] ?? 500)
      res.end()
    }),
  )
  return { port: await listen(server), hits: () => hits }
}

const fast = { intervalMs: 20, attemptTimeoutMs: 500 }

afterEach(async () => {
  for (const server of servers.splice(0)) {
    if (server instanceof http.Server) server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
})

describe('waitUntilReady', () => {
  it('is ready once a TCP connect succeeds', async () => {
    const port = await listen(track(net.createServer((s) => s.end())))
    const result = await waitUntilReady({
      host: '127.0.0.1',
      port,
      timeoutMs: 2000,
      signal: new AbortController().signal,
      ...fast,
    })
    expect(result).toBe('ready')
  })

  it('keeps polling until the instance starts listening', async () => {
    const port = await deadPort()
    let accepted = 0
    const server = track(
      net.createServer((s) => {
        accepted++
        s.end()
      }),
    )
    const started = setTimeout(() => void listen(server, port), 150)
    const result = await waitUntilReady({
      host: '127.0.0.1',
      port,
      timeoutMs: 5000,
      signal: new AbortController().signal,
      ...fast,
    })
    clearTimeout(started)
    expect(result).toBe('ready')
    // Ready only because the late listener answered a probe, not at the first try.
    await vi.waitFor(() => expect(accepted).toBeGreaterThanOrEqual(1))
  })

  it('times out when nothing listens', async () => {
    const port = await deadPort()
    const t0 = Date.now()
    const result = await waitUntilReady({
      host: '127.0.0.1',
      port,
      timeoutMs: 300,
      signal: new AbortController().signal,
      ...fast,
    })
    expect(result).toBe('timeout')
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290)
    expect(Date.now() - t0).toBeLessThan(3000)
  })

  it('with a health path, waits for a 2xx or 3xx answer', async () => {
    const { port, hits } = await scripted([503, 500, 302])
    const result = await waitUntilReady({
      host: '127.0.0.1',
      port,
      path: '/health',
      timeoutMs: 3000,
      signal: new AbortController().signal,
      ...fast,
    })
    expect(result).toBe('ready')
    expect(hits()).toBe(3)
  })

  it('with a health path, a listener that keeps answering 500 is not ready', async () => {
    const { port } = await scripted([500])
    const result = await waitUntilReady({
      host: '127.0.0.1',
      port,
      path: '/health',
      timeoutMs: 300,
      signal: new AbortController().signal,
      ...fast,
    })
    expect(result).toBe('timeout')
  })

  it('stops at once when aborted (an exit must end the probe)', async () => {
    const port = await deadPort()
    const controller = new AbortController()
    const aborted = setTimeout(() => controller.abort(), 100)
    const t0 = Date.now()
    const result = await waitUntilReady({
      host: '127.0.0.1',
      port,
      timeoutMs: 10_000,
      signal: controller.signal,
      ...fast,
    })
    clearTimeout(aborted)
    expect(result).toBe('aborted')
    expect(Date.now() - t0).toBeLessThan(2000)
  })
})

describe('probeOnce', () => {
  it('gives up an attempt on a listener that never answers after timeoutMs', async () => {
    // Accepts the connection but never answers the GET.
    const held: net.Socket[] = []
    const port = await listen(track(net.createServer((socket) => held.push(socket))))
    const t0 = Date.now()
    expect(await probeOnce({ host: '127.0.0.1', port, path: '/' }, 200)).toBe(false)
    // It connected and waited for an answer that never came (not a refusal).
    expect(held).toHaveLength(1)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190)
    expect(Date.now() - t0).toBeLessThan(2000)
    for (const socket of held) socket.destroy()
  })
})
