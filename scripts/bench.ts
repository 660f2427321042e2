/**
 * @module npm run bench: req/s and latency of a Node backend directly, through Portico, and
 * through nginx/caddy when installed, in one run (3 interleaved rounds, medians). Needs `wrk`
 * (Debian: `apt-get install -y wrk`). Writes bench-results/bench-<time>.json.
 *
 * Usage: npm run bench [-- --duration 10 --connections 50 --rounds 3]
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs, promisify } from 'node:util'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('..', import.meta.url))

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '3' },
  },
})
const DURATION_S = Number(values.duration)
const CONNECTIONS = Number(values.connections)
const ROUNDS = Number(values.rounds)

interface Target {
  name: string
  url: string
  /** pid whose CPU and RSS are sampled (the proxy), if any. */
  pid?: number
}

interface Sample {
  rps: number
  p50Ms: number
  p99Ms: number
  errors: number
  cpuPercent?: number
  peakRssMb?: number
}

const children: ChildProcess[] = []

async function which(cmd: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${cmd}`])
    return true
  } catch {
    return false
  }
}

/** start spawns a process and resolves when a line of its stdout matches `ready`. */
function start(
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
async function treeOf(root: number): Promise<number[]> {
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
async function procStat(pid: number): Promise<{ cpuTicks: number; rssKb: number }> {
  let cpuTicks = 0
  let rssKb = 0
  for (const member of await treeOf(pid)) {
    try {
      const stat = await readFile(`/proc/${member}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const status = await readFile(`/proc/${member}/status`, 'utf8')
      const hwm = /VmHWM:\s+(\d+)/.exec(status)
      cpuTicks += Number(fields[11]) + Number(fields[12])
      rssKb += Number(hwm?.[1] ?? 0)
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
async function wrk(target: Target): Promise<Sample> {
  const before = target.pid ? await procStat(target.pid) : undefined
  const { stdout } = await run(
    'wrk',
    ['-t2', `-c${CONNECTIONS}`, `-d${DURATION_S}s`, '--latency', target.url],
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
    sample.cpuPercent = Math.round(((after.cpuTicks - before.cpuTicks) / hz / DURATION_S) * 100)
    sample.peakRssMb = Math.round(after.rssKb / 1024)
  }
  return sample
}

const median = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN

async function startPortico(
  dir: string,
  backendPort: number,
  logLevel: string,
  workers: string,
): Promise<{ pid: number; https: number; http: number }> {
  const name = `${logLevel}-${workers}`
  const config = path.join(dir, `bench-${name}.config.json`)
  await writeFile(
    config,
    JSON.stringify({
      routes: [
        {
          vHost: '127.0.0.1',
          backends: [{ hostname: '127.0.0.1', port: backendPort }],
          autoHttps: false,
          reqActiveLength: 1024,
        },
      ],
    }),
  )
  // Logs go to a file, as on a server: a pipe read by this script would spend the same two
  // cores the proxy runs on, and measure the reader as much as Portico.
  const [https, http, api] = [await freePort(), await freePort(), await freePort()]
  const logFd = openSync(path.join(dir, `portico-${name}.log`), 'a')
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'bin/portico.js'), 'start', '--config', config],
    {
      env: {
        ...process.env,
        PORTICO_HTTPS_PORT: String(https),
        PORTICO_HTTP_PORT: String(http),
        PORTICO_API_PORT: String(api),
        PORTICO_STATE_DIR: path.join(dir, `state-${name}`),
        PORTICO_CERTS_DIR: path.join(dir, `certs-${name}`),
        PORTICO_LOG_LEVEL: logLevel,
        PORTICO_WORKERS: workers,
      },
      stdio: ['ignore', logFd, logFd],
    },
  )
  children.push(child)
  closeSync(logFd)
  await waitForPort(https)
  await waitForPort(http)
  return { pid: child.pid as number, https, http }
}

async function startNginx(
  dir: string,
  backendPort: number,
  cert: { key: string; cert: string },
): Promise<{ port: number; pid: number } | undefined> {
  if (!(await which('nginx'))) return undefined
  const port = await freePort()
  const conf = path.join(dir, 'nginx.conf')
  await writeFile(
    conf,
    `daemon off; worker_processes auto; pid ${dir}/nginx.pid; error_log ${dir}/nginx-error.log;
events { worker_connections 4096; }
http { access_log off; upstream b { server 127.0.0.1:${backendPort}; keepalive 64; }
  server { listen 127.0.0.1:${port} ssl; ssl_certificate ${cert.cert}; ssl_certificate_key ${cert.key};
    location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection ""; } } }\n`,
  )
  const child = spawn('nginx', ['-c', conf, '-p', dir], { stdio: 'ignore' })
  children.push(child)
  await waitForPort(port)
  return { port, pid: child.pid as number }
}

/** startCaddy runs Caddy as an equivalent TLS reverse proxy (no admin, no auto-HTTPS, no access log). */
async function startCaddy(
  dir: string,
  backendPort: number,
  cert: { key: string; cert: string },
): Promise<{ port: number; pid: number } | undefined> {
  if (!(await which('caddy'))) return undefined
  const port = await freePort()
  const conf = path.join(dir, 'Caddyfile')
  await writeFile(
    conf,
    `{\n\tadmin off\n\tauto_https off\n}\nhttps://127.0.0.1:${port} {\n\ttls ${cert.cert} ${cert.key}\n\treverse_proxy 127.0.0.1:${backendPort}\n}\n`,
  )
  const child = spawn('caddy', ['run', '--config', conf, '--adapter', 'caddyfile'], {
    stdio: 'ignore',
    env: { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
  })
  children.push(child)
  await waitForPort(port)
  return { port, pid: child.pid as number }
}

/** freePort returns a port the kernel just handed out on 127.0.0.1 (bound, then released). */
async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  const { port } = server.address() as net.AddressInfo
  await new Promise((r) => server.close(r))
  return port
}

/** waitForPort resolves once 127.0.0.1:port accepts a connection (10 s at most). */
async function waitForPort(port: number): Promise<void> {
  const deadline = Date.now() + 10_000
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

async function main(): Promise<void> {
  if (!(await which('wrk'))) {
    console.error('wrk is not installed. Debian/Ubuntu: sudo apt-get install -y wrk')
    process.exit(2)
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'portico-bench-'))
  try {
    const backend = await start(
      process.execPath,
      [path.join(ROOT, 'scripts/bench-backend.mjs')],
      { PORT: '0' },
      /listening (\d+)/,
    )
    const backendPort = Number(backend.match[1])
    // `portico start` as on a server: an edge worker per core (PORTICO_WORKERS=auto).
    const portico = await startPortico(dir, backendPort, 'info', 'auto')
    // The access log off, and the edge in one process, measure what each costs in the same run.
    const quiet = await startPortico(dir, backendPort, 'warn', 'auto')
    const single = await startPortico(dir, backendPort, 'info', '1')
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      `${dir}/k.pem`,
      '-out',
      `${dir}/c.pem`,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
    ])
    const nginx = await startNginx(dir, backendPort, {
      key: `${dir}/k.pem`,
      cert: `${dir}/c.pem`,
    })
    const targets: Target[] = [
      { name: 'direct (http)', url: `http://127.0.0.1:${backendPort}/` },
      { name: 'portico http', url: `http://127.0.0.1:${portico.http}/`, pid: portico.pid },
      { name: 'portico https', url: `https://127.0.0.1:${portico.https}/`, pid: portico.pid },
      {
        name: 'portico https, access log off',
        url: `https://127.0.0.1:${quiet.https}/`,
        pid: quiet.pid,
      },
      {
        name: 'portico https, one process (PORTICO_WORKERS=1)',
        url: `https://127.0.0.1:${single.https}/`,
        pid: single.pid,
      },
      {
        name: 'portico https 16k',
        url: `https://127.0.0.1:${portico.https}/16k`,
        pid: portico.pid,
      },
    ]
    if (nginx)
      targets.push({ name: 'nginx https', url: `https://127.0.0.1:${nginx.port}/`, pid: nginx.pid })
    const caddy = await startCaddy(dir, backendPort, {
      key: `${dir}/k.pem`,
      cert: `${dir}/c.pem`,
    })
    if (caddy)
      targets.push({ name: 'caddy https', url: `https://127.0.0.1:${caddy.port}/`, pid: caddy.pid })
    const samples = new Map<string, Sample[]>()
    for (let round = 0; round < ROUNDS; round++) {
      for (const target of targets) {
        const sample = await wrk(target)
        samples.set(target.name, [...(samples.get(target.name) ?? []), sample])
        console.error(`round ${round + 1} ${target.name}: ${Math.round(sample.rps)} req/s`)
      }
    }
    const direct = median((samples.get('direct (http)') ?? []).map((s) => s.rps))
    const rows = targets.map((t) => {
      const list = samples.get(t.name) ?? []
      const rps = median(list.map((s) => s.rps))
      return {
        name: t.name,
        rps: Math.round(rps),
        p50Ms: median(list.map((s) => s.p50Ms)),
        p99Ms: median(list.map((s) => s.p99Ms)),
        ratio: Number((rps / direct).toFixed(2)),
        errors: list.reduce((sum, s) => sum + s.errors, 0),
        cpuPercent: t.pid ? median(list.map((s) => s.cpuPercent ?? 0)) : null,
        peakRssMb: t.pid ? Math.max(...list.map((s) => s.peakRssMb ?? 0)) : null,
      }
    })
    console.table(rows)
    await mkdir(path.join(ROOT, 'bench-results'), { recursive: true })
    const out = path.join(
      ROOT,
      'bench-results',
      `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
    )
    await writeFile(
      out,
      `${JSON.stringify({ durationS: DURATION_S, connections: CONNECTIONS, rounds: ROUNDS, node: process.version, rows }, null, 2)}\n`,
    )
    console.log(`results written to ${out}`)
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM')
    await new Promise((r) => setTimeout(r, 500))
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
