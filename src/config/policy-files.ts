/** @module checkPolicyFiles: the files a config's policies name exist (authProvider modules). */
import { stat } from 'node:fs/promises'
import path from 'node:path'
import { authProviderRef } from './policy-schema.ts'
import type { Config } from './schema.ts'

/** resolveAuthProvider returns an authProvider module path as an absolute path. */
export function resolveAuthProvider(modulePath: string, configDir: string): string {
  return path.resolve(configDir, modulePath)
}

/**
 * checkPolicyFiles returns one `path: problem` line per route whose `authProvider` names a
 * module file that does not exist (relative paths are resolved against `configDir`, the config
 * file's folder). The schema cannot see the disk; loadConfig calls this after it.
 */
export async function checkPolicyFiles(config: Config, configDir: string): Promise<string[]> {
  const lines: string[] = []
  for (const [i, route] of config.routes.entries()) {
    if (route.authProvider === undefined) continue
    const ref = authProviderRef(route.authProvider)
    if (typeof ref === 'string' || ref.kind !== 'module') continue
    const file = resolveAuthProvider(ref.path, configDir)
    const found = await stat(file).then(
      (s) => s.isFile(),
      () => false,
    )
    if (!found) {
      lines.push(
        `routes[${i}].authProvider: no module at ${file} (a path is relative to the config file's folder)`,
      )
    }
  }
  return lines
}
