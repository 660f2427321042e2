/** @module One attempt to forward one request to one Target; reports how it failed, if it did. */
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Target } from '../registry/target.ts'
import { buildResponseHeaders, rawHeaderValue } from './headers.ts'

/**
 * How an attempt failed, which decides whether a retry is safe (Caddy's DialError idea in types):
 * - `dial`: no connection was made (refused, connect timeout): nothing was sent, retry anywhere;
 * - `reset`: connected, the upstream closed before any response byte; the body (if any) may have
 *   been sent, so only a body-less idempotent request may be retried;
 * - `sent`: the request body had started to flow when it failed: never replayed;
 * - `timeout`: no response headers within the upstream timeout: answered 504, never retried.
 */
export type Failure = 'dial' | 'reset' | 'sent' | 'timeout'

/** The outcome of one attempt. `responded` means the upstream's response reached the client. */
export type AttemptResult =
  | { kind: 'responded'; status: number; bytes: number }
  | { kind: 'failed'; failure: Failure; error: Error }
  /** The client went away; nothing more to do. */
  | { kind: 'aborted' }

/** Everything one attempt needs (an options object instead of a long parameter list). */
export interface Attempt {
  req: IncomingMessage
  res: ServerResponse
  target: Target
  /** Flat raw header list for the upstream request. */
  headers: string[]
  /** Path and query to request upstream. */
  path: string
  agent: http.Agent
  /** Whether the client request has a body to stream. */
  hasBody: boolean
  connectTimeoutMs: number
  upstreamTimeoutMs: number
}

/** createUpstreamAgent returns the shared keep-alive agent for upstream connections. */
export function createUpstreamAgent(): http.Agent {
  // A 4 s idle timeout stays under Node's 5 s server keep-alive, avoiding the reuse race
  // (nodejs/node#52649); the agent also honours a shorter `Keep-Alive: timeout` from the upstream.
  return new http.Agent({ keepAlive: true, maxFreeSockets: 64, timeout: 4_000, scheduling: 'lifo' })
}

/**
 * forward sends the request to `attempt.target` and streams the response back. It resolves once
 * the exchange is over; it never rejects. On a failure before response headers nothing has been
 * written to the client, so the caller may retry or answer with an error page.
 */
export function forward(attempt: Attempt): Promise<AttemptResult> {
  return new Promise((resolve) => {
    const { req, res, target } = attempt
    let connected = false
    let bodyStarted = false
    let timedOut = false
    let settled = false
    let connectTimer: NodeJS.Timeout | undefined
    const settle = (result: AttemptResult) => {
      if (settled) return
      settled = true
      if (connectTimer) clearTimeout(connectTimer)
      res.off('close', onResponseClose)
      resolve(result)
    }
    const proxyReq = http.request({
      host: target.host,
      port: target.port,
      method: req.method,
      path: attempt.path,
      headers: attempt.headers,
      agent: attempt.agent,
      setHost: false,
    })
    const startBody = () => {
      connected = true
      if (attempt.hasBody) {
        bodyStarted = true
        req.pipe(proxyReq)
      }
    }
    proxyReq.on('socket', (socket: Socket) => {
      if (!socket.connecting) return startBody()
      connectTimer = setTimeout(
        () => proxyReq.destroy(new Error('upstream connect timeout')),
        attempt.connectTimeoutMs,
      )
      socket.once('connect', () => {
        clearTimeout(connectTimer)
        startBody()
      })
    })
    if (!attempt.hasBody) proxyReq.end()
    proxyReq.setTimeout(attempt.upstreamTimeoutMs, () => {
      timedOut = true
      proxyReq.destroy(new Error('upstream response timeout'))
    })
    let upstreamRes: IncomingMessage | undefined
    const relayed = { bytes: 0, broken: false }
    // ServerResponse 'close' means the exchange is over: finished, or the client went away.
    // (IncomingMessage 'close' fires once the request body is read, so it cannot tell.)
    const onResponseClose = () => {
      if (upstreamRes === undefined) {
        proxyReq.destroy()
        return settle({ kind: 'aborted' })
      }
      if (!upstreamRes.complete) upstreamRes.destroy()
      if (relayed.broken) {
        return settle({
          kind: 'failed',
          failure: 'sent',
          error: new Error('upstream closed mid-response'),
        })
      }
      const status = upstreamRes.statusCode ?? 502
      settle(
        res.writableFinished
          ? { kind: 'responded', status, bytes: relayed.bytes }
          : { kind: 'aborted' },
      )
    }
    res.once('close', onResponseClose)
    proxyReq.on('error', (error) => {
      if (settled) return
      if (res.headersSent) {
        // The upstream failed after its response began: cut the client off (never a complete
        // looking response) and report the upstream's failure.
        relayed.broken = true
        res.destroy()
        return settle({ kind: 'failed', failure: 'sent', error })
      }
      const failure: Failure = timedOut
        ? 'timeout'
        : !connected
          ? 'dial'
          : bodyStarted
            ? 'sent'
            : 'reset'
      settle({ kind: 'failed', failure, error })
    })
    proxyReq.on('response', (proxyRes) => {
      if (connectTimer) clearTimeout(connectTimer)
      upstreamRes = proxyRes
      relay(proxyRes, res, settle, relayed)
    })
  })
}

function relay(
  proxyRes: IncomingMessage,
  res: ServerResponse,
  settle: (r: AttemptResult) => void,
  relayed: { bytes: number; broken: boolean },
): void {
  const status = proxyRes.statusCode ?? 502
  try {
    res.writeHead(status, proxyRes.statusMessage, buildResponseHeaders(proxyRes.rawHeaders))
  } catch (error) {
    // An upstream header value Node refuses to re-send (e.g. an invalid character): treat the
    // response as malformed rather than crash the edge.
    proxyRes.destroy()
    settle({ kind: 'failed', failure: 'sent', error: error as Error })
    return
  }
  // With a Content-Length the byte count is known (Node enforces it); only a chunked body needs
  // a counting listener, so most exchanges add none.
  const length = rawHeaderValue(proxyRes.rawHeaders, 'content-length')
  if (length !== undefined) relayed.bytes = Number(length) || 0
  else {
    proxyRes.on('data', (chunk: Buffer) => {
      relayed.bytes += chunk.length
    })
  }
  proxyRes.pipe(res)
  // An upstream that dies mid-body must not look complete to the client: destroy, never end.
  const broke = () => {
    // Remembered so the attempt reports an upstream failure (502, counted by passive health),
    // not a client that went away.
    relayed.broken = true
    res.destroy()
  }
  proxyRes.on('error', broke)
  proxyRes.on('aborted', broke)
}
