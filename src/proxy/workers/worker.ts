/**
 * @module EdgeWorker: the listeners and the request path in a node:cluster worker. It serves over
 * a mirror of the primary's registry and route table, relays what only the primary may decide
 * (passive ejection, certificates) and reports what the primary needs (finished requests for
 * stats, in-flight counts for drains).
 */
import tls, { type SecureContext } from 'node:tls'
import { ACME_HANDSHAKE_WAIT_MS } from '../../config/defaults.ts'
import { EventBus, type RequestCompleted } from '../../observe/events.ts'
import type { Logger } from '../../observe/log.ts'
import type { PassiveCounter } from '../../registry/health/passive.ts'
import { Registry } from '../../registry/registry.ts'
import type { Target } from '../../registry/target.ts'
import type { Upstream } from '../../registry/upstream.ts'
import { createEdge } from '../edge.ts'
import type { Route } from '../route.ts'
import { RouteTable } from '../router.ts'
import { buildRoutes } from '../routes.ts'
import type { EdgeServer } from '../server.ts'
import type { KeyPair } from '../tls/dev-ca.ts'
import { normalizeHostname, SECURE_CONTEXT_OPTIONS, type SniCallback } from '../tls/sni.ts'
import { AcmeRelay } from './acme-relay.ts'
import type { FromWorker, InFlightReport, StateUpdate, ToWorker, WorkerInit } from './protocol.ts'

/** How often finished requests and changed in-flight counts go to the primary, in ms. */
export const REPORT_INTERVAL_MS = 100
/** Finished requests sent in one message at most (a full batch goes at once). */
const MAX_BATCH = 512
/** Finished requests held while the primary is slow to read; past this they are counted, not kept. */
const MAX_BUFFERED = 10_000
/** Batches on their way to the primary at most; more wait in the (bounded) buffer. */
const MAX_PENDING_SENDS = 8
/** SNI names whose contexts are kept; the oldest is forgotten past this. */
const MAX_SNI_CONTEXTS = 1_000
/**
 * A question about an SNI name not answered within this long gets the default certificate. It
 * outlasts the primary's wait for a new site's first ACME certificate.
 */
const SNI_ANSWER_TIMEOUT_MS = ACME_HANDSHAKE_WAIT_MS + 1_000

/** send hands a message to the primary; `done` runs once it is written. */
export type SendToPrimary = (message: FromWorker, done?: () => void) => void

/**
 * EdgeWorker is created from the primary's `init` message and fed every later message through
 * `receive`. `start()` listens once the first state has arrived, so no request is ever routed
 * over an empty table.
 */
export class EdgeWorker {
  #init: WorkerInit
  #send: SendToPrimary
  #log: Logger
  #registry = new Registry()
  #table = new RouteTable<Route>()
  #edge: EdgeServer
  /** Targets the request path gave a request or a tunnel, with their upstream's name. */
  #busy = new Map<Target, string>()
  #records: RequestCompleted[] = []
  #dropped = 0
  #pendingSends = 0
  #lastLoad = '[]'
  #timer: NodeJS.Timeout | undefined
  #contexts = new Map<string, Promise<SecureContext | undefined>>()
  #sniWaiters = new Map<number, (answer: { pair: KeyPair | null; failed: boolean }) => void>()
  #nextSniId = 0
  #firstState: Promise<void>
  #stateArrived: () => void = () => undefined
  #acme: AcmeRelay | undefined

  constructor(init: WorkerInit, send: SendToPrimary, log: Logger) {
    this.#init = init
    this.#send = send
    this.#log = log
    this.#firstState = new Promise((resolve) => {
      this.#stateArrived = resolve
    })
    const events = new EventBus()
    events.on('request:completed', (record) => this.#record(record))
    this.#acme = init.acme && new AcmeRelay(init.acme, (message) => send(message))
    this.#edge = createEdge({
      ...init,
      sniCallback: this.#sniCallback,
      acme: this.#acme,
      // With an access log file the primary writes the lines; warnings still reach stdout.
      quietAccessLog: init.stdoutAccessLog === false,
      table: () => this.#table,
      passive: this.#passive,
      events,
      log,
      busy: this.#busy,
    })
  }

  /** start listens (after the first state) and reports the bound ports to the primary. */
  async start(): Promise<void> {
    await this.#firstState
    const ports = await this.#edge.start()
    this.#timer = setInterval(() => this.#report(), REPORT_INTERVAL_MS)
    this.#timer.unref()
    this.#send({ type: 'listening', ...ports })
  }

  /** receive handles one message from the primary (close excepted: see close()). */
  receive(message: ToWorker): void {
    switch (message.type) {
      case 'state':
        this.#apply(message)
        return
      case 'sni': {
        const waiter = this.#sniWaiters.get(message.id)
        this.#sniWaiters.delete(message.id)
        waiter?.(message)
        return
      }
      case 'certs':
        this.#contexts.clear()
        return
      case 'acme-answer':
        this.#acme?.receive(message)
        return
      default:
        return
    }
  }

  /** close drains the listeners, then sends what is left to report; resolves once it is written. */
  async close(drainMs: number): Promise<void> {
    await this.#edge.close(drainMs)
    clearInterval(this.#timer)
    do {
      this.#report()
      while (this.#pendingSends > 0) await new Promise((r) => setTimeout(r, 5))
    } while (this.#records.length > 0 || this.#dropped > 0)
  }

  #apply(update: StateUpdate): void {
    if (update.routes !== undefined) {
      // Which names get a dev certificate depends on the routes: ask again after a change.
      this.#contexts.clear()
      this.#table = buildRoutes(update.routes, this.#registry, this.#table, {
        shares: this.#init.workers,
      })
    }
    for (const view of update.upstreams) this.#registry.upstream(view.name).replace(view.targets)
    // The first state always carries the routes (a new worker gets everything).
    if (update.routes !== undefined) this.#stateArrived()
    const inFlight = this.#inFlight()
    this.#lastLoad = JSON.stringify(inFlight)
    this.#send({ type: 'applied', version: update.version, inFlight })
  }

  /** The primary decides ejection: failures are relayed, and successes after failures. */
  #passive: PassiveCounter = {
    countFailure: (upstream, target) => {
      target.setFailures(target.fails + 1)
      this.#relayPassive(upstream, target, false)
      return false
    },
    countSuccess: (upstream, target) => {
      if (target.fails === 0) return
      target.setFailures(0)
      this.#relayPassive(upstream, target, true)
    },
  }

  #relayPassive(upstream: Upstream, target: Target, ok: boolean): void {
    const { id, port } = target
    this.#send({ type: 'passive', upstream: upstream.name, target: id, port, ok })
  }

  #record(record: RequestCompleted): void {
    if (this.#records.length >= MAX_BUFFERED) this.#dropped++
    else this.#records.push(record)
    if (this.#records.length >= MAX_BATCH && this.#pendingSends === 0) this.#flushRecords()
  }

  #report(): void {
    const inFlight = this.#inFlight()
    const load = JSON.stringify(inFlight)
    if (load !== this.#lastLoad) {
      this.#lastLoad = load
      this.#send({ type: 'load', inFlight })
    }
    while (
      (this.#records.length > 0 || this.#dropped > 0) &&
      this.#pendingSends < MAX_PENDING_SENDS
    ) {
      this.#flushRecords()
    }
  }

  #flushRecords(): void {
    const records = this.#records.splice(0, MAX_BATCH)
    const dropped = this.#dropped
    this.#dropped = 0
    this.#pendingSends++
    this.#send({ type: 'completed', records, dropped }, () => {
      this.#pendingSends--
    })
  }

  /** The targets with requests in flight; the others leave the busy map once reported idle. */
  #inFlight(): InFlightReport {
    const report: InFlightReport = []
    for (const [target, upstream] of this.#busy) {
      if (target.inFlight > 0) report.push([upstream, target.id, target.port, target.inFlight])
      else this.#busy.delete(target)
    }
    return report
  }

  /** SNI through the primary's certificate store; contexts are cached per name. */
  #sniCallback: SniCallback = (servername, cb) => {
    const name = normalizeHostname(servername)
    if (name === undefined) {
      cb(null, undefined)
      return
    }
    let context = this.#contexts.get(name)
    if (context !== undefined) {
      // Most recently used last, so a flood of new names evicts them before the busy ones.
      this.#contexts.delete(name)
      this.#contexts.set(name, context)
    } else {
      context = this.#contextFromPrimary(name)
      this.#contexts.set(name, context)
      if (this.#contexts.size > MAX_SNI_CONTEXTS) {
        const oldest = this.#contexts.keys().next()
        if (!oldest.done) this.#contexts.delete(oldest.value)
      }
    }
    void context.then((ctx) => cb(null, ctx))
  }

  #contextFromPrimary(name: string): Promise<SecureContext | undefined> {
    const promise = new Promise<SecureContext | undefined>((resolve) => {
      const id = this.#nextSniId++
      const forget = () => {
        // Only this question's entry: a newer one may have replaced it meanwhile.
        if (this.#contexts.get(name) === promise) this.#contexts.delete(name)
      }
      const timer = setTimeout(() => {
        this.#sniWaiters.delete(id)
        forget()
        resolve(undefined)
      }, SNI_ANSWER_TIMEOUT_MS)
      timer.unref()
      this.#sniWaiters.set(id, ({ pair, failed }) => {
        clearTimeout(timer)
        if (pair === null) {
          // No certificate for the name: the default is served, and that answer is kept until
          // certificates or routes change. A failed lookup is asked again next time.
          if (failed) forget()
          return resolve(undefined)
        }
        try {
          resolve(
            tls.createSecureContext({
              ...SECURE_CONTEXT_OPTIONS,
              key: pair.keyPem,
              cert: pair.certPem,
            }),
          )
        } catch (err) {
          this.#log.warn(
            { err, servername: name },
            'TLS: unusable certificate, serving the default',
          )
          forget()
          resolve(undefined)
        }
      })
      this.#send({ type: 'sni', id, servername: name })
    })
    return promise
  }
}
