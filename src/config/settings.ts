/** @module Runtime settings: the validated config merged with PORTICO_* environment overrides. */
import os from 'node:os'
import path from 'node:path'
import { errors } from '../errors.ts'
import type { AcmeConfig } from './acme-schema.ts'
import {
  DEFAULT_PORT_RANGE,
  LETS_ENCRYPT_DIRECTORY,
  LETS_ENCRYPT_STAGING_DIRECTORY,
} from './defaults.ts'
import type { Config } from './schema.ts'

/** How Portico was started: `dev` issues dev certificates and pretty logs; `start` is production. */
export type Mode = 'dev' | 'start'

/** Everything the composition root needs to start, after overrides. Paths are absolute. */
export interface Settings {
  mode: Mode
  configPath: string
  configDir: string
  stateDir: string
  certsDir: string
  bind: string
  httpsPort: number
  httpPort: number
  /** Whether the HTTP listener redirects known hosts to HTTPS (308). */
  httpRedirect: boolean
  apiHost: string
  apiPort: number
  apiToken: string | undefined
  portRange: { from: number; to: number }
  logLevel: string
  /** Edge processes: 1 serves in the main process; more are node:cluster workers. */
  workers: number
  /** Folder of the user's dev CA, shared by every project (`PORTICO_CA_DIR`; see defaultCaDir). */
  caDir: string
  /** Names or `PREFIX*` patterns of Portico's environment never passed to apps (`PORTICO_ENV_DENY`). */
  envDeny: string[]
  /** Automatic certificates; undefined when `edge.acme` is not set. */
  acme: AcmeSettings | undefined
  /** The access log file; undefined to log requests on stdout. */
  accessLog: { file: string; maxBytes: number; keep: number } | undefined
  /** Metrics history retention, or false when `edge.history` is false. */
  history: { retentionMs: number } | false
}

/** `edge.acme` with its defaults applied and paths made absolute. */
export interface AcmeSettings {
  email: string
  /** The ACME directory URL (Let's Encrypt production, staging, or the configured one). */
  directoryUrl: string
  /** Absolute path of a PEM bundle trusted for the directory's HTTPS, if any. */
  caBundleFile: string | undefined
  challenges: { http01: boolean; tlsAlpn01: boolean }
  renewalWindowRatio: number
}

/** acmeSettings resolves `edge.acme` (paths relative to the config folder). */
export function acmeSettings(acme: AcmeConfig | undefined, configDir: string) {
  if (acme === undefined) return undefined
  const directoryUrl =
    acme.directory ?? (acme.staging ? LETS_ENCRYPT_STAGING_DIRECTORY : LETS_ENCRYPT_DIRECTORY)
  return {
    email: acme.email,
    directoryUrl,
    caBundleFile: acme.caBundle === undefined ? undefined : path.resolve(configDir, acme.caBundle),
    challenges: { ...acme.challenges },
    renewalWindowRatio: acme.renewalWindowRatio,
  } satisfies AcmeSettings
}

/** The environment variables that override the config file (each beats it). */
export const ENV_OVERRIDES = [
  'PORTICO_CONFIG',
  'PORTICO_HTTPS_PORT',
  'PORTICO_HTTP_PORT',
  'PORTICO_API_PORT',
  'PORTICO_BIND',
  'PORTICO_STATE_DIR',
  'PORTICO_CERTS_DIR',
  'PORTICO_API_TOKEN',
  'PORTICO_PORT_RANGE',
  'PORTICO_LOG_LEVEL',
  'PORTICO_WORKERS',
  'PORTICO_CA_DIR',
  'PORTICO_ENV_DENY',
] as const

const DAY_MS = 24 * 60 * 60 * 1000

type Env = Readonly<Record<string, string | undefined>>

/**
 * resolveConfigPath picks the config file: `--config` beats `PORTICO_CONFIG`, which beats
 * `apps.config.ts` in the current directory. The result is absolute.
 */
export function resolveConfigPath(flag: string | undefined, env: Env, cwd: string): string {
  return path.resolve(cwd, flag ?? env.PORTICO_CONFIG ?? 'apps.config.ts')
}

/**
 * resolveSettings applies the environment overrides to `config`. A malformed variable throws
 * PTC_ERR_CONFIG_INVALID naming the variable and what it expects.
 */
export function resolveSettings(
  config: Config,
  configPath: string,
  env: Env,
  mode: Mode,
): Settings {
  const configDir = path.dirname(configPath)
  const edge = config.edge
  return {
    mode,
    configPath,
    configDir,
    stateDir: path.resolve(configDir, env.PORTICO_STATE_DIR ?? '.portico'),
    certsDir: path.resolve(configDir, env.PORTICO_CERTS_DIR ?? 'certs'),
    bind: env.PORTICO_BIND ?? edge.bind,
    httpsPort: portFromEnv(env, 'PORTICO_HTTPS_PORT') ?? edge.https.port,
    httpPort: portFromEnv(env, 'PORTICO_HTTP_PORT') ?? edge.http.port,
    httpRedirect: edge.http.redirect,
    apiHost: edge.api.host,
    apiPort: portFromEnv(env, 'PORTICO_API_PORT') ?? edge.api.port,
    apiToken: env.PORTICO_API_TOKEN || edge.api.token,
    portRange: portRangeFromEnv(env) ?? edge.portRange ?? { ...DEFAULT_PORT_RANGE },
    logLevel: env.PORTICO_LOG_LEVEL ?? 'info',
    workers: workerCount(workersFromEnv(env) ?? edge.workers ?? (mode === 'dev' ? 1 : 'auto')),
    caDir: defaultCaDir(env, configDir),
    envDeny: parseDenyList(env.PORTICO_ENV_DENY),
    acme: acmeSettings(edge.acme, configDir),
    accessLog:
      edge.accessLog === undefined
        ? undefined
        : { ...edge.accessLog, file: path.resolve(configDir, edge.accessLog.file) },
    history: edge.history === false ? false : { retentionMs: edge.history.retentionDays * DAY_MS },
  }
}

/**
 * defaultCaDir returns where the user's dev CA lives: `PORTICO_CA_DIR` (relative to `base`) if
 * set; on macOS `~/Library/Application Support/portico`; elsewhere `$XDG_DATA_HOME/portico`,
 * or `~/.local/share/portico` (the XDG Base Directory default). `~` is `$HOME`.
 */
export function defaultCaDir(
  env: Env,
  base: string,
  platform: NodeJS.Platform = process.platform,
): string {
  if (env.PORTICO_CA_DIR) return path.resolve(base, env.PORTICO_CA_DIR)
  const home = env.HOME || os.homedir()
  if (platform === 'darwin') return path.join(home, 'Library', 'Application Support', 'portico')
  const xdg = env.XDG_DATA_HOME
  const data = xdg && path.isAbsolute(xdg) ? xdg : path.join(home, '.local', 'share')
  return path.join(data, 'portico')
}

/** parseDenyList reads `PORTICO_ENV_DENY`: names or `PREFIX*` patterns, comma- or space-separated. */
export function parseDenyList(value: string | undefined): string[] {
  return (value ?? '').split(/[\s,]+/).filter((entry) => entry.length > 0)
}

function invalidEnv(name: string, value: string, expected: string): Error {
  return new errors.PTC_ERR_CONFIG_INVALID(
    `environment`,
    `  ${name}: expected ${expected}, got "${value}"`,
  )
}

function portFromEnv(env: Env, name: string): number | undefined {
  const value = env[name]
  if (value === undefined || value === '') return undefined
  const port = Number(value)
  if (!/^\d+$/.test(value) || port > 65535)
    throw invalidEnv(name, value, 'a port number from 0 to 65535')
  return port
}

/** workerCount turns `auto` into the number of cores the process may use. */
function workerCount(workers: number | 'auto'): number {
  return workers === 'auto' ? os.availableParallelism() : workers
}

function workersFromEnv(env: Env): number | 'auto' | undefined {
  const value = env.PORTICO_WORKERS
  if (value === undefined || value === '') return undefined
  if (value === 'auto') return 'auto'
  const n = Number(value)
  if (!/^\d+$/.test(value) || n < 1 || n > 64)
    throw invalidEnv('PORTICO_WORKERS', value, 'a number from 1 to 64, or "auto"')
  return n
}

function portRangeFromEnv(env: Env): { from: number; to: number } | undefined {
  const value = env.PORTICO_PORT_RANGE
  if (value === undefined || value === '') return undefined
  const match = /^(\d+)-(\d+)$/.exec(value)
  const from = Number(match?.[1])
  const to = Number(match?.[2])
  if (!match || from < 1024 || to > 65535 || from > to) {
    throw invalidEnv('PORTICO_PORT_RANGE', value, 'LO-HI with 1024 <= LO <= HI <= 65535')
  }
  return { from, to }
}
