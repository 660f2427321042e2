/**
 * @module EdgeWorkers: the edge on every core. The primary forks node:cluster workers that each
 * run the listeners and the request path (cluster hands connections round-robin), and keeps
 * everything that must be decided once: the registry's live state (pushed to the workers on
 * every change), passive ejection, certificates, stats, and the in-flight counts that drains
 * wait for.
 */
import cluster, { type Worker } from 'node:cluster'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { EventBus } from '../../observe/events.ts'
import type { Logger } from '../../observe/log.ts'
import type { PassiveHealth } from '../../registry/health/passive.ts'
import type { Registry } from '../../registry/registry.ts'
import type { Target } from '../../registry/target.ts'
import type { Upstream } from '../../registry/upstream.ts'
import type { AcmeResponder } from '../acme-responder.ts'
import type { RouteSpec } from '../route.ts'
import type { KeyPair } from '../tls/dev-ca.ts'
import type {
  AcmeAnswer,
  AcmeQuestion,
  FromWorker,
  InFlightReport,
  StateUpdate,
  ToWorker,
  UpstreamView,
  WorkerInit,
} from './protocol.ts'

/** A worker that dies is forked again after this long, doubling per quick death up to the max. */
const REFORK_DELAY_MS = 500
const MAX_REFORK_DELAY_MS = 30_000
/** A worker that lived this long resets the back-off. */
const STABLE_AFTER_MS = 30_000
/** How long a worker may take to start listening. */
const START_TIMEOUT_MS = 30_000
/** How long an API change waits for the workers to have it before answering anyway. */
const SYNC_TIMEOUT_MS = 2_000
/** Past its drain, a worker gets this long to flush and exit before SIGKILL. */
const EXIT_GRACE_MS = 5_000

/** The certificate store as the workers' SNI needs it. */
export interface WorkerCerts {
  pairFor: (servername: string) => Promise<KeyPair | undefined>
  defaultKeyPair: () => Promise<KeyPair>
  onChange: (listener: () => void) => () => void
}

/** Everything EdgeWorkers needs from the primary. */
export interface EdgeWorkersOptions {
  count: number
  /** The listener settings sent to each worker (type, workers and defaultCert are added). */
  init: Omit<WorkerInit, 'type' | 'workers' | 'defaultCert'>
  registry: Registry
  /** Subscribes to registry changes (the Registry's `onChange` hook). */
  onRegistryChange: (listener: (upstream: Upstream) => void) => void
  /** The route specs of the live table and their change signal (a new route table). */
  routes: () => readonly RouteSpec[]
  onRoutesChange: (listener: () => void) => void
  passive: PassiveHealth
  events: EventBus
  certs: WorkerCerts
  /** The pending ACME challenges the workers ask about (issue 16); absent when ACME is off. */
  acme?: AcmeResponder | undefined
  log: Logger
}

/** What the primary knows of one worker. */
interface WorkerSlot {
  worker: Worker
  forkedAt: number
  /** Highest state version the worker has applied. */
  applied: number
  /** The worker's last reported in-flight count per target. */
  inFlight: Map<Target, number>
  listening: boolean
}

/** The path of the worker entry beside this module (`.ts` from source, `.js` when built). */
function entryPath(): { exec: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url)
  const ext = path.extname(here)
  // From source, the worker needs tsx's loader as the primary has it (bin/portico.js registers
  // it in-process, so it is not in process.execArgv).
  return {
    exec: path.join(path.dirname(here), `entry${ext}`),
    execArgv: ext === '.ts' ? [...process.execArgv, '--import', 'tsx'] : [...process.execArgv],
  }
}

function viewOf(upstream: Upstream): UpstreamView {
  return {
    name: upstream.name,
    targets: upstream.targets().map((t) => ({
      id: t.id,
      host: t.host,
      port: t.port,
      weight: t.weight,
      state: t.state,
      markedDead: t.markedDead,
    })),
  }
}

/**
 * EdgeWorkers runs the edge in `count` worker processes. Use `start()`; `close(drainMs)` drains
 * and stops them. While it runs, the primary's `Target.inFlight` is the sum of the workers'
 * reports, plus one per worker that has not yet seen a target leave rotation, so a drain
 * (waitUntilDrained) never ends before every worker has stopped sending it requests.
 */
export class EdgeWorkers {
  #o: EdgeWorkersOptions
  #slots = new Set<WorkerSlot>()
  #version = 0
  #dirty = new Set<Upstream>()
  #routesDirty = true
  #pushScheduled = false
  /** Targets pushed as out of rotation, with the version that first said so. */
  #leftAt = new Map<Target, number>()
  #wasAvailable = new WeakMap<Target, boolean>()
  #closing = false
  #syncWaiters = new Set<() => void>()
  #reforkDelay = REFORK_DELAY_MS
  #ports: { https: number; http: number } | undefined
  #defaultCert: KeyPair | undefined

  private constructor(options: EdgeWorkersOptions) {
    this.#o = options
  }

  /** start forks the workers and resolves with the ports once every one listens. */
  static async start(options: EdgeWorkersOptions): Promise<EdgeWorkers> {
    const workers = new EdgeWorkers(options)
    try {
      await workers.#start()
    } catch (error) {
      await workers.close(0)
      throw error
    }
    return workers
  }

  get ports(): { https: number; http: number } {
    if (this.#ports === undefined) throw new Error('edge workers not started')
    return this.#ports
  }

  async #start(): Promise<void> {
    const { certs } = this.#o
    this.#defaultCert = await certs.defaultKeyPair()
    this.#o.onRegistryChange((upstream) => {
      this.#dirty.add(upstream)
      // At once, not at the push: a drain checks the count right after taking a target out.
      this.#markLeft(upstream, this.#version + 1)
      this.#schedulePush()
    })
    this.#o.onRoutesChange(() => {
      this.#routesDirty = true
      this.#schedulePush()
    })
    certs.onChange(() => this.#broadcast({ type: 'certs' }))
    // A worker that does not listen in time is killed by its fork's watchdog, which rejects.
    const listening = await Promise.all(Array.from({ length: this.#o.count }, () => this.#fork()))
    this.#ports = listening[0]
  }

  /** close stops accepting in every worker, lets them drain for `drainMs`, and waits for exits. */
  async close(drainMs: number): Promise<void> {
    this.#closing = true
    await Promise.all(
      [...this.#slots].map(async (slot) => {
        const { worker } = slot
        if (worker.isDead()) return
        const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
        const kill = setTimeout(() => worker.process.kill('SIGKILL'), drainMs + EXIT_GRACE_MS)
        this.#sendTo(slot, { type: 'close', drainMs })
        await exited
        clearTimeout(kill)
      }),
    )
    this.#slots.clear()
  }

  #fork(): Promise<{ https: number; http: number }> {
    cluster.setupPrimary({ ...entryPath(), silent: false })
    const worker = cluster.fork()
    const slot: WorkerSlot = {
      worker,
      forkedAt: Date.now(),
      applied: 0,
      inFlight: new Map(),
      listening: false,
    }
    this.#slots.add(slot)
    // A failed IPC write is an 'error' event; unhandled it would take the primary down.
    worker.on('error', (err) => this.#o.log.warn({ err }, 'edge worker IPC error'))
    // A worker that never listens (stuck at start) is killed; its exit forks another.
    const watchdog = setTimeout(() => {
      if (!slot.listening) worker.process.kill('SIGKILL')
    }, START_TIMEOUT_MS)
    watchdog.unref()
    const listening = new Promise<{ https: number; http: number }>((resolve, reject) => {
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'ready') {
          this.#sendTo(slot, {
            type: 'init',
            ...this.#o.init,
            workers: this.#o.count,
            defaultCert: this.#defaultCert as KeyPair,
          })
          this.#sendTo(slot, this.#update(true))
        } else if (message.type === 'listening') {
          slot.listening = true
          clearTimeout(watchdog)
          resolve({ https: message.https, http: message.http })
        } else this.#receive(slot, message)
      })
      worker.once('exit', (code, signal) => {
        clearTimeout(watchdog)
        reject(new Error(`edge worker exited before listening (${signal ?? code})`))
        this.#exited(slot, code, signal)
      })
    })
    return listening
  }

  #exited(slot: WorkerSlot, code: number | null, signal: string | null): void {
    this.#slots.delete(slot)
    for (const check of this.#syncWaiters) check()
    // Its requests are gone with it: its counts no longer hold any drain back.
    this.#recount([...slot.inFlight.keys(), ...this.#leftAt.keys()])
    if (this.#closing) return
    const pid = slot.worker.process.pid
    this.#o.log.error({ pid, code, signal }, 'edge worker exited; starting another')
    if (Date.now() - slot.forkedAt > STABLE_AFTER_MS) this.#reforkDelay = REFORK_DELAY_MS
    const delay = this.#reforkDelay
    this.#reforkDelay = Math.min(this.#reforkDelay * 2, MAX_REFORK_DELAY_MS)
    setTimeout(() => {
      if (!this.#closing) this.#fork().catch(() => undefined)
    }, delay).unref()
  }

  #receive(slot: WorkerSlot, message: FromWorker): void {
    switch (message.type) {
      case 'applied':
        slot.applied = Math.max(slot.applied, message.version)
        this.#load(slot, message.inFlight)
        for (const check of this.#syncWaiters) check()
        return
      case 'load':
        this.#load(slot, message.inFlight)
        return
      case 'passive':
        this.#passive(message.upstream, message.target, message.port, message.ok)
        return
      case 'completed':
        for (const record of message.records) this.#o.events.emit('request:completed', record)
        if (message.dropped > 0)
          this.#o.log.warn(
            { dropped: message.dropped },
            'edge worker dropped request records: stats undercount',
          )
        return
      case 'sni':
        void this.#sni(message.servername).then((answer) =>
          this.#sendTo(slot, { type: 'sni', id: message.id, ...answer }),
        )
        return
      case 'acme-question':
        void this.#acmeAnswer(message).then((answer) => this.#sendTo(slot, answer))
        return
      default:
        return
    }
  }

  #target(upstream: string, id: string, port: number): [Upstream, Target] | undefined {
    const owner = this.#o.registry.get(upstream)
    const target = owner?.get(id)
    return owner && target && target.port === port ? [owner, target] : undefined
  }

  #passive(upstream: string, id: string, port: number, ok: boolean): void {
    const found = this.#target(upstream, id, port)
    if (!found) return
    if (ok) this.#o.passive.countSuccess(found[0], found[1])
    else this.#o.passive.countFailure(found[0], found[1])
  }

  /** The pair for an SNI name; null means "serve your default" (no certificate for it). */
  async #sni(servername: string): Promise<{ pair: KeyPair | null; failed: boolean }> {
    try {
      return { pair: (await this.#o.certs.pairFor(servername)) ?? null, failed: false }
    } catch (err) {
      this.#o.log.warn(
        { err, servername },
        'TLS: no certificate for this name, serving the default',
      )
      return { pair: null, failed: true }
    }
  }

  /** The answer to a worker's ACME challenge question; null fields mean "no such challenge". */
  async #acmeAnswer(question: AcmeQuestion): Promise<AcmeAnswer> {
    const answer: AcmeAnswer = {
      type: 'acme-answer',
      id: question.id,
      keyAuthorization: null,
      pair: null,
    }
    const acme = this.#o.acme
    if (acme === undefined) return answer
    try {
      if (question.kind === 'http-01')
        answer.keyAuthorization = (await acme.keyAuthorization(question.key)) ?? null
      else answer.pair = (await acme.challengeCertificate(question.key)) ?? null
    } catch (err) {
      this.#o.log.warn({ err, kind: question.kind }, 'ACME challenge lookup failed')
    }
    return answer
  }

  #load(slot: WorkerSlot, report: InFlightReport): void {
    const touched = [...slot.inFlight.keys()]
    slot.inFlight.clear()
    for (const [upstream, id, port, count] of report) {
      const found = this.#target(upstream, id, port)
      if (!found) continue
      // Two objects of one worker can share id and port (a target removed and added again).
      slot.inFlight.set(found[1], (slot.inFlight.get(found[1]) ?? 0) + count)
      touched.push(found[1])
    }
    this.#recount([...touched, ...this.#leftAt.keys()])
  }

  /** recount sets each target's in-flight count from the workers' reports (see the class doc). */
  #recount(targets: Iterable<Target>): void {
    for (const target of new Set(targets)) {
      let count = 0
      const left = this.#leftAt.get(target)
      let behind = false
      for (const slot of this.#slots) {
        count += slot.inFlight.get(target) ?? 0
        if (left !== undefined && slot.applied < left) {
          count++
          behind = true
        }
      }
      if (left !== undefined && !behind) this.#leftAt.delete(target)
      target.countRequest(count - target.inFlight)
    }
  }

  /**
   * synced resolves once every listening worker has applied the state as it is now (changes
   * still waiting for their push are sent first), or after `timeoutMs` if one does not answer.
   */
  synced(timeoutMs = SYNC_TIMEOUT_MS): Promise<void> {
    if (this.#pushScheduled) this.#push()
    const version = this.#version
    const done = () => [...this.#slots].every((s) => !s.listening || s.applied >= version)
    if (done()) return Promise.resolve()
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer)
        this.#syncWaiters.delete(check)
        resolve()
      }
      const check = () => {
        if (done()) finish()
      }
      const timer = setTimeout(finish, timeoutMs)
      this.#syncWaiters.add(check)
    })
  }

  #schedulePush(): void {
    if (this.#pushScheduled) return
    this.#pushScheduled = true
    // One message per tick: a target move is several registry changes in a row.
    queueMicrotask(() => this.#push())
  }

  #push(): void {
    if (!this.#pushScheduled) return
    this.#pushScheduled = false
    if (this.#slots.size === 0) return
    this.#broadcast(this.#update(false))
  }

  /** update builds the next state message: everything for a new worker, else what changed. */
  #update(full: boolean): StateUpdate {
    const { registry } = this.#o
    const withRoutes = full || this.#routesDirty
    const upstreams: Upstream[] = []
    if (withRoutes) {
      for (const name of registry.names()) {
        const upstream = registry.get(name)
        if (upstream) upstreams.push(upstream)
      }
    } else upstreams.push(...this.#dirty)
    // A new worker's full state carries the current version: the others have it already.
    if (!full) {
      this.#dirty.clear()
      this.#routesDirty = false
      this.#version++
      for (const upstream of upstreams) this.#markLeft(upstream, this.#version)
    }
    return {
      type: 'state',
      version: this.#version,
      ...(withRoutes ? { routes: this.#o.routes() } : {}),
      upstreams: upstreams.map(viewOf),
    }
  }

  /**
   * markLeft notes the targets of `upstream` that just left rotation: until every worker has
   * applied `version` (the state that tells it), each worker still counts as one request in
   * flight on them.
   */
  #markLeft(upstream: Upstream, version: number): void {
    const left: Target[] = []
    for (const target of upstream.targets()) {
      const available = target.isAvailable()
      if (this.#wasAvailable.get(target) !== false && !available) {
        this.#leftAt.set(target, version)
        left.push(target)
      }
      this.#wasAvailable.set(target, available)
    }
    if (left.length > 0) this.#recount(left)
  }

  #broadcast(message: ToWorker): void {
    for (const slot of this.#slots) this.#sendTo(slot, message)
    if (message.type === 'state') this.#recount(this.#leftAt.keys())
  }

  #sendTo(slot: WorkerSlot, message: ToWorker): void {
    if (slot.worker.isConnected()) slot.worker.send(message)
  }
}
