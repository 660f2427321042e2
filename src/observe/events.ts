/** @module Typed internal event bus: the data plane emits, the tracker, logs and API stream subscribe. */
import { EventEmitter } from 'node:events'
import type { TargetState } from '../registry/target.ts'
import type { LiveSample } from './sampler.ts'

/** One finished proxied request (emitted once per request, after the response ended or failed). */
export interface RequestCompleted {
  requestId: string
  /** The route's vHost (the configured name, `*.x` for wildcard routes). */
  route: string
  /** The app serving the route, if any. */
  app: string | undefined
  /** Target id that produced the response (the last one tried), if any. */
  target: string | undefined
  method: string
  path: string
  /** Status sent to the client; 499 when the client went away first. */
  status: number
  durationMs: number
  /** Time spent waiting in the route queue, in milliseconds. */
  queueMs: number
  retries: number
  bytesIn: number
  bytesOut: number
  /** Set when Portico cut the client off for being too slow (it is also counted in metrics). */
  cutOff?: 'slow-upload' | 'slow-read'
}

/** Event names and payloads. Names are `part:past-tense`; emit on transitions only. */
export interface EventMap {
  'request:completed': RequestCompleted
  'instance:state-changed': {
    app: string
    instance: string
    from: TargetState | undefined
    to: TargetState
    pid: number | null
  }
  'instance:log': { app: string; instance: string; stream: 'out' | 'err'; line: string }
  'target:down': { upstream: string; target: string; reason: string }
  'target:up': { upstream: string; target: string }
  'config:applied': { summary: string }
  'route:changed': { vHost: string; change: 'added' | 'removed' | 'changed' }
  /** A certificate was obtained with ACME and installed (`renewal`: it replaced one). */
  'cert:issued': {
    domain: string
    source: 'acme'
    serialNumber: string
    validTo: string
    renewal: boolean
  }
  /** An ACME order failed; the name keeps its certificate (if any) until `nextAttemptAt`. */
  'cert:failed': { domain: string; error: string; failures: number; nextAttemptAt: string }
  // ── operator surfaces (dashboard, history) ──
  /** Every few seconds: traffic since the last sample, route targets, instance CPU and memory. */
  'stats:sampled': LiveSample
  /** An app operation finished (start, stop, restart, reload, scale, remove), or failed. */
  'app:changed': { app: string; action: string; ok: boolean; detail: string | null }
  /** A changed config file could not be applied; the running config stays. */
  'config:failed': { error: string; code: string | null }
}

export type EventName = keyof EventMap

/**
 * EventBus is a typed wrapper over EventEmitter. Listeners run synchronously in `emit`, so they
 * must be cheap (the request path emits `request:completed`); a listener that throws is logged by
 * the caller's process handlers, never by the emitter. `hasListeners` lets the hot path skip
 * building a payload nobody reads.
 */
export class EventBus {
  #emitter = new EventEmitter()

  constructor() {
    // Subscribers are a handful of parts plus one per API event-stream client (bounded there).
    this.#emitter.setMaxListeners(0)
  }

  on<K extends EventName>(name: K, listener: (payload: EventMap[K]) => void): () => void {
    this.#emitter.on(name, listener)
    return () => this.#emitter.off(name, listener)
  }

  emit<K extends EventName>(name: K, payload: EventMap[K]): void {
    this.#emitter.emit(name, payload)
  }

  hasListeners(name: EventName): boolean {
    return this.#emitter.listenerCount(name) > 0
  }
}
