/** @module buildApi: the fastify admin API: zod, guards, OpenAPI, events, one error shape. */
import type { Socket } from 'node:net'
import fastifySwagger from '@fastify/swagger'
import fastifyWebsocket from '@fastify/websocket'
import fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify'
import {
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod'
import { errors, PorticoError } from '../errors.ts'
import type { ConfigStatusView } from '../observe/config-status.ts'
import type { EventBus } from '../observe/events.ts'
import type { Logger } from '../observe/log.ts'
import { type AppsService, appsPlugin } from './apps.ts'
import { type CertificatesService, certificatesPlugin } from './certificates.ts'
import { type ConfigService, configPlugin } from './config.ts'
import { configStatusPlugin } from './config-status.ts'
import { DASHBOARD_PATHS, dashboardPlugin } from './dashboard.ts'
import { type EventStreamOptions, eventsPlugin } from './events.ts'
import { type HealthService, healthPlugin } from './health.ts'
import { type HistoryService, historyPlugin } from './history.ts'
import { type RoutesService, routesPlugin } from './routes.ts'
import { assertSafeBind, installSecurity, isTokenValid } from './security.ts'
import { SessionStore, sessionPlugin } from './session.ts'
import { metricsPlugin, type StatsService, statsPlugin } from './stats.ts'

export { assertSafeBind, isLoopbackHost } from './security.ts'

/** What the API reads and drives; the composition root provides it. */
export interface ApiDeps {
  apps: AppsService
  health: HealthService
  routes: RoutesService
  certificates: CertificatesService
  stats: StatsService
  /** `POST /config/reload`; left out, the endpoint answers 404 (tests of other parts). */
  config?: ConfigService | undefined
  /** The bus streamed at `GET /api/v1/events`. */
  events: EventBus
  log: Logger
  /** Bearer token required on every request when set (an empty string counts as unset). */
  token?: string | undefined
  /** The address the API will listen on; when given, buildApi runs assertSafeBind on it first. */
  bindHost?: string | undefined
  /** Limits of the event stream (tests shrink them); defaults in events.ts. */
  eventStream?: EventStreamOptions | undefined
  // ── operator surfaces ──
  /** The metrics history behind `/stats/history`; undefined when `edge.history` is false. */
  history?: HistoryService | undefined
  /** The config status behind `/config/status` (the dashboard's header). */
  configStatus?: (() => ConfigStatusView) | undefined
  /** The dashboard's files (default: `dashboard/` of the package). */
  dashboardDir?: string | undefined
}

/** The base path of every endpoint. */
export const API_PREFIX = '/api/v1'
/** The largest request body the API reads, in bytes (1 MiB); larger answers 413. */
export const MAX_BODY_BYTES = 1024 * 1024
/** The version written in the OpenAPI document (package.json's). */
export const API_VERSION = '0.1.0'

/** Timeouts of the API listener (reliability.md §3: header 5 s, request 10 s, idle 60 s). */
const HEADERS_TIMEOUT_MS = 5_000
const REQUEST_TIMEOUT_MS = 10_000
const KEEP_ALIVE_TIMEOUT_MS = 60_000
/** pino's numeric value of `warn`. */
const WARN_LEVEL = 40

/** Fastify's own client-error codes, mapped to stable Portico codes. */
const FASTIFY_CODES: Readonly<Record<string, (error: FastifyError) => PorticoError>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: () => new errors.PTC_ERR_BODY_TOO_LARGE(MAX_BODY_BYTES),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (e) => new errors.PTC_ERR_UNSUPPORTED_MEDIA_TYPE(e.message),
  FST_ERR_CTP_INVALID_JSON_BODY: (e) => new errors.PTC_ERR_BAD_JSON(e.message),
  FST_ERR_CTP_EMPTY_JSON_BODY: (e) => new errors.PTC_ERR_BAD_JSON(e.message),
}

/** errorBody is the one error shape: `{ error: { code, message, details? } }`. */
export function errorBody(code: string, message: string, details?: unknown) {
  return { error: details === undefined ? { code, message } : { code, message, details } }
}

/** One schema problem as listed in a PTC_ERR_VALIDATION `details`. */
export interface ValidationIssue {
  /** Where: the request part then the field path, e.g. `body/backends/0/port`. */
  path: string
  /** The zod issue code, e.g. `invalid_type`, `too_big`. */
  code: string
  message: string
}

function validationError(error: FastifyError): PorticoError {
  const part = error.validationContext ?? 'body'
  const issues: ValidationIssue[] = (error.validation ?? []).map((v) => ({
    path: `${part}${v.instancePath === '/' ? '' : v.instancePath}`,
    code: v.keyword,
    message: v.message ?? 'invalid',
  }))
  const summary = issues.map((i) => `${i.path}: ${i.message}`).join('; ')
  return new errors.PTC_ERR_VALIDATION(summary, { details: issues })
}

/** toPorticoError maps any error a route or fastify raised to a PorticoError (5xx → INTERNAL). */
function toPorticoError(error: FastifyError | PorticoError): PorticoError {
  if (error instanceof PorticoError) return error
  if (error.validation) return validationError(error)
  const mapped = error.code === undefined ? undefined : FASTIFY_CODES[error.code]
  if (mapped !== undefined) return mapped(error)
  const status = error.statusCode ?? 500
  if (status >= 500) return new errors.PTC_ERR_INTERNAL({ cause: error })
  return new PorticoError(errors.PTC_ERR_BAD_REQUEST.code, `bad request: ${error.message}`, status)
}

function sendError(
  request: FastifyRequest,
  reply: FastifyReply,
  error: FastifyError | PorticoError,
) {
  const mapped = toPorticoError(error)
  if (mapped.statusCode >= 500) request.log.error({ err: error }, 'api request failed')
  return reply.code(mapped.statusCode).send(errorBody(mapped.code, mapped.message, mapped.details))
}

/** onClientError answers an HTTP syntax error on the raw socket with the standard shape. */
function onClientError(_error: Error, socket: Socket): void {
  if (!socket.writable) return
  const err = new errors.PTC_ERR_BAD_REQUEST('malformed HTTP request')
  const body = JSON.stringify(errorBody(err.code, err.message))
  socket.end(
    `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  )
}

/**
 * apiLogger is the API's child logger. fastify logs every request at info; the edge's access log
 * is the one that matters, so the API logs warnings and errors only (or less, if the root does).
 */
function apiLogger(log: Logger): FastifyBaseLogger {
  const level = log.levelVal > WARN_LEVEL ? log.level : 'warn'
  return log.child({ component: 'api' }, { level }) as FastifyBaseLogger
}

function createServer(deps: ApiDeps) {
  const app = fastify({
    loggerInstance: apiLogger(deps.log),
    bodyLimit: MAX_BODY_BYTES,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    http: { headersTimeout: HEADERS_TIMEOUT_MS },
    requestTimeout: REQUEST_TIMEOUT_MS,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    // No socket inactivity timeout: an app DELETE drains and stops for longer than 10 s, and the
    // header/request timeouts above already bound slow clients.
    connectionTimeout: 0,
    // fastify's own 503-on-close body has another shape; rejectWhileClosing answers instead.
    return503OnClosing: false,
    clientErrorHandler: onClientError,
    frameworkErrors: (error, request, reply) => sendError(request, reply, error),
  }).withTypeProvider<ZodTypeProvider>()
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  return app
}

async function registerDocs(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Portico',
        description: 'The admin API of Portico, a process-manager-integrated HTTPS edge router.',
        version: API_VERSION,
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
      ...(deps.token ? { security: [{ bearerAuth: [] }] } : {}),
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  })
  app.get(`${API_PREFIX}/openapi.json`, { schema: { hide: true } }, async () => app.swagger())
}

/** rejectWhileClosing answers 503 PTC_ERR_API_CLOSING to requests that arrive once close began. */
function rejectWhileClosing(app: FastifyInstance): void {
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  app.addHook('onRequest', async (_request, reply) => {
    if (!closing) return
    const error = new errors.PTC_ERR_API_CLOSING()
    return reply
      .code(error.statusCode)
      .header('Connection', 'close')
      .send(errorBody(error.code, error.message))
  })
}

/**
 * buildApi returns a ready (not listening) fastify instance serving every endpoint under
 * `/api/v1` (OpenAPI 3 at `/api/v1/openapi.json`, WebSocket `/api/v1/events`) and `/metrics` at
 * the root. Guards run first on every request and upgrade (see installSecurity). Every error,
 * malformed JSON, oversized bodies and unknown paths included, answers
 * `{ error: { code, message, details? } }`. Throws PTC_ERR_API_UNSAFE_BIND when `bindHost` is
 * non-loopback and no token is set.
 */
export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  if (deps.bindHost !== undefined) assertSafeBind(deps.bindHost, deps.token)
  const app = createServer(deps)
  const token = deps.token === '' ? undefined : deps.token
  const sessions = token === undefined ? undefined : new SessionStore()
  installSecurity(app, {
    token,
    upgradePaths: [`${API_PREFIX}/events`],
    sessions,
    publicPaths: [`${API_PREFIX}/session`],
    staticPaths: DASHBOARD_PATHS,
  })
  rejectWhileClosing(app)
  app.setNotFoundHandler((request, reply) => {
    const error = new errors.PTC_ERR_NOT_FOUND(request.method, request.url.split('?')[0] ?? '')
    return reply.code(404).send(errorBody(error.code, error.message))
  })
  app.setErrorHandler((error: FastifyError | PorticoError, request, reply) =>
    sendError(request, reply, error),
  )
  await registerDocs(app, deps)
  await app.register(fastifyWebsocket, {
    options: { maxPayload: 4096 },
    errorHandler: (error, socket, request) => {
      request.log.warn({ err: error }, 'event stream error')
      socket.terminate()
    },
  })
  await app.register(healthPlugin(deps.health), { prefix: API_PREFIX })
  await app.register(appsPlugin(deps.apps), { prefix: API_PREFIX })
  await app.register(routesPlugin(deps.routes), { prefix: API_PREFIX })
  await app.register(certificatesPlugin(deps.certificates), { prefix: API_PREFIX })
  if (deps.config) await app.register(configPlugin(deps.config), { prefix: API_PREFIX })
  await app.register(statsPlugin(deps.stats), { prefix: API_PREFIX })
  await app.register(historyPlugin(deps.history), { prefix: API_PREFIX })
  await app.register(sessionPlugin({ token, sessions, isTokenValid }), { prefix: API_PREFIX })
  if (deps.configStatus !== undefined)
    await app.register(configStatusPlugin(deps.configStatus), { prefix: API_PREFIX })
  await app.register(dashboardPlugin(deps.dashboardDir))
  await app.register(eventsPlugin(deps.events, deps.eventStream ?? {}), { prefix: API_PREFIX })
  // Prometheus scrapes /metrics at the root of the API listener (architecture contract).
  await app.register(metricsPlugin(deps.stats))
  return app
}
