/** @module Instance: one supervised process's record, its states and allowed transitions, its env and launch. */
import { resolve } from 'node:path'
import type { AppSpec } from '../config/schema.ts'
import { errors } from '../errors.ts'
import type { TargetState } from '../registry/target.ts'
import { LineSplitter } from './logs.ts'
import type { Launch } from './pm2.ts'

/** An instance's state is its target's state: `healthy` alone means "in rotation". */
export type InstanceState = TargetState

/** Instances listen on loopback only; their targets point there. */
export const INSTANCE_HOST = '127.0.0.1'

/** Variables an instance inherits from Portico's own environment (plus `LC_*`); the rest goes in `env`. */
const INHERITED_ENV = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'LANGUAGE',
  'TZ',
  'TMPDIR',
  'TERM',
]

/**
 * Allowed moves. `starting` is reachable from everywhere (pm2 reports a new process: whatever
 * came before is over). `stopped` and `crashed` accept no late `crashed`/`stopped` from a
 * duplicate pm2 exit event, except that stopping a crashed instance makes it `stopped`.
 */
const TRANSITIONS: Readonly<Record<InstanceState, readonly InstanceState[]>> = {
  starting: ['healthy', 'unhealthy', 'draining', 'stopped', 'crashed'],
  healthy: ['starting', 'unhealthy', 'draining', 'stopped', 'crashed'],
  unhealthy: ['starting', 'healthy', 'draining', 'stopped', 'crashed'],
  draining: ['starting', 'stopped', 'crashed'],
  stopped: ['starting'],
  crashed: ['starting', 'stopped'],
}

/** canTransition reports whether an instance may move from `from` to `to` (false for from === to). */
export function canTransition(from: InstanceState, to: InstanceState): boolean {
  return TRANSITIONS[from].includes(to)
}

/** exitState is the state after the process exits: `stopped` when we asked for it, else `crashed`. */
export function exitState(expected: boolean): InstanceState {
  return expected ? 'stopped' : 'crashed'
}

/** Instance is the Supervisor's mutable record of one instance; nothing outside it writes one. */
export interface Instance {
  /** Target id: `<app>#<index>`. */
  readonly id: string
  readonly app: string
  readonly index: number
  /** pm2 process name: `<app>-<index>`. */
  readonly pm2Name: string
  readonly port: number
  /** True until the stop is finished and the port went back to the allocator (exactly once). */
  holdsPort: boolean
  pid: number | null
  /** The last pid this instance had: its process group is swept for orphans after it stops. */
  lastPid: number | null
  /** `/proc` start time of `pid`, recorded with it to recognise the process after a crash. */
  procStartTime: number | null
  state: InstanceState
  restarts: number
  startedAt: number | null
  lastExitCode: number | null
  lastSignal: string | null
  /** Set for good by stop/close: exits are expected and new processes are not probed. */
  stopping: boolean
  /** Set by a restart until the next process is online: its exit is expected. */
  restarting: boolean
  probe: AbortController | null
  readonly out: LineSplitter
  readonly err: LineSplitter
}

/** newInstance returns the record of an instance about to start, in state `starting`. */
export function newInstance(app: string, index: number, port: number): Instance {
  return {
    id: `${app}#${index}`,
    app,
    index,
    // App names are [a-z0-9_-]; the index after the last "-" keeps `web-1`+0 and `web`+10 apart.
    pm2Name: `${app}-${index}`,
    port,
    holdsPort: true,
    pid: null,
    lastPid: null,
    procStartTime: null,
    state: 'starting',
    restarts: 0,
    startedAt: null,
    lastExitCode: null,
    lastSignal: null,
    stopping: false,
    restarting: false,
    probe: null,
    out: new LineSplitter(),
    err: new LineSplitter(),
  }
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
 * instanceEnv is the whole environment of an instance: a few variables inherited from Portico
 * (PATH, HOME, locale, …; never its secrets such as PORTICO_API_TOKEN), then `spec.env`, then
 * PORT, PORTICO_APP and PORTICO_INSTANCE, which nothing overrides.
 */
export function instanceEnv(
  spec: Pick<AppSpec, 'name' | 'env'>,
  instance: Pick<Instance, 'index' | 'port'>,
  inherited: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(inherited)) {
    if (value !== undefined && (INHERITED_ENV.includes(key) || key.startsWith('LC_'))) {
      env[key] = value
    }
  }
  Object.assign(env, spec.env)
  env.PORT = String(instance.port)
  env.PORTICO_APP = spec.name
  env.PORTICO_INSTANCE = String(instance.index)
  return env
}
