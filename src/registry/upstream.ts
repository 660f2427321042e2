/** @module Upstream: the ordered set of Targets behind one app or one route's static backends. */
import { Target, type TargetInit, type TargetState } from './target.ts'

/** Called on every state transition of a target (an edge: `from !== to`). */
export type TransitionListener = (
  upstream: Upstream,
  target: Target,
  from: TargetState,
  to: TargetState,
) => void

/** Called after any change that may make a waiting request servable (or hopeless). */
export type AvailabilityListener = (upstream: Upstream) => void

/** A target as a whole-set replacement describes it (a worker's mirror of the primary's). */
export interface TargetView {
  id: string
  host: string
  port: number
  weight: number
  state: TargetState
  markedDead: boolean
}

/**
 * Upstream is a named set of targets. It is the meeting point of the process side and the proxy:
 * the supervisor adds, moves and removes targets; the proxy picks among `available()`.
 * Listeners run synchronously after every state change so route queues can drain at once.
 */
export class Upstream {
  readonly name: string
  #targets = new Map<string, Target>()
  #available: Target[] = []
  #listeners = new Set<AvailabilityListener>()

  #onTransition: TransitionListener | undefined
  #onAnyChange: AvailabilityListener | undefined

  constructor(name: string, onTransition?: TransitionListener, onAnyChange?: AvailabilityListener) {
    this.name = name
    this.#onTransition = onTransition
    this.#onAnyChange = onAnyChange
  }

  /** targets returns every target in insertion order (a fresh array; not for the hot path). */
  targets(): Target[] {
    return [...this.#targets.values()]
  }

  get(id: string): Target | undefined {
    return this.#targets.get(id)
  }

  /**
   * available returns the targets in rotation. The array is cached and rebuilt only when a state
   * changes, so the request path does no allocation here. Callers must not mutate it.
   */
  available(): readonly Target[] {
    return this.#available
  }

  /** hasStarting reports whether some target may become available soon. */
  hasStarting(): boolean {
    for (const t of this.#targets.values()) if (t.isStarting()) return true
    return false
  }

  /** add creates a target (or returns the existing one with that id, updated to `init.state`). */
  add(init: TargetInit): Target {
    const existing = this.#targets.get(init.id)
    if (existing) {
      if (init.state) this.setState(existing.id, init.state)
      return existing
    }
    const target = new Target(init)
    this.#targets.set(target.id, target)
    this.#changed()
    return target
  }

  /** setState moves one target; returns true on a change (and then notifies listeners). */
  setState(id: string, state: TargetState): boolean {
    const target = this.#targets.get(id)
    if (!target) return false
    const from = target.state
    if (!target.setState(state)) return false
    this.#onTransition?.(this, target, from, state)
    this.#changed()
    return true
  }

  /** setMarkedDead sets or clears the operator's dead mark; returns false for an unknown id. */
  setMarkedDead(id: string, dead: boolean): boolean {
    const target = this.#targets.get(id)
    if (!target) return false
    if (target.setMarkedDead(dead)) this.#changed()
    return true
  }

  /**
   * move points target `id` at `port` (on `host`, default its own) in `state`, in one change: a
   * waiting request never sees the moment without it. A target's address is fixed, so the object
   * is replaced: requests in flight finish on the old one, and the new one starts with no
   * in-flight count, failures or latency history. It is added if it was not there.
   */
  move(id: string, port: number, state: TargetState, host?: string): Target {
    const old = this.#targets.get(id)
    const target = new Target({
      id,
      host: host ?? old?.host ?? '127.0.0.1',
      port,
      state,
      weight: old?.weight ?? 1,
    })
    this.#targets.set(id, target)
    this.#changed()
    return target
  }

  /**
   * rename gives target `from` the id `to` and moves it to `state`, in one change (a reload's
   * replacement taking over the slot of the instance it replaced). The object is kept, so its
   * in-flight count still covers the requests it is serving. A target already registered as
   * `to` is dropped: it belongs to the replaced instance, which must be out of rotation by then.
   */
  rename(from: string, to: string, state: TargetState): Target | undefined {
    const target = this.#targets.get(from)
    if (!target) return undefined
    this.#targets.delete(from)
    this.#targets.delete(to)
    target.renameTo(to)
    this.#targets.set(to, target)
    const before = target.state
    if (target.setState(state)) this.#onTransition?.(this, target, before, state)
    this.#changed()
    return target
  }

  /** remove drops a target from the set; in-flight requests to it finish on their own sockets. */
  remove(id: string): boolean {
    if (!this.#targets.delete(id)) return false
    this.#changed()
    return true
  }

  /**
   * replace makes the target set exactly `views` in one change: a target whose id and address are
   * unchanged keeps its object (and its in-flight count, failures and latency), others are new.
   * Listeners run once, so a waiting request never sees the half-updated set an add-then-remove
   * sequence would show (nothing available for a moment: a spurious 503).
   */
  replace(views: readonly TargetView[]): void {
    const next = new Map<string, Target>()
    for (const view of views) {
      const old = this.#targets.get(view.id)
      const target =
        old !== undefined && old.host === view.host && old.port === view.port
          ? old
          : new Target({ id: view.id, host: view.host, port: view.port })
      target.setState(view.state)
      target.setWeight(view.weight)
      target.setMarkedDead(view.markedDead)
      next.set(view.id, target)
    }
    this.#targets = next
    this.#changed()
  }

  /** listenerCount is how many change listeners are registered (routes reading this upstream). */
  get listenerCount(): number {
    return this.#listeners.size
  }

  /** onChange registers a listener; the returned function unregisters it. */
  onChange(listener: AvailabilityListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  #changed(): void {
    this.#available = [...this.#targets.values()].filter((t) => t.isAvailable())
    for (const listener of this.#listeners) listener(this)
    this.#onAnyChange?.(this)
  }
}
