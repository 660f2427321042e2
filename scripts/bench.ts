/**
 * @module npm run bench: req/s and latency of a Node backend directly, through Portico, and
 * through nginx/caddy when installed, in one run (3 interleaved rounds, medians). Needs `wrk`
 * (Debian: `apt-get install -y wrk`). Writes bench-results/bench-<time>.json.
 *
 * Usage: npm run bench [-- --duration 10 --connections 50 --rounds 3]
 *        npm run bench -- --scaling [--only routes|sni|websockets|instances]
 */
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import {
  children,
  freePort,
  median,
  ROOT,
  run,
  type Sample,
  start,
  startPortico,
  stopAll,
  type Target,
  waitForPort,
  which,
  wrk,
} from './bench-lib.ts'

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '3' },
    scaling: { type: 'boolean', default: false },
    only: { type: 'string' },
  },
})
const DURATION_S = Number(values.duration)
const CONNECTIONS = Number(values.connections)
const ROUNDS = Number(values.rounds)

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
    const route = (backendPort: number) => ({
      routes: [
        {
          vHost: '127.0.0.1',
          backends: [{ hostname: '127.0.0.1', port: backendPort }],
          autoHttps: false,
          reqActiveLength: 1024,
        },
      ],
    })
    // `portico start` as on a server: an edge worker per core (PORTICO_WORKERS=auto).
    const portico = await startPortico(dir, 'info', route(backendPort), {
      PORTICO_LOG_LEVEL: 'info',
      PORTICO_WORKERS: 'auto',
    })
    // The access log off, and the edge in one process, measure what each costs in the same run.
    const quiet = await startPortico(dir, 'quiet', route(backendPort), {
      PORTICO_LOG_LEVEL: 'warn',
      PORTICO_WORKERS: 'auto',
    })
    const single = await startPortico(dir, 'single', route(backendPort), {
      PORTICO_LOG_LEVEL: 'info',
      PORTICO_WORKERS: '1',
    })
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
        const sample = await wrk(target, DURATION_S, CONNECTIONS)
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
    await stopAll()
    await rm(dir, { recursive: true, force: true })
  }
}

if (values.scaling) {
  const { scaling } = await import('./bench-scaling.ts')
  await scaling(DURATION_S, values.only)
} else await main()
