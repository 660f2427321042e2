/** @module Lifecycle: every instance's process — spawn, relaunch, give-up, retirement, a reload's takeover; its Monitor reads the events. */
import { setTimeout as delay } from 'node:timers/promises'
import type { AppSpec } from '../config/schema.ts'
import { errors } from '../errors.ts'
import type { Logger } from '../observe/log.ts'
import { waitUntilDrained } from '../registry/drain.ts'
import { type Registry, upstreamNameForApp } from '../registry/registry.ts'
import type { TargetState } from '../registry/target.ts'
import type { Upstream } from '../registry/upstream.ts'
import {
  abortProbe,
  canTransition,
  INSTANCE_HOST,
  type Instance,
  newInstance,
  Pm2Names,
} from './instance.ts'
import { buildLaunch, describePlan, type LaunchContext } from './launch.ts'
import { type InstanceRecord, killInstanceGroup, RecordsWriter } from './leftovers.ts'
import { Monitor } from './monitor.ts'
import type { Pm2Client, ProcessSpec } from './pm2.ts'
import type { PortAllocator } from './ports.ts'
import { killGroup, waitUntilGone } from './processes.ts'
import type { RestartPolicy } from './restart-policy.ts'

/** How often `settled` looks at a starting instance, in milliseconds. */
const SETTLE_POLL_MS = 25
/** Extra wait past the longest kill timeout before closeAll() SIGKILLs what is left, in ms. */
const CLOSE_GRACE_MS = 2_000

/** Options of a Lifecycle. */
export interface LifecycleOptions {
  pm2: Pm2Client
  ports: PortAllocator
  registry: Registry
  log: Logger
  /** Folder of the config file: relative app `cwd`s are resolved against it. */
  configDir: string
  /** Where the pids of running instances are recorded (leftovers.ts). */
  recordsFile: string
  policy: RestartPolicy
  /** Receives every finished output line of every instance, in order. */
  onLine: (inst: Instance, stream: 'out' | 'err', line: string) => void
  /** What launches need beyond the spec: inherited environment, deny list, HTTPS port, CA file. */
  launch: LaunchContext
}

/** How a start ended, as `settled` sees it (`aborted`: the caller gave up waiting). */
export type Settled = 'healthy' | 'unhealthy' | 'crashed' | 'stopped' | 'timeout' | 'aborted'

/**
 * Lifecycle runs instances. Each instance is one pm2 process at a time, on its own leased port,
 * registered as a target in its app's upstream. Its state follows its process: `starting` from
 * launch (and again from any exit pm2 or we will recover from: requests wait for it), `healthy`
 * once its readiness probe passes and the listener is its own, `crashed` when the restart policy
 * gives up, `draining` then `stopped` when retired on purpose. Relaunches, give-ups and
 * retirements of one instance are chained (`Instance.pending`), so they never overlap.
 */
export class Lifecycle {
  readonly #o: LifecycleOptions
  readonly #byName = new Map<string, Instance>()
  /** The previous pm2 name of each relaunched instance: its last events still say how it ended. */
  readonly #formerNames = new Map<string, Instance>()
  readonly #names = new Pm2Names()
  readonly #records: RecordsWriter
  readonly #background = new Set<Promise<unknown>>()
  readonly #monitor: Monitor

  constructor(options: LifecycleOptions) {
    this.#o = options
    this.#records = new RecordsWriter(options.recordsFile, options.log)
    this.#monitor = new Monitor({
      log: options.log,
      policy: options.policy,
      lookup: (name) => this.#lookup(name),
      setState: (inst, next) => this.#setState(inst, next),
      relaunch: (inst, newPort) => this.#track(this.#relaunch(inst, newPort)),
      giveUp: (inst, why) => this.#giveUp(inst, why),
      sweep: (inst, pid) => this.#sweep(inst, pid),
      changed: () => this.#persist(),
      onLine: (inst, stream, line) => this.#emitLine(inst, stream, line),
      notice: (inst, text) => this.#notice(inst, text),
      retarget: (inst, host) => this.#retarget(inst, host),
    })
    options.pm2.onEvent((event) => this.#monitor.handle(event))
  }

  /** of returns an app's instances by index, a reload's replacement after the one it replaces. */
  of(app: string): Instance[] {
    return [...this.#byName.values()]
      .filter((inst) => inst.app === app)
      .sort((a, b) => a.index - b.index || Number(a.candidate) - Number(b.candidate))
  }

  /**
   * spawn leases a port, registers target `<app>#<index>` (or the candidate id) as `starting`
   * and has pm2 launch the process. It resolves once pm2 has spawned it; it joins the rotation
   * when its probe passes. On failure nothing is left behind: PTC_ERR_PORT_RANGE_EXHAUSTED or
   * PTC_ERR_APP_START_FAILED.
   */
  async spawn(spec: AppSpec, index: number, candidate: boolean): Promise<Instance> {
    const port = await this.#o.ports.lease()
    const pm2Name = this.#names.next(spec.name, index)
    const inst = newInstance({ spec, index, port, pm2Name, candidate })
    this.#byName.set(pm2Name, inst)
    this.#upstream(inst).add({ id: inst.id, host: inst.host, port, state: 'starting' })
    try {
      await this.#o.pm2.start(await this.#launch(inst, index === 0 && !candidate))
    } catch (error) {
      await this.retire(inst, 0)
      this.forget(inst)
      const reason = error instanceof Error ? error.message : String(error)
      throw new errors.PTC_ERR_APP_START_FAILED(spec.name, reason, { cause: error })
    }
    return inst
  }

  /**
   * retire takes the instance out of rotation (`draining`), waits up to `drainMs` for its
   * in-flight requests and WebSockets to finish, then has pm2 stop its process tree (SIGTERM,
   * SIGKILL after the app's killTimeout), sweeps orphans of its group and frees its port. It
   * ends `stopped`. Safe to call on an instance that is already stopped or crashed. An abort of
   * `signal` cuts the drain short (shutdown: the edge has drained already).
   */
  async retire(inst: Instance, drainMs: number, signal?: AbortSignal): Promise<void> {
    inst.stopping = true
    abortProbe(inst)
    this.#setState(inst, 'draining')
    if (drainMs > 0) await this.#drained(inst, drainMs, signal)
    await this.#enqueue(inst, async () => {
      await this.#o.pm2.delete(inst.pm2Name).catch((error: unknown) => {
        // Never spawned, or already deleted (a give-up did): nothing left for pm2 to stop.
        this.#o.log.debug({ err: error, instance: inst.id }, 'pm2 delete failed')
      })
      this.#released(inst)
    })
    this.#setState(inst, 'stopped')
  }

  /** forget drops a retired instance and its target. */
  forget(inst: Instance): void {
    this.#byName.delete(inst.pm2Name)
    for (const [name, owner] of this.#formerNames)
      if (owner === inst) this.#formerNames.delete(name)
    const target = this.#upstream(inst).get(inst.id)
    if (target?.port === inst.port) this.#upstream(inst).remove(inst.id)
    this.#persist()
  }

  /**
   * restart gives the instance a new process: a running one leaves the rotation at once but
   * stays `starting` (requests wait for it), gets up to `drainMs` for its in-flight requests,
   * then is stopped and launched again on its port; a stopped or crashed one is launched on a
   * newly leased port. Resolves once pm2 has spawned the new process.
   */
  async restart(inst: Instance, drainMs: number): Promise<void> {
    const running = inst.state !== 'stopped' && inst.state !== 'crashed'
    inst.stopping = false
    inst.streak = []
    inst.restarting = true
    abortProbe(inst)
    this.#setState(inst, 'starting')
    if (running && drainMs > 0) await this.#drained(inst, drainMs)
    await this.#relaunch(inst, !inst.holdsPort)
  }

  /**
   * takeOver finishes a reload step: the replacement `next`, in rotation under its candidate id,
   * takes the id of `old`, which must be retired already. `old` is forgotten.
   */
  takeOver(next: Instance, old: Instance): void {
    this.forget(old)
    this.#upstream(next).rename(next.id, old.id, next.state)
    next.id = old.id
    next.candidate = false
    this.#persist()
  }

  /**
   * settled waits until a starting instance is healthy or has failed (`unhealthy` at its start
   * timeout, `crashed`, `stopped`), for at most `timeoutMs`, or until `signal` aborts.
   */
  async settled(inst: Instance, timeoutMs: number, signal?: AbortSignal): Promise<Settled> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (signal?.aborted) return 'aborted'
      if (inst.state === 'healthy' || inst.state === 'crashed' || inst.state === 'stopped') {
        return inst.state
      }
      if (inst.state === 'unhealthy' && inst.probe === null) return 'unhealthy'
      if (Date.now() >= deadline) return 'timeout'
      await delay(SETTLE_POLL_MS)
    }
  }

  /** killAllNow SIGKILLs every running instance's process group, synchronously. */
  killAllNow(): void {
    for (const inst of this.#byName.values()) {
      if (inst.pid === null) continue
      try {
        killGroup(inst.pid, 'SIGKILL')
      } catch (error) {
        this.#o.log.error({ err: error, pid: inst.pid }, 'cannot kill instance group')
      }
    }
  }

  /**
   * closeAll stops every instance without draining (the edge has drained already): pm2 deletes
   * each process tree, then every pid it knew must be gone within the longest killTimeout (plus
   * 2 s), or its group is SIGKILLed. The instances file ends empty.
   */
  async closeAll(): Promise<void> {
    const instances = [...this.#byName.values()]
    for (const inst of instances) {
      inst.stopping = true
      abortProbe(inst)
      this.#setState(inst, 'draining')
    }
    await Promise.allSettled([...this.#background, ...instances.map((i) => i.pending)])
    const running = instances.flatMap((inst) =>
      inst.pid === null ? [] : [[inst, inst.pid] as const],
    )
    if (instances.length > 0) {
      await this.#o.pm2.delete('all').catch((error: unknown) => {
        this.#o.log.debug({ err: error }, 'pm2 delete all failed')
      })
    }
    for (const inst of instances) {
      this.#released(inst)
      this.#setState(inst, 'stopped')
    }
    const graceMs = Math.max(0, ...instances.map((i) => i.spec.killTimeout))
    const pids = running.map(([, pid]) => pid)
    const survivors = await waitUntilGone(pids, { timeoutMs: graceMs + CLOSE_GRACE_MS })
    if (survivors.length > 0) {
      this.#o.log.error({ pids: survivors }, 'instances survived pm2; killing their groups')
      for (const [inst, pid] of running) this.#sweep(inst, pid)
      await waitUntilGone(survivors, { timeoutMs: CLOSE_GRACE_MS })
    }
    this.#persist()
    await this.#records.flushed()
  }

  // ── relaunch and give-up ───────────────────────────────────────────────────────────────

  /**
   * Replaces the instance's pm2 process with a new one (new pm2 name, so late events of the old
   * one are ignored), on a new port when asked or when it holds none. Chained on `pending`.
   */
  #relaunch(inst: Instance, newPort: boolean): Promise<void> {
    return this.#enqueue(inst, async () => {
      if (inst.stopping) return
      inst.restarting = true
      abortProbe(inst)
      this.#setState(inst, 'starting')
      const oldName = inst.pm2Name
      const oldPid = inst.pid ?? inst.lastPid
      // Renamed first: every later event of the old process (its exit, a restart pm2 had
      // already scheduled) names a process this Lifecycle no longer knows, and is ignored.
      this.#rename(inst)
      await this.#o.pm2.delete(oldName).catch((error: unknown) => {
        this.#o.log.debug({ err: error, instance: inst.id }, 'pm2 delete before relaunch failed')
      })
      if (oldPid !== null) this.#sweep(inst, oldPid)
      inst.pid = null
      if (inst.stopping) return
      if (newPort || !inst.holdsPort) await this.#movePort(inst)
      if (inst.stopping) return
      inst.restartsBase = inst.restarts + 1
      inst.restarts = inst.restartsBase
      await this.#launch(inst, false)
        .then((spec) => this.#o.pm2.start(spec))
        .catch((error: unknown) => {
          this.#giveUp(inst, `pm2 could not start it: ${String(error)}`)
        })
    })
  }

  /** Leases a new port and moves the target there; range exhausted → give up. */
  async #movePort(inst: Instance): Promise<void> {
    let port: number
    try {
      port = await this.#o.ports.lease()
    } catch (error) {
      return this.#giveUp(inst, error instanceof Error ? error.message : String(error))
    }
    this.#upstream(inst).move(inst.id, port, inst.state, INSTANCE_HOST)
    if (inst.holdsPort) this.#o.ports.release(inst.port)
    inst.port = port
    inst.host = INSTANCE_HOST
    inst.holdsPort = true
  }

  /** Points the instance's target at `host` (its readiness probe answered there). */
  #retarget(inst: Instance, host: string): void {
    this.#upstream(inst).move(inst.id, inst.port, inst.state, host)
    inst.host = host
  }

  /**
   * What pm2 starts for the instance's next process (command, cwd, environment), read now so
   * a relaunch picks up an edited `.env`. `announce`: say in its output what was added to its
   * command (once per app start, not per instance or restart).
   */
  async #launch(inst: Instance, announce: boolean): Promise<ProcessSpec> {
    const launch = await buildLaunch(inst, this.#o.configDir, this.#o.launch)
    const said = announce ? describePlan(launch.plan) : undefined
    if (said !== undefined) {
      this.#notice(inst, said)
      this.#o.log.info({ app: inst.app, tool: launch.plan?.tool }, `${inst.app}: ${said}`)
    }
    return launch.process
  }

  /**
   * Ends a crash loop: state `crashed` (out of rotation, requests no longer wait), the reason
   * logged once with the last output lines and written to the app's log, then pm2 is told to
   * stop retrying and the port is freed.
   */
  #giveUp(inst: Instance, why: string): void {
    inst.stopping = true
    inst.restarting = false
    abortProbe(inst)
    this.#setState(inst, 'crashed')
    this.#o.log.error(
      { code: 'PTC_ERR_APP_CRASH_LOOP', instance: inst.id, lastLines: inst.recent.tail(10) },
      `instance ${inst.id} keeps crashing (${why}); not restarting it`,
    )
    this.#notice(inst, `crashed: ${why}; not restarting it (fix the app, then restart it)`)
    const name = inst.pm2Name
    this.#track(
      this.#enqueue(inst, async () => {
        await this.#o.pm2.delete(name).catch(() => undefined)
        this.#released(inst)
      }),
    )
  }

  /** Writes a Portico line into the instance's output (its app log shows why things happened). */
  #notice(inst: Instance, text: string): void {
    this.#emitLine(inst, 'err', `[portico] ${text}`)
  }

  #emitLine(inst: Instance, stream: 'out' | 'err', line: string): void {
    try {
      this.#o.onLine(inst, stream, line)
    } catch (error) {
      this.#o.log.error({ err: error }, 'output listener threw')
    }
  }

  #lookup(pm2Name: string): { inst: Instance; current: boolean } | undefined {
    const inst = this.#byName.get(pm2Name)
    if (inst) return { inst, current: true }
    const former = this.#formerNames.get(pm2Name)
    return former ? { inst: former, current: false } : undefined
  }

  // ── helpers ────────────────────────────────────────────────────────────────────────────

  /** Moves an instance and its target together; false when the move is a no-op or not allowed. */
  #setState(inst: Instance, next: TargetState): boolean {
    if (!canTransition(inst.state, next)) return false
    inst.state = next
    this.#upstream(inst).setState(inst.id, next)
    return true
  }

  /** Waits until the instance's target has no request in flight, for at most `timeoutMs`. */
  async #drained(inst: Instance, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const target = this.#upstream(inst).get(inst.id)
    if (!target || (await waitUntilDrained(target, timeoutMs, signal))) return
    this.#o.log.warn(
      { instance: inst.id, inFlight: target.inFlight },
      `drain of ${inst.id} cut short (${timeoutMs} ms or shutdown); stopping it anyway`,
    )
  }

  /** After its process is gone for good: orphans swept, port back to the allocator. Once. */
  #released(inst: Instance): void {
    if (inst.pid !== null) inst.lastPid = inst.pid
    inst.pid = null
    inst.startedAt = null
    if (inst.lastPid !== null) this.#sweep(inst, inst.lastPid)
    if (inst.holdsPort) this.#o.ports.release(inst.port)
    inst.holdsPort = false
    this.#persist()
  }

  /**
   * Kills what is left of an instance's process group (orphaned children, or the process itself
   * if it outlived pm2), when provably ours: a live leader must match the recorded start time.
   */
  #sweep(inst: Instance, pid: number): void {
    const startTime = pid === inst.lastPid ? inst.procStartTime : null
    const killed = killInstanceGroup({ pid, app: inst.app, index: inst.index, startTime })
    if (killed.length > 0) {
      this.#o.log.warn({ instance: inst.id, pids: killed }, 'killed leftover processes')
    }
  }

  #enqueue(inst: Instance, task: () => Promise<void>): Promise<void> {
    const run = inst.pending.then(task)
    inst.pending = run.catch(() => undefined)
    return run
  }

  #track(promise: Promise<unknown>): void {
    const tracked = promise.catch((error: unknown) => {
      this.#o.log.error({ err: error }, 'supervisor background task failed')
    })
    this.#background.add(tracked)
    void tracked.then(() => this.#background.delete(tracked))
  }

  #rename(inst: Instance): void {
    for (const [name, owner] of this.#formerNames)
      if (owner === inst) this.#formerNames.delete(name)
    this.#formerNames.set(inst.pm2Name, inst)
    this.#byName.delete(inst.pm2Name)
    inst.pm2Name = this.#names.next(inst.app, inst.index)
    this.#byName.set(inst.pm2Name, inst)
  }

  #upstream(inst: Instance): Upstream {
    return this.#o.registry.upstream(upstreamNameForApp(inst.app))
  }

  /** Records the running pids (leftovers.ts kills them after a crash of Portico). */
  #persist(): void {
    const records: InstanceRecord[] = []
    for (const inst of this.#byName.values()) {
      if (inst.pid === null) continue
      const { id, app, index, pid, procStartTime: startTime } = inst
      records.push({ id, app, index, pid, startTime })
    }
    this.#records.write(records)
  }
}
