/** @module /stats and /metrics: live traffic stats as JSON and Prometheus text. */
import type { FastifyPluginAsync } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { errors } from '../errors.ts'
import { METRICS_CONTENT_TYPE } from '../observe/metrics.ts'

/**
 * What the stats endpoints read; the composition root builds it from the Tracker, the Metrics,
 * the route table and the registry. Each call reads live state, so it must be cheap enough for
 * a scrape every few seconds.
 */
export interface StatsService {
  /** The global stats and one entry per route (`{ global, routes: [...] }`). */
  all: () => unknown
  /** The stats of one route by vHost, or undefined when no such route is configured. */
  route: (vHost: string) => unknown | undefined
  /** The Prometheus exposition text (see `Metrics.render`). */
  metrics: () => string
}

const vHostParams = z.object({
  vHost: z.string().min(1).describe('The route name: an app hostname or a config route vHost.'),
})

/**
 * statsPlugin serves `GET /stats` (what `service.all()` returns) and `GET /stats/:vHost` (one
 * route's stats; 404 `PTC_ERR_ROUTE_NOT_FOUND` for an unknown vHost). Register it under the API
 * prefix.
 */
export function statsPlugin(service: StatsService): FastifyPluginAsync {
  return async function stats(app) {
    const typed = app.withTypeProvider<ZodTypeProvider>()
    typed.get('/stats', async () => service.all())
    typed.get('/stats/:vHost', { schema: { params: vHostParams } }, async (request) => {
      const found = service.route(request.params.vHost)
      if (found === undefined) throw new errors.PTC_ERR_ROUTE_NOT_FOUND(request.params.vHost)
      return found
    })
  }
}

/**
 * metricsPlugin serves `GET /metrics` with Content-Type METRICS_CONTENT_TYPE (Prometheus text
 * 0.0.4). The contract puts it at the root of the API listener: register it without a prefix.
 */
export function metricsPlugin(service: StatsService): FastifyPluginAsync {
  return async function metrics(app) {
    app.get('/metrics', async (_request, reply) =>
      reply.type(METRICS_CONTENT_TYPE).send(service.metrics()),
    )
  }
}
