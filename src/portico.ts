/** @module Composition root: createPortico(settings, config) constructs every part; the only file that wires them. */
import { mkdir } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { assertSafeBind, buildApi } from './api/server.ts'
import { SHUTDOWN_DRAIN_MS } from './config/defaults.ts'
import type { Config } from './config/schema.ts'
import type { Settings } from './config/settings.ts'
import { launchContext, watchEnvFiles } from './control/app-env.ts'
import { transitionEvents } from './control/events.ts'
import { Runtime } from './control/runtime.ts'
import {
  createAppsService,
  createCertificatesService,
  createRoutesService,
  restoreCertificates,
} from './control/services.ts'
import { createStats, instanceTraffic } from './control/stats.ts'
import { watchConfig } from './control/watch.ts'
import { EventBus } from './observe/events.ts'
import type { Logger } from './observe/log.ts'
import { createEdge } from './proxy/edge.ts'
import { loadUserDevCa } from './proxy/tls/ca-dir.ts'
import { CertStore } from './proxy/tls/cert-store.ts'
import { createSniCallback } from './proxy/tls/sni.ts'
import { EdgeWorkers } from './proxy/workers/primary.ts'
import { PassiveHealth } from './registry/health/passive.ts'
import { Registry } from './registry/registry.ts'
import type { Upstream } from './registry/upstream.ts'
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
  /** The log is human-readable (edge workers write theirs the same way). */
  prettyLog?: boolean
  /** Receives each line an app instance prints (dev terminal prefixing). */
  onOutput?: (app: string, index: number, stream: 'out' | 'err', line: string) => void
}

/** The parts a running Portico is made of; each is set once it has started. */
interface Parts {
  stats?: { close: () => void }
  /** The in-process EdgeServer, or the edge workers. */
  edge?: { close: (drainMs: number) => Promise<void> }
  runtime: Runtime
  unwatch?: () => Promise<void>
  api?: FastifyInstance
  supervisor?: Supervisor
}

/**
 * stopParts shuts down in the one safe order: the edge stops accepting and drains in-flight
 * requests first (apps still serve them), then probes stop, then the apps are stopped, then the
 * API closes (it answered health checks until the end).
 */
async function stopParts(parts: Parts): Promise<void> {
  await parts.unwatch?.()
  await parts.edge?.close(SHUTDOWN_DRAIN_MS)
  parts.runtime.close()
  await parts.supervisor?.close()
  await parts.api?.close()
  parts.stats?.close()
}

/** What startEdge needs beyond the settings. */
interface EdgeParts {
  settings: Settings
  config: Config
  options: PorticoOptions
  registry: Registry
  runtime: Runtime
  certs: CertStore
  events: EventBus
  /** Subscribes the edge workers to registry changes. */
  onRegistryChange: (listener: (upstream: Upstream) => void) => void
}

/**
 * startEdge starts the edge: in this process (`workers` 1), or as edge workers that mirror the
 * registry and route table. Resolves with the edge and its bound ports.
 */
async function startEdge(p: EdgeParts) {
  const { settings, log } = { settings: p.settings, log: p.options.log }
  const passive = new PassiveHealth()
  const listeners = {
    bind: settings.bind,
    httpsPort: settings.httpsPort,
    httpPort: settings.httpPort,
    httpRedirect: settings.httpRedirect,
    trustedProxies: p.config.edge.trustedProxies,
    listHosts: settings.mode === 'dev',
  }
  if (settings.workers > 1) {
    const workers = await EdgeWorkers.start({
      count: settings.workers,
      init: { ...listeners, logLevel: settings.logLevel, prettyLog: p.options.prettyLog === true },
      registry: p.registry,
      onRegistryChange: p.onRegistryChange,
      routes: () => p.runtime.routes(),
      onRoutesChange: (listener) => p.runtime.onTableChange(listener),
      passive,
      events: p.events,
      certs: p.certs,
      log: log.child({ component: 'edge' }),
    })
    p.runtime.settleWith(() => workers.synced())
    return { edge: workers, ports: workers.ports }
  }
  const edge = createEdge({
    ...listeners,
    defaultCert: await p.certs.defaultKeyPair(),
    sniCallback: createSniCallback(p.certs, log.child({ component: 'tls' })),
    table: () => p.runtime.table(),
    passive,
    events: p.events,
    log,
  })
  return { edge, ports: await edge.start() }
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
  // Refuse an off-loopback admin API without a token before anything starts (fail closed).
  assertSafeBind(settings.apiHost, settings.apiToken)
  await mkdir(settings.stateDir, { recursive: true, mode: 0o700 })
  const events = new EventBus()
  const parts: Partial<Parts> = {}
  const pidOf = (app: string, id: string) =>
    parts.supervisor?.get(app)?.instances.find((i) => i.id === id)?.pid ?? null
  let onRegistryChange: ((upstream: Upstream) => void) | undefined
  const registry = new Registry(transitionEvents(events, pidOf), (u) => onRegistryChange?.(u))
  const runtime = await Runtime.create({
    file: config,
    registry,
    events,
    log,
    stateDir: settings.stateDir,
  })
  parts.runtime = runtime
  const stats = createStats({
    events,
    table: () => runtime.table(),
    apps: () => parts.supervisor?.list() ?? [],
  })
  parts.stats = stats
  const dev = settings.mode === 'dev'
  try {
    // One dev CA per user, shared by every project; an older project-local one is adopted.
    const userCa = dev
      ? await loadUserDevCa({ caDir: settings.caDir, legacyDir: settings.certsDir, log })
      : undefined
    const certs = new CertStore({
      certsDir: settings.certsDir,
      devCa: userCa?.ca,
      issueFor: (name) =>
        runtime.table().lookup(name) !== undefined || (dev && name.endsWith('.localhost')),
      log: log.child({ component: 'tls' }),
    })
    await certs.load()
    const started = await startEdge({
      ...{ settings, config, options, registry, runtime, certs, events },
      onRegistryChange: (listener) => {
        onRegistryChange = listener
      },
    })
    parts.edge = started.edge
    const ports = { ...started.ports, api: 0 }
    const control = {
      runtime,
      registry,
      supervisor: () => parts.supervisor,
      certs,
      stateDir: settings.stateDir,
      log,
      traffic: (id: string) => instanceTraffic(stats.tracker, registry, id),
    }
    await restoreCertificates(control)
    parts.api = await buildApi({
      log,
      token: settings.apiToken,
      health: {
        ports: () => ports,
        mode: settings.mode,
        ca: () => (userCa ? { path: userCa.certPath, sha256: userCa.fingerprint256 } : null),
      },
      apps: createAppsService(control),
      routes: createRoutesService(control),
      certificates: createCertificatesService(control),
      stats: stats.service,
      events,
      bindHost: settings.apiHost,
    })
    await parts.api.listen({ host: settings.apiHost, port: settings.apiPort })
    ports.api = (parts.api.server.address() as AddressInfo).port
    const supervisor = await Supervisor.create({
      launch: await launchContext(settings, ports.https, userCa?.certPath, log),
      stateDir: settings.stateDir,
      configDir: settings.configDir,
      portRange: settings.portRange,
      registry,
      log: log.child({ component: 'supervisor' }),
      onOutput: (app, index, stream, line) => {
        if (events.hasListeners('instance:log'))
          events.emit('instance:log', { app, instance: `${app}#${index}`, stream, line })
        options.onOutput?.(app, index, stream, line)
      },
    })
    parts.supervisor = supervisor
    await runtime.attach(supervisor)
    await mkdir(settings.certsDir, { recursive: true, mode: 0o700 })
    const unwatchConfig = await watchConfig({ ...settings, runtime, certs, log })
    const envFiles = await watchEnvFiles(runtime, supervisor, settings.configDir, log)
    parts.unwatch = async () => {
      await unwatchConfig()
      await envFiles.close()
    }
    let stopping: Promise<void> | undefined
    return {
      ports,
      stop: () => {
        stopping ??= stopParts(parts as Parts)
        return stopping
      },
      killNow: () => supervisor.killAllNow(),
    }
  } catch (error) {
    await stopParts(parts as Parts)
    throw error
  }
}
