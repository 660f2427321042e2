/** @module runStartup: `portico startup [--install]`, the systemd unit printed or written. */
import { resolveConfigPath } from '../config/settings.ts'
import { DEFAULT_UNIT_PATH, installUnit, renderUnit } from './systemd-unit.ts'

/** What `portico startup` was given. */
export interface StartupArgs {
  configFlag: string | undefined
  user: string | undefined
  install: boolean
  unitPath: string | undefined
  env: Readonly<Record<string, string | undefined>>
  cwd: string
}

/**
 * runStartup returns what to print: the unit itself, or (with `install`) where it was written
 * and the commands that finish the install. The config path is resolved like `portico start`
 * does (`--config`, `PORTICO_CONFIG`, `./apps.config.ts`) and made absolute.
 */
export async function runStartup(args: StartupArgs): Promise<string> {
  const configPath = resolveConfigPath(args.configFlag, args.env, args.cwd)
  const unit = renderUnit({
    configPath,
    env: args.env,
    ...(args.user === undefined ? {} : { user: args.user }),
  })
  if (!args.install) return unit
  return installUnit(args.unitPath ?? DEFAULT_UNIT_PATH, unit, args.user)
}
