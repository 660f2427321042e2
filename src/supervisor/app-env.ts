/** @module An instance's environment: Portico's own minus its secrets, the dev server's variables, the app's .env files, its `env`, then Portico's variables. */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { parseEnv } from 'node:util'
import { type AppSpec, appHostnames } from '../config/schema.ts'

/**
 * Never passed on from Portico's environment: its API token, the variables it sets for its
 * embedded pm2, and the context npm gives to Portico's own `npm run dev` (`npm_config_local_prefix`
 * there would make an app's own `npm run` use Portico's package.json). `NAME*` is a prefix.
 */
export const DEFAULT_ENV_DENY: readonly string[] = [
  'PORTICO_API_TOKEN',
  'PM2_*',
  'npm_*',
  'INIT_CWD',
]

/** What an instance's environment is built from, besides its app's spec. */
export interface EnvContext {
  /** Portico's environment as it started (before pm2 set its own variables). */
  inherited: Readonly<Record<string, string | undefined>>
  /** Extra names or `PREFIX*` patterns never passed on (`PORTICO_ENV_DENY`). */
  deny?: readonly string[]
  /** The edge's HTTPS port, for PORTICO_URL; without it PORTICO_URL is not set. */
  httpsPort?: number | undefined
  /** A PEM file holding the dev CA (and any CAs Portico itself was given), for NODE_EXTRA_CA_CERTS. */
  caFile?: string | undefined
}

/** The layers of an instance's environment, lowest precedence first. */
export interface EnvLayers {
  /** Variables its dev server reads instead of flags (frameworks.ts: Nuxt's HOST). */
  tool?: Readonly<Record<string, string>>
  /** Merged contents of its `.env` files. */
  dotenv?: Readonly<Record<string, string>>
}

/** isDenied reports whether `name` matches one of `patterns` (exact, or a prefix ending in `*`). */
export function isDenied(name: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p))
}

/**
 * publicUrl returns the app's public URL, `https://<first hostname>[:port]` (no port for 443),
 * or undefined when it has no plain hostname or the HTTPS port is unknown.
 */
export function publicUrl(
  spec: Pick<AppSpec, 'name' | 'hostnames'>,
  httpsPort: number | undefined,
): string | undefined {
  const host = appHostnames(spec).find((h) => !h.startsWith('*.'))
  if (host === undefined || httpsPort === undefined) return undefined
  return `https://${host}${httpsPort === 443 ? '' : `:${httpsPort}`}`
}

/**
 * instanceEnvironment is the whole environment of one instance, each layer beating the one
 * before: Portico's inherited environment minus DEFAULT_ENV_DENY and `ctx.deny`; the dev
 * server's variables; NODE_EXTRA_CA_CERTS (the dev CA); the app's `.env` files; the config's
 * `env`; then PORT, PORTICO_APP, PORTICO_INSTANCE and PORTICO_URL, which nothing overrides.
 */
export function instanceEnvironment(
  spec: Pick<AppSpec, 'name' | 'env' | 'hostnames'>,
  instance: { index: number; port: number },
  ctx: EnvContext,
  layers: EnvLayers = {},
): Record<string, string> {
  const deny = [...DEFAULT_ENV_DENY, ...(ctx.deny ?? [])]
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(ctx.inherited)) {
    if (value !== undefined && !isDenied(key, deny)) env[key] = value
  }
  Object.assign(env, layers.tool)
  if (ctx.caFile !== undefined) env.NODE_EXTRA_CA_CERTS = ctx.caFile
  Object.assign(env, layers.dotenv, spec.env)
  env.PORT = String(instance.port)
  env.PORTICO_APP = spec.name
  env.PORTICO_INSTANCE = String(instance.index)
  const url = publicUrl(spec, ctx.httpsPort)
  if (url !== undefined) env.PORTICO_URL = url
  else delete env.PORTICO_URL
  return env
}

/** envFilePaths returns the absolute paths of an app's `.env` files, in precedence order. */
export function envFilePaths(cwd: string, files: readonly string[]): string[] {
  return files.map((file) => path.resolve(cwd, file))
}

/**
 * readEnvFiles parses each file with Node's `util.parseEnv` and merges them, a later file
 * beating an earlier one. A missing file is skipped; an unreadable one too, reported through
 * `onError` (its values may be secrets, so only the path and the error are passed).
 */
export async function readEnvFiles(
  files: readonly string[],
  onError: (file: string, error: unknown) => void = () => undefined,
): Promise<Record<string, string>> {
  const merged: Record<string, string> = {}
  for (const file of files) {
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') onError(file, error)
      continue
    }
    for (const [key, value] of Object.entries(parseEnv(text))) {
      if (value !== undefined) merged[key] = value
    }
  }
  return merged
}
