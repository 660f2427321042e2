/** @module Composition root: createPortico(settings, config) wires every part; the only file that does. */
import { mkdir } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { assertSafeBind, buildApi } from './api/server.ts'
import { SHUTDOWN_DRAIN_MS } from './config/defaults.ts'
import { loadConfig } from './config/load.ts'
import type { Config } from './config/schema.ts'
import type { Settings } from './config/settings.ts'
import { watchFiles } from './config/watch.ts'
import {
  createAppsService,
  createCertificatesService,
  createRoutesService,
  type InstanceStatsView,
  liveState,
  restoreCertificates,
} from './control.ts'
import { createLive, type Live } from './live.ts'
import { EventBus } from './observe/events.ts'
import type { Logger } from './observe/log.ts'
import type { Tracker } from './observe/tracker.ts'
import { createUpstreamAgent } from './proxy/forward.ts'
import { EdgeServer } from './proxy/server.ts'
import { CertStore, daysLeft, expiresSoon } from './proxy/tls/cert-store.ts'
import { loadOrCreateDevCa } from './proxy/tls/dev-ca.ts'
import { createSniCallback } from './proxy/tls/sni.ts'
import { EdgeWorkers } from './proxy/workers/primary.ts'
import { PassiveHealth } from './registry/health/passive.ts'
import { appOfUpstream, Registry, upstreamNameForApp } from './registry/registry.ts'
import type { TransitionListener, Upstream } from './registry/upstream.ts'
import { type AppRunner, Runtime } from './runtime.ts'
import { createStats } from './stats.ts'
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
  /** History, live samples, config status (issue 18). */
  live?: Live
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
  // Last, so the history holds the drained requests and the stops; it flushes what is buffered.
  await parts.live?.close()
}

/**
 * emitTransitions turns target state changes into bus events: `instance:state-changed` for app
 * instances, and `target:down` / `target:up` when a target leaves or joins rotation.
 */
function emitTransitions(events: EventBus): TransitionListener {
  return (upstream, target, from, to) => {
    const app = appOfUpstream(upstream.name)
    if (app !== undefined) {
      events.emit('instance:state-changed', {
        app,
        instance: target.id,
        from,
        to,
        pid: null,
      })
    }
    if (from === 'healthy' && to !== 'healthy')
      events.emit('target:down', { upstream: upstream.name, target: target.id, reason: to })
    if (to === 'healthy') events.emit('target:up', { upstream: upstream.name, target: target.id })
  }
}

/** instanceTraffic summarises one instance's traffic from the tracker and its live target. */
function instanceTraffic(tracker: Tracker, registry: Registry, id: string): InstanceStatsView {
  const stats = tracker.targetStatsOrEmpty(id)
  const app = id.slice(0, id.lastIndexOf('#'))
  return {
    totalRequests: stats.totalRequests,
    requestsPerSecond: stats.requestsPerSecond,
    inFlight: registry.get(upstreamNameForApp(app))?.get(id)?.inFlight ?? 0,
    latencyMs: {
      p50: stats.window.latencyMs.p50,
      p95: stats.window.latencyMs.p95,
      p99: stats.window.latencyMs.p99,
    },
    errors: stats.window.errors,
  }
}

/** reloadConfig loads the edited config file and applies it; a bad edit is logged and ignored. */
async function reloadConfig(
  configPath: string,
  runtime: Runtime,
  log: Logger,
  events: EventBus,
): Promise<void> {
  try {
    await runtime.applyFile(await loadConfig(configPath))
  } catch (err) {
    // The running state stays as it was; fixing the file applies it.
    const message = err instanceof Error ? err.message : String(err)
    events.emit('config:failed', { error: message, code: (err as { code?: string }).code ?? null })
    log.error(
      { code: (err as { code?: string }).code },
      `config not applied, still running the previous one: ${message}`,
    )
  }
}

/** reloadCerts re-reads certs/ (last good pair kept) and warns about certificates near expiry. */
async function reloadCerts(certs: CertStore, log: Logger): Promise<void> {
  try {
    await certs.load()
  } catch (err) {
    log.error({ err }, 'certificates folder could not be read; serving the previous certificates')
  }
  warnExpiring(certs, log)
}

/** warnExpiring logs one warning per user certificate that expires within 14 days. */
export function warnExpiring(certs: CertStore, log: Logger, now = Date.now()): void {
  for (const cert of certs.list()) {
    if (cert.source === 'dev' || !expiresSoon(cert, now)) continue
    log.warn(
      { domain: cert.domain, validTo: cert.validTo },
      `certificate for ${cert.domain} expires in ${daysLeft(cert, now)} day(s)`,
    )
  }
}

/**
 * appRunner adapts the Supervisor to what the Runtime drives: a changed command, env or cwd is a
 * rolling reload (one instance at a time, no request dropped), a changed instance count a scale.
 */
function appRunner(supervisor: Supervisor): AppRunner {
  return {
    startApp: (spec) => supervisor.startApp(spec),
    removeApp: (name) => supervisor.removeApp(name),
    reloadApp: (spec) => supervisor.reloadApp(spec),
    scaleApp: (spec) => supervisor.scaleApp(spec),
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
  // Refuse an off-loopback admin API without a token before anything starts (fail closed).
  assertSafeBind(settings.apiHost, settings.apiToken)
  await mkdir(settings.stateDir, { recursive: true, mode: 0o700 })
  const events = new EventBus()
  // Edge workers (if any) subscribe to registry changes once they exist.
  let onRegistryChange: ((upstream: Upstream) => void) | undefined
  const registry = new Registry(emitTransitions(events), (upstream) => onRegistryChange?.(upstream))
  const runtime = await Runtime.create({
    file: config,
    registry,
    events,
    log,
    stateDir: settings.stateDir,
  })
  const table = () => runtime.table()
  const parts: Parts = { runtime }
  const stats = createStats({ events, table, apps: () => parts.supervisor?.list() ?? [] })
  parts.stats = stats
  const live = createLive({
    stateDir: settings.stateDir,
    configPath: settings.configPath,
    history: settings.history,
    events,
    log,
    table,
    apps: () => parts.supervisor?.list() ?? [],
    stateOf: (app, instance) => liveState(registry, app, instance),
  })
  parts.live = live
  const dev = settings.mode === 'dev'
  try {
    const devCa = dev ? await loadOrCreateDevCa(settings.certsDir, log) : undefined
    const certs = new CertStore({
      certsDir: settings.certsDir,
      devCa,
      issueFor: (name) =>
        table().lookup(name) !== undefined || (dev && name.endsWith('.localhost')),
      log: log.child({ component: 'tls' }),
    })
    await certs.load()
    const passive = new PassiveHealth()
    let edgePorts: { https: number; http: number }
    if (settings.workers > 1) {
      const workers = await EdgeWorkers.start({
        count: settings.workers,
        init: {
          bind: settings.bind,
          httpsPort: settings.httpsPort,
          httpPort: settings.httpPort,
          httpRedirect: settings.httpRedirect,
          trustedProxies: config.edge.trustedProxies,
          listHosts: dev,
          logLevel: settings.logLevel,
          prettyLog: options.prettyLog === true,
        },
        registry,
        onRegistryChange: (listener) => {
          onRegistryChange = listener
        },
        config: () => runtime.config(),
        onConfigChange: (listener) => runtime.onTableChange(listener),
        passive,
        events,
        certs,
        log: log.child({ component: 'edge' }),
      })
      runtime.settleWith(() => workers.synced())
      parts.edge = workers
      edgePorts = workers.ports
    } else {
      const edge = new EdgeServer({
        bind: settings.bind,
        httpsPort: settings.httpsPort,
        httpPort: settings.httpPort,
        httpRedirect: settings.httpRedirect,
        defaultCert: await certs.defaultKeyPair(),
        sniCallback: createSniCallback(certs, log.child({ component: 'tls' })),
        handler: {
          table,
          agent: createUpstreamAgent(),
          log: log.child({ component: 'edge' }),
          knownHosts: () => (dev ? table().hosts() : []),
          passive,
          events,
          trustedProxies: new Set(config.edge.trustedProxies),
        },
        log,
      })
      parts.edge = edge
      edgePorts = await edge.start()
    }
    const ports = { ...edgePorts, api: 0 }
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
    await restoreCertificates(control)
    parts.api = await buildApi({
      log,
      token: settings.apiToken,
      health: { ports: () => ports, mode: settings.mode },
      apps: createAppsService(control),
      routes: createRoutesService(control),
      certificates: createCertificatesService(control),
      stats: stats.service,
      events,
      bindHost: settings.apiHost,
      history: live.history,
      configStatus: () => live.configStatus.view(),
    })
    await parts.api.listen({ host: settings.apiHost, port: settings.apiPort })
    ports.api = (parts.api.server.address() as AddressInfo).port
    const supervisor = await Supervisor.create({
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
    await runtime.attach(appRunner(supervisor))
    await mkdir(settings.certsDir, { recursive: true, mode: 0o700 })
    parts.unwatch = await watchFiles({
      configPath: settings.configPath,
      certsDir: settings.certsDir,
      onChange: (kind) =>
        kind === 'certs'
          ? reloadCerts(certs, log)
          : reloadConfig(settings.configPath, runtime, log, events),
    })
    let stopping: Promise<void> | undefined
    return {
      ports,
      stop: () => {
        stopping ??= stopParts(parts)
        return stopping
      },
      killNow: () => supervisor.killAllNow(),
    }
  } catch (error) {
    await stopParts(parts)
    throw error
  }
}
