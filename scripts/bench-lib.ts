/** @module Helpers shared by the benchmark modes: processes, ports, wrk, /proc sampling, Portico. */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

export const run = promisify(execFile)
export const ROOT = fileURLToPath(new URL('..', import.meta.url))

export interface Target {
  name: string
  url: string
  /** pid whose CPU and RSS are sampled (the proxy), if any. */
  pid?: number
}

export interface Sample {
  rps: number
  p50Ms: number
  p99Ms: number
  errors: number
  cpuPercent?: number
  peakRssMb?: number
}

export const children: ChildProcess[] = []

export async function which(cmd: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${cmd}`])
    return true
  } catch {
    return false
  }
}

/** start spawns a process and resolves when a line of its stdout matches `ready`. */
export function start(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: RegExp,
): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(cmd, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let out = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start:\n${out}`)), 30_000)
    const onData = (d: Buffer) => {
      out += d.toString()
      const match = ready.exec(out)
      if (match) {
        clearTimeout(timer)
        child.stdout?.off('data', onData)
        child.stdout?.resume()
        resolve({ child, match })
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', (d: Buffer) => {
      out += d.toString()
    })
    child.once('exit', (code) => reject(new Error(`${cmd} exited (${code}):\n${out}`)))
  })
}

/** treeOf returns `root` and its live descendants (a proxy's workers count as the proxy). */
export async function treeOf(root: number): Promise<number[]> {
  const parents = new Map<number, number>()
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8')
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]))
    } catch {
      // Gone meanwhile.
    }
  }
  const tree = [root]
  for (let i = 0; i < tree.length; i++) {
    for (const [pid, parent] of parents) if (parent === tree[i]) tree.push(pid)
  }
  return tree
}

/** procStat sums CPU ticks and peak RSS over the process tree of `pid` (apps excluded: none here). */
export async function procStat(
  pid: number,
  memory: 'VmHWM' | 'VmRSS' = 'VmHWM',
): Promise<{ cpuTicks: number; rssKb: number }> {
  let cpuTicks = 0
  let rssKb = 0
  for (const member of await treeOf(pid)) {
    try {
      const stat = await readFile(`/proc/${member}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const status = await readFile(`/proc/${member}/status`, 'utf8')
      const found = new RegExp(`${memory}:\\s+(\\d+)`).exec(status)
      cpuTicks += Number(fields[11]) + Number(fields[12])
      rssKb += Number(found?.[1] ?? 0)
    } catch {
      // Gone meanwhile.
    }
  }
  return { cpuTicks, rssKb }
}

function parseLatencyMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text.trim())
  if (!m) return Number.NaN
  const v = Number(m[1])
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v
}

/** wrk runs one measurement and parses req/s, p50, p99 and errors from --latency output. */
export async function wrk(target: Target, durationS: number, connections = 50): Promise<Sample> {
  const before = target.pid ? await procStat(target.pid) : undefined
  const { stdout } = await run(
    'wrk',
    ['-t2', `-c${connections}`, `-d${durationS}s`, '--latency', target.url],
    {
      maxBuffer: 1 << 20,
    },
  )
  const after = target.pid ? await procStat(target.pid) : undefined
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? 0)
  const p50 = parseLatencyMs(/\s50%\s+(\S+)/.exec(stdout)?.[1] ?? '')
  const p99 = parseLatencyMs(/\s99%\s+(\S+)/.exec(stdout)?.[1] ?? '')
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? 0)
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(
    stdout,
  )
  const errors =
    non2xx + (socketErrors ? socketErrors.slice(1).reduce((s, n) => s + Number(n), 0) : 0)
  const sample: Sample = { rps, p50Ms: p50, p99Ms: p99, errors }
  if (before && after) {
    const hz = 100
    sample.cpuPercent = Math.round(((after.cpuTicks - before.cpuTicks) / hz / durationS) * 100)
    sample.peakRssMb = Math.round(after.rssKb / 1024)
  }
  return sample
}

export const median = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN

/** A Portico started by the benchmark. */
export interface BenchPortico {
  pid: number
  https: number
  http: number
  api: number
}

/**
 * startPortico runs `portico start` with `config` (written to `dir`), free ports, `env` on top,
 * and its log in a file, as on a server: a pipe read by this script would spend the same two
 * cores the proxy runs on, and measure the reader as much as Portico.
 */
export async function startPortico(
  dir: string,
  name: string,
  config: unknown,
  env: Record<string, string>,
): Promise<BenchPortico> {
  const configPath = path.join(dir, `bench-${name}.config.json`)
  await writeFile(configPath, JSON.stringify(config))
  const [https, http, api] = [await freePort(), await freePort(), await freePort()]
  const logFd = openSync(path.join(dir, `portico-${name}.log`), 'a')
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'bin/portico.js'), 'start', '--config', configPath],
    {
      env: {
        ...process.env,
        PORTICO_HTTPS_PORT: String(https),
        PORTICO_HTTP_PORT: String(http),
        PORTICO_API_PORT: String(api),
        PORTICO_STATE_DIR: path.join(dir, `state-${name}`),
        PORTICO_CERTS_DIR: path.join(dir, `certs-${name}`),
        ...env,
      },
      stdio: ['ignore', logFd, logFd],
    },
  )
  children.push(child)
  closeSync(logFd)
  await waitForPort(https, 120_000)
  await waitForPort(http, 120_000)
  return { pid: child.pid as number, https, http, api }
}

/** stopPid stops one started process by pid (SIGTERM, SIGKILL after 15 s) and waits for it. */
export async function stopPid(pid: number): Promise<void> {
  const child = children.find((c) => c.pid === pid)
  if (!child || child.exitCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  await exited
  clearTimeout(timer)
}

/** stopAll stops every process the benchmark started (SIGTERM, then SIGKILL), by pid. */
export async function stopAll(): Promise<void> {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM')
  await new Promise((r) => setTimeout(r, 500))
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
}

/** freePort returns a port the kernel just handed out on 127.0.0.1 (bound, then released). */
export async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  const { port } = server.address() as net.AddressInfo
  await new Promise((r) => server.close(r))
  return port
}

/** waitForPort resolves once 127.0.0.1:port accepts a connection (`timeoutMs` at most). */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`)
}
