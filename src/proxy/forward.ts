/** @module One attempt to forward one request to one Target; reports how it failed, if it did. */
import type { Readable } from 'node:stream'
import { Agent, type Dispatcher } from 'undici'
import { CLIENT_SEND_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS } from '../config/defaults.ts'
import type { Target } from '../registry/target.ts'
import type { Exchange, ExchangeEnd } from './exchange.ts'
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
  /** The client went away (or was cut off for not reading); nothing more to do. */
  | { kind: 'aborted' }

/** Everything one attempt needs (an options object instead of a long parameter list). */
export interface Attempt {
  exchange: Exchange
  target: Target
  /** Flat raw header list for the upstream request. */
  headers: string[]
  /** Path and query to request upstream. */
  path: string
  agent: Dispatcher
  /** The request body to send: null for none (see `requestBody` in upload.ts). */
  body: Buffer | Readable | null
  upstreamTimeoutMs: number
  /** How long the client may leave a response unread before it is cut off, in milliseconds. */
  sendTimeoutMs?: number
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
 * the exchange ends (Exchange decides that, whichever way the client goes). A client that leaves
 * the response unread for `sendTimeoutMs` is cut off (nginx `send_timeout`), so a slow reader
 * cannot hold the attempt, its slot and the upstream connection for ever. One object per attempt
 * instead of a closure per event.
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
  /** Armed while the client is not taking the response (backpressure, or the end not flushed). */
  #stall: NodeJS.Timeout | undefined
  #onDrain = () => {
    this.#disarm()
    this.#controller?.resume()
  }

  constructor(attempt: Attempt, resolve: (result: AttemptResult) => void) {
    this.#attempt = attempt
    this.#resolve = resolve
    attempt.exchange.watch((end) => this.#exchangeEnded(end))
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller
    this.#connected = true
    if (this.#clientGone) controller.abort(new Error('client closed'))
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number): void {
    // Informational responses (103 Early Hints) are not relayed; the final one follows.
    if (statusCode < 200) return
    const { res } = this.#attempt.exchange
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
    const { res } = this.#attempt.exchange
    if (!res.write(chunk)) {
      controller.pause()
      res.once('drain', this.#onDrain)
      this.#arm()
    }
  }

  onResponseEnd(): void {
    const { res } = this.#attempt.exchange
    res.end()
    // The last bytes may still wait for the client to read them.
    if (!res.writableFinished) this.#arm()
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.#settled || this.#clientGone) return
    const { res } = this.#attempt.exchange
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
        : this.#attempt.body !== null
          ? 'sent'
          : 'reset'
    this.#settle({ kind: 'failed', failure, error })
  }

  #exchangeEnded(end: ExchangeEnd): void {
    if (this.#broken) {
      this.#settle({
        kind: 'failed',
        failure: 'sent',
        error: new Error('upstream closed mid-response'),
      })
      return
    }
    if (this.#status !== 0 && end === 'finished') {
      this.#settle({ kind: 'responded', status: this.#status, bytes: this.#bytes })
      return
    }
    // The client went away first: stop the upstream exchange (or stop it once it connects).
    this.#clientGone = true
    this.#controller?.abort(new Error('client closed'))
    this.#settle({ kind: 'aborted' })
  }

  #arm(): void {
    if (this.#stall !== undefined) return
    const exchange = this.#attempt.exchange
    this.#stall = setTimeout(
      () => exchange.cutOff('slow-read'),
      this.#attempt.sendTimeoutMs ?? CLIENT_SEND_TIMEOUT_MS,
    )
  }

  #disarm(): void {
    if (this.#stall === undefined) return
    clearTimeout(this.#stall)
    this.#stall = undefined
  }

  #settle(result: AttemptResult): void {
    if (this.#settled) return
    this.#settled = true
    this.#disarm()
    this.#attempt.exchange.watch(undefined)
    this.#resolve(result)
  }
}

/**
 * forward sends the request to `attempt.target` and streams the response back. It resolves once
 * the exchange is over; it never rejects. On a failure before response headers nothing has been
 * written to the client, so the caller may retry or answer with an error page.
 */
export function forward(attempt: Attempt): Promise<AttemptResult> {
  // The client may have gone while the previous attempt failed.
  if (attempt.exchange.ended !== undefined) return Promise.resolve({ kind: 'aborted' })
  return new Promise((resolve) => {
    const { exchange, target } = attempt
    attempt.agent.dispatch(
      {
        origin: target.origin,
        method: exchange.req.method ?? 'GET',
        path: attempt.path,
        headers: attempt.headers,
        // A streamed body flows only once the request is on a connected socket, so a refused
        // connect leaves it unread and the attempt can move to another target.
        body: attempt.body,
        headersTimeout: attempt.upstreamTimeoutMs,
        bodyTimeout: attempt.upstreamTimeoutMs,
      },
      new Relay(attempt, resolve),
    )
  })
}
