/** @module runCli: run the real `portico` bin once (trust, init, a failing start) and collect its output and exit code. */
import { execFile } from 'node:child_process'
import { BIN, ROOT } from './portico.ts'

/** How one run ended. */
export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

/** Options of runCli. */
export interface CliOptions {
  /** Environment of the run (merged over this process's). */
  env?: Record<string, string>
  cwd?: string
  /** Run as this uid/gid through `setpriv` (tests of non-root behaviour, run as root). */
  as?: { uid: number; gid: number; caps?: string }
  timeoutMs?: number
}

/**
 * runCli runs `node bin/portico.js ...args` to completion (killed after `timeoutMs`, default
 * 120 s) and resolves with its exit code and output; it never rejects on a non-zero exit.
 */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const node = [process.execPath, BIN, ...args]
  const argv = options.as
    ? [
        'setpriv',
        `--reuid=${options.as.uid}`,
        `--regid=${options.as.gid}`,
        '--clear-groups',
        ...(options.as.caps
          ? [`--inh-caps=${options.as.caps}`, `--ambient-caps=${options.as.caps}`]
          : []),
        ...node,
      ]
    : node
  const [file, ...rest] = argv as [string, ...string[]]
  return new Promise((resolve) => {
    execFile(
      file,
      rest,
      {
        cwd: options.cwd ?? ROOT,
        env: { ...process.env, ...options.env },
        timeout: options.timeoutMs ?? 120_000,
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
        resolve({ code, stdout, stderr })
      },
    )
  })
}
