/** @module createConfigReloader: re-read the config file, check it, apply it, say what changed (API and file watcher). */
import { isDeepStrictEqual } from 'node:util'
import type { ReloadResult } from '../api/config.ts'
import type { ConfigDiff } from '../config/diff.ts'
import { summarizeDiff } from '../config/diff.ts'
import { loadConfig } from '../config/load.ts'
import type { Config } from '../config/schema.ts'
import { errors, PorticoError } from '../errors.ts'
import type { CertStore } from '../proxy/tls/cert-store.ts'
import { wildcardRefusals } from '../proxy/tls/preflight.ts'
import { apiCertificateCheck } from './certificates.ts'
import type { Runtime } from './runtime.ts'

/** What the reloader reads and drives. */
export interface ReloaderDeps {
  configPath: string
  certsDir: string
  /** Whether ACME is on (a public wildcard then needs a certificate file). */
  acme: boolean
  certs: CertStore
  runtime: Pick<Runtime, 'applyFile' | 'config' | 'table'>
}

/** One problem as listed in the `details` of PTC_ERR_CONFIG_REJECTED. */
export interface ReloadIssue {
  /** The config path, e.g. `apps[1].instances`, or `(file)` when the file could not be read. */
  path: string
  message: string
}

/** issuesOf turns a load or validation error into one issue per bad field. */
function issuesOf(error: unknown): ReloadIssue[] {
  if (error instanceof PorticoError && Array.isArray(error.details)) {
    return (error.details as unknown[]).map((line) => {
      const text = String(line)
      const split = text.indexOf(': ')
      return split < 0
        ? { path: '(config)', message: text }
        : { path: text.slice(0, split), message: text.slice(split + 2) }
    })
  }
  return [{ path: '(file)', message: error instanceof Error ? error.message : String(error) }]
}

function rejected(issues: ReloadIssue[], cause?: unknown): PorticoError {
  const text = issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')
  return new errors.PTC_ERR_CONFIG_REJECTED(text, { cause, details: issues })
}

function names<T>(items: T[], key: (t: T) => string): string[] {
  return items.map(key)
}

/** resultOf describes an applied diff and the hostnames served now. */
function resultOf(diff: ConfigDiff, hostnames: string[], restartRequired: boolean): ReloadResult {
  return {
    summary: summarizeDiff(diff),
    apps: {
      added: names(diff.apps.added, (a) => a.name),
      removed: names(diff.apps.removed, (a) => a.name),
      changed: names(diff.apps.changed, (c) => c.name),
    },
    routes: {
      added: names(diff.routes.added, (r) => r.vHost),
      removed: names(diff.routes.removed, (r) => r.vHost),
      changed: names(diff.routes.changed, (r) => r.vHost),
    },
    hostnames,
    restartRequired,
  }
}

/**
 * createConfigReloader returns `reload()`: load the config file (in a worker thread, with its
 * timeout), refuse a public wildcard without a certificate file while ACME is on, and apply the
 * result through the Runtime (which keeps the API's changes on top). Any problem throws
 * PTC_ERR_CONFIG_REJECTED (400) whose `details` name each bad field, and nothing changes. An
 * unchanged file (say the watcher applied it first) answers with an empty diff. `edge` changes
 * are reported as `restartRequired`: they apply at the next start.
 */
export function createConfigReloader(deps: ReloaderDeps): { reload: () => Promise<ReloadResult> } {
  return {
    reload: async () => {
      let file: Config
      try {
        file = await loadConfig(deps.configPath)
      } catch (error) {
        throw rejected(issuesOf(error), error)
      }
      const wildcards = await wildcardRefusals({
        config: file,
        certsDir: deps.certsDir,
        acme: deps.acme,
        hasApiCertificate: apiCertificateCheck(deps.certs),
      })
      if (wildcards.length > 0) throw rejected(wildcards)
      const restartRequired = !isDeepStrictEqual(file.edge, deps.runtime.config().edge)
      let diff: ConfigDiff
      try {
        diff = await deps.runtime.applyFile(file)
      } catch (error) {
        throw rejected(issuesOf(error), error)
      }
      return resultOf(diff, deps.runtime.table().hosts(), restartRequired)
    },
  }
}
