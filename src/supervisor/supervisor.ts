/** @module Supervisor: runs each app's instances under pm2 on leased ports, probes them, and drives the registry. */
import { mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { DEFAULT_HEALTH_TIMEOUT_MS, STARTUP_PROBE_INTERVAL_MS } from '../config/defaults.ts'
import type { AppSpec } from '../config/schema.ts'
import { errors } from '../errors.ts'
import type { Logger } from '../observe/log.ts'
import { type Registry, upstreamNameForApp } from '../registry/registry.ts'
import type { TargetState } from '../registry/target.ts'
import { type Readiness, waitUntilReady } from './health.ts'
import {
  canTransition,
  exitState,
  INSTANCE_HOST,
  type Instance,
  instanceEnv,
  launchOf,
  newInstance,
} from './instance.ts'
import {
  type InstanceRecord,
  killInstanceGroup,
  killLeftovers,
  writeInstanceRecords,
} from './leftovers.ts'
import { LogRing } from './logs.ts'
import { Pm2Client, type Pm2Event, type ProcessSpec } from './pm2.ts'
import { PortAllocator, type PortRange } from './ports.ts'
import { killGroup, readProcStat, waitUntilGone } from './processes.ts'

/** One instance as the API shows it. */
export interface InstanceStatus {
  /** Target id in the app's upstream: `<app>#<index>`. */
  id: string
  index: number
  port: number
  /** The process started for the command (the shell for `command`, the app for `script`). */
  pid: number | null
  state: TargetState
  /** Times pm2 started it again (crash restarts and restarts we asked for). */
  restarts: number
  /** When the current process came online (epoch ms); null while none runs. */
  startedAt: number | null
  lastExitCode: number | null
  lastSignal: string | null
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
  /** Portico's state dir: pm2's home is `<stateDir>/pm2`, running pids `<stateDir>/instances.json`. */
  stateDir: string
  /** Folder of the config file: relative app `cwd`s are resolved against it. */
  configDir: string
  /** Ports handed to instances (`PORTICO_PORT_RANGE`). */
  portRange: PortRange
  registry: Registry
  /** Used as given: the caller names the component (`log.child({ component: 'supervisor' })`). */
  log: Logger
  onOutput?: OutputListener
}

const INSTANCES_FILE = 'instances.json'
/** Extra wait past the longest kill timeout before close() SIGKILLs what is left, in ms. */
const CLOSE_GRACE_MS = 2_000

interface AppEntry {
  spec: AppSpec
  logs: LogRing
}

/**
 * Supervisor owns the app processes. Each instance is one pm2 process (`web-0`) on its own
 * port, registered as target `web#0` in `registry.upstream(upstreamNameForApp('web'))`: added
 * as `starting`, `healthy` (in rotation) once its readiness probe passes, out of rotation the
 * moment pm2 reports its exit, and back to `starting` when pm2 restarts it. Operations on one
 * app run one at a time. Only one Supervisor may be open per process (pm2 keeps one table).
 */
export class Supervisor {
  readonly #pm2: Pm2Client
  readonly #ports: PortAllocator
  readonly #registry: Registry
  readonly #log: Logger
  readonly #configDir: string
  readonly #recordsFile: string
  readonly #onOutput: OutputListener | undefined
  /** The one place instance state lives, keyed by pm2 name, in start order. */
  readonly #instances = new Map<string, Instance>()
  readonly #apps = new Map<string, AppEntry>()
  /** The running operation of each app, so start/stop/restart of one app never overlap. */
  readonly #ops = new Map<string, Promise<unknown>>()
  /** Restarts after a start timeout: pm2 calls outside any app operation, awaited by close(). */
  readonly #background = new Set<Promise<unknown>>()
  #persisting: Promise<void> = Promise.resolve()
  #closing: Promise<void> | undefined

  private constructor(options: SupervisorOptions, pm2: Pm2Client, log: Logger) {
    this.#pm2 = pm2
    this.#ports = new PortAllocator(options.portRange)
    this.#registry = options.registry
    this.#log = log
    this.#configDir = options.configDir
    this.#recordsFile = join(options.stateDir, INSTANCES_FILE)
    this.#onOutput = options.onOutput
    pm2.onEvent((event) => this.#onPm2Event(event))
  }

  /**
   * create connects an embedded pm2 homed in `<stateDir>/pm2` (never `~/.pm2`), then kills the
   * instances a previous run left behind (recorded in `<stateDir>/instances.json`). pm2 refuses
   * a state dir that a live process uses, so that step never kills a running Portico's apps.
   */
  static async create(options: SupervisorOptions): Promise<Supervisor> {
    const { log } = options
    const home = join(options.stateDir, 'pm2')
    await mkdir(home, { recursive: true, mode: 0o700 })
    const pm2 = await Pm2Client.connect({ home, log })
    try {
      await killLeftovers(join(options.stateDir, INSTANCES_FILE), log)
    } catch (error) {
      await pm2.close()
      throw error
    }
    return new Supervisor(options, pm2, log)
  }

  /**
   * startApp starts `spec.instances` instances and resolves once pm2 has spawned them (not when
   * they are healthy: watch the registry). It throws PTC_ERR_APP_EXISTS if the app runs,
   * PTC_ERR_PORT_RANGE_EXHAUSTED or PTC_ERR_APP_START_FAILED (nothing is left running then).
   * Starting a stopped app again replaces its spec and ports.
   */
  startApp(spec: AppSpec): Promise<void> {
    return this.#serial(spec.name, () => this.#start(spec))
  }

  /** stopApp stops every instance (SIGTERM, SIGKILL after killTimeout) and frees their ports. */
  stopApp(name: string): Promise<void> {
    return this.#serial(name, () => this.#stop(name))
  }

  /** restartApp restarts every instance (new pids); a stopped app is started again. */
  restartApp(name: string): Promise<void> {
    return this.#serial(name, () => this.#restart(name))
  }

  /** removeApp stops the app, drops its targets from the registry and forgets it. */
  removeApp(name: string): Promise<void> {
    return this.#serial(name, async () => {
      await this.#stop(name)
      this.#forgetInstances(name)
      this.#apps.delete(name)
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
   * logs returns the app's last `tail` output lines (all instances, both streams), each as
   * `<ISO time> <app>#<index> <out|err> <line>`. Throws PTC_ERR_APP_NOT_FOUND.
   */
  logs(name: string, tail: number): string[] {
    return this.#requireApp(name).logs.tail(tail)
  }

  /**
   * close stops every app (pm2 deletes each process tree: SIGTERM, then SIGKILL after its
   * killTimeout), waits until every pid it knew is gone, then disconnects pm2. Idempotent;
   * app operations still running are awaited first and new ones are refused.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  /**
   * killAllNow SIGKILLs the process group of every running instance, synchronously: the fast
   * path for a second Ctrl-C. Groups already gone are ignored. Call close() afterwards if the
   * process keeps running.
   */
  killAllNow(): void {
    for (const inst of this.#instances.values()) {
      if (inst.pid === null) continue
      try {
        killGroup(inst.pid, 'SIGKILL')
      } catch (error) {
        this.#log.error({ err: error, pid: inst.pid }, 'cannot kill instance group')
      }
    }
  }

  // ── app operations ─────────────────────────────────────────────────────────────────────

  async #start(spec: AppSpec): Promise<void> {
    if (this.#instancesOf(spec.name).some((inst) => inst.state !== 'stopped')) {
      throw new errors.PTC_ERR_APP_EXISTS(spec.name)
    }
    const instances = await this.#createInstances(spec)
    const cwd = resolve(this.#configDir, spec.cwd ?? '.')
    const results = await Promise.allSettled(
      instances.map((inst) => this.#pm2.start(this.#processSpec(spec, inst, cwd))),
    )
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed) {
      await this.#stop(spec.name)
      const reason = failed.reason instanceof Error ? failed.reason.message : String(failed.reason)
      throw new errors.PTC_ERR_APP_START_FAILED(spec.name, reason, { cause: failed.reason })
    }
    this.#log.info({ app: spec.name, ports: instances.map((i) => i.port) }, 'app started')
  }

  /**
   * Leases a port per instance, then replaces the app's (stopped) instances and targets with
   * new `starting` ones. If the range is exhausted nothing changes.
   */
  async #createInstances(spec: AppSpec): Promise<Instance[]> {
    const instances: Instance[] = []
    try {
      for (let index = 0; index < spec.instances; index++) {
        instances.push(newInstance(spec.name, index, await this.#ports.lease()))
      }
    } catch (error) {
      for (const inst of instances) this.#ports.release(inst.port)
      throw error
    }
    this.#forgetInstances(spec.name)
    this.#apps.set(spec.name, { spec, logs: this.#apps.get(spec.name)?.logs ?? new LogRing() })
    const upstream = this.#registry.upstream(upstreamNameForApp(spec.name))
    for (const inst of instances) {
      this.#instances.set(inst.pm2Name, inst)
      upstream.add({ id: inst.id, host: INSTANCE_HOST, port: inst.port, state: 'starting' })
    }
    return instances
  }

  #processSpec(spec: AppSpec, inst: Instance, cwd: string): ProcessSpec {
    return {
      name: inst.pm2Name,
      launch: launchOf(spec, cwd),
      cwd,
      env: instanceEnv(spec, inst),
      killTimeoutMs: spec.killTimeout,
      maxMemory: spec.maxMemory,
    }
  }

  async #stop(name: string): Promise<void> {
    this.#requireApp(name)
    const instances = this.#instancesOf(name)
    for (const inst of instances) this.#beginStop(inst)
    await Promise.all(
      instances.map((inst) =>
        this.#pm2.delete(inst.pm2Name).catch((error: unknown) => {
          // Never spawned, or already gone: nothing left for pm2 to stop.
          this.#log.debug({ err: error, instance: inst.id }, 'pm2 delete failed')
        }),
      ),
    )
    for (const inst of instances) this.#finishStop(inst)
    this.#persist()
    this.#log.info({ app: name }, 'app stopped')
  }

  async #restart(name: string): Promise<void> {
    const app = this.#requireApp(name)
    const instances = this.#instancesOf(name)
    if (instances.every((inst) => inst.state === 'stopped')) return this.#start(app.spec)
    await Promise.all(instances.map((inst) => this.#restartInstance(inst)))
    this.#log.info({ app: name }, 'app restarted')
  }

  /** Restarts one instance through pm2; its exit is expected, its next process probed. */
  async #restartInstance(inst: Instance): Promise<void> {
    const oldPid = inst.pid
    inst.restarting = true
    this.#abortProbe(inst)
    this.#setState(inst, 'draining')
    try {
      await this.#pm2.restart(inst.pm2Name)
    } catch (error) {
      inst.restarting = false
      // pm2 lost the process: nothing runs for this instance any more.
      if (inst.pid === null) this.#setState(inst, 'crashed')
      throw error
    }
    if (oldPid !== null) this.#sweep(inst, oldPid)
  }

  /** Takes the instance out of rotation at once; its exit from now on is expected. */
  #beginStop(inst: Instance): void {
    inst.stopping = true
    this.#abortProbe(inst)
    this.#setState(inst, 'draining')
  }

  /** After pm2 deleted it: state `stopped`, orphans of its group killed, port freed. Once. */
  #finishStop(inst: Instance): void {
    if (!inst.holdsPort) return
    if (inst.pid !== null) inst.lastPid = inst.pid
    inst.pid = null
    inst.startedAt = null
    this.#setState(inst, 'stopped')
    if (inst.lastPid !== null) this.#sweep(inst, inst.lastPid)
    this.#ports.release(inst.port)
    inst.holdsPort = false
  }

  async #close(): Promise<void> {
    await Promise.allSettled(this.#ops.values())
    const instances = [...this.#instances.values()]
    for (const inst of instances) this.#beginStop(inst)
    await Promise.allSettled(this.#background)
    const running = instances.flatMap((inst) =>
      inst.pid === null ? [] : [{ inst, pid: inst.pid }],
    )
    if (instances.length > 0) {
      await this.#pm2.delete('all').catch((error: unknown) => {
        this.#log.debug({ err: error }, 'pm2 delete all failed')
      })
    }
    for (const inst of instances) this.#finishStop(inst)
    const graceMs = Math.max(0, ...[...this.#apps.values()].map((a) => a.spec.killTimeout))
    const pids = running.map((r) => r.pid)
    const survivors = await waitUntilGone(pids, { timeoutMs: graceMs + CLOSE_GRACE_MS })
    if (survivors.length > 0) {
      this.#log.error({ pids: survivors }, 'instances survived pm2; killing their groups')
      for (const { inst, pid } of running) this.#sweep(inst, pid)
      await waitUntilGone(survivors, { timeoutMs: CLOSE_GRACE_MS })
    }
    this.#persist()
    await this.#persisting
    await this.#pm2.close()
  }

  // ── pm2 events ─────────────────────────────────────────────────────────────────────────

  #onPm2Event(event: Pm2Event): void {
    const inst = this.#instances.get(event.name)
    if (!inst) return
    switch (event.type) {
      case 'online':
        this.#onOnline(inst, event.pid, event.restarts)
        break
      case 'exit':
        this.#onExit(inst, event)
        break
      case 'overlimit':
        this.#log.error({ instance: inst.id }, 'instance keeps crashing; pm2 stopped restarting it')
        break
      case 'output':
        this.#onChunk(inst, event.stream, event.chunk)
        break
      default:
        assertNever(event)
    }
  }

  /** A new process runs (first start, crash restart or our restart): probe it afresh. */
  #onOnline(inst: Instance, pid: number | null, restarts: number): void {
    inst.restarting = false
    inst.pid = pid
    inst.lastPid = pid ?? inst.lastPid
    inst.procStartTime = pid === null ? null : (readProcStat(pid)?.startTime ?? null)
    inst.startedAt = Date.now()
    inst.restarts = restarts
    this.#persist()
    if (inst.stopping) return
    this.#setState(inst, 'starting')
    this.#startProbe(inst)
  }

  /** Out of rotation at once, before pm2 restarts it; an unexpected exit's orphans are killed. */
  #onExit(inst: Instance, event: Extract<Pm2Event, { type: 'exit' }>): void {
    this.#abortProbe(inst)
    for (const stream of ['out', 'err'] as const) {
      for (const line of inst[stream].flush()) this.#emitLine(inst, stream, line)
    }
    const expected = inst.stopping || inst.restarting
    inst.pid = null
    inst.startedAt = null
    inst.lastExitCode = event.exitCode
    inst.lastSignal = event.signal
    this.#setState(inst, exitState(expected))
    if (!expected && event.pid !== null) this.#sweep(inst, event.pid)
    this.#persist()
    const facts = { instance: inst.id, pid: event.pid, code: event.exitCode, signal: event.signal }
    if (expected) this.#log.debug(facts, 'instance exited')
    else this.#log.warn(facts, 'instance crashed')
  }

  #onChunk(inst: Instance, stream: 'out' | 'err', chunk: string): void {
    for (const line of inst[stream].push(chunk)) this.#emitLine(inst, stream, line)
  }

  #emitLine(inst: Instance, stream: 'out' | 'err', line: string): void {
    this.#apps.get(inst.app)?.logs.push(`${new Date().toISOString()} ${inst.id} ${stream} ${line}`)
    if (!this.#onOutput) return
    try {
      this.#onOutput(inst.app, inst.index, stream, line)
    } catch (error) {
      this.#log.error({ err: error }, 'onOutput listener threw')
    }
  }

  // ── readiness ──────────────────────────────────────────────────────────────────────────

  #startProbe(inst: Instance): void {
    const spec = this.#apps.get(inst.app)?.spec
    if (!spec) return
    this.#abortProbe(inst)
    const controller = new AbortController()
    inst.probe = controller
    const probe = waitUntilReady({
      host: INSTANCE_HOST,
      port: inst.port,
      path: spec.health?.path,
      timeoutMs: spec.startTimeout,
      intervalMs: STARTUP_PROBE_INTERVAL_MS,
      attemptTimeoutMs: spec.health?.timeout ?? DEFAULT_HEALTH_TIMEOUT_MS,
      signal: controller.signal,
    })
    // Never rejects; an abort (exit, stop, close) makes the result a no-op.
    void probe.then((result) => this.#onProbeResult(inst, controller, result))
  }

  #onProbeResult(inst: Instance, controller: AbortController, result: Readiness): void {
    if (inst.probe !== controller || controller.signal.aborted) return
    inst.probe = null
    if (result === 'ready') {
      this.#setState(inst, 'healthy')
      this.#log.info({ instance: inst.id, port: inst.port, pid: inst.pid }, 'instance ready')
    } else if (result === 'timeout') {
      this.#setState(inst, 'unhealthy')
      this.#log.warn(
        { instance: inst.id, port: inst.port },
        'instance not ready in time; restarting',
      )
      this.#track(this.#restartInstance(inst))
    }
  }

  #abortProbe(inst: Instance): void {
    inst.probe?.abort()
    inst.probe = null
  }

  // ── helpers ────────────────────────────────────────────────────────────────────────────

  /** Moves an instance and its target together; false when the move is a no-op or not allowed. */
  #setState(inst: Instance, next: TargetState): boolean {
    if (!canTransition(inst.state, next)) return false
    inst.state = next
    this.#registry.upstream(upstreamNameForApp(inst.app)).setState(inst.id, next)
    return true
  }

  /**
   * Kills what is left of an instance's process group (orphaned children, or the process itself
   * if it outlived pm2), when provably ours: a live leader must match the recorded start time.
   */
  #sweep(inst: Instance, pid: number): void {
    const startTime = pid === inst.lastPid ? inst.procStartTime : null
    const killed = killInstanceGroup({ pid, app: inst.app, index: inst.index, startTime })
    if (killed.length > 0) {
      this.#log.warn({ instance: inst.id, pids: killed }, 'killed leftover processes')
    }
  }

  /** Writes the running pids; writes are chained so the file always ends with the latest list. */
  #persist(): void {
    const records: InstanceRecord[] = []
    for (const inst of this.#instances.values()) {
      if (inst.pid === null) continue
      const { id, app, index, pid, procStartTime: startTime } = inst
      records.push({ id, app, index, pid, startTime })
    }
    this.#persisting = this.#persisting
      .then(() => writeInstanceRecords(this.#recordsFile, records))
      .catch((error: unknown) => this.#log.error({ err: error }, 'cannot write the instances file'))
  }

  #serial<T>(name: string, operation: () => Promise<T>): Promise<T> {
    if (this.#closing) {
      return Promise.reject(new errors.PTC_ERR_APP_START_FAILED(name, 'Portico is shutting down'))
    }
    const previous = this.#ops.get(name) ?? Promise.resolve()
    const next = previous.catch(() => undefined).then(operation)
    const settled = next.catch(() => undefined)
    this.#ops.set(name, settled)
    void settled.then(() => this.#ops.get(name) === settled && this.#ops.delete(name))
    return next
  }

  #track(promise: Promise<unknown>): void {
    const tracked = promise.catch((error: unknown) => {
      this.#log.error({ err: error }, 'supervisor background task failed')
    })
    this.#background.add(tracked)
    void tracked.then(() => this.#background.delete(tracked))
  }

  #requireApp(name: string): AppEntry {
    const app = this.#apps.get(name)
    if (!app) throw new errors.PTC_ERR_APP_NOT_FOUND(name)
    return app
  }

  #instancesOf(app: string): Instance[] {
    return [...this.#instances.values()].filter((inst) => inst.app === app)
  }

  #forgetInstances(app: string): void {
    const upstream = this.#registry.upstream(upstreamNameForApp(app))
    for (const inst of this.#instancesOf(app)) {
      this.#instances.delete(inst.pm2Name)
      upstream.remove(inst.id)
    }
  }

  #status(name: string): AppStatus {
    const app = this.#requireApp(name)
    return { name, spec: app.spec, instances: this.#instancesOf(name).map(toStatus) }
  }
}

function toStatus(inst: Instance): InstanceStatus {
  const { id, index, port, pid, state, restarts, startedAt, lastExitCode, lastSignal } = inst
  return { id, index, port, pid, state, restarts, startedAt, lastExitCode, lastSignal }
}

function assertNever(value: never): never {
  throw new Error(`unexpected value ${JSON.stringify(value)}`)
}
