/** @module A scripted HTTP backend on 127.0.0.1:0 for integration tests (real sockets, no mocks). */
import { once } from 'node:events'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { gzipSync } from 'node:zlib'

/** A running test backend. The caller must `close()` it (afterAll). */
export interface Backend {
  id: string
  port: number
  /** Requests this backend has received, by path (without query). */
  hits: Map<string, number>
  /** Total requests received. */
  total: () => number
  close: () => Promise<void>
}

/**
 * startBackend serves:
 * - `/echo` → JSON { id, method, url, headers (raw pairs), bodyBytes }, header X-Instance-Id;
 *   it also answers with `Connection: X-Bar` and `X-Bar: 1` to test response hop-by-hop stripping;
 * - `/sleep?ms=N` → 200 after N ms (and counts clients that went away at `aborted`);
 * - `/gzip` → a gzip-encoded body with `Content-Encoding: gzip`;
 * - `/chunked` → three chunks;
 * - `/crash` → destroys the socket before any response byte;
 * - `/mid-body` → sends headers and 7 of 100 declared body bytes, then destroys the socket;
 * - `/big?mb=N` → N MiB of body (default 1), written with backpressure;
 * - anything else → 200 "<id>".
 */
export async function startBackend(id: string): Promise<Backend> {
  const hits = new Map<string, number>()
  let total = 0
  const server = http.createServer((req, res) => {
    total++
    const url = new URL(req.url ?? '/', 'http://x')
    hits.set(url.pathname, (hits.get(url.pathname) ?? 0) + 1)
    let bodyBytes = 0
    req.on('data', (chunk: Buffer) => {
      bodyBytes += chunk.length
    })
    req.on('end', () => respond(url, req, res, id, bodyBytes))
  })
  server.keepAliveTimeout = 5_000
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    id,
    port: (server.address() as AddressInfo).port,
    hits,
    total: () => total,
    close: async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

function respond(
  url: URL,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  id: string,
  bodyBytes: number,
): void {
  res.setHeader('X-Instance-Id', id)
  switch (url.pathname) {
    case '/echo':
      res.writeHead(200, { 'Content-Type': 'application/json', Connection: 'X-Bar', 'X-Bar': '1' })
      res.end(
        JSON.stringify({
          id,
          method: req.method,
          url: req.url,
          headers: req.rawHeaders,
          bodyBytes,
        }),
      )
      return
    case '/sleep': {
      const timer = setTimeout(() => res.end('slept'), Number(url.searchParams.get('ms') ?? 1000))
      res.on('close', () => clearTimeout(timer))
      return
    }
    case '/gzip':
      res.writeHead(200, { 'Content-Encoding': 'gzip', 'Content-Type': 'text/plain' })
      res.end(gzipSync(Buffer.from(`compressed by ${id}`)))
      return
    case '/chunked':
      res.write('one,')
      setTimeout(() => res.write('two,'), 10)
      setTimeout(() => res.end('three'), 20)
      return
    case '/crash':
      req.socket.destroy()
      return
    case '/big': {
      const chunk = Buffer.alloc(64 * 1024, 'x')
      let left = Math.round(Number(url.searchParams.get('mb') ?? 1) * 16)
      res.writeHead(200, { 'Content-Length': left * chunk.length })
      const pump = () => {
        while (left > 0) {
          left--
          if (!res.write(chunk)) return void res.once('drain', pump)
        }
        res.end()
      }
      pump()
      return
    }
    case '/mid-body':
      // Headers and part of a declared 100-byte body, then the connection dies.
      res.writeHead(200, { 'Content-Length': 100 })
      res.write('partial')
      setTimeout(() => req.socket.destroy(), 20)
      return
    default:
      res.end(id)
  }
}
