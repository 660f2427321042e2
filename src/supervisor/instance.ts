/** @module Instance: one supervised process's record, its states and allowed transitions, and how it is launched. */
import { resolve } from 'node:path'
import type { AppSpec } from '../config/schema.ts'
import { errors } from '../errors.ts'
import type { TargetState } from '../registry/target.ts'
import { LineSplitter, LogRing } from './logs.ts'
import type { Launch } from './pm2.ts'

/**
 * An instance's state is its target's state. `healthy` alone means "in rotation"; `starting`
 * means "will serve soon" (first start, or coming back after an exit or a restart: requests wait
 * for it); `unhealthy` means "not serving, not worth waiting for" (not ready in time, or failing
 * again and again: a crash loop forming); `crashed` means "will not come back" (the restart
 * policy gave up); `draining` means "finishing its requests, then stopped"; `stopped` means
 * stopped on purpose.
 */
export type InstanceState = TargetState

/** Instances listen on loopback only; their targets point there (or at ::1, see health.ts). */
export const INSTANCE_HOST = '127.0.0.1'

/** Output lines of the current run kept per instance (why it crashed, EADDRINUSE). */
export const RECENT_LINES = 20

/**
 * Allowed moves. Any running state may go back to `starting` (an exit pm2 or we will restart)
 * or end in `crashed` (a crash loop). `draining` only ends in `stopped`: a drained instance is
 * going away whatever its process does meanwhile. `stopped` and `crashed` are left only by a new
 * start; stopping a crashed instance makes it `stopped`.
 */
const TRANSITIONS: Readonly<Record<InstanceState, readonly InstanceState[]>> = {
  starting: ['healthy', 'unhealthy', 'draining', 'stopped', 'crashed'],
  healthy: ['starting', 'unhealthy', 'draining', 'stopped', 'crashed'],
  unhealthy: ['starting', 'healthy', 'draining', 'stopped', 'crashed'],
  draining: ['stopped'],
  stopped: ['starting'],
  crashed: ['starting', 'stopped'],
}

/** canTransition reports whether an instance may move from `from` to `to` (false for from === to). */
export function canTransition(from: InstanceState, to: InstanceState): boolean {
  return TRANSITIONS[from].includes(to)
}

/** What the supervisor does after a process exit. */
export type ExitOutcome =
  /** We stopped or replaced it: the operation that did so sets the state. */
  | 'expected'
  /** Crash loop: state `crashed`, pm2 told to stop retrying, port released. */
  | 'give-up'
  /** It could not bind its port: `starting`, relaunched on another port. */
  | 'move-port'
  /** `starting`: pm2 launches it again after its backoff delay. */
  | 'restart'

/**
 * exitOutcome decides what an exit means. An expected exit is never a crash; a crash loop wins
 * over a port collision (a port move is an unstable restart too, so a range full of squatters
 * also ends in `crashed`).
 */
export function exitOutcome(facts: {
  expected: boolean
  crashLoop: boolean
  portInUse: boolean
}): ExitOutcome {
  if (facts.expected) return 'expected'
  if (facts.crashLoop) return 'give-up'
  return facts.portInUse ? 'move-port' : 'restart'
}

const PORT_IN_USE = /EADDRINUSE|address already in use/i

/** mentionsPortInUse reports whether output lines say the port was taken (Node, Python, Go, …). */
export function mentionsPortInUse(lines: readonly string[]): boolean {
  return lines.some((line) => PORT_IN_USE.test(line))
}

/** slotId returns the target id of an app's instance `index`: `web#0`. */
export function slotId(app: string, index: number): string {
  return `${app}#${index}`
}

/**
 * candidateId returns the target id of the replacement a rolling reload starts for `index`
 * (`web#0.next`). It serves under that id next to the old instance until the old one is stopped,
 * then takes over `web#0`. Reloads of one app never overlap, so one such id per index suffices.
 */
export function candidateId(app: string, index: number): string {
  return `${slotId(app, index)}.next`
}

/** Instance is the Supervisor's mutable record of one instance; nothing outside it writes one. */
export interface Instance {
  /** Target id: `<app>#<index>`, or candidateId while it is a reload's replacement. */
  id: string
  readonly app: string
  readonly index: number
  /** The spec its process runs (a reload starts replacements with the new one). */
  readonly spec: AppSpec
  /** pm2 process name, unique for the Supervisor's lifetime (`web-0`, then `web-0-r7`, …). */
  pm2Name: string
  port: number
  /** Where its target points: 127.0.0.1, or ::1 once its readiness probe found it there. */
  host: string
  /** Where its process tree listens (`127.0.0.1:5173`, `[::1]:21003`), as last seen. */
  listeningOn: string[]
  /** Why it cannot serve although it runs (it listens on another port), for the API; null if none. */
  problem: string | null
  /** True while `port` is leased to it; the lease goes back exactly once. */
  holdsPort: boolean
  pid: number | null
  /** The last pid this instance had: its process group is swept for orphans after it stops. */
  lastPid: number | null
  /** `/proc` start time of `pid`, recorded with it to recognise the process after a crash. */
  procStartTime: number | null
  state: InstanceState
  /** Restarts shown to users: `restartsBase` + pm2's count for the current pm2 process. */
  restarts: number
  /** Restarts of earlier pm2 processes of this instance (we relaunch on a new pm2 name). */
  restartsBase: number
  startedAt: number | null
  lastExitCode: number | null
  lastSignal: string | null
  /** Whether the current process passed its readiness probe. */
  ready: boolean
  /** End times of its unstable runs in a row (restart-policy.ts). */
  streak: number[]
  /** Set for good by a stop, a retirement or a give-up: exits are expected, new processes ignored. */
  stopping: boolean
  /** Set while we relaunch it ourselves: its exit is expected and it stays `starting`. */
  restarting: boolean
  /** A reload's replacement: a failed start is reported to the reload, not retried. */
  candidate: boolean
  /** Our relaunches of it, chained so that they never overlap; a stop waits for them. */
  pending: Promise<void>
  probe: AbortController | null
  readonly out: LineSplitter
  readonly err: LineSplitter
  /** The last lines of the current run, both streams. */
  readonly recent: LogRing
}

/** What newInstance needs. */
export interface InstanceInit {
  spec: AppSpec
  index: number
  port: number
  pm2Name: string
  candidate: boolean
}

/** newInstance returns the record of an instance about to start, in state `starting`. */
export function newInstance(init: InstanceInit): Instance {
  const { spec, index, candidate } = init
  return {
    id: candidate ? candidateId(spec.name, index) : slotId(spec.name, index),
    app: spec.name,
    index,
    spec,
    pm2Name: init.pm2Name,
    port: init.port,
    host: INSTANCE_HOST,
    listeningOn: [],
    problem: null,
    holdsPort: true,
    pid: null,
    lastPid: null,
    procStartTime: null,
    state: 'starting',
    restarts: 0,
    restartsBase: 0,
    startedAt: null,
    lastExitCode: null,
    lastSignal: null,
    ready: false,
    streak: [],
    stopping: false,
    restarting: false,
    candidate,
    pending: Promise.resolve(),
    probe: null,
    out: new LineSplitter(),
    err: new LineSplitter(),
    recent: new LogRing(RECENT_LINES),
  }
}

/** abortProbe stops the instance's readiness probe, if one runs (its result is then ignored). */
export function abortProbe(inst: Instance): void {
  inst.probe?.abort()
  inst.probe = null
}

/** launchOf maps `command` to a shell launch and `script` (resolved against `cwd`) to node. */
export function launchOf(spec: AppSpec, cwd: string): Launch {
  if (spec.command !== undefined) return { kind: 'shell', command: spec.command }
  if (spec.script !== undefined) {
    return { kind: 'node', script: resolve(cwd, spec.script), args: spec.args }
  }
  throw new errors.PTC_ERR_APP_START_FAILED(spec.name, 'neither "command" nor "script" is set')
}

/**
 * Pm2Names hands out pm2 process names never used before by its owner: `web-0`, then
 * `web-0-r1`, `web-0-r2`, … A new name per process means a late event of a replaced process can
 * never be taken for its successor's. App names are [a-z0-9_-] and indexes digits, so
 * `<app>-<index>[-r<n>]` never collides across apps.
 */
export class Pm2Names {
  readonly #used = new Set<string>()
  #serial = 0

  /** next returns a fresh name for instance `index` of `app`. */
  next(app: string, index: number): string {
    let name = `${app}-${index}`
    if (this.#used.has(name)) name = `${name}-r${++this.#serial}`
    this.#used.add(name)
    return name
  }
}
