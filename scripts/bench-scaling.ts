/**
 * @module npm run bench -- --scaling: how Portico scales, one figure per question of issue 8 —
 * req/s with 10, 1,000 and 100,000 routes (and memory per route), TLS handshakes/s with 1,000
 * SNI certificates against one, WebSocket echo messages/s through Portico against direct, memory
 * per idle WebSocket over 10,000 connections, and p99 with 1, 2 and 4 instances behind a route.
 * Writes bench-results/scaling-<time>.json.
 */
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import { promisify } from 'node:util'
import WebSocket from 'ws'
import {
  type BenchPortico,
  procStat,
  ROOT,
  start,
  startPortico,
  stopAll,
  stopPid,
  wrk,
} from './bench-lib.ts'

const run = promisify(execFile)
const EDGE = { PORTICO_LOG_LEVEL: 'warn', PORTICO_WORKERS: 'auto' }

/** routesConfig: `n` routes to the backend; the measured one answers to Host 127.0.0.1. */
function routesConfig(n: number, backendPort: number) {
  return {
    routes: Array.from({ length: n }, (_, i) => ({
      vHost: i === 0 ? '127.0.0.1' : `r${i}.bench.test`,
      backends: [{ hostname: '127.0.0.1', port: backendPort }],
      autoHttps: false,
      reqActiveLength: 1024,
    })),
  }
}

/** rssMb returns the current resident memory of a process tree (VmRSS summed), in MB. */
async function rssMb(pid: number): Promise<number> {
  const { rssKb } = await procStat(pid, 'VmRSS')
  return rssKb / 1024
}

async function routes(dir: string, backendPort: number, durationS: number) {
  const rows = []
  for (const n of [10, 1_000, 100_000]) {
    const started = Date.now()
    const p = await startPortico(dir, `routes-${n}`, routesConfig(n, backendPort), EDGE)
    const startupMs = Date.now() - started
    const idleRss = await rssMb(p.pid)
    const sample = await wrk(
      { name: `${n} routes`, url: `https://127.0.0.1:${p.https}/`, pid: p.pid },
      durationS,
    )
    rows.push({
      routes: n,
      rps: Math.round(sample.rps),
      p99Ms: sample.p99Ms,
      idleRssMb: Math.round(idleRss),
      startupMs,
    })
    await stopPid(p.pid)
  }
  const base = rows[0] as (typeof rows)[number]
  const big = rows[rows.length - 1] as (typeof rows)[number]
  return {
    rows,
    kbPerRoute: Number(
      (((big.idleRssMb - base.idleRssMb) * 1024) / (big.routes - base.routes)).toFixed(2),
    ),
  }
}

/** handshakes counts full TLS handshakes per second from `clients` loops, each with a random name. */
async function handshakes(port: number, names: string[], ca: string, durationS: number) {
  let done = 0
  let errors = 0
  const deadline = Date.now() + durationS * 1000
  const loop = async () => {
    while (Date.now() < deadline) {
      const servername = names[Math.floor(Math.random() * names.length)] as string
      await new Promise<void>((resolve) => {
        const socket = tls.connect({ host: '127.0.0.1', port, servername, ca }, () => {
          done++
          socket.destroy()
          resolve()
        })
        socket.once('error', () => {
          errors++
          resolve()
        })
      })
    }
  }
  await Promise.all(Array.from({ length: 16 }, loop))
  return { perSecond: Math.round(done / durationS), errors }
}

async function sni(dir: string, backendPort: number, durationS: number) {
  const certs = path.join(dir, 'certs-sni')
  await mkdir(certs, { recursive: true, mode: 0o700 })
  const key = path.join(dir, 'sni.key')
  const caKey = path.join(dir, 'sni-ca.key')
  const caCert = path.join(dir, 'sni-ca.crt')
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
  await run('openssl', [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    caKey,
    '-out',
    caCert,
    '-days',
    '2',
    '-subj',
    '/CN=bench CA',
  ])
  await run('openssl', [
    'genpkey',
    '-algorithm',
    'EC',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-out',
    key,
  ])
  const keyPem = await readFile(key)
  const names = Array.from({ length: 1_000 }, (_, i) => `s${i}.bench.test`)
  for (let i = 0; i < names.length; i += 50) {
    await Promise.all(
      names.slice(i, i + 50).map(async (name) => {
        await run('openssl', [
          'req',
          '-x509',
          '-new',
          '-key',
          key,
          '-CA',
          caCert,
          '-CAkey',
          caKey,
          '-days',
          '2',
          '-subj',
          `/CN=${name}`,
          '-addext',
          `subjectAltName=DNS:${name}`,
          '-out',
          path.join(certs, `${name}.crt`),
        ])
        await writeFile(path.join(certs, `${name}.key`), keyPem, { mode: 0o600 })
      }),
    )
  }
  const p = await startPortico(dir, 'sni', routesConfig(1, backendPort), {
    ...EDGE,
    PORTICO_CERTS_DIR: certs,
  })
  const ca = await readFile(caCert, 'utf8')
  // Each name once first, so the comparison is of lookups, not of first-time context builds.
  await handshakes(p.https, names, ca, 2)
  const one = await handshakes(p.https, [names[0] as string], ca, durationS)
  const thousand = await handshakes(p.https, names, ca, durationS)
  await stopPid(p.pid)
  return { oneCertificate: one, thousandCertificates: thousand }
}

function openSocket(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    // The load client does not verify (as wrk): Portico serves its own self-signed default here.
    const ws = new WebSocket(url, { rejectUnauthorized: false, perMessageDeflate: false })
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
}

/** echoRate sends one message per connection and the next on its echo, for durationS. */
async function echoRate(url: string, durationS: number): Promise<number> {
  const sockets = await Promise.all(Array.from({ length: 50 }, () => openSocket(url)))
  let echoes = 0
  const deadline = Date.now() + durationS * 1000
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          ws.on('message', () => {
            echoes++
            if (Date.now() < deadline) ws.send('ping')
            else resolve()
          })
          ws.send('ping')
        }),
    ),
  )
  for (const ws of sockets) ws.terminate()
  return Math.round(echoes / durationS)
}

async function websockets(dir: string, backendPort: number, durationS: number) {
  const p = await startPortico(dir, 'ws', routesConfig(1, backendPort), EDGE)
  const direct = await echoRate(`ws://127.0.0.1:${backendPort}/`, durationS)
  const proxied = await echoRate(`wss://127.0.0.1:${p.https}/`, durationS)
  const before = await rssMb(p.pid)
  const idle: WebSocket[] = []
  for (let i = 0; i < 10_000; i += 200) {
    idle.push(
      ...(await Promise.all(
        Array.from({ length: 200 }, () => openSocket(`wss://127.0.0.1:${p.https}/`)),
      )),
    )
  }
  await new Promise((r) => setTimeout(r, 2_000))
  const after = await rssMb(p.pid)
  for (const ws of idle) ws.terminate()
  await stopPid(p.pid)
  return {
    echoPerSecond: { direct, portico: proxied },
    idleConnections: idle.length,
    kbPerIdleWebSocket: Number((((after - before) * 1024) / idle.length).toFixed(1)),
  }
}

async function instances(dir: string, durationS: number, backendScript: string) {
  const rows = []
  for (const n of [1, 2, 4]) {
    const config = {
      apps: [{ name: 'b', script: backendScript, instances: n }],
      routes: [{ vHost: '127.0.0.1', app: 'b', autoHttps: false, reqActiveLength: 1024 }],
    }
    const p: BenchPortico = await startPortico(dir, `instances-${n}`, config, {
      ...EDGE,
      PORTICO_PORT_RANGE: '29000-29099',
    })
    await waitHealthy(p.api, n)
    const sample = await wrk(
      { name: `${n} instances`, url: `https://127.0.0.1:${p.https}/`, pid: p.pid },
      durationS,
    )
    rows.push({
      instances: n,
      rps: Math.round(sample.rps),
      p50Ms: sample.p50Ms,
      p99Ms: sample.p99Ms,
    })
    await stopPid(p.pid)
  }
  return rows
}

async function waitHealthy(apiPort: number, n: number): Promise<void> {
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    const res = await fetch(`http://127.0.0.1:${apiPort}/api/v1/apps/b`).catch(() => undefined)
    const app = (await res?.json().catch(() => undefined)) as
      | { instances?: { state: string }[] }
      | undefined
    if (app?.instances?.filter((i) => i.state === 'healthy').length === n) return
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`app b did not get ${n} healthy instances`)
}

/** scaling runs every figure and writes them as JSON. */
export async function scaling(durationS: number, only?: string): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'portico-scaling-'))
  const backendScript = path.join(ROOT, 'scripts/bench-backend.mjs')
  try {
    const backend = await start(process.execPath, [backendScript], { PORT: '0' }, /listening (\d+)/)
    const backendPort = Number(backend.match[1])
    const want = (part: string) => only === undefined || only === part
    const result = {
      node: process.version,
      durationS,
      routes: want('routes') ? await routes(dir, backendPort, durationS) : undefined,
      sni: want('sni') ? await sni(dir, backendPort, durationS) : undefined,
      websockets: want('websockets') ? await websockets(dir, backendPort, durationS) : undefined,
      instances: want('instances') ? await instances(dir, durationS, backendScript) : undefined,
    }
    console.log(JSON.stringify(result, null, 2))
    await mkdir(path.join(ROOT, 'bench-results'), { recursive: true })
    const out = path.join(
      ROOT,
      'bench-results',
      `scaling-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
    )
    await writeFile(out, `${JSON.stringify(result, null, 2)}\n`)
    console.log(`results written to ${out}`)
  } finally {
    await stopAll()
    await rm(dir, { recursive: true, force: true })
  }
}
