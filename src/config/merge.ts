/** @module mergeOverlay: the one rule that combines the config file with the API's changes. */
import { errors } from '../errors.ts'
import { formatIssues } from './load.ts'
import { type Config, configSchema } from './schema.ts'

/** API changes keyed by app name / route vHost; `null` deletes the file's entry. */
export interface Overlay {
  apps: Record<string, unknown>
  routes: Record<string, unknown>
}

/**
 * mergeOverlay returns the effective config: the file's apps and routes, each replaced by the
 * overlay entry with the same key (or removed by a `null` one), followed by overlay-only entries,
 * all validated together (duplicate hostnames, routes to unknown apps). The file's `edge` section
 * is kept as is. Throws PTC_ERR_CONFIG_INVALID naming `apps[i]…`/`routes[i]…` of the merged list.
 *
 * This is the documented merge rule: the API wins for the entries it touched, the file for the
 * rest, and editing the file never discards an API change.
 */
export function mergeOverlay(file: Config, overlay: Overlay): Config {
  const apps = mergeList(file.apps, overlay.apps, (a) => a.name)
  const routes = mergeList(file.routes, overlay.routes, (r) => r.vHost)
  const raw = { apps, routes }
  const result = configSchema.safeParse(raw)
  if (!result.success) {
    const lines = formatIssues(result.error, raw)
    throw new errors.PTC_ERR_CONFIG_INVALID(
      '(config file + API changes)',
      lines.map((l) => `  ${l}`).join('\n'),
      {
        details: lines,
      },
    )
  }
  return { edge: file.edge, apps: result.data.apps, routes: result.data.routes }
}

function mergeList<T>(
  base: readonly T[],
  overlay: Record<string, unknown>,
  keyOf: (item: T) => string,
): unknown[] {
  const out: unknown[] = []
  const seen = new Set<string>()
  for (const item of base) {
    const key = keyOf(item)
    seen.add(key)
    if (!(key in overlay)) out.push(item)
    else if (overlay[key] !== null) out.push(overlay[key])
  }
  for (const [key, value] of Object.entries(overlay)) {
    if (!seen.has(key) && value !== null) out.push(value)
  }
  return out
}

/** overriddenKeys lists the file entries the overlay replaces or deletes (for a reload warning). */
export function overriddenKeys(file: Config, overlay: Overlay): string[] {
  const apps = file.apps.filter((a) => a.name in overlay.apps).map((a) => `app "${a.name}"`)
  const routes = file.routes
    .filter((r) => r.vHost in overlay.routes)
    .map((r) => `route "${r.vHost}"`)
  return [...apps, ...routes]
}
