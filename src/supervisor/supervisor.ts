/** @module Supervisor: each app's instances under pm2 — start, stop, restart, rolling reload, scale, logs. */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { SHUTDOWN_DRAIN_MS } from '../config/defaults.ts'
import type { AppSpec } from '../config/schema.ts'
import { errors } from '../errors.ts'
import type { Logger } from '../observe/log.ts'
import type { Registry } from '../registry/registry.ts'
import type { TargetState } from '../registry/target.ts'
import type { Instance } from './instance.ts'
import type { LaunchContext } from './launch.ts'
import { killLeftovers } from './leftovers.ts'
import { Lifecycle } from './lifecycle.ts'
import { LogFile } from './log-file.ts'
import { LogRing } from './logs.ts'
import { Pm2Client } from './pm2.ts'
import { PortAllocator, type PortRange } from './ports.ts'
import { DEFAULT_RESTART_POLICY, type RestartPolicy } from './restart-policy.ts'

/** One instance as the API shows it. */
export interface InstanceStatus {
  /** Target id in the app's upstream: `<app>#<index>` (`<app>#<index>.next` for a reload's replacement). */
  id: string
  index: number
  port: number
  /** The process started for the command (the shell for `command`, the app for `script`). */
  pid: number | null
  state: TargetState
  /** Times the instance was started again: crash restarts and restarts we asked for. */
  restarts: number
  /** When the current process came online (epoch ms); null while none runs. */
  startedAt: number | null
  lastExitCode: number | null
  lastSignal: string | null
  /** Where its process tree listens on loopback (`127.0.0.1:21003`, `[::1]:21003`), as last seen. */
  listeningOn?: string[]
  /** Why it cannot serve although it runs (`web#0 listens on 5173, not 21003: …`); null if none. */
  problem?: string | null
}

/** One app as the API shows it. */
export interface AppStatus {
  name: string
  spec: AppSpec
  instances: InstanceStatus[]
}

/** Receives every line an instance prints, without its newline. */
export type OutputListener = (
  app: string,
  index: number,
  stream: 'out' | 'err',
  line: string,
) => void

/** Options of Supervisor.create. */
export interface SupervisorOptions {
  /** State dir: pm2's home `<stateDir>/pm2`, running pids `instances.json`, app logs `logs/<app>.log`. */
  stateDir: string
  /** Folder of the config file: relative app `cwd`s are resolved against it. */
  configDir: string
  /** Ports handed to instances (`PORTICO_PORT_RANGE`). */
  portRange: PortRange
  registry: Registry
  /** Used as given: the caller names the component (`log.child({ component: 'supervisor' })`). */
  log: Logger
  onOutput?: OutputListener
  /** When a crash loop is given up; DEFAULT_RESTART_POLICY for what is not set. */
  restartPolicy?: Partial<RestartPolicy>
  /**
   * What every launch needs beyond the app's spec (app-env.ts). Default: the environment of
   * this process as it was when create() was called, no extra deny list, no PORTICO_URL, no CA.
   */
  launch?: LaunchContext
  /** Told when an app operation settles (history and dashboard); must not throw. */
  onAction?: ActionListener
}

/** An app operation the supervisor reports through `onAction`. */
export type SupervisorAction = 'start' | 'stop' | 'restart' | 'reload' | 'scale' | 'remove'

/** Receives each settled operation: whether it succeeded and a detail (instances, or the error). */
export type ActionListener = (
  app: string,
  action: SupervisorAction,
  ok: boolean,
  detail: string | null,
) => void

const INSTANCES_FILE = 'instances.json'
/** A restart gives in-flight requests this long before SIGTERM (requests queue meanwhile), in ms. */
const RESTART_DRAIN_MS = 2_000
/** A reload waits this long past the app's startTimeout for a replacement to settle, in ms. */
const SETTLE_GRACE_MS = 5_000

interface AppEntry {
  spec: AppSpec
  logs: LogRing
  file: LogFile
}

/**
 * Supervisor owns the app processes. Each instance is a pm2 process on its own port, target
 * `web#0` in `registry.upstream(upstreamNameForApp('web'))`; lifecycle.ts keeps its state honest
 * (`starting` while it is or will be coming up, so requests wait; `healthy` in rotation;
 * `crashed` once the restart policy gives up). Operations on one app run one at a time, in call
 * order. Only one Supervisor may be open per process (pm2 keeps one table).
 */
export class Supervisor {
  readonly #pm2: Pm2Client
  readonly #lifecycle: Lifecycle
  readonly #log: Logger
  readonly #logsDir: string
  readonly #onOutput: OutputListener | undefined
  readonly #onAction: ActionListener | undefined
  readonly #apps = new Map<string, AppEntry>()
  /** The running operation of each app, so operations on one app never overlap. */
  readonly #ops = new Map<string, Promise<unknown>>()
  /** Aborted by close(): a reload in progress stops waiting and draining. */
  readonly #shutdown = new AbortController()
  #closing: Promise<void> | undefined

  private constructor(options: SupervisorOptions & { launch: LaunchContext }, pm2: Pm2Client) {
    this.#pm2 = pm2
    this.#log = options.log
    this.#logsDir = join(options.stateDir, 'logs')
    this.#onOutput = options.onOutput
    this.#onAction = options.onAction
    this.#lifecycle = new Lifecycle({
      pm2,
      ports: new PortAllocator(options.portRange),
      registry: options.registry,
      log: options.log,
      configDir: options.configDir,
      recordsFile: join(options.stateDir, INSTANCES_FILE),
      policy: { ...DEFAULT_RESTART_POLICY, ...options.restartPolicy },
      onLine: (inst, stream, line) => this.#onLine(inst, stream, line),
      launch: options.launch,
    })
  }

  /**
   * create connects an embedded pm2 homed in `<stateDir>/pm2` (never `~/.pm2`), then kills the
   * instances a previous run left behind (recorded in `<stateDir>/instances.json`). pm2 refuses
   * a state dir that a live process uses, so that step never kills a running Portico's apps.
   */
  static async create(options: SupervisorOptions): Promise<Supervisor> {
    const { log } = options
    // Taken before pm2 sets PM2_HOME and friends in this process's environment.
    const launch = options.launch ?? { inherited: { ...process.env } }
    const home = join(options.stateDir, 'pm2')
    await mkdir(home, { recursive: true, mode: 0o700 })
    const pm2 = await Pm2Client.connect({ home, log })
    try {
      await killLeftovers(join(options.stateDir, INSTANCES_FILE), log)
    } catch (error) {
      await pm2.close()
      throw error
    }
    return new Supervisor({ ...options, launch }, pm2)
  }

  /**
   * startApp starts `spec.instances` instances and resolves once pm2 has spawned them (not when
   * they are healthy: watch the registry). It throws PTC_ERR_APP_EXISTS if the app runs,
   * PTC_ERR_PORT_RANGE_EXHAUSTED or PTC_ERR_APP_START_FAILED (nothing is left running then).
   * Starting a stopped or crashed app again replaces its spec, processes and ports.
   */
  startApp(spec: AppSpec): Promise<void> {
    return this.#act(spec.name, 'start', `${spec.instances} instance(s)`, () => this.#start(spec))
  }

  /**
   * stopApp takes every instance out of rotation, gives in-flight requests up to
   * min(killTimeout, 10 s), then stops it (SIGTERM, SIGKILL after killTimeout, whole process
   * tree) and frees its port. Instances end `stopped`; requests get 503 at once.
   */
  stopApp(name: string): Promise<void> {
    return this.#act(name, 'stop', null, () => this.#stop(name))
  }

  /**
   * restartApp gives every instance a new process at once. Each stays `starting` meanwhile, so
   * requests wait in the route queue (up to its queue timeout) instead of failing; in-flight
   * ones get up to 2 s before SIGTERM. A stopped or crashed app is started again.
   */
  restartApp(name: string): Promise<void> {
    return this.#act(name, 'restart', null, () => this.#restart(name))
  }

  /**
   * reloadApp replaces the instances one at a time without dropping a request: a replacement
   * starts on a fresh port (target `web#0.next`), joins the rotation once healthy, then the old
   * instance drains (≤ min(killTimeout, 10 s)) and stops, and the replacement takes its id.
   * Given a spec (command, env, cwd changed), replacements run it, and the instance count
   * follows `spec.instances`; given a name, the current spec is used. If a replacement is not
   * healthy within its startTimeout, it is stopped, the old instance keeps serving and the
   * reload rejects (PTC_ERR_APP_START_FAILED). Crashed instances are replaced too; stopped ones
   * stay stopped. An app not running yet is started.
   */
  reloadApp(app: AppSpec | string): Promise<void> {
    const name = typeof app === 'string' ? app : app.name
    return this.#act(name, 'reload', null, () =>
      this.#reload(typeof app === 'string' ? undefined : app, name),
    )
  }

  /**
   * scaleApp makes the app run `spec.instances` instances: new ones join the rotation when
   * healthy (it resolves once they are spawned); surplus ones, highest index first, drain and
   * stop one at a time. A stopped app only takes the new spec.
   */
  scaleApp(spec: AppSpec): Promise<void> {
    return this.#act(spec.name, 'scale', `${spec.instances} instance(s)`, async () => {
      const app = this.#apps.get(spec.name)
      if (!app) return this.#start(spec)
      app.spec = spec
      await this.#scale(spec)
    })
  }

  /** removeApp stops the app (draining first), drops its targets and forgets it. */
  removeApp(name: string): Promise<void> {
    return this.#act(name, 'remove', null, async () => {
      await this.#stop(name)
      await this.#drop(name)
    })
  }

  /** list returns every known app, running or stopped, in the order they were first started. */
  list(): AppStatus[] {
    return [...this.#apps.keys()].map((name) => this.#status(name))
  }

  /** get returns one app, or undefined. */
  get(name: string): AppStatus | undefined {
    return this.#apps.has(name) ? this.#status(name) : undefined
  }

  /**
   * logs returns the app's last `tail` output lines (all instances, both streams, and Portico's
   * own notes such as why an instance crashed), each `<ISO time> <instance id> <out|err> <line>`.
   * The same lines go to `<stateDir>/logs/<app>.log` (5 MiB × 3 files). PTC_ERR_APP_NOT_FOUND.
   */
  logs(name: string, tail: number): string[] {
    return this.#requireApp(name).logs.tail(tail)
  }

  /**
   * close stops every app (pm2 deletes each process tree: SIGTERM, then SIGKILL after its
   * killTimeout), waits until every pid it knew is gone, flushes the log files, then disconnects
   * pm2. Idempotent; app operations still running are awaited first (a reload stops at its
   * current step: no more waiting or draining) and new ones are refused.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#shutdown.abort()
      await Promise.allSettled(this.#ops.values())
      await this.#lifecycle.closeAll()
      await Promise.all([...this.#apps.values()].map((app) => app.file.close()))
      await this.#pm2.close()
    })()
    return this.#closing
  }

  /**
   * killAllNow SIGKILLs the process group of every running instance, synchronously: the fast
   * path for a second Ctrl-C. Groups already gone are ignored. Call close() afterwards if the
   * process keeps running.
   */
  killAllNow(): void {
    this.#lifecycle.killAllNow()
  }

  // ── app operations ─────────────────────────────────────────────────────────────────────

  async #start(spec: AppSpec): Promise<void> {
    const previous = this.#lifecycle.of(spec.name)
    if (previous.some((inst) => inst.state !== 'stopped' && inst.state !== 'crashed')) {
      throw new errors.PTC_ERR_APP_EXISTS(spec.name)
    }
    const known = this.#apps.has(spec.name)
    for (const inst of previous) {
      await this.#lifecycle.retire(inst, 0)
      this.#lifecycle.forget(inst)
    }
    this.#setSpec(spec)
    const spawned = await this.#spawnAll(spec, range(0, spec.instances))
    if (spawned.error !== undefined) {
      await this.#stop(spec.name)
      if (!known) await this.#drop(spec.name)
      throw spawned.error
    }
    this.#log.info({ app: spec.name, ports: spawned.instances.map((i) => i.port) }, 'app started')
  }

  /** Spawns instances at `indexes` in parallel; reports the first failure, keeps the rest. */
  async #spawnAll(
    spec: AppSpec,
    indexes: number[],
  ): Promise<{ instances: Instance[]; error: unknown }> {
    const results = await Promise.allSettled(
      indexes.map((index) => this.#lifecycle.spawn(spec, index, false)),
    )
    const instances = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    return { instances, error: failed?.reason }
  }

  async #stop(name: string): Promise<void> {
    this.#requireApp(name)
    const instances = this.#lifecycle.of(name)
    const { signal } = this.#shutdown
    await Promise.all(instances.map((i) => this.#lifecycle.retire(i, drainMs(i.spec), signal)))
    this.#log.info({ app: name }, 'app stopped')
  }

  async #restart(name: string): Promise<void> {
    this.#requireApp(name)
    const instances = this.#lifecycle.of(name)
    await Promise.all(instances.map((inst) => this.#lifecycle.restart(inst, RESTART_DRAIN_MS)))
    this.#log.info({ app: name }, 'app restarted')
  }

  async #reload(next: AppSpec | undefined, name: string): Promise<void> {
    const app = this.#apps.get(name)
    if (!app) {
      if (!next) throw new errors.PTC_ERR_APP_NOT_FOUND(name)
      return this.#start(next)
    }
    const spec = next ?? app.spec
    app.spec = spec
    const slots = this.#lifecycle.of(name)
    if (slots.every((inst) => inst.state === 'stopped')) return
    for (const old of slots) {
      if (this.#shutdown.signal.aborted) throw shuttingDown(name)
      if (old.index < spec.instances && old.state !== 'stopped') await this.#replace(old, spec)
    }
    await this.#scale(spec)
    this.#log.info({ app: name, pids: this.#lifecycle.of(name).map((i) => i.pid) }, 'app reloaded')
  }

  /** One reload step: the replacement must be healthy before the old instance drains. */
  async #replace(old: Instance, spec: AppSpec): Promise<void> {
    const next = await this.#lifecycle.spawn(spec, old.index, true)
    const { signal } = this.#shutdown
    const settled = await this.#lifecycle.settled(next, spec.startTimeout + SETTLE_GRACE_MS, signal)
    if (settled !== 'healthy') {
      await this.#lifecycle.retire(next, 0)
      this.#lifecycle.forget(next)
      const why = `its replacement ended ${settled} instead of healthy (startTimeout ${spec.startTimeout} ms)`
      this.#log.error({ instance: old.id, settled }, `reload of ${old.id} failed: ${why}`)
      throw new errors.PTC_ERR_APP_START_FAILED(spec.name, `${why}; ${old.id} keeps serving`)
    }
    const oldPid = old.pid
    await this.#lifecycle.retire(old, drainMs(old.spec), signal)
    this.#lifecycle.takeOver(next, old)
    this.#log.info(
      { instance: next.id, oldPid, pid: next.pid, port: next.port },
      'instance replaced',
    )
  }

  /** Starts missing instances below `spec.instances`, retires those at or above it, highest first. */
  async #scale(spec: AppSpec): Promise<void> {
    const instances = this.#lifecycle.of(spec.name)
    if (instances.every((inst) => inst.state === 'stopped')) return
    const present = new Set(instances.map((inst) => inst.index))
    const missing = range(0, spec.instances).filter((index) => !present.has(index))
    const spawned = await this.#spawnAll(spec, missing)
    const surplus = instances.filter((inst) => inst.index >= spec.instances).reverse()
    for (const inst of surplus) {
      await this.#lifecycle.retire(inst, drainMs(inst.spec), this.#shutdown.signal)
      this.#lifecycle.forget(inst)
    }
    if (spawned.error !== undefined) throw spawned.error
    this.#log.info({ app: spec.name, instances: spec.instances }, 'app scaled')
  }

  // ── helpers ────────────────────────────────────────────────────────────────────────────

  #setSpec(spec: AppSpec): void {
    const app = this.#apps.get(spec.name)
    if (app) {
      app.spec = spec
      return
    }
    const file = new LogFile({
      path: join(this.#logsDir, `${spec.name}.log`),
      onError: (err) => this.#log.error({ err, app: spec.name }, 'cannot write the app log file'),
    })
    this.#apps.set(spec.name, { spec, logs: new LogRing(), file })
  }

  async #drop(name: string): Promise<void> {
    for (const inst of this.#lifecycle.of(name)) this.#lifecycle.forget(inst)
    await this.#apps.get(name)?.file.close()
    this.#apps.delete(name)
  }

  #onLine(inst: Instance, stream: 'out' | 'err', line: string): void {
    const app = this.#apps.get(inst.app)
    const stamped = `${new Date().toISOString()} ${inst.id} ${stream} ${line}`
    app?.logs.push(stamped)
    app?.file.write(stamped)
    if (!this.#onOutput) return
    try {
      this.#onOutput(inst.app, inst.index, stream, line)
    } catch (error) {
      this.#log.error({ err: error }, 'onOutput listener threw')
    }
  }

  /** #act runs an operation like #serial and reports how it settled to `onAction`. */
  #act(
    name: string,
    action: SupervisorAction,
    detail: string | null,
    operation: () => Promise<void>,
  ): Promise<void> {
    const run = this.#serial(name, operation)
    const report = (ok: boolean, text: string | null) => {
      try {
        this.#onAction?.(name, action, ok, text)
      } catch (error) {
        this.#log.error({ err: error }, 'onAction listener threw')
      }
    }
    void run.then(
      () => report(true, detail),
      (error: unknown) => report(false, error instanceof Error ? error.message : String(error)),
    )
    return run
  }

  #serial<T>(name: string, operation: () => Promise<T>): Promise<T> {
    if (this.#closing) return Promise.reject(shuttingDown(name))
    const previous = this.#ops.get(name) ?? Promise.resolve()
    const next = previous.catch(() => undefined).then(operation)
    const settled = next.catch(() => undefined)
    this.#ops.set(name, settled)
    void settled.then(() => this.#ops.get(name) === settled && this.#ops.delete(name))
    return next
  }

  #requireApp(name: string): AppEntry {
    const app = this.#apps.get(name)
    if (!app) throw new errors.PTC_ERR_APP_NOT_FOUND(name)
    return app
  }

  #status(name: string): AppStatus {
    const app = this.#requireApp(name)
    return { name, spec: app.spec, instances: this.#lifecycle.of(name).map(toStatus) }
  }
}

function shuttingDown(app: string): Error {
  return new errors.PTC_ERR_APP_START_FAILED(app, 'Portico is shutting down')
}

/** How long an instance being retired gets for its in-flight requests, in milliseconds. */
function drainMs(spec: AppSpec): number {
  return Math.min(spec.killTimeout, SHUTDOWN_DRAIN_MS)
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i)
}

function toStatus(inst: Instance): InstanceStatus {
  const { id, index, port, pid, state, restarts, startedAt, lastExitCode, lastSignal } = inst
  const { listeningOn, problem } = inst
  return {
    ...{ id, index, port, pid, state, restarts, startedAt, lastExitCode, lastSignal },
    ...{ listeningOn: [...listeningOn], problem },
  }
}
