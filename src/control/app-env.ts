/** @module What app launches get from Portico: the launch context, and reloads on `.env` changes. */
import { EnvFileWatcher } from '../config/env-watch.ts'
import type { Settings } from '../config/settings.ts'
import type { Logger } from '../observe/log.ts'
import { appCaFile } from '../proxy/tls/ca-dir.ts'
import { envFilePaths } from '../supervisor/app-env.ts'
import { appCwd, type LaunchContext } from '../supervisor/launch.ts'
import type { Supervisor } from '../supervisor/supervisor.ts'
import type { Runtime } from './runtime.ts'

/**
 * launchContext is what every app launch gets beyond its spec: Portico's environment as it is
 * now (before pm2 adds its own variables), the deny list, the HTTPS port for PORTICO_URL and,
 * with a dev CA, the file for NODE_EXTRA_CA_CERTS.
 */
export async function launchContext(
  settings: Settings,
  httpsPort: number,
  caCert: string | undefined,
  log: Logger,
): Promise<LaunchContext> {
  const inherited = { ...process.env }
  const caFile =
    caCert === undefined
      ? undefined
      : await appCaFile({
          certPath: caCert,
          inherited: inherited.NODE_EXTRA_CA_CERTS,
          stateDir: settings.stateDir,
        })
  return {
    inherited,
    deny: settings.envDeny,
    httpsPort,
    caFile,
    onEnvFileError: (file, err) =>
      log.warn({ err, file }, `cannot read ${file}; starting without it`),
  }
}

/**
 * watchEnvFiles reloads an app (rolling, like a config change) when one of its `.env` files
 * changes; which files each app reads follows every config change.
 */
export async function watchEnvFiles(
  runtime: Runtime,
  supervisor: Supervisor,
  configDir: string,
  log: Logger,
): Promise<EnvFileWatcher> {
  const watcher = await EnvFileWatcher.start({
    filesByApp: () =>
      new Map(
        runtime
          .config()
          .apps.map((app) => [app.name, envFilePaths(appCwd(app, configDir), app.envFiles)]),
      ),
    onChange: async (apps) => {
      await Promise.all(
        apps.map(async (app) => {
          if (supervisor.get(app) === undefined) return
          log.info({ app }, `${app}: .env changed; reloading`)
          await supervisor.reloadApp(app).catch((err: unknown) => {
            log.error({ err, app }, `${app}: reload after a .env change failed`)
          })
        }),
      )
    },
  })
  runtime.onTableChange(() => watcher.refresh())
  return watcher
}
