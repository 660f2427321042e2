/** @module One attempt to forward one request to one Target; reports how it failed, if it did. */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Agent, type Dispatcher } from 'undici'
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../config/defaults.ts'
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
  agent: Dispatcher
  /** Whether the client request has a body to stream. */
  hasBody: boolean
  upstreamTimeoutMs: number
}

/** Options of the upstream client. */
export interface UpstreamAgentOptions {
  /** How long a connect to a target may take before the attempt fails as `dial`. */
  connectTimeoutMs?: number
}

/**
 * createUpstreamAgent returns the shared upstream client: undici's Agent, one keep-alive pool per
 * target origin (dropped once its last connection closes). docs/performance.md has the
 * measurement that chose it over `http.request`: the same pipe serves ~40 % more requests per
 * core, since undici writes each request head in one call and parses with llhttp directly.
 */
export function createUpstreamAgent(options: UpstreamAgentOptions = {}): Dispatcher {
  return new Agent({
    // Idle upstream sockets close after 4 s, under Node's 5 s server keep-alive, which avoids
    // the reuse race (nodejs/node#52649); a shorter `Keep-Alive: timeout` hint is honoured too.
    keepAliveTimeout: 4_000,
    keepAliveMaxTimeout: 4_000,
    connect: { timeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS },
  })
}

const HEADERS_TIMEOUT = 'UND_ERR_HEADERS_TIMEOUT'

/**
 * Relay is the undici handler of one attempt: it writes the upstream's response to the client as
 * it arrives (pausing the upstream while the client cannot keep up) and settles the attempt once
 * the client's response closes. One object per attempt instead of a closure per event.
 */
class Relay implements Dispatcher.DispatchHandler {
  #attempt: Attempt
  #resolve: (result: AttemptResult) => void
  #controller: Dispatcher.DispatchController | undefined
  /** The request reached a connected socket (its body, if any, may have been sent). */
  #connected = false
  #clientGone = false
  #settled = false
  #status = 0
  #bytes = 0
  /** No Content-Length upstream: count body bytes as they pass. */
  #countBytes = false
  /** The upstream failed after its response began. */
  #broken = false
  #onClose = () => this.#clientClosed()
  #onDrain = () => this.#controller?.resume()

  constructor(attempt: Attempt, resolve: (result: AttemptResult) => void) {
    this.#attempt = attempt
    this.#resolve = resolve
    // ServerResponse 'close' means the exchange is over: finished, or the client went away.
    attempt.res.once('close', this.#onClose)
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller
    this.#connected = true
    if (this.#clientGone) controller.abort(new Error('client closed'))
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number): void {
    // Informational responses (103 Early Hints) are not relayed; the final one follows.
    if (statusCode < 200) return
    const { res } = this.#attempt
    // undici's core hands over the raw header list as Buffers (name, value, …).
    const raw = controller.rawHeaders as readonly Buffer[]
    const headers: string[] = new Array(raw.length)
    for (let i = 0; i < raw.length; i++) headers[i] = (raw[i] as Buffer).toString('latin1')
    try {
      res.writeHead(statusCode, buildResponseHeaders(headers))
    } catch (error) {
      // An upstream header value Node refuses to re-send (e.g. an invalid character): treat the
      // response as malformed rather than crash the edge.
      controller.abort(error as Error)
      this.#settle({ kind: 'failed', failure: 'sent', error: error as Error })
      return
    }
    this.#status = statusCode
    // With a Content-Length the byte count is known; only a chunked body is counted as it flows.
    const length = rawHeaderValue(headers, 'content-length')
    if (length !== undefined) this.#bytes = Number(length) || 0
    else this.#countBytes = true
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#countBytes) this.#bytes += chunk.length
    if (!this.#attempt.res.write(chunk)) {
      controller.pause()
      this.#attempt.res.once('drain', this.#onDrain)
    }
  }

  onResponseEnd(): void {
    this.#attempt.res.end()
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.#settled || this.#clientGone) return
    const { res } = this.#attempt
    if (res.headersSent) {
      // The upstream failed after its response began: cut the client off (never a complete
      // looking response) and report the upstream's failure (502, counted by passive health).
      this.#broken = true
      res.destroy()
      return
    }
    const failure: Failure = !this.#connected
      ? 'dial'
      : (error as { code?: string }).code === HEADERS_TIMEOUT
        ? 'timeout'
        : this.#attempt.hasBody
          ? 'sent'
          : 'reset'
    this.#settle({ kind: 'failed', failure, error })
  }

  #clientClosed(): void {
    const { res } = this.#attempt
    if (this.#broken) {
      this.#settle({
        kind: 'failed',
        failure: 'sent',
        error: new Error('upstream closed mid-response'),
      })
      return
    }
    if (this.#status !== 0 && res.writableFinished) {
      this.#settle({ kind: 'responded', status: this.#status, bytes: this.#bytes })
      return
    }
    // The client went away first: stop the upstream exchange (or stop it once it connects).
    this.#clientGone = true
    this.#controller?.abort(new Error('client closed'))
    this.#settle({ kind: 'aborted' })
  }

  #settle(result: AttemptResult): void {
    if (this.#settled) return
    this.#settled = true
    this.#attempt.res.off('close', this.#onClose)
    this.#resolve(result)
  }
}

/**
 * forward sends the request to `attempt.target` and streams the response back. It resolves once
 * the exchange is over; it never rejects. On a failure before response headers nothing has been
 * written to the client, so the caller may retry or answer with an error page.
 */
export function forward(attempt: Attempt): Promise<AttemptResult> {
  // The client may have gone while the previous attempt failed: its 'close' has fired already.
  if (attempt.res.destroyed) return Promise.resolve({ kind: 'aborted' })
  return new Promise((resolve) => {
    const { req, target } = attempt
    attempt.agent.dispatch(
      {
        origin: target.origin,
        method: req.method ?? 'GET',
        path: attempt.path,
        headers: attempt.headers,
        // The body flows only once the request is on a connected socket, so a refused connect
        // leaves it unread and the attempt can move to another target.
        body: attempt.hasBody ? req : null,
        headersTimeout: attempt.upstreamTimeoutMs,
        bodyTimeout: attempt.upstreamTimeoutMs,
      },
      new Relay(attempt, resolve),
    )
  })
}
