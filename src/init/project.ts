/** @module What `portico init` learns from a project: its package manager and the packages (root or workspaces) that have a dev script. */
import { readdir, readFile, stat } from 'node:fs/promises'
import path from 'node:path'

/** The package managers whose lock files `portico init` recognises. */
export type PackageManager = 'npm' | 'pnpm' | 'yarn' | 'bun'

/** One package that can run as an app. */
export interface RunnablePackage {
  /** App name: the package name without its scope, reduced to [a-z0-9_-]. */
  name: string
  /** Folder relative to the project root (`.` for the root). */
  dir: string
  /** The script to run (`dev`, else `start`) and its text. */
  script: string
  body: string
}

/** What init found. */
export interface Project {
  packageManager: PackageManager
  packages: RunnablePackage[]
  /** Workspace patterns read (package.json `workspaces`, pnpm-workspace.yaml). */
  workspaces: string[]
}

interface PackageJson {
  name?: unknown
  scripts?: Record<string, unknown>
  workspaces?: unknown
}

/** Scripts that make a package an app, in order of preference. */
const APP_SCRIPTS = ['dev', 'start'] as const
/** A root script that runs the workspaces' own scripts is not an app of its own. */
const ORCHESTRATOR =
  /\b(turbo|nx|lerna|concurrently|npm-run-all|run-p|run-s)\b|(^|\s)(-r|--recursive|--workspaces|-ws|--filter|-F)(\s|=|$)/
/** Workspace folders are searched this deep for `**` patterns. */
const MAX_DEPTH = 4

/** readProject reads `<root>/package.json` and the packages of its workspaces. Missing files yield an empty project. */
export async function readProject(root: string): Promise<Project> {
  const pkg = (await readJson(path.join(root, 'package.json'))) ?? {}
  const workspaces = [...workspacePatterns(pkg), ...(await pnpmWorkspaces(root))]
  const dirs = workspaces.length > 0 ? await expandPatterns(root, workspaces) : []
  const packages: RunnablePackage[] = []
  const taken = new Set<string>()
  const rootApp = runnable(pkg, '.', path.basename(root))
  if (rootApp && !(dirs.length > 0 && ORCHESTRATOR.test(rootApp.body))) packages.push(rootApp)
  for (const dir of dirs) {
    const member = await readJson(path.join(root, dir, 'package.json'))
    const app = member === undefined ? undefined : runnable(member, dir, path.basename(dir))
    if (app) packages.push(app)
  }
  for (const app of packages) app.name = uniqueName(app.name, taken)
  return { packageManager: await packageManagerOf(root), packages, workspaces }
}

function runnable(pkg: PackageJson, dir: string, fallback: string): RunnablePackage | undefined {
  const scripts = pkg.scripts ?? {}
  const script = APP_SCRIPTS.find((name) => typeof scripts[name] === 'string')
  if (script === undefined) return undefined
  const raw = typeof pkg.name === 'string' ? pkg.name : fallback
  return { name: appName(raw), dir, script, body: scripts[script] as string }
}

/** appName turns `@acme/Web App` into `web-app` (Portico app names: [a-z0-9][a-z0-9_-]*). */
export function appName(raw: string): string {
  const bare = raw.replace(/^@[^/]+\//, '').toLowerCase()
  const name = bare
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^[-_]+|[-_]+$/g, '')
    .slice(0, 63)
  return name === '' ? 'app' : name
}

function uniqueName(name: string, taken: Set<string>): string {
  let candidate = name
  for (let n = 2; taken.has(candidate); n++) candidate = `${name}-${n}`
  taken.add(candidate)
  return candidate
}

function workspacePatterns(pkg: PackageJson): string[] {
  const ws = pkg.workspaces
  const list = Array.isArray(ws) ? ws : (ws as { packages?: unknown } | undefined)?.packages
  return Array.isArray(list) ? list.filter((p): p is string => typeof p === 'string') : []
}

/** The `packages:` list of pnpm-workspace.yaml (a plain YAML list; quotes allowed). */
async function pnpmWorkspaces(root: string): Promise<string[]> {
  let text: string
  try {
    text = await readFile(path.join(root, 'pnpm-workspace.yaml'), 'utf8')
  } catch {
    return []
  }
  const patterns: string[] = []
  let inPackages = false
  for (const line of text.split('\n')) {
    if (/^packages:\s*$/.test(line)) inPackages = true
    else if (/^\S/.test(line)) inPackages = false
    else if (inPackages) {
      const item = /^\s*-\s*['"]?([^'"#]+?)['"]?\s*(#.*)?$/.exec(line)
      if (item?.[1]) patterns.push(item[1])
    }
  }
  return patterns
}

/** Expands workspace patterns (`apps/*`, `packages/**`, `web`, `!**\/test`) to folders holding a package.json. */
async function expandPatterns(root: string, patterns: string[]): Promise<string[]> {
  const excluded = patterns.filter((p) => p.startsWith('!')).map((p) => toRegExp(p.slice(1)))
  const found = new Set<string>()
  for (const pattern of patterns.filter((p) => !p.startsWith('!'))) {
    const re = toRegExp(pattern.replace(/\/$/, ''))
    for (const dir of await folders(root, '', 0)) {
      if (re.test(dir) && !excluded.some((ex) => ex.test(dir))) found.add(dir)
    }
  }
  const withPackage: string[] = []
  for (const dir of [...found].sort()) {
    if (await exists(path.join(root, dir, 'package.json'))) withPackage.push(dir)
  }
  return withPackage
}

function toRegExp(glob: string): RegExp {
  const body = glob
    .replace(/^\.\//, '')
    .split('/')
    .map((part) =>
      part === '**' ? '(?:.+)?' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*'),
    )
    .join('/')
    .replace(/\(\?:\.\+\)\?\//g, '(?:.+/)?')
  return new RegExp(`^${body}$`)
}

/** Every folder below `root` (relative paths), skipping node_modules and hidden ones. */
async function folders(root: string, rel: string, depth: number): Promise<string[]> {
  if (depth >= MAX_DEPTH) return []
  let entries: import('node:fs').Dirent[]
  try {
    entries = await readdir(path.join(root, rel), { withFileTypes: true })
  } catch {
    return []
  }
  const out: string[] = []
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name === 'node_modules' || entry.name.startsWith('.'))
      continue
    const child = rel === '' ? entry.name : `${rel}/${entry.name}`
    out.push(child, ...(await folders(root, child, depth + 1)))
  }
  return out
}

async function packageManagerOf(root: string): Promise<PackageManager> {
  const has = (file: string) => exists(path.join(root, file))
  if ((await has('pnpm-lock.yaml')) || (await has('pnpm-workspace.yaml'))) return 'pnpm'
  if (await has('yarn.lock')) return 'yarn'
  if ((await has('bun.lockb')) || (await has('bun.lock'))) return 'bun'
  return 'npm'
}

async function readJson(file: string): Promise<PackageJson | undefined> {
  try {
    const value = JSON.parse(await readFile(file, 'utf8')) as unknown
    return typeof value === 'object' && value !== null ? (value as PackageJson) : undefined
  } catch {
    return undefined
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file)
    return true
  } catch {
    return false
  }
}
