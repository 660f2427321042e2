/** @module buildApi: the fastify admin API with zod validation, host allowlist and one error shape. */
import fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify'
import {
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod'
import { errors, PorticoError } from '../errors.ts'
import type { Logger } from '../observe/log.ts'
import { type AppsService, appsPlugin } from './apps.ts'
import { type CertificatesService, certificatesPlugin } from './certificates.ts'
import { type HealthService, healthPlugin } from './health.ts'
import { type RoutesService, routesPlugin } from './routes.ts'
import { metricsPlugin, type StatsService, statsPlugin } from './stats.ts'

/** What the API reads and drives; the composition root provides it. */
export interface ApiDeps {
  apps: AppsService
  health: HealthService
  routes: RoutesService
  certificates: CertificatesService
  stats: StatsService
  log: Logger
  /** Bearer token required on every request when set. */
  token?: string | undefined
}

/** The base path of every endpoint. */
export const API_PREFIX = '/api/v1'

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]'])

/** isLoopbackHost reports whether a Host header names this machine's loopback (DNS rebinding guard). */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false
  const lower = host.toLowerCase()
  const name = lower.startsWith('[') ? lower.slice(0, lower.indexOf(']') + 1) : lower.split(':')[0]
  return name !== undefined && LOOPBACK_HOSTS.has(name)
}

function errorBody(code: string, message: string, details?: unknown) {
  return { error: details === undefined ? { code, message } : { code, message, details } }
}

/**
 * buildApi returns a ready (not listening) fastify instance. Every error, malformed JSON and
 * unknown paths included, answers `{ error: { code, message, details? } }`.
 */
export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  const app = fastify({
    // fastify logs every request at info; the edge's access log is the one that matters, so the
    // API logs warnings and errors only.
    loggerInstance: deps.log.child({ component: 'api' }, { level: 'warn' }) as FastifyBaseLogger,
    bodyLimit: 1024 * 1024,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    connectionTimeout: 10_000,
    keepAliveTimeout: 60_000,
    return503OnClosing: true,
  }).withTypeProvider<ZodTypeProvider>()
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)

  app.addHook('onRequest', async (request, reply) => {
    if (!isLoopbackHost(request.headers.host)) {
      const error = new errors.PTC_ERR_HOST_FORBIDDEN(request.headers.host ?? '')
      return reply.code(403).send(errorBody(error.code, error.message))
    }
    if (deps.token !== undefined && request.headers.authorization !== `Bearer ${deps.token}`) {
      const error = new errors.PTC_ERR_UNAUTHORIZED()
      return reply
        .code(401)
        .header('WWW-Authenticate', 'Bearer')
        .send(errorBody(error.code, error.message))
    }
  })

  app.setNotFoundHandler((request, reply) => {
    const error = new errors.PTC_ERR_NOT_FOUND(request.method, request.url)
    return reply.code(404).send(errorBody(error.code, error.message))
  })

  app.setErrorHandler((error: FastifyError | PorticoError, request, reply) => {
    if (error instanceof PorticoError) {
      return reply.code(error.statusCode).send(errorBody(error.code, error.message, error.details))
    }
    if (error.validation) {
      const message = error.validation
        .map((v) => `${v.instancePath || '(body)'} ${v.message}`)
        .join('; ')
      return reply
        .code(400)
        .send(errorBody('PTC_ERR_VALIDATION', `invalid request: ${message}`, error.validation))
    }
    const status = error.statusCode ?? 500
    if (status >= 500) request.log.error({ err: error }, 'api request failed')
    const code = status >= 500 ? 'PTC_ERR_INTERNAL' : (error.code ?? 'PTC_ERR_VALIDATION')
    return reply
      .code(status)
      .send(errorBody(code, status >= 500 ? 'internal error' : error.message))
  })

  await app.register(healthPlugin(deps.health), { prefix: API_PREFIX })
  await app.register(appsPlugin(deps.apps), { prefix: API_PREFIX })
  await app.register(routesPlugin(deps.routes), { prefix: API_PREFIX })
  await app.register(certificatesPlugin(deps.certificates), { prefix: API_PREFIX })
  await app.register(statsPlugin(deps.stats), { prefix: API_PREFIX })
  // Prometheus scrapes /metrics at the root of the API listener (architecture contract).
  await app.register(metricsPlugin(deps.stats))
  return app
}
