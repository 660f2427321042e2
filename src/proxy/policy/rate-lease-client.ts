/**
 * @module RateLeaseChannel: an edge worker's side of the rate-limit leases — a local reserve of
 * tokens per key, refilled from the primary in batches (see rate-lease.ts for the why).
 */
import { LruMap } from '../../lib/lru-map.ts'
import {
  LEASE_IDLE_MS,
  LEASE_TIMEOUT_MS,
  type LeaseGrant,
  type LeaseRequest,
  type LeaseReturn,
  type LimiterSpec,
  leaseBatch,
} from './rate-lease.ts'
import {
  localTokenSource,
  type SyncTokenSource,
  TAKEN,
  type TakeResult,
  type TokenSource,
} from './rate-limit.ts'

/** Requests of one key that may wait for a lease at once; more are answered 429 at once. */
export const MAX_WAITERS_PER_KEY = 64
/** After a lease timed out, a key is served from the worker's own share for this long, in ms. */
export const DEGRADED_MS = 1_000
const MAX_SOURCES = 1_024

type Waiter = (result: TakeResult) => void

/** One key's lease state in one worker. */
interface KeyState {
  key: string
  reserve: number
  /** The id of the lease asked for and not yet answered, or -1. */
  pendingId: number
  cancelTimeout: (() => void) | undefined
  waiters: Waiter[]
  /** The primary said the bucket is empty until then: refuse without asking again. */
  deniedUntil: number
  /** The primary did not answer: use the local share until then. */
  degradedUntil: number
  usedAt: number
}

/** What a RateLeaseChannel needs from the worker. */
export interface RateLeaseChannelOptions {
  /** Sends a message to the primary (IPC). */
  send: (message: LeaseRequest | LeaseReturn) => void
  /** How many workers share the limits (sizes batches and the fallback share). */
  workers: number
  now?: () => number
  /** Runs `fn` after `ms`; returns a cancel function. Default: an unref'd setTimeout. */
  schedule?: (ms: number, fn: () => void) => () => void
  /** Told when a lease went unanswered and a key fell back to the worker's share. */
  onDegraded?: (limiter: string) => void
}

function defaultSchedule(ms: number, fn: () => void): () => void {
  const timer = setTimeout(fn, ms)
  timer.unref()
  return () => clearTimeout(timer)
}

/**
 * RateLeaseChannel is one per worker. `source(spec)` gives the TokenSource of a route's rate
 * limit; `receive(grant)` takes the primary's answers (route them here from the IPC handler);
 * `sweep()` gives idle reserves back and must be called periodically (the worker's 100 ms
 * report timer). If the primary does not answer within LEASE_TIMEOUT_MS, the key is served
 * from a local bucket of 1/workers of the limit for DEGRADED_MS: never more than the limit.
 */
export class RateLeaseChannel {
  #o: RateLeaseChannelOptions
  #now: () => number
  #schedule: (ms: number, fn: () => void) => () => void
  #nextId = 0
  #pending = new Map<number, (grant: LeaseGrant) => void>()
  #sources = new LruMap<LeasedSource>(MAX_SOURCES)

  constructor(options: RateLeaseChannelOptions) {
    this.#o = options
    this.#now = options.now ?? Date.now
    this.#schedule = options.schedule ?? defaultSchedule
  }

  /** source returns the TokenSource for `spec` (the same one for the same limiter id). */
  source(spec: LimiterSpec): TokenSource {
    let source = this.#sources.get(spec.id)
    if (source === undefined) {
      source = new LeasedSource(spec, this.#o.workers, this)
      this.#sources.set(spec.id, source)
    }
    return source
  }

  /** receive hands a grant from the primary to the lease that asked for it. */
  receive(grant: LeaseGrant): void {
    const settle = this.#pending.get(grant.id)
    this.#pending.delete(grant.id)
    settle?.(grant)
  }

  /** sweep gives back the reserves of keys idle for LEASE_IDLE_MS (one message per limiter). */
  sweep(): void {
    const now = this.#now()
    for (const [, source] of this.#sources.entries()) {
      const tokens = source.idleReserves(now)
      if (tokens.length > 0) this.#o.send({ type: 'rate:return', limiter: source.spec, tokens })
    }
  }

  /** ask sends a lease request; `settle` gets the grant, `expire` runs if none comes in time. */
  ask(spec: LimiterSpec, key: string, want: number, settle: (grant: LeaseGrant) => void) {
    const id = this.#nextId++
    this.#pending.set(id, settle)
    this.#o.send({ type: 'rate:lease', id, limiter: spec, key, want })
    return id
  }

  /** expire forgets lease `id` (a late grant is then dropped: only ever fewer admissions). */
  expire(id: number, limiter: string): void {
    this.#pending.delete(id)
    this.#o.onDegraded?.(limiter)
  }

  get now(): () => number {
    return this.#now
  }

  get schedule(): (ms: number, fn: () => void) => () => void {
    return this.#schedule
  }
}

/** One limiter's reserves in one worker. */
class LeasedSource implements TokenSource {
  readonly spec: LimiterSpec
  #channel: RateLeaseChannel
  #batch: number
  #lowWater: number
  #keys: LruMap<KeyState>
  #evicted: [string, number][] = []
  #fallback: SyncTokenSource
  #msPerToken: number

  constructor(spec: LimiterSpec, workers: number, channel: RateLeaseChannel) {
    this.spec = spec
    this.#channel = channel
    this.#batch = leaseBatch(spec, workers)
    this.#lowWater = Math.ceil(this.#batch / 2)
    this.#msPerToken = Math.ceil(1 / spec.ratePerMs)
    this.#keys = new LruMap<KeyState>(Math.max(1, spec.maxKeys), (key, state) => {
      if (state.reserve > 0) this.#evicted.push([key, state.reserve])
    })
    const share = Math.max(1, workers)
    this.#fallback = localTokenSource(
      {
        ratePerMs: spec.ratePerMs / share,
        capacity: Math.max(1, Math.floor(spec.capacity / share)),
      },
      Math.max(1, spec.maxKeys),
    )
  }

  take(key: string, now: number): TakeResult | Promise<TakeResult> {
    const state = this.#state(key)
    state.usedAt = now
    if (now < state.degradedUntil) return this.#fallback.take(key, now)
    if (state.reserve >= 1) {
      state.reserve--
      if (state.reserve < this.#lowWater && state.pendingId < 0) this.#ask(state, this.#batch)
      return TAKEN
    }
    if (state.pendingId < 0) {
      if (now < state.deniedUntil) return { ok: false, retryAfterMs: state.deniedUntil - now }
      this.#ask(state, this.#batch)
    }
    if (state.waiters.length >= MAX_WAITERS_PER_KEY) {
      return { ok: false, retryAfterMs: this.#msPerToken }
    }
    return new Promise<TakeResult>((resolve) => state.waiters.push(resolve))
  }

  /** idleReserves removes keys unused for LEASE_IDLE_MS and returns their unused tokens. */
  idleReserves(now: number): [string, number][] {
    const tokens = this.#evicted
    this.#evicted = []
    const idle: string[] = []
    for (const [key, state] of this.#keys.entries()) {
      const quiet = state.pendingId < 0 && state.waiters.length === 0
      if (quiet && now - state.usedAt >= LEASE_IDLE_MS) idle.push(key)
    }
    for (const key of idle) {
      const state = this.#keys.peek(key)
      this.#keys.delete(key)
      if (state !== undefined && state.reserve > 0) tokens.push([key, state.reserve])
    }
    return tokens
  }

  #state(key: string): KeyState {
    let state = this.#keys.get(key)
    if (state === undefined) {
      state = {
        key,
        reserve: 0,
        pendingId: -1,
        cancelTimeout: undefined,
        waiters: [],
        deniedUntil: 0,
        degradedUntil: 0,
        usedAt: 0,
      }
      this.#keys.set(key, state)
    }
    return state
  }

  #ask(state: KeyState, want: number): void {
    const id = this.#channel.ask(this.spec, state.key, want, (grant) =>
      this.#granted(state, want, grant),
    )
    state.pendingId = id
    state.cancelTimeout = this.#channel.schedule(LEASE_TIMEOUT_MS, () => this.#timedOut(state, id))
  }

  #granted(state: KeyState, want: number, grant: LeaseGrant): void {
    if (state.pendingId !== grant.id) return
    state.pendingId = -1
    state.cancelTimeout?.()
    state.reserve += grant.granted
    const { waiters } = state
    while (waiters.length > 0 && state.reserve >= 1) {
      state.reserve--
      ;(waiters.shift() as Waiter)(TAKEN)
    }
    const now = this.#channel.now()
    if (waiters.length === 0) {
      if (grant.granted === 0) state.deniedUntil = now + grant.retryAfterMs
      return
    }
    // A full grant means the bucket may hold more: ask again for everyone still waiting.
    if (grant.granted >= want) {
      this.#ask(state, waiters.length + this.#batch)
      return
    }
    state.deniedUntil = now + grant.retryAfterMs
    const refused: TakeResult = { ok: false, retryAfterMs: Math.max(1, grant.retryAfterMs) }
    for (const waiter of waiters.splice(0)) waiter(refused)
  }

  #timedOut(state: KeyState, id: number): void {
    if (state.pendingId !== id) return
    state.pendingId = -1
    this.#channel.expire(id, this.spec.id)
    const now = this.#channel.now()
    state.degradedUntil = now + DEGRADED_MS
    for (const waiter of state.waiters.splice(0)) waiter(this.#fallback.take(state.key, now))
  }
}
