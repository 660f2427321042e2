/** @module One health probe: a TCP connect, or an HTTP GET that must answer 2xx/3xx. */
import http from 'node:http'
import net from 'node:net'

/** What to probe. */
export interface ProbeSpec {
  host: string
  port: number
  /** HTTP path; without it a TCP connect is enough. */
  path?: string | undefined
  /** Host header for the HTTP probe. */
  hostHeader?: string
  timeoutMs: number
}

/** probe resolves true when the target answers in time; it never rejects. */
export function probe(spec: ProbeSpec): Promise<boolean> {
  return spec.path === undefined ? probeTcp(spec) : probeHttp(spec, spec.path)
}

function probeTcp(spec: ProbeSpec): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: spec.host, port: spec.port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(spec.timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

function probeHttp(spec: ProbeSpec, path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({
      host: spec.host,
      port: spec.port,
      path,
      agent: false,
      timeout: spec.timeoutMs,
      headers: {
        // An IPv6 literal is bracketed in a Host header (RFC 9110 §7.2): `[::1]:21003`.
        Host:
          spec.hostHeader ??
          (spec.host.includes(':') ? `[${spec.host}]:${spec.port}` : `${spec.host}:${spec.port}`),
        'User-Agent': 'portico-health',
      },
    })
    req.once('response', (res) => {
      res.resume()
      const status = res.statusCode ?? 0
      resolve(status >= 200 && status < 400)
    })
    req.once('timeout', () => req.destroy())
    req.once('error', () => resolve(false))
  })
}
