// @ts-check
/** @module api: the admin API over fetch (same origin, session cookie) and the event stream over WebSocket. */

const BASE = '/api/v1'

/** An API error: the `{ error: { code, message } }` body, or a network failure. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message)
    this.status = status
    this.code = code
  }
}

/** @type {Set<() => void>} */
const unauthorizedListeners = new Set()

/**
 * onUnauthorized registers a callback for any 401 (the session ended).
 * @param {() => void} listener
 */
export function onUnauthorized(listener) {
  unauthorizedListeners.add(listener)
}

/**
 * request calls the API and returns the parsed JSON; an error answer throws ApiError.
 * @param {string} path under /api/v1
 * @param {{ method?: string, body?: unknown }} [options]
 * @returns {Promise<any>}
 */
export async function request(path, options = {}) {
  const method = options.method ?? 'GET'
  /** @type {RequestInit} */
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } }
  if (options.body !== undefined) {
    init.headers = { Accept: 'application/json', 'Content-Type': 'application/json' }
    init.body = JSON.stringify(options.body)
  }
  let res
  try {
    res = await fetch(BASE + path, init)
  } catch (error) {
    throw new ApiError(0, 'NETWORK', `Portico did not answer (${String(error)})`)
  }
  const body = await res.json().catch(() => undefined)
  if (res.ok) return body
  if (res.status === 401) for (const listener of unauthorizedListeners) listener()
  const err = body?.error
  throw new ApiError(res.status, err?.code ?? `HTTP_${res.status}`, err?.message ?? res.statusText)
}

/**
 * @typedef {{ type: string, at: string, data: any }} EventFrame
 * @typedef {'connecting' | 'live' | 'retrying'} StreamState
 */

/**
 * EventStream keeps a WebSocket to /api/v1/events open, reconnecting with a growing delay
 * (1 s up to 10 s). The browser sends the session cookie and its Origin with the handshake.
 */
export class EventStream {
  /**
   * @param {{ types: string[], app?: string, onEvent: (frame: EventFrame) => void, onState?: (state: StreamState) => void }} options
   */
  constructor(options) {
    this.options = options
    /** @type {WebSocket | undefined} */
    this.socket = undefined
    this.delayMs = 1000
    this.closed = false
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined
    this.connect()
  }

  connect() {
    const { types, app } = this.options
    const query = new URLSearchParams({ types: types.join(',') })
    if (app !== undefined) query.set('app', app)
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
    const socket = new WebSocket(`${scheme}://${location.host}${BASE}/events?${query}`)
    this.socket = socket
    this.options.onState?.('connecting')
    socket.addEventListener('open', () => {
      this.delayMs = 1000
      this.options.onState?.('live')
    })
    socket.addEventListener('message', (message) => {
      try {
        this.options.onEvent(JSON.parse(String(message.data)))
      } catch (error) {
        console.warn('event not handled', error)
      }
    })
    socket.addEventListener('close', () => {
      if (this.closed) return
      this.options.onState?.('retrying')
      this.timer = setTimeout(() => this.connect(), this.delayMs)
      this.delayMs = Math.min(this.delayMs * 2, 10_000)
    })
  }

  close() {
    this.closed = true
    clearTimeout(this.timer)
    this.socket?.close()
  }
}
