/** @module Monitor: pm2 events and readiness probes turned into instance states, and the decisions they call for. */
import { DEFAULT_HEALTH_TIMEOUT_MS, STARTUP_PROBE_INTERVAL_MS } from '../config/defaults.ts'
import type { Logger } from '../observe/log.ts'
import type { TargetState } from '../registry/target.ts'
import { type Readiness, waitUntilListening } from './health.ts'
import {
  abortProbe,
  type ExitOutcome,
  exitOutcome,
  INSTANCE_HOST,
  type Instance,
  mentionsPortInUse,
  RECENT_LINES,
} from './instance.ts'
import { formatListening, listenersOf, wrongPortProblem } from './listeners.ts'
import type { Pm2Event } from './pm2.ts'
import { listenerOwner } from './port-owner.ts'
import { readProcStat } from './processes.ts'
import { isCrashLoop, nextStreak, type RestartPolicy } from './restart-policy.ts'

/** What the Monitor reads and drives (the Lifecycle, which owns the instances). */
export interface MonitorDeps {
  log: Logger
  policy: RestartPolicy
  /** The instance a pm2 process name belongs to: its current process, or the one it replaced. */
  lookup: (pm2Name: string) => { inst: Instance; current: boolean } | undefined
  /** Moves an instance and its target together; false when the move is not allowed. */
  setState: (inst: Instance, next: TargetState) => boolean
  /** Gives the instance a new process (on a new port when asked), in the background. */
  relaunch: (inst: Instance, newPort: boolean) => void
  /** Ends a crash loop: `crashed`, pm2 stops retrying, the port is freed. */
  giveUp: (inst: Instance, why: string) => void
  /** Kills what is left of a process group that is provably the instance's. */
  sweep: (inst: Instance, pid: number) => void
  /** The instance's pids changed (they are recorded for leftovers.ts). */
  changed: () => void
  /** Receives every finished output line; must not throw. */
  onLine: (inst: Instance, stream: 'out' | 'err', line: string) => void
  /** Writes a Portico note into the instance's output (`[portico] …`). */
  notice: (inst: Instance, text: string) => void
  /** Points the instance's target at `host` (its port and state unchanged). */
  retarget: (inst: Instance, host: string) => void
}

/** Addresses a starting instance is probed on, in this order: IPv4 loopback, then IPv6. */
export const PROBE_HOSTS = [INSTANCE_HOST, '::1'] as const
/** How often a starting instance's process tree is checked for listeners on other ports, in ms. */
const WRONG_PORT_CHECK_MS = 1_000
/** Checks in a row that must see it listening elsewhere before it is reported (a server may open a side port first). */
const WRONG_PORT_STRIKES = 2

/**
 * Monitor keeps each instance's state honest from what its process does. On `online` it probes
 * the new process; a passing probe whose listener is the instance's own puts it in rotation
 * (`healthy`), one answered by a squatter moves it to another port. A process that dies leaves
 * the rotation at once but stays `starting` (`unhealthy` while a crash loop is forming, so
 * requests fail fast rather than wait); at its `exit` the restart policy decides: pm2
 * restarts it, it moves port (EADDRINUSE in its last output), or it is given up (`crashed`). An
 * exit we caused (a stop or a relaunch) decides nothing. Not ready within its startTimeout →
 * `unhealthy`, then relaunched on another port (a reload's replacement is left to the reload),
 * unless it was seen listening on another port: then it is reported and left running.
 * Probes try 127.0.0.1, then ::1; the target points wherever the instance answered.
 */
export class Monitor {
  readonly #d: MonitorDeps

  constructor(deps: MonitorDeps) {
    this.#d = deps
  }

  /** handle applies one pm2 event to the instance it names (current or former process). */
  handle(event: Pm2Event): void {
    const found = this.#d.lookup(event.name)
    if (!found) return
    const { inst } = found
    if (!found.current) {
      this.#onFormerEvent(inst, event)
      return
    }
    switch (event.type) {
      case 'online':
        this.#onOnline(inst, event.pid, event.restarts)
        return
      case 'died':
        this.#onDied(inst)
        return
      case 'exit':
        this.#onExit(inst, event)
        return
      case 'overlimit':
        // pm2's own limit is switched off (restart-policy.ts decides); seen only if pm2 changes.
        this.#d.log.warn({ instance: inst.id }, 'pm2 stopped restarting an instance on its own')
        return
      case 'output':
        this.#onOutput(inst, event)
        return
      default:
        assertNever(event)
    }
  }

  /**
   * An event of the process a relaunch replaced: its output and how it ended are kept, but it no
   * longer moves the instance (pm2 may even have restarted it before the delete: ignored).
   */
  #onFormerEvent(inst: Instance, event: Pm2Event): void {
    if (event.type === 'exit') {
      inst.lastExitCode = event.exitCode
      inst.lastSignal = event.signal
    } else if (event.type === 'output') {
      this.#onOutput(inst, event)
    }
  }

  #onOutput(inst: Instance, event: Extract<Pm2Event, { type: 'output' }>): void {
    for (const line of inst[event.stream].push(event.chunk))
      this.#emitLine(inst, event.stream, line)
  }

  /** A new process runs (first start, pm2's crash restart, our relaunch): probe it afresh. */
  #onOnline(inst: Instance, pid: number | null, restarts: number): void {
    inst.pid = pid
    inst.lastPid = pid ?? inst.lastPid
    inst.procStartTime = pid === null ? null : (readProcStat(pid)?.startTime ?? null)
    inst.startedAt = Date.now()
    inst.restarts = inst.restartsBase + restarts
    this.#d.changed()
    // Retired or given up meanwhile: the pending pm2 delete stops this process too.
    if (inst.stopping) return
    inst.restarting = false
    inst.ready = false
    inst.problem = null
    inst.listeningOn = []
    inst.recent.clear()
    this.#d.setState(inst, 'starting')
    this.#startProbe(inst)
  }

  /**
   * The process is gone: out of rotation at once. It stays `starting` (requests wait for it)
   * unless it is failing again without having become ready: then `unhealthy` until pm2's next
   * attempt comes online, so requests get a fast 503 instead of waiting out the backoff.
   */
  #onDied(inst: Instance): void {
    if (inst.stopping || inst.restarting) return
    abortProbe(inst)
    this.#d.setState(inst, !inst.ready && inst.streak.length > 0 ? 'unhealthy' : 'starting')
  }

  /** Unless we caused it: restart, move port or give up, told by the exit and its last output. */
  #onExit(inst: Instance, event: Extract<Pm2Event, { type: 'exit' }>): void {
    abortProbe(inst)
    for (const stream of ['out', 'err'] as const) {
      for (const line of inst[stream].flush()) this.#emitLine(inst, stream, line)
    }
    const atMs = Date.now()
    const uptimeMs = inst.startedAt === null ? null : atMs - inst.startedAt
    inst.pid = null
    inst.startedAt = null
    inst.lastExitCode = event.exitCode
    inst.lastSignal = event.signal
    this.#d.changed()
    const expected = inst.stopping || inst.restarting
    if (!expected && event.pid !== null) this.#d.sweep(inst, event.pid)
    const outcome = exitOutcome({
      expected,
      crashLoop: !expected && this.#runEnded(inst, atMs, uptimeMs),
      portInUse: mentionsPortInUse(inst.recent.tail(RECENT_LINES)),
    })
    this.#afterExit(inst, outcome, event)
  }

  #afterExit(inst: Instance, outcome: ExitOutcome, event: Extract<Pm2Event, { type: 'exit' }>) {
    const how = describeExit(event.exitCode, event.signal)
    const facts = { instance: inst.id, pid: event.pid, code: event.exitCode, signal: event.signal }
    switch (outcome) {
      case 'expected':
        this.#d.log.debug(facts, 'instance exited')
        return
      case 'give-up':
        this.#d.giveUp(inst, `${how}, ${inst.streak.length} unstable runs in a row`)
        return
      case 'move-port':
        this.#d.log.warn(facts, `instance ${inst.id} could not bind port ${inst.port}; moving it`)
        this.#d.notice(inst, `port ${inst.port} is taken; moving to another port`)
        this.#d.setState(inst, 'starting')
        this.#d.relaunch(inst, true)
        return
      case 'restart':
        this.#d.log.warn(facts, `instance ${inst.id} ${how}; pm2 restarts it`)
        // A crash loop forming (unstable twice in a row): not worth waiting for, see #onDied.
        this.#d.setState(inst, inst.streak.length >= 2 ? 'unhealthy' : 'starting')
        return
      default:
        assertNever(outcome)
    }
  }

  #emitLine(inst: Instance, stream: 'out' | 'err', line: string): void {
    inst.recent.push(line)
    this.#d.onLine(inst, stream, line)
  }

  /** Records an unstable or stable end of a run; returns whether it completes a crash loop. */
  #runEnded(inst: Instance, atMs: number, uptimeMs: number | null): boolean {
    inst.streak = nextStreak(
      inst.streak,
      { atMs, uptimeMs, becameReady: inst.ready },
      this.#d.policy,
    )
    return isCrashLoop(inst.streak, this.#d.policy)
  }

  // ── readiness ──────────────────────────────────────────────────────────────────────────

  /** Polls the instance's new process until ready, its startTimeout, or an abort. */
  #startProbe(inst: Instance): void {
    abortProbe(inst)
    const controller = new AbortController()
    inst.probe = controller
    const { health, startTimeout } = inst.spec
    const probe = waitUntilListening({
      host: INSTANCE_HOST,
      hosts: PROBE_HOSTS,
      port: inst.port,
      path: health?.path,
      timeoutMs: startTimeout,
      intervalMs: STARTUP_PROBE_INTERVAL_MS,
      attemptTimeoutMs: health?.timeout ?? DEFAULT_HEALTH_TIMEOUT_MS,
      signal: controller.signal,
    })
    this.#watchListeners(inst, controller)
    // Never rejects; an abort (exit, stop, close) makes the result a no-op.
    void probe.then(({ readiness, host }) => this.#onProbeResult(inst, controller, readiness, host))
  }

  /**
   * While the instance starts, looks every second at where its process tree listens. Seen
   * listening on loopback, twice in a row, but not on its port: reported at once (log, its
   * output, the API's `problem`) and `unhealthy`, so requests fail fast instead of waiting.
   * The probe goes on: a server that opens its port late still joins.
   */
  #watchListeners(inst: Instance, controller: AbortController): void {
    let strikes = 0
    const timer = setInterval(() => {
      const pid = inst.pid
      if (inst.probe !== controller || pid === null) return stop()
      void listenersOf(pid).then((listening) => {
        if (inst.probe !== controller || controller.signal.aborted) return
        const problem = wrongPortProblem(inst.id, inst.port, listening)
        strikes = problem === undefined ? 0 : strikes + 1
        if (problem === undefined || strikes < WRONG_PORT_STRIKES || inst.problem === problem)
          return
        this.#reportWrongPort(inst, problem, listening.map(formatListening))
      })
    }, WRONG_PORT_CHECK_MS)
    timer.unref()
    const stop = () => clearInterval(timer)
    controller.signal.addEventListener('abort', stop, { once: true })
  }

  #reportWrongPort(inst: Instance, problem: string, listeningOn: string[]): void {
    inst.problem = problem
    inst.listeningOn = listeningOn
    const facts = {
      code: 'PTC_ERR_APP_WRONG_PORT',
      app: inst.app,
      instance: inst.id,
      port: inst.port,
    }
    this.#d.log.warn({ ...facts, listeningOn }, problem)
    this.#d.notice(inst, problem)
    this.#d.setState(inst, 'unhealthy')
  }

  #onProbeResult(
    inst: Instance,
    controller: AbortController,
    result: Readiness,
    host: string | undefined,
  ): void {
    if (inst.probe !== controller || controller.signal.aborted) return
    inst.probe = null
    if (result === 'ready') {
      this.#onReady(inst, host ?? INSTANCE_HOST)
      return
    }
    if (result !== 'timeout') return
    this.#d.setState(inst, 'unhealthy')
    // A reload's replacement is not retried: the reload reports it and the old one serves on.
    if (inst.candidate) return
    // It runs and listens, only elsewhere: another process on another port would do the same.
    if (inst.problem !== null) {
      this.#d.log.warn(
        { instance: inst.id, port: inst.port, listeningOn: inst.listeningOn },
        `instance ${inst.id} not ready within ${inst.spec.startTimeout} ms; left running, out of rotation: ${inst.problem}`,
      )
      return
    }
    const uptimeMs = inst.startedAt === null ? null : Date.now() - inst.startedAt
    if (this.#runEnded(inst, Date.now(), uptimeMs)) {
      this.#d.giveUp(inst, `not ready within ${inst.spec.startTimeout} ms, again`)
      return
    }
    this.#d.log.warn(
      { instance: inst.id, port: inst.port },
      `instance ${inst.id} not ready within ${inst.spec.startTimeout} ms; relaunching it on another port`,
    )
    this.#d.relaunch(inst, true)
  }

  /** The probe passed: in rotation, unless the listener is a squatter that was there first. */
  #onReady(inst: Instance, host: string): void {
    const owner =
      inst.pid === null
        ? 'unknown'
        : listenerOwner(inst.port, { app: inst.app, index: inst.index, pgid: inst.pid })
    if (owner === 'foreign') {
      const why = `port ${inst.port} is held by another process`
      this.#d.log.warn({ instance: inst.id }, `${why}; moving ${inst.id} to another port`)
      this.#d.notice(inst, `${why}; moving to another port`)
      if (this.#runEnded(inst, Date.now(), null)) {
        this.#d.giveUp(inst, why)
        return
      }
      this.#d.relaunch(inst, true)
      return
    }
    inst.ready = true
    inst.problem = null
    if (host !== inst.host) this.#d.retarget(inst, host)
    this.#d.setState(inst, 'healthy')
    this.#d.log.info({ instance: inst.id, host, port: inst.port, pid: inst.pid }, 'instance ready')
    this.#recordListeners(inst)
  }

  /** Shows where a ready instance listens (`[::1]:21003`) in the API; best effort, in the background. */
  #recordListeners(inst: Instance): void {
    const pid = inst.pid
    if (pid === null) return
    void listenersOf(pid).then((listening) => {
      if (inst.pid === pid) inst.listeningOn = listening.map(formatListening)
    })
  }
}

/** describeExit renders an exit for logs: `exited with code 1`, `was killed by SIGKILL`. */
export function describeExit(code: number | null, signal: string | null): string {
  if (signal !== null) return `was killed by ${signal}`
  return code === null ? 'exited' : `exited with code ${code}`
}

function assertNever(value: never): never {
  throw new Error(`unexpected value ${JSON.stringify(value)}`)
}
