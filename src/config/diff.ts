/** @module diffConfig: what changed between two effective configs, app by app and route by route. */
import { isDeepStrictEqual } from 'node:util'
import type { AppSpec, Config, RouteConfig } from './schema.ts'

/** How an app changed; several may apply at once. */
export interface AppChange {
  name: string
  prev: AppSpec
  next: AppSpec
  /** The process must be replaced (command, script, args, env, cwd, limits, framework, envFiles): a rolling reload. */
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
  'framework',
  'envFiles',
] as const
const ROUTING_FIELDS = ['hostnames', 'strategy', 'health'] as const

function differs<T>(a: T, b: T, fields: readonly (keyof T)[]): boolean {
  return fields.some((f) => !isDeepStrictEqual(a[f], b[f]))
}

/** A keyed comparison of two lists: changed pairs are `[prev, next]`. */
interface KeyedDiff<T> {
  added: T[]
  removed: T[]
  changed: [T, T][]
}

/**
 * diffByKey pairs `prev` and `next` items by `key`: added and changed in `next`'s order, removed in
 * `prev`'s; an item counts as changed when it is not deep-equal to its counterpart.
 */
function diffByKey<T>(prev: readonly T[], next: readonly T[], key: (t: T) => string): KeyedDiff<T> {
  const before = new Map(prev.map((t) => [key(t), t]))
  const after = new Map(next.map((t) => [key(t), t]))
  const diff: KeyedDiff<T> = { added: [], removed: [], changed: [] }
  for (const [k, item] of after) {
    const old = before.get(k)
    if (old === undefined) diff.added.push(item)
    else if (!isDeepStrictEqual(old, item)) diff.changed.push([old, item])
  }
  for (const [k, item] of before) if (!after.has(k)) diff.removed.push(item)
  return diff
}

/** diffConfig compares apps by name and routes by vHost. Pure. */
export function diffConfig(prev: Config, next: Config): ConfigDiff {
  const appDiff = diffByKey(prev.apps, next.apps, (a) => a.name)
  const apps: ConfigDiff['apps'] = {
    ...appDiff,
    changed: appDiff.changed.map(([old, app]) => ({
      name: app.name,
      prev: old,
      next: app,
      reload: differs(old, app, PROCESS_FIELDS),
      scale: old.instances !== app.instances,
      routing: differs(old, app, ROUTING_FIELDS),
    })),
  }
  const routeDiff = diffByKey(prev.routes, next.routes, (r) => r.vHost)
  const routes: ConfigDiff['routes'] = {
    ...routeDiff,
    changed: routeDiff.changed.map(([, route]) => route),
  }
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
