/** @module Operator commands: `portico status|apps|routes|logs|start|stop|restart|reload|scale|reload-config` over the admin API. */

/** Commands that talk to a running Portico through its admin API. */
export const OPERATOR_COMMANDS = [
  'status',
  'apps',
  'routes',
  'logs',
  'start',
  'stop',
  'restart',
  'reload',
  'scale',
  'reload-config',
] as const
export type OperatorCommand = (typeof OPERATOR_COMMANDS)[number]

/** isOperatorCommand reports whether `name` is one of OPERATOR_COMMANDS. */
export function isOperatorCommand(name: string | undefined): name is OperatorCommand {
  return name !== undefined && (OPERATOR_COMMANDS as readonly string[]).includes(name)
}

/** Where and how to reach the admin API. */
export interface ApiTarget {
  /** Base URL without the `/api/v1` suffix, e.g. `http://127.0.0.1:8844`. */
  base: string
  token: string | undefined
}

/** apiTarget returns the API address: `--api`, else 127.0.0.1 and `PORTICO_API_PORT` (8844). */
export function apiTarget(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): ApiTarget {
  const base = flag ?? `http://127.0.0.1:${env.PORTICO_API_PORT || '8844'}`
  return { base: base.replace(/\/+$/, ''), token: env.PORTICO_API_TOKEN || undefined }
}

/** The outcome of a command: text for stdout, or an error message and exit code. */
export type CommandResult =
  | { ok: true; text: string }
  | { ok: false; text: string; exitCode: number }

interface ErrorBody {
  error?: { code?: string; message?: string }
}

interface ReloadBody {
  summary: string
  hostnames: string[]
  restartRequired: boolean
}

function formatReload(body: ReloadBody): string {
  const restart = body.restartRequired
    ? '\nedge settings changed: they apply at the next start'
    : ''
  return `config reloaded: ${body.summary}\nserving: ${body.hostnames.join(', ') || '(no hostnames)'}${restart}`
}

async function call(
  target: ApiTarget,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const headers: Record<string, string> = {}
  if (target.token) headers.Authorization = `Bearer ${target.token}`
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  const res = await fetch(`${target.base}/api/v1${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: res.status, json: await res.json().catch(() => undefined) }
}

interface InstanceLine {
  id: string
  port: number
  pid: number | null
  state: string
  restarts: number
}
interface AppLine {
  name: string
  hostnames: string[]
  instances: InstanceLine[]
}
interface RouteLine {
  vHost: string
  app?: string
  source: string
  backends: { id: string; isDead: boolean }[]
}

function formatApps(apps: AppLine[]): string {
  return apps
    .map((app) => {
      const head = `${app.name}  ${app.hostnames.join(', ')}`
      const rows = app.instances.map(
        (i) =>
          `  ${i.id.padEnd(12)} ${i.state.padEnd(10)} port ${i.port}  pid ${i.pid ?? '-'}  restarts ${i.restarts}`,
      )
      return [head, ...rows].join('\n')
    })
    .join('\n')
}

function formatRoutes(routes: RouteLine[]): string {
  return routes
    .map((r) => {
      const to = r.app
        ? `app ${r.app}`
        : r.backends.map((b) => `${b.id}${b.isDead ? ' (dead)' : ''}`).join(', ')
      return `${r.vHost.padEnd(28)} ${r.source.padEnd(5)} → ${to}`
    })
    .join('\n')
}

/**
 * runOperatorCommand performs one command against the API and returns what to print. A refused
 * call (4xx/5xx) comes back as `ok: false` with the API's `code: message`; an unreachable API
 * says where it looked and how to point elsewhere.
 */
export async function runOperatorCommand(
  command: OperatorCommand,
  args: string[],
  target: ApiTarget,
  tail = 100,
): Promise<CommandResult> {
  const app = args[0]
  const needsApp = !['status', 'apps', 'routes', 'reload-config'].includes(command)
  if (needsApp && (app === undefined || app === ''))
    return { ok: false, text: `usage: portico ${command} <app>`, exitCode: 2 }
  try {
    const { status, json } = await request(command, app ?? '', args, target, tail)
    if (status >= 400) {
      const error = (json as ErrorBody | undefined)?.error
      return {
        ok: false,
        text: `${error?.code ?? status}: ${error?.message ?? 'request failed'}`,
        exitCode: 1,
      }
    }
    return { ok: true, text: render(command, json) }
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error)
    return {
      ok: false,
      text: `cannot reach the admin API at ${target.base} (${why}); is Portico running? (--api URL, PORTICO_API_PORT)`,
      exitCode: 1,
    }
  }
}

function request(
  command: OperatorCommand,
  app: string,
  args: string[],
  target: ApiTarget,
  tail: number,
) {
  const name = encodeURIComponent(app)
  switch (command) {
    case 'status':
      return call(target, 'GET', '/health')
    case 'apps':
      return call(target, 'GET', '/apps')
    case 'routes':
      return call(target, 'GET', '/routes')
    case 'logs':
      return call(target, 'GET', `/apps/${name}/logs?tail=${tail}`)
    case 'scale':
      return call(target, 'POST', `/apps/${name}/scale`, { instances: Number(args[1]) })
    case 'reload-config':
      return call(target, 'POST', '/config/reload', {})
    case 'start':
    case 'stop':
    case 'restart':
    case 'reload':
      return call(target, 'POST', `/apps/${name}/${command}`, {})
  }
}

function render(command: OperatorCommand, json: unknown): string {
  switch (command) {
    case 'status': {
      const h = json as {
        status: string
        mode: string
        ports: { https: number; http: number; api: number }
      }
      return `${h.status} (${h.mode}): https :${h.ports.https}, http :${h.ports.http}, api :${h.ports.api}`
    }
    case 'apps':
      return formatApps(json as AppLine[])
    case 'routes':
      return formatRoutes(json as RouteLine[])
    case 'logs':
      return (json as { lines: string[] }).lines.join('\n')
    case 'reload-config':
      return formatReload(json as ReloadBody)
    default:
      return formatApps([json as AppLine])
  }
}
