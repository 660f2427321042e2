/**
 * @module Exchange: one client request from its arrival to its end, which is settled exactly once
 * whichever way it comes (the response finished, the request or its connection closed, an abort).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Target } from '../registry/target.ts'
import type { Route } from './route.ts'

/**
 * How an exchange ended: `finished` once the response was completely handed to the client's
 * connection, `gone` when the client went away (or was cut off) before that.
 */
export type ExchangeEnd = 'finished' | 'gone'

/** Why Portico cut a client off: it sent its body too slowly, or did not read the response. */
export type CutOff = 'slow-upload' | 'slow-read'

/** Told once when the exchange ends; set with `Exchange.watch`. */
export type EndListener = (end: ExchangeEnd) => void

/**
 * Exchange is the client side of one request. It is the one place that decides when a request is
 * over, so everything a request holds (an admission slot, a queue entry, a target's in-flight
 * count, an upstream attempt) is given back exactly once, whatever the client does:
 * - the response's `close` after it finished: `finished`;
 * - the response's `close` before it finished (the connection died under it): `gone`;
 * - the request's `close` before the response finished, when it was destroyed with an error or
 *   its connection is gone: `gone`. This is the only signal for a pipelined request queued
 *   behind another one when the connection dies: Node destroys its request (ECONNRESET) but never
 *   emits `close` on its response, which never had the socket (issue 12). A request destroyed
 *   without an error on a live connection is not the client leaving: undici destroys the body
 *   stream it has finished sending.
 * `watch` sets the one listener told about the end (the admission wait, then each attempt in
 * turn); `signal` is the same end as an AbortSignal, made only when something asks for it.
 */
export class Exchange {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly requestId: string
  readonly startedAt: number
  /** The route, once the request has been routed. */
  route: Route | undefined = undefined
  /** Time spent waiting for admission, in milliseconds. */
  queueMs = 0
  retries = 0
  /** The target of the current (or last) attempt. */
  target: Target | undefined = undefined
  /** Response body bytes relayed to the client. */
  bytesOut = 0
  /** Set when Portico ended the exchange because the client was too slow. */
  cutOffReason: CutOff | undefined = undefined
  #end: ExchangeEnd | undefined
  #listener: EndListener | undefined
  #abort: AbortController | undefined

  constructor(req: IncomingMessage, res: ServerResponse, requestId: string, now = Date.now()) {
    this.req = req
    this.res = res
    this.requestId = requestId
    this.startedAt = now
    req.once('close', () => {
      if (!res.writableFinished && (req.errored != null || req.socket?.destroyed === true))
        this.#settle('gone')
    })
    res.once('close', () => this.#settle(res.writableFinished ? 'finished' : 'gone'))
  }

  /** ended is how the exchange ended, or undefined while it is still going on. */
  get ended(): ExchangeEnd | undefined {
    return this.#end
  }

  /** gone reports whether the client went away before its response finished. */
  get gone(): boolean {
    return this.#end === 'gone'
  }

  /**
   * watch makes `listener` the one told when the exchange ends, replacing any earlier one
   * (undefined clears it). If the exchange has ended already, the listener is called at once.
   */
  watch(listener: EndListener | undefined): void {
    if (this.#end !== undefined) {
      this.#listener = undefined
      listener?.(this.#end)
      return
    }
    this.#listener = listener
  }

  /** signal aborts when the exchange ends (made on first use: only a queued request needs one). */
  get signal(): AbortSignal {
    if (this.#abort === undefined) {
      this.#abort = new AbortController()
      if (this.#end !== undefined) this.#abort.abort()
    }
    return this.#abort.signal
  }

  /**
   * cutOff ends the exchange from Portico's side because the client is too slow: its connection
   * is closed (for a slow upload nothing useful can be answered on it any more) and the exchange
   * ends `gone`, which gives back everything the request holds.
   */
  cutOff(reason: CutOff): void {
    if (this.#end !== undefined) return
    this.cutOffReason = reason
    this.res.destroy()
    this.#settle('gone')
  }

  #settle(end: ExchangeEnd): void {
    if (this.#end !== undefined) return
    this.#end = end
    const listener = this.#listener
    this.#listener = undefined
    this.#abort?.abort()
    listener?.(end)
  }
}
