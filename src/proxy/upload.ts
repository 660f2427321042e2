/**
 * @module Request bodies: small ones are read before a request takes a route slot, and the rest
 * must keep a minimum upload rate while they hold one.
 */
import type { IncomingMessage } from 'node:http'
import {
  BODY_PREREAD_BUDGET_BYTES,
  BODY_PREREAD_MAX_BYTES,
  MIN_UPLOAD_BYTES_PER_S,
  UPLOAD_GRACE_MS,
} from '../config/defaults.ts'
import type { Exchange } from './exchange.ts'

/**
 * BodyBudget is the memory one edge process lends to bodies read before admission. A request
 * that finds no room streams its body instead (still bounded by the upload rate and the
 * per-client share of slots).
 */
export class BodyBudget {
  #free: number

  constructor(bytes = BODY_PREREAD_BUDGET_BYTES) {
    this.#free = bytes
  }

  /** free is how many bytes are left to lend. */
  get free(): number {
    return this.#free
  }

  /** take reserves `bytes`; returns false (reserving nothing) when there is not enough left. */
  take(bytes: number): boolean {
    if (bytes > this.#free) return false
    this.#free -= bytes
    return true
  }

  /** give returns bytes reserved with `take`. */
  give(bytes: number): void {
    this.#free += bytes
  }
}

/**
 * The body of a request as the request loop forwards it:
 * - `none`: no body;
 * - `buffered`: read completely before admission (`reserved` bytes of the budget held);
 * - `stream`: streamed from the client (too large, no budget, or chunked past the limit, in
 *   which case the bytes already read were put back at the front of the request stream);
 * - `gone`: the client went away while it was being read.
 */
export type RequestBody =
  | { kind: 'none' }
  | { kind: 'buffered'; body: Buffer; reserved: number }
  | { kind: 'stream' }
  | { kind: 'gone' }

const NONE: RequestBody = { kind: 'none' }
const STREAM: RequestBody = { kind: 'stream' }
const GONE: RequestBody = { kind: 'gone' }

/** declaredLength returns the body length a request announces: a number, 'chunked', or 0. */
export function declaredLength(req: IncomingMessage): number | 'chunked' {
  if (req.headers['transfer-encoding'] !== undefined) return 'chunked'
  const length = req.headers['content-length']
  return length === undefined ? 0 : Number(length) || 0
}

/**
 * readBody reads a small body completely before the request is admitted: a Content-Length up to
 * `maxBytes`, or a chunked body that ends within `maxBytes`. Larger bodies, and any body when
 * the budget is spent, are left to stream. It resolves `gone` if the exchange ends meanwhile
 * (the client left, or Node closed it at its request timeout). The caller gives `reserved` back
 * to the budget once the exchange is over.
 */
export function readBody(
  exchange: Exchange,
  budget: BodyBudget,
  maxBytes = BODY_PREREAD_MAX_BYTES,
): RequestBody | Promise<RequestBody> {
  const length = declaredLength(exchange.req)
  if (length === 0) return NONE
  if (length !== 'chunked' && length > maxBytes) return STREAM
  const reserved = length === 'chunked' ? maxBytes : length
  if (!budget.take(reserved)) return STREAM
  return new Promise((resolve) => {
    const { req } = exchange
    const chunks: Buffer[] = []
    let bytes = 0
    const finish = (result: RequestBody) => {
      req.off('data', onData)
      req.off('end', onEnd)
      exchange.watch(undefined)
      if (result.kind !== 'buffered') budget.give(reserved)
      resolve(result)
    }
    const onData = (chunk: Buffer) => {
      chunks.push(chunk)
      bytes += chunk.length
      if (bytes <= maxBytes) return
      // A chunked body past the limit: hand back what was read and let the rest stream.
      req.pause()
      finish(STREAM)
      req.unshift(Buffer.concat(chunks, bytes))
    }
    const onEnd = () => finish({ kind: 'buffered', body: Buffer.concat(chunks, bytes), reserved })
    exchange.watch(() => finish(GONE))
    req.on('data', onData)
    req.once('end', onEnd)
  })
}

/** Options of UploadWatch; `now` is injected for tests. */
export interface UploadWatchOptions {
  minBytesPerS?: number
  graceMs?: number
  /** How often uploads are checked, in milliseconds. */
  intervalMs?: number
  now?: () => number
}

interface Upload {
  exchange: Exchange
  startedAt: number
  /** Bytes the meter read when the upload started being watched. */
  base: number
  meter: () => number
}

/**
 * UploadWatch cuts off uploads that hold a route slot while sending slower than the minimum
 * rate: an upload watched since `t` must have sent `minBytesPerS` for every second past
 * `graceMs` (each such amount buys a second, as Apache's mod_reqtimeout does). One timer per edge
 * process checks every watched upload once a second; it runs only while there are some.
 * `onCutOff` hears each cut-off (for metrics).
 */
export class UploadWatch {
  #uploads = new Set<Upload>()
  #timer: NodeJS.Timeout | undefined
  #minBytesPerS: number
  #graceMs: number
  #intervalMs: number
  #now: () => number
  #onCutOff: ((exchange: Exchange) => void) | undefined

  constructor(options: UploadWatchOptions = {}, onCutOff?: (exchange: Exchange) => void) {
    this.#minBytesPerS = options.minBytesPerS ?? MIN_UPLOAD_BYTES_PER_S
    this.#graceMs = options.graceMs ?? UPLOAD_GRACE_MS
    this.#intervalMs = options.intervalMs ?? 1_000
    this.#now = options.now ?? Date.now
    this.#onCutOff = onCutOff
  }

  /** size is how many uploads are watched now. */
  get size(): number {
    return this.#uploads.size
  }

  /**
   * watch starts checking an upload whose progress `meter` reports (a growing byte count); the
   * returned function stops it (call it when the body has arrived or the exchange is over).
   */
  watch(exchange: Exchange, meter: () => number): () => void {
    const upload: Upload = { exchange, startedAt: this.#now(), base: meter(), meter }
    this.#uploads.add(upload)
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.check(), this.#intervalMs)
      this.#timer.unref()
    }
    return () => this.#forget(upload)
  }

  /** check cuts off every upload behind the minimum rate (exposed for tests). */
  check(): void {
    const now = this.#now()
    for (const upload of this.#uploads) {
      const sent = upload.meter() - upload.base
      const allowedMs = this.#graceMs + (sent / this.#minBytesPerS) * 1000
      if (now - upload.startedAt <= allowedMs) continue
      this.#forget(upload)
      upload.exchange.cutOff('slow-upload')
      this.#onCutOff?.(upload.exchange)
    }
  }

  /** close stops the timer and forgets every upload. */
  close(): void {
    this.#uploads.clear()
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  #forget(upload: Upload): void {
    this.#uploads.delete(upload)
    if (this.#uploads.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer)
      this.#timer = undefined
    }
  }
}
