/** @module Composition root: createPortico(settings, config) wires every part; the only file that does. */
import { mkdir } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { AppView } from './api/apps.ts'
import { buildApi } from './api/server.ts'
import { SHUTDOWN_DRAIN_MS } from './config/defaults.ts'
import { appHostnames, type Config } from './config/schema.ts'
import type { Settings } from './config/settings.ts'
import type { Logger } from './observe/log.ts'
import { createUpstreamAgent } from './proxy/forward.ts'
import { buildRouteTable } from './proxy/route-table.ts'
import { EdgeServer } from './proxy/server.ts'
import { CertStore } from './proxy/tls/cert-store.ts'
import { loadOrCreateDevCa } from './proxy/tls/dev-ca.ts'
import { createSniCallback } from './proxy/tls/sni.ts'
import { Registry } from './registry/registry.ts'
import { Supervisor } from './supervisor/supervisor.ts'

/** A running Portico. */
export interface Portico {
  /** The bound ports (a configured 0 shows the port actually chosen). */
  ports: { https: number; http: number; api: number }
  /** stop drains the edge, stops every app, closes the API. Idempotent. */
  stop: () => Promise<void>
  /** killNow kills every app process group at once (second Ctrl-C); synchronous. */
  killNow: () => void
}

/** Options beyond settings and config. */
export interface PorticoOptions {
  log: Logger
  /** Receives each line an app instance prints (dev terminal prefixing). */
  onOutput?: (app: string, index: number, stream: 'out' | 'err', line: string) => void
}

function toAppView(status: ReturnType<Supervisor['list']>[number]): AppView {
  return {
    ...status.spec,
    hostnames: appHostnames(status.spec),
    instances: status.instances.map((i) => ({ ...i })),
  }
}

/**
 * createPortico starts everything for one config: the dev CA (dev mode), the certificate store,
 * the edge listeners, the admin API, then the supervisor and its apps. On failure part-way it
 * stops what it had started and rethrows.
 */
export async function createPortico(
  settings: Settings,
  config: Config,
  options: PorticoOptions,
): Promise<Portico> {
  const { log } = options
  await mkdir(settings.stateDir, { recursive: true, mode: 0o700 })
  const registry = new Registry()
  const table = buildRouteTable(config, registry)
  const dev = settings.mode === 'dev'
  const devCa = dev ? await loadOrCreateDevCa(settings.certsDir, log) : undefined
  const certs = new CertStore({
    certsDir: settings.certsDir,
    devCa,
    issueFor: (name) => table.lookup(name) !== undefined || (dev && name.endsWith('.localhost')),
    log: log.child({ component: 'tls' }),
  })
  await certs.load()

  const cleanups: (() => Promise<void>)[] = []
  const stop = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  }
  try {
    const edge = new EdgeServer({
      bind: settings.bind,
      httpsPort: settings.httpsPort,
      httpPort: settings.httpPort,
      httpRedirect: settings.httpRedirect,
      defaultCert: await certs.defaultKeyPair(),
      sniCallback: createSniCallback(certs, log.child({ component: 'tls' })),
      handler: {
        table: () => table,
        agent: createUpstreamAgent(),
        log: log.child({ component: 'edge' }),
        knownHosts: () => (dev ? table.hosts() : []),
      },
      log,
    })
    const edgePorts = await edge.start()
    cleanups.push(() => edge.close(SHUTDOWN_DRAIN_MS))

    let supervisor: Supervisor | undefined
    const ports = { ...edgePorts, api: 0 }
    const api: FastifyInstance = await buildApi({
      log,
      token: settings.apiToken,
      health: { ports: () => ports, mode: settings.mode },
      apps: {
        list: () => supervisor?.list().map(toAppView) ?? [],
        get: (name) => {
          const status = supervisor?.get(name)
          return status ? toAppView(status) : undefined
        },
      },
    })
    await api.listen({ host: settings.apiHost, port: settings.apiPort })
    ports.api = (api.server.address() as AddressInfo).port
    cleanups.unshift(() => api.close())

    supervisor = await Supervisor.create({
      stateDir: settings.stateDir,
      configDir: settings.configDir,
      portRange: settings.portRange,
      registry,
      log: log.child({ component: 'supervisor' }),
      ...(options.onOutput ? { onOutput: options.onOutput } : {}),
    })
    const started = supervisor
    // Apps stop after the edge has drained (cleanups run in reverse: edge, supervisor, api).
    cleanups.splice(1, 0, () => started.close())
    // One app that cannot start must not take the others (or the edge) down with it.
    await Promise.all(
      config.apps.map((app) =>
        started
          .startApp(app)
          .catch((err: unknown) => log.error({ err, app: app.name }, 'app failed to start')),
      ),
    )
    return { ports, stop, killNow: () => started.killAllNow() }
  } catch (error) {
    await stop()
    throw error
  }
}
