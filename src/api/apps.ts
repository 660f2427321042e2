/** @module /apps: list and read supervised apps with their instances. */
import type { FastifyPluginAsync } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import type { AppSpec } from '../config/schema.ts'
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
}

/** An app as the API shows it: its spec fields plus its instances. */
export type AppView = Omit<AppSpec, 'instances'> & {
  hostnames: string[]
  instances: InstanceView[]
}

/** What the apps endpoints read. */
export interface AppsService {
  list: () => AppView[]
  get: (name: string) => AppView | undefined
}

const nameParams = z.object({ name: z.string() })

/** appsPlugin serves `GET /apps` (an array) and `GET /apps/:name` (the app object itself). */
export function appsPlugin(service: AppsService): FastifyPluginAsync {
  return async function apps(app) {
    const typed = app.withTypeProvider<ZodTypeProvider>()
    typed.get('/apps', async () => service.list())
    typed.get('/apps/:name', { schema: { params: nameParams } }, async (request) => {
      const found = service.get(request.params.name)
      if (!found) throw new errors.PTC_ERR_APP_NOT_FOUND(request.params.name)
      return found
    })
  }
}
