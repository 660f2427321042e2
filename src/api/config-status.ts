/** @module GET /config/status: when the config was last applied and the last error applying it. */
import type { FastifyPluginAsync } from 'fastify'
import type { ConfigStatusView } from '../observe/config-status.ts'

/** configStatusPlugin serves `GET /config/status` (see ConfigStatusView). Register it under the API prefix. */
export function configStatusPlugin(view: () => ConfigStatusView): FastifyPluginAsync {
  return async function configStatus(app) {
    app.get('/config/status', async () => view())
  }
}
