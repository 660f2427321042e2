/** @module /stats/history: per-minute traffic and app events from the history database. */
import type { FastifyPluginAsync } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { errors } from '../errors.ts'
import type { SeriesKind } from '../history/aggregate.ts'
import type { HistoryStatus } from '../history/history.ts'
import { type BucketRange, bucketCount, type HistoryPoint, MAX_BUCKETS } from '../history/query.ts'
import type { AppEvent } from '../history/store.ts'

/** What the history endpoints read (the History, or nothing when `edge.history` is false). */
export interface HistoryService {
  points: (kind: SeriesKind, name: string, range: BucketRange) => HistoryPoint[]
  appEvents: (app: string | undefined, fromMs: number, toMs: number, limit: number) => AppEvent[]
  status: () => HistoryStatus
}

const SECOND_MS = 1000
const MINUTE_S = 60
const HOUR_MS = 60 * 60 * SECOND_MS
const DAY_S = 24 * 60 * MINUTE_S

/** A time as epoch milliseconds or an ISO 8601 date. */
const instant = z
  .string()
  .max(40)
  .refine((s) => Number.isFinite(toMs(s)), {
    error: 'expected epoch milliseconds or an ISO 8601 time such as 2026-12-01T10:00:00Z',
  })

function toMs(value: string): number {
  return /^\d+$/.test(value) ? Number(value) : Date.parse(value)
}

const pointsQuery = z
  .object({
    route: z.string().min(1).max(253).optional().describe('A route vHost (an app hostname too).'),
    app: z.string().min(1).max(64).optional().describe('An app name.'),
    from: instant.optional().describe('Start (inclusive); default one hour before `to`.'),
    to: instant.optional().describe('End (exclusive); default now.'),
    step: z.coerce
      .number()
      .int()
      .min(MINUTE_S)
      .max(DAY_S)
      .refine((s) => s % MINUTE_S === 0, { error: 'expected a multiple of 60 seconds' })
      .default(MINUTE_S)
      .describe('Bucket length in seconds, a multiple of 60. Default 60.'),
  })
  .strict()

const eventsQuery = z
  .object({
    app: z.string().min(1).max(64).optional(),
    from: instant.optional(),
    to: instant.optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(200),
  })
  .strict()

function timeRange(from: string | undefined, to: string | undefined, now: number) {
  const toMsValue = to === undefined ? now : toMs(to)
  const fromMsValue = from === undefined ? toMsValue - HOUR_MS : toMs(from)
  if (fromMsValue >= toMsValue) throw new errors.PTC_ERR_VALIDATION('`from` must be before `to`')
  return { fromMs: fromMsValue, toMs: toMsValue }
}

function seriesOf(query: { route?: string | undefined; app?: string | undefined }) {
  if (query.route !== undefined && query.app !== undefined)
    throw new errors.PTC_ERR_VALIDATION('give `route` or `app`, not both')
  if (query.route !== undefined) return { kind: 'route' as const, name: query.route.toLowerCase() }
  if (query.app !== undefined) return { kind: 'app' as const, name: query.app }
  return { kind: 'total' as const, name: '*' }
}

/**
 * historyPlugin serves `GET /stats/history?route=|app=&from=&to=&step=` (an array of buckets,
 * oldest first, each `{ at, requests, status, errors, bytesIn, bytesOut, latencyMs }`; neither
 * `route` nor `app` means every route together), `GET /stats/history/events?app=&from=&to=&limit=`
 * (app events, newest first) and `GET /stats/history/status`. With history off every one answers
 * 404 PTC_ERR_HISTORY_DISABLED. Register it under the API prefix, before the stats plugin.
 */
export function historyPlugin(
  service: HistoryService | undefined,
  now: () => number = Date.now,
): FastifyPluginAsync {
  const require = () => {
    if (service === undefined) throw new errors.PTC_ERR_HISTORY_DISABLED()
    return service
  }
  return async function history(app) {
    const typed = app.withTypeProvider<ZodTypeProvider>()
    typed.get('/stats/history', { schema: { querystring: pointsQuery } }, async (request) => {
      const history = require()
      const { kind, name } = seriesOf(request.query)
      const range = {
        ...timeRange(request.query.from, request.query.to, now()),
        stepMs: request.query.step * SECOND_MS,
      }
      if (bucketCount(range) > MAX_BUCKETS) {
        throw new errors.PTC_ERR_VALIDATION(
          `that range holds more than ${MAX_BUCKETS} buckets; raise \`step\` or narrow the range`,
        )
      }
      return history.points(kind, name, range)
    })
    typed.get(
      '/stats/history/events',
      { schema: { querystring: eventsQuery } },
      async (request) => {
        const { fromMs, toMs: untilMs } = timeRange(request.query.from, request.query.to, now())
        return require()
          .appEvents(request.query.app, fromMs, untilMs, request.query.limit)
          .map((e) => ({ ...e, at: new Date(e.atMs).toISOString() }))
      },
    )
    typed.get('/stats/history/status', async () => require().status())
  }
}
