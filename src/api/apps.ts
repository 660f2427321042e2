/** @module /apps: create, read, change, delete and operate supervised apps; their logs. */
import type { FastifyPluginAsync } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { type AppSpec, appSchema } from '../config/schema.ts'
import { errors } from '../errors.ts'
import type { TargetState } from '../registry/target.ts'

/** One instance as the API shows it. */
export interface InstanceView {
  id: string
  index: number
  port: number
  pid: number | null
  state: TargetState
  restarts: number
  /** Milliseconds since the current process came online; null while none runs. */
  uptimeMs?: number | null
  lastExitCode?: number | null
  lastSignal?: string | null
  /** Where its process tree listens on loopback (`127.0.0.1:21003`, `[::1]:21003`), as last seen. */
  listeningOn?: string[]
  /** Why it runs but cannot serve (`web#0 listens on 5173, not 21003: pass --port $PORT …`), or null. */
  problem?: string | null
  /** CPU of its process tree over the last 2 s, in percent of one core; null until measured. */
  cpuPercent?: number | null
  /** Resident memory of its process tree, in bytes; null until measured. */
  memoryBytes?: number | null
  /** Traffic through this instance (sliding 60 s window plus totals). */
  stats?: unknown
}

/** An app as the API shows it: its spec fields plus its instances. */
export type AppView = Omit<AppSpec, 'instances'> & {
  hostnames: string[]
  instances: InstanceView[]
}

/** Operations on a running app that change no configuration. */
export const APP_ACTIONS = ['start', 'stop', 'restart', 'reload'] as const
export type AppAction = (typeof APP_ACTIONS)[number]

/** What the apps endpoints read and drive (the composition root implements it). */
export interface AppsService {
  list: () => AppView[]
  get: (name: string) => AppView | undefined
  /** create adds and starts an app; PTC_ERR_APP_EXISTS if the name is taken. */
  create: (spec: AppSpec) => Promise<AppView>
  /** update merges `patch` into the app's spec; reloads or scales it when needed. */
  update: (name: string, patch: Record<string, unknown>) => Promise<AppView>
  /** remove drains and stops the app and removes it and its routes. */
  remove: (name: string) => Promise<void>
  act: (name: string, action: AppAction) => Promise<AppView>
  scale: (name: string, instances: number) => Promise<AppView>
  logs: (name: string, tail: number) => string[]
}

const nameParams = z.object({ name: z.string().max(64) })
const actionParams = z.object({ name: z.string().max(64), action: z.enum(APP_ACTIONS) })
const scaleBody = z.object({ instances: z.number().int().positive().max(64) }).strict()
const logsQuery = z.object({ tail: z.coerce.number().int().min(1).max(10_000).default(100) })
const patchBody = z.record(z.string(), z.unknown())
const emptyBody = z.object({}).passthrough().optional()

/**
 * appsPlugin serves the apps resource: `GET /apps` (array), `POST /apps` (201, starts it),
 * `GET|PATCH|DELETE /apps/:name`, `POST /apps/:name/{start,stop,restart,reload}` (accept `{}`),
 * `POST /apps/:name/scale {instances}` and `GET /apps/:name/logs?tail=N`.
 */
export function appsPlugin(service: AppsService): FastifyPluginAsync {
  return async function apps(app) {
    const typed = app.withTypeProvider<ZodTypeProvider>()
    const require = (name: string) => {
      const found = service.get(name)
      if (!found) throw new errors.PTC_ERR_APP_NOT_FOUND(name)
      return found
    }
    typed.get('/apps', async () => service.list())
    typed.post('/apps', { schema: { body: appSchema } }, async (request, reply) => {
      reply.code(201)
      return service.create(request.body)
    })
    typed.get('/apps/:name', { schema: { params: nameParams } }, async (request) =>
      require(request.params.name),
    )
    typed.patch(
      '/apps/:name',
      { schema: { params: nameParams, body: patchBody } },
      async (request) => {
        require(request.params.name)
        return service.update(request.params.name, request.body)
      },
    )
    typed.delete('/apps/:name', { schema: { params: nameParams } }, async (request) => {
      const found = require(request.params.name)
      await service.remove(request.params.name)
      return { deleted: found.name }
    })
    typed.post(
      '/apps/:name/scale',
      { schema: { params: nameParams, body: scaleBody } },
      async (request) => {
        require(request.params.name)
        return service.scale(request.params.name, request.body.instances)
      },
    )
    typed.post(
      '/apps/:name/:action',
      { schema: { params: actionParams, body: emptyBody } },
      async (request) => {
        require(request.params.name)
        return service.act(request.params.name, request.params.action)
      },
    )
    typed.get(
      '/apps/:name/logs',
      { schema: { params: nameParams, querystring: logsQuery } },
      async (request) => {
        require(request.params.name)
        return {
          name: request.params.name,
          lines: service.logs(request.params.name, request.query.tail),
        }
      },
    )
  }
}
