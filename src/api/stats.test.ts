import fastify, { type FastifyInstance } from 'fastify'
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod'
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { afterEach, describe, expect, it } from 'vitest'
import { completedEvent } from '../../test/helpers/completed.ts'
import { PorticoError } from '../errors.ts'
import { EventBus } from '../observe/events.ts'
import { type GaugeSource, METRICS_CONTENT_TYPE, Metrics } from '../observe/metrics.ts'
import { type RouteStats, Tracker } from '../observe/tracker.ts'
import { metricsPlugin, type StatsService, statsPlugin } from './stats.ts'

const ROUTES = ['web.localhost', '*.example.test']
const NO_GAUGES: GaugeSource = { routes: () => [], instances: () => [] }
const closers: Array<() => unknown> = []

afterEach(async () => {
  for (const close of closers.splice(0)) await close()
})

/**
 * setup builds a fastify app with both plugins (stats under /api/v1, /metrics at the root), the
 * PorticoError mapping of buildApi, and a real Tracker and Metrics on a fresh bus; afterEach
 * closes all three.
 */
async function setup(): Promise<{ app: FastifyInstance; events: EventBus }> {
  const events = new EventBus()
  const tracker = new Tracker({ events })
  const metrics = new Metrics({ events })
  const service: StatsService = {
    all: () => ({
      global: tracker.globalStats(),
      routes: ROUTES.map((vHost) => tracker.routeStatsOrEmpty(vHost)),
    }),
    route: (vHost) => (ROUTES.includes(vHost) ? tracker.routeStatsOrEmpty(vHost) : undefined),
    metrics: () => metrics.render(NO_GAUGES),
  }
  const app = fastify()
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof PorticoError) {
      return reply
        .code(error.statusCode)
        .send({ error: { code: error.code, message: error.message } })
    }
    return reply.code(500).send({ error: { code: 'PTC_ERR_INTERNAL', message: String(error) } })
  })
  await app.register(statsPlugin(service), { prefix: '/api/v1' })
  await app.register(metricsPlugin(service))
  closers.push(
    () => app.close(),
    () => tracker.close(),
    () => metrics.close(),
  )
  return { app, events }
}

describe('statsPlugin', () => {
  it('GET /stats answers the global stats and every route', async () => {
    const { app, events } = await setup()
    for (let i = 0; i < 4; i++) events.emit('request:completed', completedEvent())
    events.emit('request:completed', completedEvent({ status: 502 }))
    const response = await app.inject({ method: 'GET', url: '/api/v1/stats' })
    expect(response.statusCode).toBe(200)
    const body = response.json<{ global: { totalRequests: number }; routes: RouteStats[] }>()
    expect(body.global.totalRequests).toBe(5)
    expect(body.routes.map((r) => [r.vHost, r.totalRequests])).toEqual([
      ['web.localhost', 5],
      ['*.example.test', 0],
    ])
    expect(body.routes[0]?.window).toMatchObject({ requests: 5, errors: 1, seconds: 60 })
    expect(body.routes[0]?.window.latencyMs).toMatchObject({ p50: 10, p95: 10, p99: 10 })
  })

  it('GET /stats/:vHost answers one route, wildcard names included', async () => {
    const { app, events } = await setup()
    events.emit('request:completed', completedEvent({ route: '*.example.test' }))
    const response = await app.inject({ method: 'GET', url: '/api/v1/stats/*.example.test' })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toMatchObject({ vHost: '*.example.test', totalRequests: 1 })
    const encoded = await app.inject({ method: 'GET', url: '/api/v1/stats/%2A.example.test' })
    expect(encoded.json()).toMatchObject({ vHost: '*.example.test', totalRequests: 1 })
  })

  it('GET /stats/:vHost holds a zero total for a configured route without traffic', async () => {
    const { app } = await setup()
    const response = await app.inject({ method: 'GET', url: '/api/v1/stats/web.localhost' })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toMatchObject({ vHost: 'web.localhost', totalRequests: 0 })
  })

  it('GET /stats/:vHost answers 404 PTC_ERR_ROUTE_NOT_FOUND for an unknown vHost', async () => {
    const { app } = await setup()
    const response = await app.inject({ method: 'GET', url: '/api/v1/stats/nope.localhost' })
    expect(response.statusCode).toBe(404)
    expect(response.json()).toEqual({
      error: {
        code: 'PTC_ERR_ROUTE_NOT_FOUND',
        message: 'no site is configured for host "nope.localhost"',
      },
    })
  })
})

describe('metricsPlugin', () => {
  it('GET /metrics answers Prometheus text 0.0.4 that parses, counting every request', async () => {
    const { app, events } = await setup()
    for (let i = 0; i < 3; i++) events.emit('request:completed', completedEvent())
    const response = await app.inject({ method: 'GET', url: '/metrics' })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toBe(METRICS_CONTENT_TYPE)
    const families = parsePrometheusTextFormat(response.body)
    const requests = families.find((f) => f.name === 'portico_requests_total')
    expect(requests?.metrics).toEqual([
      { value: '3', labels: { route: 'web.localhost', status_class: '2xx', target: 'web#0' } },
    ])
    const histogram = families.find((f) => f.name === 'portico_request_duration_seconds')
    expect(histogram?.metrics[0]?.buckets?.['+Inf']).toBe('3')
  })

  it('is served at the root, not under the API prefix', async () => {
    const { app } = await setup()
    const response = await app.inject({ method: 'GET', url: '/api/v1/metrics' })
    expect(response.statusCode).toBe(404)
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200)
  })
})
