/** @module Composition helper: the API's apps, routes and certificates services over the live parts. */
import { mkdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import type { AcmeStatus } from '../acme/manager.ts'
import type { AppAction, AppsService, AppView } from '../api/apps.ts'
import type { CertificatesService } from '../api/certificates.ts'
import type { BackendView, RoutesService, RouteView } from '../api/routes.ts'
import { formatIssues } from '../config/load.ts'
import {
  type AppSpec,
  appHostnames,
  appSchema,
  type BackendConfig,
  type Config,
  type RouteConfig,
} from '../config/schema.ts'
import { errors } from '../errors.ts'
import { writeFileAtomic } from '../lib/atomic-write.ts'
import type { Logger } from '../observe/log.ts'
import type { CertStore } from '../proxy/tls/cert-store.ts'
import { type Registry, upstreamNameForApp, upstreamNameForRoute } from '../registry/registry.ts'
import type { TargetState } from '../registry/target.ts'
import type { AppStatus, InstanceStatus, Supervisor } from '../supervisor/supervisor.ts'
import { certificateViews } from './certificates.ts'
import { appRouteSpec, backendId } from './route-table.ts'
import type { Runtime } from './runtime.ts'

/** What the services drive. */
export interface ControlDeps {
  runtime: Runtime
  registry: Registry
  supervisor: () => Supervisor | undefined
  certs: CertStore
  stateDir: string
  log: Logger
  /** Traffic figures per instance id, for the app views. */
  traffic?: InstanceTraffic
  /** ACME's per-name state, listed with the certificates (issue 16). */
  acme?: { list: () => AcmeStatus[] } | undefined
  /** CPU and memory of an instance's process tree by pid, for the app views. */
  usage?: (pid: number | null) => { cpuPercent: number; memoryBytes: number } | undefined
}

/** Per-instance traffic figures shown on an app (from the stats tracker). */
export type InstanceTraffic = (instanceId: string) => InstanceStatsView

/** What GET /apps/:name shows of an instance's traffic. */
export interface InstanceStatsView {
  totalRequests: number
  requestsPerSecond: number
  inFlight: number
  latencyMs: { p50: number; p95: number; p99: number }
  errors: number
}

/**
 * liveState returns an instance's state as the edge sees it: its target's state when it has one
 * (health checks may have taken it out of rotation, which the supervisor's record does not
 * know), else the supervisor's. `healthy` then always means "in rotation".
 */
export function liveState(registry: Registry, app: string, instance: InstanceStatus): TargetState {
  const target = registry.get(upstreamNameForApp(app))?.get(instance.id)
  if (target === undefined || target.port !== instance.port) return instance.state
  return target.state === 'healthy' && target.markedDead ? 'unhealthy' : target.state
}

function toAppView(status: AppStatus, registry: Registry, deps: Partial<ControlDeps>): AppView {
  const { traffic, usage } = deps
  const { instances: _count, ...spec } = status.spec
  return {
    ...spec,
    hostnames: appHostnames(status.spec),
    instances: status.instances.map((i) => ({
      id: i.id,
      index: i.index,
      port: i.port,
      pid: i.pid,
      state: liveState(registry, status.name, i),
      restarts: i.restarts,
      uptimeMs: i.startedAt === null ? null : Date.now() - i.startedAt,
      lastExitCode: i.lastExitCode,
      lastSignal: i.lastSignal,
      listeningOn: i.listeningOn ?? [],
      problem: i.problem ?? null,
      cpuPercent: usage?.(i.pid)?.cpuPercent ?? null,
      memoryBytes: usage?.(i.pid)?.memoryBytes ?? null,
      ...(traffic ? { stats: traffic(i.id) } : {}),
    })),
  }
}

/** createAppsService implements the apps endpoints: config changes go through the Runtime. */
export function createAppsService(deps: ControlDeps): AppsService {
  const { runtime } = deps
  const supervisor = () => {
    const s = deps.supervisor()
    if (!s) throw new errors.PTC_ERR_INTERNAL()
    return s
  }
  const view = (name: string) => {
    const status = deps.supervisor()?.get(name)
    if (!status) throw new errors.PTC_ERR_APP_NOT_FOUND(name)
    return toAppView(status, deps.registry, deps)
  }
  const specOf = (name: string) => {
    const spec = runtime.config().apps.find((a) => a.name === name)
    if (!spec) throw new errors.PTC_ERR_APP_NOT_FOUND(name)
    return spec
  }
  const actions: Record<AppAction, (name: string) => Promise<void>> = {
    start: (name) => supervisor().startApp(specOf(name)),
    stop: (name) => supervisor().stopApp(name),
    restart: (name) => supervisor().restartApp(name),
    reload: (name) => supervisor().reloadApp(name),
  }
  return {
    list: () =>
      deps
        .supervisor()
        ?.list()
        .map((status) => toAppView(status, deps.registry, deps)) ?? [],
    get: (name) => {
      const status = deps.supervisor()?.get(name)
      return status ? toAppView(status, deps.registry, deps) : undefined
    },
    create: async (spec) => {
      await runtime.change((state, current) => {
        if (current.apps.some((a) => a.name === spec.name))
          throw new errors.PTC_ERR_APP_EXISTS(spec.name)
        state.apps[spec.name] = spec
      })
      return view(spec.name)
    },
    update: async (name, patch) => {
      await runtime.change((state, current) => {
        const spec = current.apps.find((a) => a.name === name)
        if (!spec) throw new errors.PTC_ERR_APP_NOT_FOUND(name)
        const merged = { ...spec, ...patch, name }
        const parsed = appSchema.safeParse(merged)
        if (!parsed.success) {
          const lines = formatIssues(parsed.error, merged)
          throw new errors.PTC_ERR_VALIDATION(lines.join('; '), { details: lines })
        }
        state.apps[name] = parsed.data
      })
      return view(name)
    },
    remove: async (name) => {
      await runtime.change((state, current) => {
        state.apps[name] = null
        // The app's explicit routes go with it (a route to a missing app is invalid).
        for (const route of current.routes) if (route.app === name) state.routes[route.vHost] = null
      })
    },
    act: async (name, action) => {
      await actions[action](name)
      return view(name)
    },
    scale: async (name, instances) => {
      await runtime.change((state, current) => {
        const spec = current.apps.find((a) => a.name === name)
        if (!spec) throw new errors.PTC_ERR_APP_NOT_FOUND(name)
        state.apps[name] = { ...spec, instances } satisfies AppSpec
      })
      return view(name)
    },
    logs: (name, tail) => supervisor().logs(name, tail),
  }
}

function backendViews(route: RouteConfig, registry: Registry): BackendView[] {
  const upstream = registry.get(upstreamNameForRoute(route.vHost))
  return (route.backends ?? []).map((b) => {
    const id = backendId(b)
    const target = upstream?.get(id)
    return {
      id,
      hostname: b.hostname,
      port: b.port,
      weight: b.weight,
      isDead: b.isDead === true || (target !== undefined && !target.isAvailable()),
      failureCount: target?.fails ?? b.failureCount ?? 0,
      state: target?.state ?? 'unknown',
    }
  })
}

/** createRoutesService implements the routes endpoints; every change is persisted by the Runtime. */
export function createRoutesService(deps: ControlDeps): RoutesService {
  const { runtime, registry } = deps
  const routeView = (route: RouteConfig): RouteView => ({
    ...route,
    backends: backendViews(route, registry),
    source: route.vHost in runtime.state().routes ? 'api' : 'file',
  })
  const appRoutes = (): RouteView[] =>
    runtime.config().apps.flatMap((app) =>
      appHostnames(app).map((vHost) => {
        const spec = appRouteSpec(app, vHost)
        return {
          vHost,
          app: app.name,
          strategy: spec.strategy,
          reqActiveLength: spec.reqActiveLength,
          reqQueueLength: spec.reqQueueLength,
          headers: {},
          autoHttps: spec.autoHttps,
          default: false,
          backends: [],
          source: 'app' as const,
        }
      }),
    )
  const explicitIn = (config: Config, vHost: string) => config.routes.find((r) => r.vHost === vHost)
  const explicit = (vHost: string) => explicitIn(runtime.config(), vHost)
  const staticIn = (config: Config, vHost: string) => {
    const route = explicitIn(config, vHost)
    if (!route)
      throw new errors.PTC_ERR_STATE_CONFLICT(
        `"${vHost}" is an app hostname; change the app's hostnames instead`,
      )
    if (route.backends === undefined)
      throw new errors.PTC_ERR_STATE_CONFLICT(
        `route "${vHost}" targets app "${route.app}", not backends`,
      )
    return route
  }
  /**
   * editBackends changes one static route's backend list inside the Runtime's queue, reading the
   * route as it is at that moment, so concurrent backend calls compose instead of overwriting.
   */
  const editBackends = async (
    vHost: string,
    edit: (route: RouteConfig, backends: BackendConfig[]) => BackendConfig[],
  ) => {
    await runtime.change((state, current) => {
      const route = staticIn(current, vHost)
      state.routes[vHost] = { ...route, backends: edit(route, [...(route.backends ?? [])]) }
    })
  }
  const requireBackend = (route: RouteConfig, id: string) => {
    if (!route.backends?.some((b) => backendId(b) === id))
      throw new errors.PTC_ERR_BACKEND_NOT_FOUND(route.vHost, id)
  }
  const backendView = (vHost: string, id: string) =>
    backendViews(staticIn(runtime.config(), vHost), registry).find(
      (b) => b.id === id,
    ) as BackendView
  const get = (vHost: string) => {
    const route = explicit(vHost)
    return route ? routeView(route) : appRoutes().find((r) => r.vHost === vHost)
  }
  return {
    list: () => [...runtime.config().routes.map(routeView), ...appRoutes()],
    get,
    create: async (route) => {
      await runtime.change((state, current) => {
        const taken =
          explicitIn(current, route.vHost) ??
          current.apps.find((a) => appHostnames(a).includes(route.vHost))
        if (taken) throw new errors.PTC_ERR_ROUTE_EXISTS(route.vHost)
        state.routes[route.vHost] = route
      })
      return routeView(explicit(route.vHost) ?? route)
    },
    remove: async (vHost) => {
      let removed: RouteView | undefined
      await runtime.change((state, current) => {
        const route = explicitIn(current, vHost)
        if (!route)
          throw new errors.PTC_ERR_STATE_CONFLICT(
            `"${vHost}" is an app hostname; change the app's hostnames instead`,
          )
        removed = routeView(route)
        state.routes[vHost] = null
      })
      return removed as RouteView
    },
    addBackend: async (vHost, backend) => {
      const id = backendId(backend)
      await editBackends(vHost, (_route, backends) => {
        if (backends.some((b) => backendId(b) === id))
          throw new errors.PTC_ERR_STATE_CONFLICT(`route "${vHost}" already has backend "${id}"`)
        return [...backends, backend]
      })
      return backendView(vHost, id)
    },
    removeBackend: async (vHost, id) => {
      let removed: BackendView | undefined
      await editBackends(vHost, (route, backends) => {
        requireBackend(route, id)
        removed = backendViews(route, registry).find((b) => b.id === id)
        return backends.filter((b) => backendId(b) !== id)
      })
      return removed as BackendView
    },
    setDead: async (vHost, id, dead) => {
      await editBackends(vHost, (route, backends) => {
        requireBackend(route, id)
        return backends.map((b) => (backendId(b) === id ? { ...b, isDead: dead } : b))
      })
      if (!dead) revive(registry, vHost, id)
      return backendView(vHost, id)
    },
  }
}

/** revive puts a backend an operator marked alive back into rotation at once, forgetting its failures. */
function revive(registry: Registry, vHost: string, id: string): void {
  const upstream = registry.get(upstreamNameForRoute(vHost))
  const target = upstream?.get(id)
  if (!upstream || !target) return
  target.setFailures(0)
  if (target.state === 'unhealthy') upstream.setState(id, 'healthy')
}

/** certFileBase returns the file name stem for a domain (`_wildcard.x` for `*.x`). */
function certFileBase(domain: string): string {
  return domain.startsWith('*.') ? `_wildcard.${domain.slice(2)}` : domain
}

/**
 * createCertificatesService implements the certificates endpoints. A valid pair is installed at
 * once, written under `<stateDir>/certs/` (0600, in a 0700 folder) and recorded in state.json,
 * so it is served again after a restart. Domains are validated hostnames, so file names can
 * never leave that folder.
 */
export function createCertificatesService(deps: ControlDeps): CertificatesService {
  const dir = path.join(deps.stateDir, 'certs')
  return {
    list: () => certificateViews(deps.certs, deps.acme),
    add: async (domain, keyPem, certPem) => {
      await deps.certs.setCertificate(domain, keyPem, certPem)
      await mkdir(dir, { recursive: true, mode: 0o700 })
      const base = certFileBase(domain)
      const certFile = path.join(dir, `${base}.crt`)
      const keyFile = path.join(dir, `${base}.key`)
      await writeFileAtomic(certFile, certPem, 0o600)
      await writeFileAtomic(keyFile, keyPem, 0o600)
      await deps.runtime.change((state) => {
        state.certificates[domain] = { certFile, keyFile }
      })
      const info = deps.certs.list().find((c) => c.domain === domain && c.source === 'api')
      if (!info) throw new errors.PTC_ERR_INTERNAL()
      return info
    },
  }
}

/** restoreCertificates installs the certificates uploaded over the API in an earlier run. */
export async function restoreCertificates(
  deps: Pick<ControlDeps, 'runtime' | 'certs' | 'log'>,
): Promise<void> {
  for (const [domain, files] of Object.entries(deps.runtime.state().certificates)) {
    try {
      const [certPem, keyPem] = await Promise.all([
        readFile(files.certFile, 'utf8'),
        readFile(files.keyFile, 'utf8'),
      ])
      await deps.certs.setCertificate(domain, keyPem, certPem)
    } catch (err) {
      deps.log.warn({ err, domain }, 'a certificate uploaded earlier could not be restored')
    }
  }
}
