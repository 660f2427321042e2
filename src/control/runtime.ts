/** @module Runtime: the desired state (config file + API overlay), applied minimally to routes, probes and apps. */
import { isDeepStrictEqual } from 'node:util'
import { type ConfigDiff, diffConfig, summarizeDiff } from '../config/diff.ts'
import { mergeOverlay, overriddenKeys } from '../config/merge.ts'
import type { AppSpec, Config } from '../config/schema.ts'
import { errors, PorticoError } from '../errors.ts'
import type { EventBus } from '../observe/events.ts'
import type { Logger } from '../observe/log.ts'
import type { Route, RouteSpec } from '../proxy/route.ts'
import type { RouteTable } from '../proxy/router.ts'
import { buildRoutes } from '../proxy/routes.ts'
import type { ActiveProbe } from '../registry/health/active.ts'
import { type Registry, upstreamNameForRoute } from '../registry/registry.ts'
import { type PersistedState, StateStore } from '../state/store.ts'
import { createProbes, routeSpecs, syncBackends } from './route-table.ts'

/** What the Runtime drives on the process side (the Supervisor implements it). */
export interface AppRunner {
  startApp: (spec: AppSpec) => Promise<void>
  removeApp: (name: string) => Promise<void>
  /** reloadApp replaces every instance with one running `spec`, without dropping requests. */
  reloadApp: (spec: AppSpec) => Promise<void>
  /** scaleApp changes the number of instances of a running app to `spec.instances`. */
  scaleApp: (spec: AppSpec) => Promise<void>
}

/** Options of Runtime.create. */
export interface RuntimeOptions {
  file: Config
  registry: Registry
  events: EventBus
  log: Logger
  stateDir: string
}

/**
 * Runtime owns the desired state: the config file's content, the API's overlay (persisted in
 * state.json) and their merge, the effective config. Every change (an API call or a new config
 * file) goes through `#change`: merge → validate → persist → apply the diff. Changes run one at a
 * time in call order. A change that fails validation throws and leaves everything as it was.
 * The route table is swapped whole; requests in flight keep the Route they started with.
 */
export class Runtime {
  #file: Config
  #state: PersistedState
  #effective: Config
  #table: RouteTable<Route>
  #specs: RouteSpec[]
  #probes: ActiveProbe[] = []
  #runner: AppRunner | undefined
  readonly #store: StateStore
  readonly #registry: Registry
  readonly #events: EventBus
  readonly #log: Logger
  #queue: Promise<unknown> = Promise.resolve()
  #tableListeners = new Set<() => void>()
  #settle: () => Promise<void> = () => Promise.resolve()

  private constructor(
    options: RuntimeOptions,
    store: StateStore,
    state: PersistedState,
    effective: Config,
  ) {
    this.#file = options.file
    this.#store = store
    this.#state = state
    this.#effective = effective
    this.#registry = options.registry
    this.#events = options.events
    this.#log = options.log
    syncBackends(effective, options.registry)
    this.#specs = routeSpecs(effective)
    this.#table = buildRoutes(this.#specs, options.registry)
    this.#restartProbes()
  }

  /**
   * create loads state.json and merges it over the file config. If the saved API changes no
   * longer fit the file (say the file dropped an app an API route points at), the file config
   * alone is used and the problem is logged: a bad combination never keeps Portico from starting.
   */
  static async create(options: RuntimeOptions): Promise<Runtime> {
    const store = new StateStore(options.stateDir)
    const state = await store.load()
    let effective: Config
    try {
      effective = mergeOverlay(options.file, state)
    } catch (error) {
      options.log.error(
        { err: error },
        'saved API changes do not fit the config file; starting from the file alone',
      )
      effective = options.file
    }
    return new Runtime(options, store, state, effective)
  }

  /** table returns the live route table (read by the edge on every request). */
  table(): RouteTable<Route> {
    return this.#table
  }

  /** routes returns the route specs of the live table (what edge workers build theirs from). */
  routes(): readonly RouteSpec[] {
    return this.#specs
  }

  /** onTableChange registers a listener called right after the route table is swapped. */
  onTableChange(listener: () => void): void {
    this.#tableListeners.add(listener)
  }

  /**
   * settleWith sets a step awaited before a change is reported applied: with edge workers, that
   * every worker has the new state, so a backend removed or marked dead through the API gets no
   * request once the API has answered.
   */
  settleWith(step: () => Promise<void>): void {
    this.#settle = step
  }

  /** config returns the effective config. */
  config(): Config {
    return this.#effective
  }

  /** overlay returns the API's saved changes. */
  state(): PersistedState {
    return this.#state
  }

  /** attach connects the process side and starts every app of the effective config. */
  async attach(runner: AppRunner): Promise<void> {
    this.#runner = runner
    await Promise.all(
      this.#effective.apps.map((app) =>
        runner
          .startApp(app)
          .catch((err: unknown) => this.#log.error({ err, app: app.name }, 'app failed to start')),
      ),
    )
  }

  /**
   * applyFile takes a newly loaded config file. The API's changes stay on top of it; entries the
   * file changed but the overlay overrides are named in a warning (never silently dropped).
   */
  applyFile(file: Config): Promise<ConfigDiff> {
    return this.#serial(async () => {
      const next = mergeOverlay(file, this.#state)
      const shadowed = overriddenKeys(file, this.#state)
      if (shadowed.length > 0)
        this.#log.warn({ entries: shadowed }, 'API changes override these config file entries')
      if (!isDeepStrictEqual(file.edge, this.#file.edge)) {
        this.#log.warn(
          'edge settings (ports, bind, API) changed in the config file: they apply at the next start',
        )
      }
      this.#file = file
      return this.#apply(next)
    })
  }

  /**
   * change applies an edit to the API overlay: `edit` mutates a copy of the state, reading the
   * effective config it is given; it may throw to refuse (nothing is stored). The merged result
   * is validated (PTC_ERR_STATE_CONFLICT on failure, nothing stored), persisted, applied.
   */
  change(edit: (state: PersistedState, current: Config) => void): Promise<ConfigDiff> {
    return this.#serial(async () => {
      const draft = structuredClone(this.#state)
      // The edit reads `current` (the effective config at its turn in the queue), never a copy
      // taken before it was queued: two concurrent changes then compose instead of one losing.
      edit(draft, this.#effective)
      let next: Config
      try {
        next = mergeOverlay(this.#file, draft)
      } catch (error) {
        const detail = error instanceof PorticoError ? error.details : undefined
        const lines = Array.isArray(detail) ? detail.join('; ') : String(error)
        throw new errors.PTC_ERR_STATE_CONFLICT(lines, { cause: error, details: detail })
      }
      await this.#store.save(draft)
      this.#state = draft
      return this.#apply(next)
    })
  }

  /** close stops the probes. */
  close(): void {
    for (const probe of this.#probes) probe.close()
    this.#probes = []
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task)
    this.#queue = run.catch(() => undefined)
    return run
  }

  async #apply(next: Config): Promise<ConfigDiff> {
    const diff = diffConfig(this.#effective, next)
    if (diff.empty) return diff
    const runner = this.#runner
    this.#effective = next
    // New apps start first so their routes can queue requests while they come up.
    if (runner)
      await Promise.all(
        diff.apps.added.map((app) => this.#try(app.name, () => runner.startApp(app))),
      )
    syncBackends(next, this.#registry)
    this.#specs = routeSpecs(next)
    this.#table = buildRoutes(this.#specs, this.#registry, this.#table)
    for (const listener of this.#tableListeners) listener()
    this.#restartProbes()
    if (runner) {
      for (const change of diff.apps.changed) {
        if (change.reload) await this.#try(change.name, () => runner.reloadApp(change.next))
        else if (change.scale) await this.#try(change.name, () => runner.scaleApp(change.next))
      }
      // Removed apps have no route any more: stop them once no new request can reach them.
      await Promise.all(
        diff.apps.removed.map((app) => this.#try(app.name, () => runner.removeApp(app.name))),
      )
    }
    for (const route of diff.routes.removed) {
      if (route.app === undefined) this.#registry.delete(upstreamNameForRoute(route.vHost))
    }
    for (const [change, routes] of [
      ['added', diff.routes.added],
      ['removed', diff.routes.removed],
      ['changed', diff.routes.changed],
    ] as const) {
      for (const route of routes) this.#events.emit('route:changed', { vHost: route.vHost, change })
    }
    await this.#settle()
    const summary = summarizeDiff(diff)
    this.#log.info({ summary }, `config applied: ${summary}`)
    this.#events.emit('config:applied', { summary })
    return diff
  }

  async #try(app: string, action: () => Promise<void>): Promise<void> {
    try {
      await action()
    } catch (err) {
      this.#log.error({ err, app }, 'app change failed')
    }
  }

  #restartProbes(): void {
    for (const probe of this.#probes) probe.close()
    this.#probes = createProbes(this.#effective, this.#registry, (upstream, target) => {
      this.#log.info({ upstream, target }, 'target recovered: back in rotation')
    })
    for (const probe of this.#probes) probe.start()
  }
}
