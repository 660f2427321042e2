/** @module portico init: a commented apps.config.ts written from the project's package.json scripts and workspaces, never over an existing config. */
import { readdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { CONFIG_EXTENSIONS } from '../config/load.ts'
import { errors } from '../errors.ts'
import { planDevServer } from '../supervisor/framework-command.ts'
import { type Project, type RunnablePackage, readProject } from './project.ts'

/** What init did: the file written and the apps in it. */
export interface InitResult {
  file: string
  apps: string[]
}

/**
 * initConfig writes `file` (an apps.config.ts) for the project in its folder. It refuses, with
 * PTC_ERR_CONFIG_EXISTS, when that folder already has an `apps.config.*` of any extension, and
 * the write itself fails rather than replace a file that appeared meanwhile.
 */
export async function initConfig(file: string): Promise<InitResult> {
  const root = path.dirname(file)
  const existing = await existingConfig(root, path.basename(file))
  if (existing !== undefined) throw new errors.PTC_ERR_CONFIG_EXISTS(existing)
  const project = await readProject(root)
  try {
    await writeFile(file, renderConfig(project), { flag: 'wx', mode: 0o644 })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST')
      throw new errors.PTC_ERR_CONFIG_EXISTS(file)
    throw error
  }
  return { file, apps: project.packages.map((p) => p.name) }
}

async function existingConfig(root: string, target: string): Promise<string | undefined> {
  let names: string[]
  try {
    names = await readdir(root)
  } catch {
    return undefined
  }
  const configs = new Set([target, ...CONFIG_EXTENSIONS.map((ext) => `apps.config${ext}`)])
  const found = names.find((name) => configs.has(name))
  return found === undefined ? undefined : path.join(root, found)
}

/** renderConfig returns the text of the config file: one commented app per runnable package. */
export function renderConfig(project: Project): string {
  const header = [
    '// apps.config.ts, written by `portico init` from package.json. Portico reloads it on save.',
    '// Every app runs as its own process with a port of its own in $PORT and is served at',
    '// https://<name>.localhost:8443. Run `portico trust` once so browsers trust the certificates,',
    '// then `portico dev`. All options: the Configuration section of Portico’s README.',
    ...(project.workspaces.length > 0 ? [`// Workspaces: ${project.workspaces.join(', ')}`] : []),
    'export default {',
    '  apps: [',
  ]
  const apps =
    project.packages.length > 0
      ? project.packages.flatMap((pkg) => renderApp(pkg, project))
      : [
          '    // No package.json script named "dev" or "start" was found. An app looks like:',
          "    // { name: 'web', command: 'npm run dev', cwd: '.' },",
        ]
  return `${[...header, ...apps, '  ],', '}', ''].join('\n')}`
}

function renderApp(pkg: RunnablePackage, project: Project): string[] {
  const command = `${project.packageManager} run ${pkg.script}`
  const plan = planDevServer(command, { scripts: { [pkg.script]: pkg.body } })
  const about =
    plan === undefined
      ? `it must listen on $PORT (Portico sets PORT; most Node servers read it)`
      : plan.added.length > 0
        ? `${plan.tool} ignores PORT: Portico adds ${plan.added.join(' ')} (framework: false turns that off)`
        : `${plan.tool}: Portico sets ${Object.keys(plan.env).join(', ') || 'PORT'} for it`
  return [
    `    // ${pkg.name}: ${pkg.dir === '.' ? 'the project root' : pkg.dir}, script "${pkg.script}": ${pkg.body}`,
    `    // ${about}`,
    '    {',
    `      name: ${quote(pkg.name)},`,
    `      command: ${quote(command)},`,
    `      cwd: ${quote(pkg.dir)},`,
    `      // hostnames: ['${pkg.name}.localhost'], // the default`,
    '      // instances: 1,',
    "      // env: { NODE_ENV: 'development' }, // beats .env and .env.local in cwd",
    '    },',
  ]
}

function quote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
}
