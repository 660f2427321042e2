/** @module /config/reload: re-read the config file on command and say what changed. */
import type { FastifyPluginAsync } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'

const names = z.array(z.string())
const changes = z.object({ added: names, removed: names, changed: names })

/** What a successful reload answers. */
export const reloadResult = z.object({
  summary: z
    .string()
    .describe(
      'The applied diff on one line (`+app docs, ~web (reload), -route old.example.com`), or "no changes".',
    ),
  apps: changes.describe('App names added, removed and changed by this reload.'),
  routes: changes.describe('Route vHosts added, removed and changed by this reload.'),
  hostnames: names.describe('Every hostname served after the reload (wildcards as `*.x`).'),
  restartRequired: z
    .boolean()
    .describe('`edge` settings changed in the file: they take effect at the next start.'),
})

/** The answer of `POST /config/reload`. */
export type ReloadResult = z.infer<typeof reloadResult>

/** What the config endpoint drives. */
export interface ConfigService {
  /** reload applies the config file; throws PTC_ERR_CONFIG_REJECTED (400) and changes nothing. */
  reload: () => Promise<ReloadResult>
}

/**
 * configPlugin serves `POST /config/reload` (body `{}` or none): 200 with the diff applied and
 * the hostnames now served, or 400 PTC_ERR_CONFIG_REJECTED whose `details` list
 * `{ path, message }` per bad field.
 */
export function configPlugin(service: ConfigService): FastifyPluginAsync {
  return async function config(app) {
    const typed = app.withTypeProvider<ZodTypeProvider>()
    typed.post(
      '/config/reload',
      {
        schema: {
          summary: 'Re-read the config file and apply it',
          description:
            'Loads and validates the config file, then applies only what changed (the API changes stay on top). Useful even when the file watcher applied it first: the hostnames now served are listed. A bad file answers 400 and nothing changes.',
          body: z.object({}).strict().optional(),
          response: { 200: reloadResult },
        },
      },
      async () => service.reload(),
    )
  }
}
