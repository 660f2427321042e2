/** @module Composition root: createPortico(settings, config) constructs every part; the only file that wires them. */
import { mkdir } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { AcmeManager } from './acme/manager.ts'
import { assertSafeBind, buildApi } from './api/server.ts'
import { SHUTDOWN_DRAIN_MS } from './config/defaults.ts'
import type { Config } from './config/schema.ts'
import type { Settings } from './config/settings.ts'
import { startAccessLogFile } from './control/access-log.ts'
import { launchContext, watchEnvFiles } from './control/app-env.ts'
import { acmeNames, assertCertificates } from './control/certificates.ts'
import { createConfigReloader } from './control/config-reload.ts'
import { transitionEvents } from './control/events.ts'
import { createLive, type Live } from './control/live.ts'
import { Runtime } from './control/runtime.ts'
import {
  createAppsService,
  createCertificatesService,
  createRoutesService,
  liveState,
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
  acme?: AcmeManager | undefined
  accessLog?: { close: () => Promise<void> }
  /** History, live samples, config status. */
  live?: Live
}

/**
 * stopParts shuts down in the one safe order: the edge stops accepting and drains in-flight
 * requests first (apps still serve them), then probes stop, then the apps are stopped, then the
 * API closes (it answered health checks until the end).
 */
async function stopParts(parts: Parts): Promise<void> {
  await parts.unwatch?.()
  parts.acme?.close()
  await parts.edge?.close(SHUTDOWN_DRAIN_MS)
  parts.runtime.close()
  await parts.supervisor?.close()
  await parts.api?.close()
  parts.stats?.close()
  await parts.accessLog?.close()
  // Last, so the history holds the drained requests and the stops; it flushes what is buffered.
  await parts.live?.close()
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
  /** The ACME challenge answers the edge serves, when ACME is on. */
  acme: AcmeManager | undefined
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
  const quietAccessLog = settings.accessLog !== undefined
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
      init: {
        ...listeners,
        logLevel: settings.logLevel,
        prettyLog: p.options.prettyLog === true,
        ...(settings.acme && p.acme ? { acme: settings.acme.challenges } : {}),
        stdoutAccessLog: !quietAccessLog,
      },
      registry: p.registry,
      onRegistryChange: p.onRegistryChange,
      routes: () => p.runtime.routes(),
      onRoutesChange: (listener) => p.runtime.onTableChange(listener),
      passive,
      events: p.events,
      certs: p.certs,
      acme: p.acme?.challenges,
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
    acme: p.acme?.challenges,
    quietAccessLog,
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
  let certsRef: CertStore | undefined
  const stats = createStats({
    events,
    table: () => runtime.table(),
    apps: () => parts.supervisor?.list() ?? [],
    certificates: () => certsRef?.list() ?? [],
  })
  parts.stats = stats
  const live = createLive({
    stateDir: settings.stateDir,
    configPath: settings.configPath,
    history: settings.history,
    events,
    log,
    table: () => runtime.table(),
    apps: () => parts.supervisor?.list() ?? [],
    stateOf: (app, instance) => liveState(registry, app, instance),
  })
  parts.live = live
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
    certsRef = certs
    await restoreCertificates({ runtime, certs, log })
    // ACME-managed names get their stored certificates before the preflight and the edge.
    const acme = settings.acme
      ? await AcmeManager.create({
          settings: settings.acme,
          stateDir: settings.stateDir,
          certs,
          events,
          log: log.child({ component: 'acme' }),
        })
      : undefined
    parts.acme = acme
    const syncAcme = () =>
      acme?.manage(acmeNames(runtime.table().hosts(), certs)) ?? Promise.resolve()
    await syncAcme()
    await assertCertificates({
      mode: settings.mode,
      config: runtime.config(),
      certsDir: settings.certsDir,
      acme: acme !== undefined,
      certs,
      log: log.child({ component: 'tls' }),
    })
    if (settings.accessLog)
      parts.accessLog = startAccessLogFile({ ...settings.accessLog, events, log })
    const started = await startEdge({
      ...{ settings, config, options, registry, runtime, certs, events, acme },
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
      usage: (pid: number | null) => live.usage.usage(pid),
    }
    const reloader = createConfigReloader({
      configPath: settings.configPath,
      certsDir: settings.certsDir,
      acme: acme !== undefined,
      certs,
      runtime,
    })
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
      certificates: createCertificatesService({ ...control, acme }),
      config: reloader,
      stats: stats.service,
      events,
      bindHost: settings.apiHost,
      history: live.history,
      configStatus: () => live.configStatus.view(),
    })
    await parts.api.listen({ host: settings.apiHost, port: settings.apiPort })
    ports.api = (parts.api.server.address() as AddressInfo).port
    // The edge answers challenges from here on. New routes (file or API) and certificate files or
    // uploads change which names ACME manages.
    runtime.onTableChange(() => void syncAcme())
    certs.onChange(() => void syncAcme())
    acme?.start()
    const supervisor = await Supervisor.create({
      launch: await launchContext(settings, ports.https, userCa?.certPath, log),
      stateDir: settings.stateDir,
      configDir: settings.configDir,
      portRange: settings.portRange,
      registry,
      log: log.child({ component: 'supervisor' }),
      onAction: (app, action, ok, detail) =>
        events.emit('app:changed', { app, action, ok, detail }),
      onOutput: (app, index, stream, line) => {
        if (events.hasListeners('instance:log'))
          events.emit('instance:log', { app, instance: `${app}#${index}`, stream, line })
        options.onOutput?.(app, index, stream, line)
      },
    })
    parts.supervisor = supervisor
    await runtime.attach(supervisor)
    await mkdir(settings.certsDir, { recursive: true, mode: 0o700 })
    const unwatchConfig = await watchConfig({ ...settings, reloader, certs, events, log })
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
