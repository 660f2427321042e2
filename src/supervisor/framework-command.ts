/** @module planDevServer: find a known dev server in an app's command (directly, through a package runner or a package.json script) and add its flags. */
import path from 'node:path'
import { isAssignment, type ShellWord, type SimpleCommand, splitShell } from '../lib/shell-words.ts'
import {
  type DevServer,
  type DevServerName,
  devServerByBin,
  devServerByName,
  flagsFor,
  isServerInvocation,
} from './frameworks.ts'

/** The scripts of the package.json in the app's cwd (what `npm run <name>` runs). */
export type PackageScripts = Readonly<Record<string, string>>

/** What planDevServer decided for one command. */
export interface DevServerPlan {
  tool: DevServerName
  /** The command to run: the app's own, with `added` inserted where its tool reads them. */
  command: string
  /** The flags inserted (`--port $PORT --strictPort --host 127.0.0.1`); empty if all were given. */
  added: string[]
  /** Variables the tool reads (Nuxt's HOST), set below the app's `.env` and `env`. */
  env: Readonly<Record<string, string>>
  /** Set when the tool was found but flags could not be added safely: why, for the log. */
  skipped?: string
}

/** Options of planDevServer. */
export interface PlanOptions {
  /** package.json scripts of the app's cwd, to resolve `npm run dev`, `pnpm dev`, … */
  scripts?: PackageScripts | undefined
  /** The app's `framework` option: a name forces that tool's flags (appended if not found). */
  force?: DevServerName | undefined
}

/** Where a tool was found: the words it reads its flags from and where new ones go. */
interface Invocation {
  tool: DevServer
  /** The tool's own arguments (those after its executable), for the server and given-flag checks. */
  args: string[]
  /** Source offset where flags are inserted, and what goes before them (`--` for npm scripts). */
  insertAt: number
  prefix: string[]
  skipped?: string
}

/** Wrappers that run the rest of the line as a command (their own flags and `A=b` pairs skipped). */
const WRAPPERS = new Set(['exec', 'env', 'cross-env', 'cross-env-shell', 'nohup', 'time'])
/** Runners whose next word names an executable: npx vite, bunx vite, pnpx vite. */
const BIN_RUNNERS = new Set(['npx', 'pnpx', 'bunx'])
/** Runner flags that take a value (`npx -p pkg vite`). */
const RUNNER_VALUE_FLAGS = new Set(['-p', '--package', '-w', '--workspace', '-C', '--dir'])
/** Package managers: `<pm> exec|dlx|x <bin>`, `<pm> run <script>`, `<pm> <script or bin>`. */
const PACKAGE_MANAGERS = new Set(['npm', 'pnpm', 'yarn', 'bun'])
const RUN_WORDS = new Set(['run', 'run-script', 'rum', 'urn'])
const EXEC_WORDS = new Set(['exec', 'dlx', 'x'])
const SCRIPT_EXTENSION = /\.(c|m)?js$/

/**
 * planDevServer looks for a known dev server (frameworks.ts) in a shell `command`: run directly
 * (`vite`, `./node_modules/.bin/vite`, `node node_modules/vite/bin/vite.js`), through a runner
 * (`npx`, `pnpm exec|dlx`, `yarn exec|dlx`, `bunx`, `bun x`, `npm exec --`) or through a
 * package.json script (`npm run dev`, `pnpm dev`, `yarn dev`, `bun run dev`). When the command
 * starts its server (not `vite build`), the flags it lacks are inserted: after its own arguments,
 * or after the package manager's (`npm run dev -- --port $PORT …`) when the script ends with it.
 * Flags the user gave are left alone. Returns undefined when no known tool serves. Pure.
 */
export function planDevServer(
  command: string,
  options: PlanOptions = {},
): DevServerPlan | undefined {
  const commands = splitShell(command)
  if (commands === undefined) return undefined
  let found: Invocation | undefined
  for (const simple of commands) {
    const inv = findInvocation(simple.words, options.scripts, 0)
    if (inv === undefined) continue
    if (options.force !== undefined) {
      found = { ...inv, tool: devServerByName(options.force) }
      break
    }
    if (isServerInvocation(inv.tool, inv.args)) {
      found = inv
      break
    }
  }
  if (found === undefined && options.force !== undefined)
    found = forcedAtEnd(commands, options.force)
  return found === undefined ? undefined : toPlan(command, found)
}

function toPlan(command: string, inv: Invocation): DevServerPlan {
  const base = { tool: inv.tool.name, env: inv.tool.env ?? {} }
  if (inv.skipped !== undefined) return { ...base, command, added: [], skipped: inv.skipped }
  const added = flagsFor(inv.tool, inv.args)
  if (added.length === 0) return { ...base, command, added }
  const text = [...inv.prefix, ...added].join(' ')
  const before = command.slice(0, inv.insertAt)
  const after = command.slice(inv.insertAt)
  const glue = after.length > 0 && !after.startsWith(' ') ? ' ' : ''
  return { ...base, command: `${before} ${text}${glue}${after}`, added }
}

/** With `framework` forced and no runner found: flags go after the last simple command. */
function forcedAtEnd(commands: SimpleCommand[], name: DevServerName): Invocation | undefined {
  const last = commands.at(-1)
  const end = last?.words.at(-1)
  if (last === undefined || end === undefined) return undefined
  return {
    tool: devServerByName(name),
    args: last.words.slice(1).map((w) => w.text),
    insertAt: end.end,
    prefix: [],
  }
}

/** Finds the tool in one simple command's words, looking through wrappers, runners and scripts. */
function findInvocation(
  words: readonly ShellWord[],
  scripts: PackageScripts | undefined,
  depth: number,
): Invocation | undefined {
  const i = skipWrappers(words)
  const head = words[i]
  if (head === undefined) return undefined
  const name = binName(head.text)
  const direct = devServerByBin(name)
  if (direct !== undefined) return invocationAt(direct, words, i + 1)
  if (name === 'node') return throughNode(words, i + 1)
  if (BIN_RUNNERS.has(name)) return throughRunner(words, i + 1)
  if (PACKAGE_MANAGERS.has(name)) return throughPackageManager(name, words, i + 1, scripts, depth)
  return undefined
}

/** The tool's invocation: its arguments start at `argsFrom`; flags go before its `--`, if any. */
function invocationAt(tool: DevServer, words: readonly ShellWord[], argsFrom: number): Invocation {
  const rest = words.slice(argsFrom)
  const dashes = rest.findIndex((w) => w.text === '--')
  const own = dashes === -1 ? rest : rest.slice(0, dashes)
  const insertAt =
    dashes === -1
      ? (words.at(-1) as ShellWord).end
      : // Before the `--`: `vite --port $PORT -- extra`.
        (rest[dashes] as ShellWord).start - 1
  return { tool, args: own.map((w) => w.text), insertAt, prefix: [] }
}

function skipWrappers(words: readonly ShellWord[]): number {
  let i = 0
  for (;;) {
    const word = words[i]?.text
    if (word === undefined) return i
    if (isAssignment(word)) i++
    else if (WRAPPERS.has(word)) {
      i++
      while (words[i]?.text.startsWith('-')) i++
    } else return i
  }
}

/** `node [flags] path/to/vite.js`: the script's name is the tool. */
function throughNode(words: readonly ShellWord[], from: number): Invocation | undefined {
  let i = from
  while (words[i]?.text.startsWith('-')) i++
  const script = words[i]
  if (script === undefined) return undefined
  const tool = devServerByBin(binName(script.text).replace(SCRIPT_EXTENSION, ''))
  return tool === undefined ? undefined : invocationAt(tool, words, i + 1)
}

/** `npx [flags] vite …`, `bunx vite`, `pnpx vite`: the first positional is the executable. */
function throughRunner(words: readonly ShellWord[], from: number): Invocation | undefined {
  const i = skipRunnerFlags(words, from)
  const bin = words[i]
  if (bin === undefined) return undefined
  const tool = devServerByBin(packageBin(bin.text))
  return tool === undefined ? undefined : invocationAt(tool, words, i + 1)
}

function skipRunnerFlags(words: readonly ShellWord[], from: number): number {
  let i = from
  while (words[i]?.text.startsWith('-')) {
    const flag = words[i]?.text as string
    i++
    if (flag === '--') break
    if (!flag.includes('=') && RUNNER_VALUE_FLAGS.has(flag)) i++
  }
  return i
}

/**
 * `<pm> exec|dlx|x <bin>` runs an executable; `<pm> run <name>` (npm also `npm start`) a script;
 * pnpm, yarn and bun also take `<pm> <name>`, a script if package.json has one, else a bin.
 */
function throughPackageManager(
  pm: string,
  words: readonly ShellWord[],
  from: number,
  scripts: PackageScripts | undefined,
  depth: number,
): Invocation | undefined {
  let i = skipRunnerFlags(words, from)
  const verb = words[i]?.text
  if (verb === undefined) return undefined
  if (EXEC_WORDS.has(verb)) {
    // `npm exec vite --port 1` hands --port to npm itself: only `npm exec -- vite` is safe.
    if (pm === 'npm' && words[i + 1]?.text !== '--') return undefined
    return throughRunner(words, i + 1)
  }
  if (RUN_WORDS.has(verb)) i++
  else if (pm === 'npm' && verb !== 'start') return undefined
  const name = pm === 'npm' && verb === 'start' ? 'start' : words[i]?.text
  if (name === undefined) return undefined
  const body = scripts?.[name]
  if (body !== undefined) return throughScript(pm, name, body, words, i + 1, depth)
  if (pm === 'npm') return undefined
  const tool = devServerByBin(binName(name))
  return tool === undefined ? undefined : invocationAt(tool, words, i + 1)
}

/**
 * A package.json script: the package manager appends the extra arguments to the script's text,
 * so flags can be added only when the script's last simple command is the tool (a chained
 * `vite && echo done` or piped one would hand them to another command) and has no `--`.
 */
function throughScript(
  pm: string,
  name: string,
  body: string,
  outer: readonly ShellWord[],
  extrasFrom: number,
  depth: number,
): Invocation | undefined {
  if (depth > 0) return undefined
  const inner = splitShell(body)
  if (inner === undefined) return undefined
  const extras = outer.slice(extrasFrom).map((w) => w.text)
  const dashed = extras.includes('--')
  const givenExtras = extras.filter((arg) => arg !== '--')
  for (const [index, simple] of inner.entries()) {
    const found = findInvocation(simple.words, undefined, depth + 1)
    if (found === undefined) continue
    const args = [...found.args, ...givenExtras]
    const last = index === inner.length - 1 && simple.words.at(-1)?.text !== '--'
    const base = { tool: found.tool, args, insertAt: (outer.at(-1) as ShellWord).end }
    if (!last) return { ...base, prefix: [], skipped: `script "${name}" does not end with it` }
    if (dashed && pm !== 'npm') {
      return { ...base, prefix: [], skipped: `"--" after ${pm} ${name} is passed on as is` }
    }
    return { ...base, prefix: pm === 'npm' && !dashed ? ['--'] : [] }
  }
  return undefined
}

/** binName returns an executable's basename: `./node_modules/.bin/vite` → `vite`. */
function binName(word: string): string {
  return path.basename(word)
}

/** packageBin maps a runner's package spec to its executable: `vite@6` → `vite`. */
function packageBin(spec: string): string {
  const at = spec.lastIndexOf('@')
  return binName(at > 0 ? spec.slice(0, at) : spec)
}
