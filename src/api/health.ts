/** @module GET /health: liveness, the bound ports, and the dev CA clients should trust. */
import type { FastifyPluginAsync } from 'fastify'

/** The dev CA as /health reports it: where its certificate is and its SHA-256 fingerprint. */
export interface CaView {
  /** Absolute path of `dev-ca.crt`. */
  path: string
  /** SHA-256 of the certificate, `AB:CD:…` as browsers and `openssl x509 -fingerprint -sha256` show it. */
  sha256: string
}

/** What /health reports. Ports are the bound ones (a configured 0 shows the chosen port). */
export interface HealthService {
  ports: () => { https: number; http: number; api: number }
  mode: 'dev' | 'start'
  /** The dev CA (dev mode), or null when none is used. */
  ca?: () => CaView | null
}

/**
 * healthPlugin serves `GET /health` →
 * `{ status: 'ok', mode, ports: { https, http, api }, ca: { path, sha256 } | null }`.
 */
export function healthPlugin(service: HealthService): FastifyPluginAsync {
  return async function health(app) {
    app.get('/health', async () => ({
      status: 'ok',
      mode: service.mode,
      ports: service.ports(),
      ca: service.ca?.() ?? null,
    }))
  }
}
