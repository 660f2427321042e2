/** @module The only pm2 import: an embedded no-daemon pm2 with its own home, promisified, its bus as typed events. */

import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { format } from 'node:util'
import type { Logger } from '../observe/log.ts'

/** How an instance's process is launched. */
export type Launch =
  /** Run through `/bin/sh -c`, so `$PORT` expands; the pid is the shell's (or the app's with `exec`). */
  | { kind: 'shell'; command: string }
  /** Run a node script with the node running Portico; the pid is the app's own. */
  | { kind: 'node'; script: string; args: readonly string[] }

/** What Pm2Client.start needs to launch one process (one Portico instance). */
export interface ProcessSpec {
  /** pm2 process name, unique in this pm2 home (`web-0`). */
  name: string
  launch: Launch
  /** Absolute working directory. */
  cwd: string
  /** The whole environment of the process. pm2 adds its own scalar fields (name, pm_id, …). */
  env: Record<string, string>
  /** Grace between SIGTERM and SIGKILL when pm2 stops the process tree, in milliseconds. */
  killTimeoutMs: number
  /** pm2 `max_memory_restart`, e.g. `"300M"` (checked by pm2 only every 30 s). */
  maxMemory?: string | undefined
}

/** What the bus reports, typed. `pid` is null only if pm2 could not tell. */
export type Pm2Event =
  | { type: 'online'; name: string; pid: number | null; restarts: number }
  /** The process is gone (reported the moment pm2 reaps it); `exit` follows with the details. */
  | { type: 'died'; name: string; pid: number | null }
  /** After `died`, once its last output was delivered. */
  | {
      type: 'exit'
      name: string
      pid: number | null
      exitCode: number | null
      signal: string | null
    }
  /** pm2 gave up restarting on its own (its limit is off, so only if pm2 changes). */
  | { type: 'overlimit'; name: string }
  /** A raw chunk of stdout or stderr: several lines or part of one. */
  | { type: 'output'; name: string; stream: 'out' | 'err'; chunk: string }

/** Receives bus events in the order pm2 sent them, one at a time. */
export type Pm2Listener = (event: Pm2Event) => void

/** One process as pm2 lists it. */
export interface Pm2ProcessInfo {
  name: string
  pmId: number
  pid: number | null
  status: string
  restarts: number
}

// Restart behaviour handed to pm2: it restarts a process that exits, after an exponential
// backoff (100 ms × 1.5ⁿ, capped at 15 s by pm2, reset after 30 s of uptime). When to give up is
// not pm2's call: its `max_restarts` check is switched off (with a backoff it leaves the process
// `waiting restart` forever) and restart-policy.ts decides, through the supervisor.
/** A process that lived less than this restarted "unstably", in milliseconds (pm2 `min_uptime`). */
const MIN_UPTIME_MS = 1_000
/** pm2's own limit of unstable restarts, set out of reach: the Supervisor stops crash loops. */
const PM2_RESTART_LIMIT = Number.MAX_SAFE_INTEGER
/** First crash-restart delay, in milliseconds (pm2 `exp_backoff_restart_delay`). */
const RESTART_BACKOFF_MS = 100

/** How long an exit waits for the process's stdout and stderr to reach their end, in ms. */
const OUTPUT_DRAIN_WAIT_MS = 50

type Callback<T> = (error: unknown, value?: T) => void

interface Pm2Description {
  name?: string
  pid?: number
  pm_id?: number
  pm2_env?: { status?: string; restart_time?: number }
}

interface Pm2StartOptions {
  name: string
  script: string
  args: string[]
  interpreter: string
  cwd: string
  env: Record<string, string>
  filter_env: string[]
  output: string
  error: string
  autorestart: boolean
  exp_backoff_restart_delay: number
  min_uptime: number
  max_restarts: number
  kill_timeout: number
  treekill: boolean
  vizion: boolean
  pmx: boolean
  automation: boolean
  max_memory_restart?: string
}

interface BusProcessEvent {
  event: string
  process: { name: string; pm_id: number; restart_time?: number; exit_code?: number }
}

interface BusLogEvent {
  process: { name: string; pm_id: number }
  data: string
}

/** pm2's event bus: God's own emitter in this process, or its copy over the pub socket. */
interface Pm2Bus {
  on(event: string, listener: (data: never) => void): unknown
  off?(event: string, listener: (data: never) => void): unknown
}

interface Pm2Api {
  connect(cb: Callback<{ new_pm2_instance: boolean }>): void
  start(options: Pm2StartOptions, cb: Callback<unknown>): void
  stop(name: string, cb: Callback<unknown>): void
  restart(name: string, cb: Callback<unknown>): void
  delete(name: string, cb: Callback<unknown>): void
  describe(name: string, cb: Callback<Pm2Description[]>): void
  list(cb: Callback<Pm2Description[]>): void
  launchBus(cb: Callback<Pm2Bus>): void
  disconnect(cb: Callback<unknown>): void
}

interface Pm2Module {
  custom: new (options: { pm2_home: string; daemon_mode: boolean }) => Pm2Api
}

type GodTable = typeof import('pm2/lib/God.js')['default']
type GodChild = NonNullable<GodTable['clusters_db'][number]>

/** The current run of one pm2 process: which child it is, and whether its exit was reported. */
interface Run {
  child: GodChild | undefined
  pid: number | null
  exited: boolean
}

/** pm2 keeps one process table (God) per OS process: one client at a time, or they mix. */
let claimed = false

/**
 * Pm2Client is pm2 embedded in this process (no daemon), with its own home, so it never
 * touches `~/.pm2` or attaches to a user's pm2. Apps are spawned detached (each leads its own
 * process group) and outlive us if we die without `delete` — hence the supervisor's instances
 * file. Bus events are delivered in order, one at a time, to the listeners.
 */
export class Pm2Client {
  readonly #api: Pm2Api
  readonly #god: GodTable | undefined
  readonly #log: Logger
  readonly #listeners = new Set<Pm2Listener>()
  readonly #runs = new Map<number, Run>()
  readonly #bus: Pm2Bus
  readonly #subscriptions: [string, (data: never) => void][]
  #queue: Promise<void> = Promise.resolve()
  #closing: Promise<void> | undefined

  private constructor(api: Pm2Api, bus: Pm2Bus, god: GodTable | undefined, log: Logger) {
    this.#api = api
    this.#god = god
    this.#log = log
    this.#bus = bus
    this.#subscriptions = [
      ['process:event', (event: BusProcessEvent) => this.#onProcessEvent(event)],
      ['log:out', (event: BusLogEvent) => this.#onLog(event, 'out')],
      ['log:err', (event: BusLogEvent) => this.#onLog(event, 'err')],
    ]
    for (const [name, listener] of this.#subscriptions) bus.on(name, listener)
  }

  /**
   * connect starts pm2 inside this process with its home at `home`. It sets PM2_HOME,
   * PM2_KILL_SIGNAL=SIGTERM and PM2_LOG_DATE_FORMAT='' before pm2 is first imported (pm2 reads
   * them once; the last stops it patching console.*). It refuses a home whose pm2 belongs to
   * another live process (pm2 would silently attach to it) and a second client in one process.
   */
  static async connect(options: { home: string; log: Logger }): Promise<Pm2Client> {
    if (claimed) throw new Error('a pm2 client is already connected in this process')
    claimed = true
    try {
      routeConsoleToLog(options.log)
      const api = await createApi(options.home)
      const meta = await call<{ new_pm2_instance: boolean }>((cb) => api.connect(cb))
      if (!meta.new_pm2_instance && !(await isOwnDaemon(options.home))) {
        await call((cb) => api.disconnect(cb))
        throw new Error(
          `pm2 home ${options.home} belongs to another running process; give each Portico its own state dir`,
        )
      }
      // God's bus in this process delivers each event synchronously, output and exits in the
      // order they happened; the pub socket copy (the fallback) arrives a few ms later, and
      // under load much later, which keeps a dead instance in rotation that much longer.
      const god = await loadGod()
      const bus = god?.bus ?? (await call<Pm2Bus>((cb) => api.launchBus(cb)))
      return new Pm2Client(api, bus, god, options.log)
    } catch (error) {
      claimed = false
      throw error
    }
  }

  /** onEvent registers a listener for every bus event; the returned function unregisters it. */
  onEvent(listener: Pm2Listener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** start launches one process; it resolves once pm2 has spawned it (not when it is ready). */
  async start(spec: ProcessSpec): Promise<void> {
    await call((cb) => this.#api.start(toStartOptions(spec), cb))
  }

  /** stop kills the process tree (SIGTERM, SIGKILL after kill_timeout) and keeps it listed. */
  async stop(name: string): Promise<void> {
    await call((cb) => this.#api.stop(name, cb))
  }

  /** restart stops the process tree and starts it again with the same env (a new pid). */
  async restart(name: string): Promise<void> {
    await call((cb) => this.#api.restart(name, cb))
  }

  /** delete stops the process tree and forgets it; `all` deletes every process. */
  async delete(name: string): Promise<void> {
    await call((cb) => this.#api.delete(name, cb))
  }

  /** describe returns the processes named `name` (zero or one here). */
  async describe(name: string): Promise<Pm2ProcessInfo[]> {
    const list = await call<Pm2Description[]>((cb) => this.#api.describe(name, cb))
    return (list ?? []).map(toInfo)
  }

  /** list returns every process pm2 knows in this home. */
  async list(): Promise<Pm2ProcessInfo[]> {
    const list = await call<Pm2Description[]>((cb) => this.#api.list(cb))
    return (list ?? []).map(toInfo)
  }

  /**
   * close disconnects the RPC and the bus; idempotent. Processes are left as they are (delete
   * them first). pm2's in-process God keeps timers, so the host does not exit on its own after.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      try {
        await call((cb) => this.#api.disconnect(cb))
      } catch (error) {
        this.#log.warn({ err: error }, 'pm2 disconnect failed')
      }
      await this.#queue
      for (const [name, listener] of this.#subscriptions) this.#bus.off?.(name, listener)
      this.#listeners.clear()
      claimed = false
    })()
    return this.#closing
  }

  #onProcessEvent(event: BusProcessEvent): void {
    const { name, pm_id: pmId } = event.process
    this.#log.trace({ name, pmId, event: event.event }, 'pm2 bus event')
    if (event.event === 'online') {
      this.#enqueue(() => this.#online(name, pmId, event.process.restart_time ?? 0))
    } else if (event.event === 'exit') {
      this.#enqueue(() => this.#exit(name, pmId, event.process.exit_code))
    } else if (event.event === 'restart overlimit') {
      this.#enqueue(() => this.#emit({ type: 'overlimit', name }))
    }
    // start, stop, restart, reload, delete: the online/exit events around them say it all.
  }

  #onLog(event: BusLogEvent, stream: 'out' | 'err'): void {
    const { name } = event.process
    this.#enqueue(() => this.#emit({ type: 'output', name, stream, chunk: event.data }))
  }

  /** The bus carries no pid: take it from pm2's in-process table, or ask describe. */
  async #online(name: string, pmId: number, restarts: number): Promise<void> {
    const child = this.#god?.clusters_db[pmId] ?? undefined
    const pid = child?.pid ?? (await this.#pidOf(name))
    this.#runs.set(pmId, { child, pid, exited: false })
    this.#emit({ type: 'online', name, pid, restarts })
  }

  /**
   * pm2 reports one stop twice (`stopping`, then `stopped`): only the first exit of a run counts.
   * `died` goes out at once; `exit` once the process's output pipes are drained (its last words,
   * an EADDRINUSE say, come before it), at most OUTPUT_DRAIN_WAIT_MS later. Events that arrive
   * meanwhile are still delivered. The bus says exit code 0 for a signal death; the child itself
   * knows code and signal.
   */
  #exit(name: string, pmId: number, busExitCode: number | undefined): void {
    const run = this.#runs.get(pmId) ?? { child: undefined, pid: null, exited: false }
    if (run.exited) return
    run.exited = true
    this.#runs.set(pmId, run)
    this.#emit({ type: 'died', name, pid: run.pid })
    void outputDrained(run.child, OUTPUT_DRAIN_WAIT_MS).then(() =>
      this.#enqueue(() => {
        const exitCode = run.child ? (run.child.exitCode ?? null) : (busExitCode ?? null)
        const signal = run.child?.signalCode ?? null
        this.#emit({ type: 'exit', name, pid: run.pid, exitCode, signal })
      }),
    )
  }

  async #pidOf(name: string): Promise<number | null> {
    try {
      const [info] = await this.describe(name)
      return info?.pid ?? null
    } catch (error) {
      this.#log.debug({ err: error, name }, 'pm2 describe failed')
      return null
    }
  }

  #enqueue(task: () => void | Promise<void>): void {
    this.#queue = this.#queue
      .then(task)
      .catch((error: unknown) => this.#log.error({ err: error }, 'pm2 event handling failed'))
  }

  #emit(event: Pm2Event): void {
    for (const listener of this.#listeners) {
      try {
        listener(event)
      } catch (error) {
        this.#log.error({ err: error, event: event.type }, 'pm2 event listener threw')
      }
    }
  }
}

/**
 * outputDrained resolves once the child's stdout and stderr have ended, or after `capMs` (a
 * grandchild may hold the pipes open for as long as it lives).
 */
function outputDrained(child: GodChild | undefined, capMs: number): Promise<void> {
  const open = [child?.stdout, child?.stderr].filter(
    (stream): stream is Readable => stream != null && !stream.destroyed && !stream.readableEnded,
  )
  if (open.length === 0) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, capMs)
    let left = open.length
    for (const stream of open) {
      stream.once('close', () => {
        left -= 1
        if (left === 0) {
          clearTimeout(timer)
          resolve()
        }
      })
    }
  })
}

/**
 * routeConsoleToLog sends what pm2 prints through the global console ("App [web-0:0] online",
 * "Launching in no daemon mode", …) to Portico's log at debug (errors at warn), so the terminal
 * and stdout carry only Portico's own lines and the apps' prefixed output. Portico itself never
 * writes through console; pm2 in no-daemon mode has no switch to stay quiet.
 */
function routeConsoleToLog(log: Logger): void {
  const pm2Log = log.child({ component: 'pm2' })
  const to =
    (level: 'debug' | 'warn') =>
    (...args: unknown[]) =>
      pm2Log[level](format(...args))
  console.log = to('debug')
  console.info = to('debug')
  console.warn = to('warn')
  console.error = to('warn')
}

async function createApi(home: string): Promise<Pm2Api> {
  process.env.PM2_HOME = home
  process.env.PM2_KILL_SIGNAL = 'SIGTERM'
  process.env.PM2_LOG_DATE_FORMAT = ''
  // Dynamic on purpose: `require('pm2')` builds a default API that creates ~/.pm2 unless
  // PM2_HOME is already set, and a static import would run before the lines above.
  const pm2 = ((await import('pm2')) as unknown as { default: Pm2Module }).default
  return new pm2.custom({ pm2_home: home, daemon_mode: false })
}

/** In no-daemon mode God is already loaded by pm2's Daemon: this import returns that instance. */
async function loadGod(): Promise<GodTable | undefined> {
  try {
    return (await import('pm2/lib/God.js')).default
  } catch {
    // pm2 moved its internals: pids then come from describe, and exit signals are unknown.
    return undefined
  }
}

/** isOwnDaemon reports whether the pm2 already answering at `home` runs in this very process. */
async function isOwnDaemon(home: string): Promise<boolean> {
  try {
    return (await readFile(join(home, 'pm2.pid'), 'utf8')).trim() === String(process.pid)
  } catch {
    // No pid file: some other process answers on the socket.
    return false
  }
}

function toStartOptions(spec: ProcessSpec): Pm2StartOptions {
  const common = {
    name: spec.name,
    cwd: spec.cwd,
    env: spec.env,
    // pm2 merges our whole process.env into the app's unless every key is filtered out:
    // `filter_env: true` is ignored (pm2 tests `.length`), a string deletes from *our* env.
    filter_env: [''],
    output: '/dev/null',
    error: '/dev/null',
    autorestart: true,
    exp_backoff_restart_delay: RESTART_BACKOFF_MS,
    min_uptime: MIN_UPTIME_MS,
    max_restarts: PM2_RESTART_LIMIT,
    kill_timeout: spec.killTimeoutMs,
    treekill: true,
    vizion: false,
    pmx: false,
    automation: false,
    ...(spec.maxMemory === undefined ? {} : { max_memory_restart: spec.maxMemory }),
  }
  return spec.launch.kind === 'shell'
    ? { ...common, script: '/bin/sh', args: ['-c', spec.launch.command], interpreter: 'none' }
    : {
        ...common,
        script: spec.launch.script,
        args: [...spec.launch.args],
        interpreter: process.execPath,
      }
}

function toInfo(d: Pm2Description): Pm2ProcessInfo {
  return {
    name: d.name ?? '',
    pmId: d.pm_id ?? -1,
    pid: d.pid !== undefined && d.pid > 0 ? d.pid : null,
    status: d.pm2_env?.status ?? 'unknown',
    restarts: d.pm2_env?.restart_time ?? 0,
  }
}

/** call adapts one callback-style pm2 method to a promise. */
function call<T = unknown>(fn: (cb: Callback<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    fn((error, value) => (error ? reject(toError(error)) : resolve(value as T)))
  })
}

/** pm2 calls back with Errors, strings, `{ msg }` objects or arrays of those. */
function toError(error: unknown): Error {
  if (error instanceof Error) return error
  if (Array.isArray(error)) {
    return new Error(error.map((e) => toError(e).message).join('; '), { cause: error })
  }
  if (typeof error === 'object' && error !== null && 'msg' in error) {
    return new Error(String(error.msg), { cause: error })
  }
  return new Error(String(error), { cause: error })
}
