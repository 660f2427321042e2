/** @module What an instance's next process is launched with: its command (with a dev server's flags) and its environment. */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import type { AppSpec } from '../config/schema.ts'
import { type EnvContext, envFilePaths, instanceEnvironment, readEnvFiles } from './app-env.ts'
import { type DevServerPlan, type PackageScripts, planDevServer } from './framework-command.ts'
import { type Instance, launchOf } from './instance.ts'
import type { ProcessSpec } from './pm2.ts'

/** What the Supervisor knows about every launch beyond the app's spec. */
export interface LaunchContext extends EnvContext {
  /** Told about an `.env` file that exists but cannot be read (the path only, never values). */
  onEnvFileError?: (file: string, error: unknown) => void
}

/** A launch: what pm2 starts, and the dev server plan it follows (for the log). */
export interface Launch {
  process: ProcessSpec
  plan: DevServerPlan | undefined
}

/** appCwd returns an app's absolute working directory (`cwd` is relative to the config file). */
export function appCwd(spec: Pick<AppSpec, 'cwd'>, configDir: string): string {
  return path.resolve(configDir, spec.cwd ?? '.')
}

/**
 * buildLaunch reads what a launch depends on at the moment it happens, so a relaunch picks up
 * changes: the package.json scripts of the app's cwd (for `npm run dev`-style commands) and its
 * `.env` files. A `command` running a known dev server gets the flags it lacks unless the app
 * says `framework: false` (frameworks.ts); the environment is built by instanceEnvironment.
 */
export async function buildLaunch(
  inst: Instance,
  configDir: string,
  ctx: LaunchContext,
): Promise<Launch> {
  const { spec } = inst
  const cwd = appCwd(spec, configDir)
  let launch = launchOf(spec, cwd)
  let plan: DevServerPlan | undefined
  if (launch.kind === 'shell' && spec.framework !== false) {
    const scripts = await readScripts(cwd)
    plan = planDevServer(launch.command, { scripts, force: spec.framework })
    if (plan !== undefined) launch = { kind: 'shell', command: plan.command }
  }
  const dotenv = await readEnvFiles(envFilePaths(cwd, spec.envFiles), ctx.onEnvFileError)
  const env = instanceEnvironment(spec, inst, ctx, { tool: plan?.env ?? {}, dotenv })
  return {
    process: {
      name: inst.pm2Name,
      launch,
      cwd,
      env,
      killTimeoutMs: spec.killTimeout,
      maxMemory: spec.maxMemory,
    },
    plan,
  }
}

/** describePlan renders a plan for the instance's output, or undefined if it changed nothing. */
export function describePlan(plan: DevServerPlan | undefined): string | undefined {
  if (plan === undefined) return undefined
  if (plan.skipped !== undefined) {
    return `${plan.tool} found, but its flags cannot be added (${plan.skipped}): make it listen on $PORT yourself`
  }
  const vars = Object.entries(plan.env).map(([k, v]) => `${k}=${v}`)
  if (plan.added.length === 0 && vars.length === 0) return undefined
  return `${plan.tool}: running \`${plan.command}\`${vars.length > 0 ? ` with ${vars.join(' ')}` : ''} (app option framework: false turns this off)`
}

/** readScripts returns the `scripts` of `<cwd>/package.json`, or undefined if there is none. */
async function readScripts(cwd: string): Promise<PackageScripts | undefined> {
  let text: string
  try {
    text = await readFile(path.join(cwd, 'package.json'), 'utf8')
  } catch {
    // No package.json: `npm run …` then fails on its own, with npm's message.
    return undefined
  }
  try {
    const scripts = (JSON.parse(text) as { scripts?: unknown }).scripts
    if (typeof scripts !== 'object' || scripts === null) return undefined
    return Object.fromEntries(
      Object.entries(scripts).filter((e): e is [string, string] => typeof e[1] === 'string'),
    )
  } catch {
    // A broken package.json: npm reports it when the command runs.
    return undefined
  }
}
