/** @module /routes: virtual hosts and their static backends (the reference specification's RouteConfig). */
import type { FastifyPluginAsync } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import {
  type BackendConfig,
  backendSchema,
  type RouteConfig,
  routeSchema,
} from '../config/schema.ts'
import { errors } from '../errors.ts'

/** A backend as the API shows it: its config plus the runtime fields of the reference spec. */
export interface BackendView {
  id: string
  hostname: string
  port: number
  weight: number
  /** Out of rotation: marked dead by hand, or ejected by health checks. */
  isDead: boolean
  /** Recent failures counted by passive health. */
  failureCount: number
  state: string
}

/** A route as the API shows it. `source` says where it is defined. */
export type RouteView = Omit<RouteConfig, 'backends'> & {
  backends: BackendView[]
  source: 'file' | 'api' | 'app'
}

/** What the routes endpoints read and drive (the composition root implements it). */
export interface RoutesService {
  list: () => RouteView[]
  get: (vHost: string) => RouteView | undefined
  create: (route: RouteConfig) => Promise<RouteView>
  remove: (vHost: string) => Promise<RouteView>
  addBackend: (vHost: string, backend: BackendConfig) => Promise<BackendView>
  removeBackend: (vHost: string, id: string) => Promise<BackendView>
  setDead: (vHost: string, id: string, dead: boolean) => Promise<BackendView>
}

const vHostParams = z.object({ vHost: z.string().max(253) })
const backendParams = z.object({ vHost: z.string().max(253), id: z.string().max(300) })
const deadParams = z.object({
  vHost: z.string().max(253),
  id: z.string().max(300),
  mark: z.enum(['dead', 'alive']),
})
const emptyBody = z.object({}).passthrough().optional()

/**
 * routesPlugin serves `GET|POST /routes`, `GET|DELETE /routes/:vHost`,
 * `POST /routes/:vHost/backends`, `DELETE /routes/:vHost/backends/:id` and
 * `POST /routes/:vHost/backends/:id/{dead,alive}` (accept `{}`). vHost lookups ignore case.
 */
export function routesPlugin(service: RoutesService): FastifyPluginAsync {
  return async function routes(app) {
    const typed = app.withTypeProvider<ZodTypeProvider>()
    const require = (vHost: string) => {
      const found = service.get(vHost.toLowerCase())
      if (!found) throw new errors.PTC_ERR_ROUTE_NOT_FOUND(vHost)
      return found
    }
    typed.get('/routes', async () => service.list())
    typed.post('/routes', { schema: { body: routeSchema } }, async (request, reply) => {
      reply.code(201)
      return service.create(request.body)
    })
    typed.get('/routes/:vHost', { schema: { params: vHostParams } }, async (request) =>
      require(request.params.vHost),
    )
    typed.delete('/routes/:vHost', { schema: { params: vHostParams } }, async (request) => {
      return service.remove(require(request.params.vHost).vHost)
    })
    typed.post(
      '/routes/:vHost/backends',
      { schema: { params: vHostParams, body: backendSchema } },
      async (request, reply) => {
        const route = require(request.params.vHost)
        reply.code(201)
        return service.addBackend(route.vHost, request.body)
      },
    )
    typed.delete(
      '/routes/:vHost/backends/:id',
      { schema: { params: backendParams } },
      async (request) => {
        return service.removeBackend(require(request.params.vHost).vHost, request.params.id)
      },
    )
    typed.post(
      '/routes/:vHost/backends/:id/:mark',
      { schema: { params: deadParams, body: emptyBody } },
      async (request) => {
        const route = require(request.params.vHost)
        return service.setDead(route.vHost, request.params.id, request.params.mark === 'dead')
      },
    )
  }
}
