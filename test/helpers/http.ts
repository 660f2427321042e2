/** @module request: one HTTP(S) request to 127.0.0.1 with explicit Host/SNI (*.localhost does not resolve here). */
import http from 'node:http'
import https from 'node:https'

/** What request sends. */
export interface RequestOptions {
  port: number
  /** Host header (and SNI for https). */
  host: string
  path?: string
  method?: string
  headers?: Record<string, string>
  body?: string | Buffer
  /** Use TLS, verifying against this CA (never rejectUnauthorized: false). */
  ca?: string
  agent?: http.Agent
  timeoutMs?: number
  /** Source address (127.0.0.2 … to look like another client on loopback). */
  localAddress?: string
}

/** The whole response, body buffered. */
export interface Response {
  status: number
  headers: http.IncomingHttpHeaders
  rawHeaders: string[]
  body: string
  /** For TLS: the peer certificate's serial number. */
  serialNumber?: string
  /** For TLS: the peer certificate's subjectAltName (`DNS:a.test, …`). */
  subjectAltName?: string
}

/** request sends one request and resolves with the whole response; rejects on socket errors. */
export function request(options: RequestOptions): Promise<Response> {
  return new Promise((resolve, reject) => {
    const tls = options.ca !== undefined
    const common = {
      host: '127.0.0.1',
      port: options.port,
      path: options.path ?? '/',
      method: options.method ?? 'GET',
      headers: { Host: options.host, ...options.headers },
      agent: options.agent ?? false,
      timeout: options.timeoutMs ?? 15_000,
      ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}),
    }
    const req = tls
      ? https.request({ ...common, servername: options.host.split(':')[0], ca: options.ca })
      : http.request(common)
    req.on('timeout', () => req.destroy(new Error('test request timed out')))
    req.on('error', reject)
    req.on('response', (res) => {
      // Read the certificate now: with a keep-alive agent the socket goes back to the pool (and
      // may be reused or closed) once the body has ended.
      const cert = tls
        ? (res.socket as import('node:tls').TLSSocket).getPeerCertificate?.()
        : undefined
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => {
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: Buffer.concat(chunks).toString('utf8'),
          ...(cert?.serialNumber ? { serialNumber: cert.serialNumber } : {}),
          ...(cert?.subjectaltname ? { subjectAltName: cert.subjectaltname } : {}),
        })
      })
    })
    req.end(options.body)
  })
}
