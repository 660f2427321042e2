/** @module startPebble: a real Pebble ACME server and pebble-challtestsrv DNS on loopback, for tests. */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import https from 'node:https'
import path from 'node:path'
import { generate } from 'selfsigned'
import { closedPort } from './ports.ts'
import { isAlive } from './processes.ts'
import { waitFor } from './wait.ts'

/** Options of startPebble. */
export interface PebbleOptions {
  /** Folder for Pebble's config and its TLS certificate; the caller makes it and removes it. */
  dir: string
  /** Where Pebble's VA sends HTTP-01 requests (Portico's HTTP port on 127.0.0.1). */
  httpPort: number
  /** Where Pebble's VA opens TLS-ALPN-01 handshakes (Portico's HTTPS port on 127.0.0.1). */
  tlsPort: number
}

/** A running Pebble pair. The caller must `stop()` it (afterAll) and may check `pids`. */
export interface Pebble {
  /** The ACME directory URL (`https://127.0.0.1:<port>/dir`). */
  directory: string
  /** PEM file of the CA that signed Pebble's own HTTPS listener: Portico's `caBundle`. */
  caBundle: string
  /** The pids of pebble and pebble-challtestsrv. */
  pids: number[]
  /** issuingRoots returns Pebble's root and intermediate (PEM): all a client should trust is the root. */
  issuingRoots: () => Promise<{ root: string; intermediate: string }>
  /** setAddress makes the fake DNS answer `ip` for `host` (A record); clearAddress undoes it. */
  setAddress: (host: string, ip: string) => Promise<void>
  clearAddress: (host: string) => Promise<void>
  /** Everything the two processes printed so far. */
  output: () => string
  /** stop kills both by pid and waits for their exits. */
  stop: () => Promise<void>
}

/** makeListenerCert writes a CA and a 127.0.0.1/localhost leaf signed by it for Pebble's HTTPS. */
async function makeListenerCert(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const ca = await generate([{ name: 'commonName', value: 'Pebble listener test CA' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, critical: true },
    ],
  })
  const leaf = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  })
  const files = {
    ca: path.join(dir, 'pebble-ca.pem'),
    cert: path.join(dir, 'pebble-cert.pem'),
    key: path.join(dir, 'pebble-key.pem'),
  }
  await writeFile(files.ca, ca.cert)
  await writeFile(files.cert, leaf.cert)
  await writeFile(files.key, leaf.private, { mode: 0o600 })
  return files
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, sink: { text: string }) {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  const append = (d: Buffer) => {
    sink.text += d.toString()
  }
  child.stdout?.on('data', append)
  child.stderr?.on('data', append)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  return { child, exited }
}

function get(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca, agent: false }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => {
          body += d
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      })
      .on('error', reject)
  })
}

async function post(port: number, route: string, body: unknown): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}${route}`, {
    method: 'POST',
    body: JSON.stringify(body),
  })
  if (res.status !== 200) throw new Error(`challtestsrv ${route} answered ${res.status}`)
}

/**
 * startPebble starts pebble-challtestsrv (fake DNS: every name is 127.0.0.1, no IPv6) and Pebble
 * (validation without sleeps, no nonce rejections, no authorization reuse so every order is
 * really validated) on free loopback ports, and resolves once the directory answers. Pebble
 * makes a new root each start. The caller must `stop()` it in afterAll.
 */
export async function startPebble(options: PebbleOptions): Promise<Pebble> {
  const files = await makeListenerCert(options.dir)
  const [acmePort, managementPort, dnsPort, challPort] = [
    await closedPort(),
    await closedPort(),
    await closedPort(),
    await closedPort(),
  ]
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`,
      managementListenAddress: `127.0.0.1:${managementPort}`,
      certificate: files.cert,
      privateKey: files.key,
      httpPort: options.httpPort,
      tlsPort: options.tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
    },
  }
  const configFile = path.join(options.dir, 'pebble-config.json')
  await writeFile(configFile, JSON.stringify(config))
  const sink = { text: '' }
  const env = {
    PATH: process.env.PATH,
    PEBBLE_VA_NOSLEEP: '1',
    PEBBLE_WFE_NONCEREJECT: '0',
    PEBBLE_AUTHZREUSE: '0',
  }
  const dns = run(
    'pebble-challtestsrv',
    [
      ...['-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', ''],
      ...['-management', `127.0.0.1:${challPort}`, '-defaultIPv4', '127.0.0.1', '-defaultIPv6', ''],
    ],
    env,
    sink,
  )
  const pebble = run(
    'pebble',
    ['-config', configFile, '-dnsserver', `127.0.0.1:${dnsPort}`, '-strict=false'],
    env,
    sink,
  )
  const children: { child: ChildProcess; exited: Promise<void> }[] = [dns, pebble]
  const stop = async () => {
    for (const { child } of children) if (child.exitCode === null) child.kill('SIGKILL')
    await Promise.all(children.map((c) => c.exited))
  }
  const caPem = await readFile(files.ca, 'utf8')
  const directory = `https://127.0.0.1:${acmePort}/dir`
  try {
    await waitFor(async () => (await get(directory, caPem)).status === 200, {
      timeoutMs: 15_000,
      message: 'Pebble did not serve its directory',
    })
  } catch (error) {
    await stop()
    throw new Error(`${(error as Error).message}\n${sink.text}`)
  }
  const management = async (route: string) => {
    const res = await get(`https://127.0.0.1:${managementPort}${route}`, caPem)
    if (res.status !== 200) throw new Error(`Pebble ${route} answered ${res.status}`)
    return res.body
  }
  return {
    directory,
    caBundle: files.ca,
    pids: children.map((c) => c.child.pid as number),
    issuingRoots: async () => ({
      root: await management('/roots/0'),
      intermediate: await management('/intermediates/0'),
    }),
    setAddress: (host, ip) => post(challPort, '/add-a', { host: `${host}.`, addresses: [ip] }),
    clearAddress: (host) => post(challPort, '/clear-a', { host: `${host}.` }),
    output: () => sink.text,
    stop,
  }
}

/** pebbleSurvivors returns the pids of a stopped Pebble pair that are still alive (should be none). */
export function pebbleSurvivors(pebble: Pebble): number[] {
  return pebble.pids.filter(isAlive)
}
