/** @module Running the tools trust stores are changed with: a result that never throws, executables found on PATH, root through sudo. */
import { execFile, spawn } from 'node:child_process'
import { constants } from 'node:fs'
import { access } from 'node:fs/promises'
import path from 'node:path'

/** How a command ended. `code` 127: the executable was not found. */
export interface RunResult {
  ok: boolean
  code: number
  stdout: string
  stderr: string
}

/** A tool may take this long (update-ca-certificates runs a Java keystore hook: ~30 s here). */
const RUN_TIMEOUT_MS = 180_000

/** run executes `file args` without a shell and resolves with its result; it never rejects. */
export function run(
  file: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      [...args],
      {
        encoding: 'utf8',
        timeout: RUN_TIMEOUT_MS,
        env: options.env ?? process.env,
        maxBuffer: 16 << 20,
      },
      (error, stdout, stderr) => {
        const code = error
          ? typeof error.code === 'number'
            ? error.code
            : error.code === 'ENOENT'
              ? 127
              : 1
          : 0
        resolve({ ok: code === 0, code, stdout, stderr })
      },
    )
    if (options.input !== undefined) child.stdin?.end(options.input)
  })
}

/**
 * runInteractive runs a command attached to the terminal (sudo may ask for a password there)
 * and resolves with its exit code; 127 if it cannot be started.
 */
export function runInteractive(file: string, args: readonly string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(file, [...args], { stdio: 'inherit' })
    child.once('error', () => resolve(127))
    child.once('exit', (code) => resolve(code ?? 1))
  })
}

/** which returns the absolute path of `name` on `PATH`, or undefined. */
export async function which(
  name: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue
    const candidate = path.join(dir, name)
    try {
      await access(candidate, constants.X_OK)
      return candidate
    } catch {
      // Not in this folder.
    }
  }
  return undefined
}

/** isWritable reports whether this process may create files in `dir`. */
export async function isWritable(dir: string): Promise<boolean> {
  try {
    await access(dir, constants.W_OK)
    return true
  } catch {
    return false
  }
}

/** isRoot reports whether this process runs as root (uid 0). */
export function isRoot(): boolean {
  return process.getuid?.() === 0
}

/** shellQuote renders one argument for a copy-pasteable shell line. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`
}

/** A command line for the user to read or paste: `sudo install -m 644 '/a b' /c`. */
export function commandLine(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ')
}

/**
 * asRoot runs each command with root rights: directly when this process is root, else through
 * sudo (attached to the terminal, so it can ask for a password; `sudo -n` without one). It
 * returns undefined when every command succeeded, or the reason (with the commands to run by
 * hand) when root was not available or a command failed.
 */
export async function asRoot(
  commands: readonly (readonly string[])[],
): Promise<string | undefined> {
  if (isRoot()) {
    for (const argv of commands) {
      const [file, ...args] = argv as [string, ...string[]]
      const result = await run(file, args)
      if (!result.ok) return `${commandLine(argv)} failed: ${lastLine(result)}`
    }
    return undefined
  }
  const byHand = commands.map((argv) => `sudo ${commandLine(argv)}`).join(' && ')
  const sudo = await which('sudo')
  if (sudo === undefined) return `needs root, and sudo is not installed; run as root: ${byHand}`
  const interactive = process.stdin.isTTY === true
  for (const argv of commands) {
    const code = await runInteractive(sudo, [...(interactive ? [] : ['-n']), ...argv])
    if (code !== 0) return `needs root (sudo ${commandLine(argv)} exited ${code}); run: ${byHand}`
  }
  return undefined
}

/** lastLine returns the last non-empty line a failed command printed, for a one-line report. */
export function lastLine(result: RunResult): string {
  const lines = `${result.stderr}\n${result.stdout}`.split('\n').filter((l) => l.trim() !== '')
  return lines.at(-1)?.trim() ?? `exit code ${result.code}`
}
