/** @module diffConfig: what changed between two effective configs, app by app and route by route. */
import { isDeepStrictEqual } from 'node:util'
import type { AppSpec, Config, RouteConfig } from './schema.ts'

/** How an app changed; several may apply at once. */
export interface AppChange {
  name: string
  prev: AppSpec
  next: AppSpec
  /** The process must be replaced (command, script, args, env, cwd, limits): a rolling reload. */
  reload: boolean
  /** Only the instance count changed: scale. */
  scale: boolean
  /** Hostnames, strategy or health changed: routing only, processes untouched. */
  routing: boolean
}

/** The difference between two configs. */
export interface ConfigDiff {
  apps: { added: AppSpec[]; removed: AppSpec[]; changed: AppChange[] }
  routes: { added: RouteConfig[]; removed: RouteConfig[]; changed: RouteConfig[] }
  /** True when nothing at all changed (callers skip the apply, as Traefik skips equal configs). */
  empty: boolean
}

const PROCESS_FIELDS = [
  'command',
  'script',
  'args',
  'cwd',
  'env',
  'killTimeout',
  'maxMemory',
  'startTimeout',
] as const
const ROUTING_FIELDS = ['hostnames', 'strategy', 'health'] as const

function differs<T>(a: T, b: T, fields: readonly (keyof T)[]): boolean {
  return fields.some((f) => !isDeepStrictEqual(a[f], b[f]))
}

function byKey<T>(items: readonly T[], key: (t: T) => string): Map<string, T> {
  return new Map(items.map((t) => [key(t), t]))
}

/** diffConfig compares apps by name and routes by vHost. Pure. */
export function diffConfig(prev: Config, next: Config): ConfigDiff {
  const prevApps = byKey(prev.apps, (a) => a.name)
  const nextApps = byKey(next.apps, (a) => a.name)
  const apps: ConfigDiff['apps'] = { added: [], removed: [], changed: [] }
  for (const [name, app] of nextApps) {
    const old = prevApps.get(name)
    if (!old) apps.added.push(app)
    else if (!isDeepStrictEqual(old, app)) {
      apps.changed.push({
        name,
        prev: old,
        next: app,
        reload: differs(old, app, PROCESS_FIELDS),
        scale: old.instances !== app.instances,
        routing: differs(old, app, ROUTING_FIELDS),
      })
    }
  }
  for (const [name, app] of prevApps) if (!nextApps.has(name)) apps.removed.push(app)
  const prevRoutes = byKey(prev.routes, (r) => r.vHost)
  const nextRoutes = byKey(next.routes, (r) => r.vHost)
  const routes: ConfigDiff['routes'] = { added: [], removed: [], changed: [] }
  for (const [vHost, route] of nextRoutes) {
    const old = prevRoutes.get(vHost)
    if (!old) routes.added.push(route)
    else if (!isDeepStrictEqual(old, route)) routes.changed.push(route)
  }
  for (const [vHost, route] of prevRoutes) if (!nextRoutes.has(vHost)) routes.removed.push(route)
  const empty =
    apps.added.length +
      apps.removed.length +
      apps.changed.length +
      routes.added.length +
      routes.removed.length +
      routes.changed.length ===
      0 && isDeepStrictEqual(prev.edge, next.edge)
  return { apps, routes, empty }
}

/** summarizeDiff renders a diff as one line: `+app docs, ~web (reload), -route old.localhost`. */
export function summarizeDiff(diff: ConfigDiff): string {
  const parts: string[] = []
  for (const a of diff.apps.added) parts.push(`+app ${a.name}`)
  for (const c of diff.apps.changed) {
    const kinds = [
      c.reload && 'reload',
      c.scale && `scale ${c.prev.instances}→${c.next.instances}`,
      c.routing && 'routing',
    ].filter(Boolean)
    parts.push(`~${c.name} (${kinds.join(', ') || 'settings'})`)
  }
  for (const a of diff.apps.removed) parts.push(`-app ${a.name}`)
  for (const r of diff.routes.added) parts.push(`+route ${r.vHost}`)
  for (const r of diff.routes.changed) parts.push(`~route ${r.vHost}`)
  for (const r of diff.routes.removed) parts.push(`-route ${r.vHost}`)
  return parts.length === 0 ? 'no changes' : parts.join(', ')
}
