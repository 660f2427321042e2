/** @module startPortico: run the real `portico` bin as a child process with free ports and a temp state. */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitFor } from './wait.ts'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const BIN = path.join(ROOT, 'bin/portico.js')

/** A running Portico child. The caller must `stop()` it (afterAll) and check no pid survives. */
export interface RunningPortico {
  child: ChildProcess
  ports: { https: number; http: number; api: number }
  dir: string
  certsDir: string
  /** The dev CA's folder: the test's PORTICO_CA_DIR, else its certs dir (the temp one by default). */
  caDir: string
  stdout: () => string
  stderr: () => string
  /** Resolves with the exit code (or the signal name) once the child has exited. */
  exited: Promise<number | string>
  /** api GETs or POSTs JSON on the admin API. */
  api: <T = unknown>(pathname: string, init?: RequestInit) => Promise<{ status: number; body: T }>
}

/** Options of spawnPortico. */
export interface SpawnOptions {
  config: string
  mode?: 'dev' | 'start'
  env?: Record<string, string>
}

/** spawnPortico starts the bin with all ports 0, a temp state dir and certs dir (which also holds the dev CA unless `env.PORTICO_CA_DIR` says otherwise). */
export async function spawnPortico(options: SpawnOptions): Promise<{
  child: ChildProcess
  dir: string
  certsDir: string
  caDir: string
  out: { stdout: string; stderr: string }
  exited: Promise<number | string>
}> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'portico-e2e-'))
  const certsDir = path.join(dir, 'certs')
  // The dev CA is per user (~/.local/share/portico): a test must never touch the real one.
  const caDir = options.env?.PORTICO_CA_DIR ?? options.env?.PORTICO_CERTS_DIR ?? certsDir
  const child = spawn(process.execPath, [BIN, options.mode ?? 'dev', '--config', options.config], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORTICO_HTTPS_PORT: '0',
      PORTICO_HTTP_PORT: '0',
      PORTICO_API_PORT: '0',
      PORTICO_STATE_DIR: path.join(dir, 'state'),
      PORTICO_CERTS_DIR: certsDir,
      PORTICO_CA_DIR: caDir,
      PORTICO_PORT_RANGE: '23000-23999',
      PORTICO_LOG_LEVEL: 'info',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const out = { stdout: '', stderr: '' }
  child.stdout?.on('data', (d: Buffer) => {
    out.stdout += d.toString()
  })
  child.stderr?.on('data', (d: Buffer) => {
    out.stderr += d.toString()
  })
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'))
  })
  return { child, dir, certsDir, caDir, out, exited }
}

const READY = /https on :(\d+), http on :(\d+), api on http:\/\/127\.0\.0\.1:(\d+)/

/** startPortico spawns the bin and waits until it prints its bound ports. */
export async function startPortico(options: SpawnOptions): Promise<RunningPortico> {
  const spawned = await spawnPortico(options)
  const { out } = spawned
  const match = await waitFor(() => READY.exec(out.stdout), {
    timeoutMs: 30_000,
    message: 'portico did not announce its ports',
  }).catch((error: Error) => {
    spawned.child.kill('SIGKILL')
    throw new Error(`${error.message}\nstdout:\n${out.stdout}\nstderr:\n${out.stderr}`)
  })
  const ports = { https: Number(match[1]), http: Number(match[2]), api: Number(match[3]) }
  return {
    ...spawned,
    ports,
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    api: async <T>(pathname: string, init?: RequestInit) => {
      const res = await fetch(`http://127.0.0.1:${ports.api}/api/v1${pathname}`, init)
      return { status: res.status, body: (await res.json()) as T }
    },
  }
}
