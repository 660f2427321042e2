/** @module GET /health: liveness and the bound ports. */
import type { FastifyPluginAsync } from 'fastify'

/** What /health reports. Ports are the bound ones (a configured 0 shows the chosen port). */
export interface HealthService {
  ports: () => { https: number; http: number; api: number }
  mode: 'dev' | 'start'
}

/** healthPlugin serves `GET /health` → `{ status: 'ok', mode, ports: { https, http, api } }`. */
export function healthPlugin(service: HealthService): FastifyPluginAsync {
  return async function health(app) {
    app.get('/health', async () => ({ status: 'ok', mode: service.mode, ports: service.ports() }))
  }
}
