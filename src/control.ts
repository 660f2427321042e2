/** @module Composition helper: the API's apps, routes and certificates services over the live parts. */
import { mkdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import type { AppAction, AppsService, AppView } from './api/apps.ts'
import type { CertificatesService } from './api/certificates.ts'
import type { BackendView, RoutesService, RouteView } from './api/routes.ts'
import { formatIssues } from './config/load.ts'
import { type AppSpec, appHostnames, appSchema, type RouteConfig } from './config/schema.ts'
import { errors } from './errors.ts'
import { writeFileAtomic } from './lib/atomic-write.ts'
import type { Logger } from './observe/log.ts'
import { backendId } from './proxy/route-table.ts'
import type { CertStore } from './proxy/tls/cert-store.ts'
import { type Registry, upstreamNameForRoute } from './registry/registry.ts'
import type { Runtime } from './runtime.ts'
import type { AppStatus, Supervisor } from './supervisor/supervisor.ts'

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

function toAppView(status: AppStatus, traffic?: InstanceTraffic): AppView {
  const { instances: _count, ...spec } = status.spec
  return {
    ...spec,
    hostnames: appHostnames(status.spec),
    instances: status.instances.map((i) => ({
      id: i.id,
      index: i.index,
      port: i.port,
      pid: i.pid,
      state: i.state,
      restarts: i.restarts,
      uptimeMs: i.startedAt === null ? null : Date.now() - i.startedAt,
      lastExitCode: i.lastExitCode,
      lastSignal: i.lastSignal,
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
    return toAppView(status, deps.traffic)
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
        .map((status) => toAppView(status, deps.traffic)) ?? [],
    get: (name) => {
      const status = deps.supervisor()?.get(name)
      return status ? toAppView(status, deps.traffic) : undefined
    },
    create: async (spec) => {
      if (runtime.config().apps.some((a) => a.name === spec.name))
        throw new errors.PTC_ERR_APP_EXISTS(spec.name)
      await runtime.change((state) => {
        state.apps[spec.name] = spec
      })
      return view(spec.name)
    },
    update: async (name, patch) => {
      const merged = { ...specOf(name), ...patch, name }
      const parsed = appSchema.safeParse(merged)
      if (!parsed.success) {
        const lines = formatIssues(parsed.error, merged)
        throw new errors.PTC_ERR_VALIDATION(lines.join('; '), { details: lines })
      }
      await runtime.change((state) => {
        state.apps[name] = parsed.data
      })
      return view(name)
    },
    remove: async (name) => {
      await runtime.change((state) => {
        state.apps[name] = null
        // The app's explicit routes go with it (a route to a missing app is invalid).
        for (const route of runtime.config().routes)
          if (route.app === name) state.routes[route.vHost] = null
      })
    },
    act: async (name, action) => {
      await actions[action](name)
      return view(name)
    },
    scale: async (name, instances) => {
      const spec: AppSpec = { ...specOf(name), instances }
      await runtime.change((state) => {
        state.apps[name] = spec
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
      appHostnames(app).map((vHost) => ({
        vHost,
        app: app.name,
        strategy: app.strategy ?? 'LEAST_CONNECTIONS',
        reqActiveLength: 64 * app.instances,
        reqQueueLength: 256,
        headers: {},
        autoHttps: true,
        default: false,
        backends: [],
        source: 'app' as const,
      })),
    )
  const explicit = (vHost: string) => runtime.config().routes.find((r) => r.vHost === vHost)
  const requireStatic = (vHost: string) => {
    const route = explicit(vHost)
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
  const requireBackend = (route: RouteConfig, id: string) => {
    const backend = route.backends?.find((b) => backendId(b) === id)
    if (!backend) throw new errors.PTC_ERR_BACKEND_NOT_FOUND(route.vHost, id)
    return backend
  }
  const saveBackends = (route: RouteConfig, backends: RouteConfig['backends']) =>
    runtime.change((state) => {
      state.routes[route.vHost] = { ...route, backends }
    })
  const get = (vHost: string) => {
    const route = explicit(vHost)
    return route ? routeView(route) : appRoutes().find((r) => r.vHost === vHost)
  }
  return {
    list: () => [...runtime.config().routes.map(routeView), ...appRoutes()],
    get,
    create: async (route) => {
      if (get(route.vHost)) throw new errors.PTC_ERR_ROUTE_EXISTS(route.vHost)
      await runtime.change((state) => {
        state.routes[route.vHost] = route
      })
      return routeView(route)
    },
    remove: async (vHost) => {
      const route = explicit(vHost)
      if (!route)
        throw new errors.PTC_ERR_STATE_CONFLICT(
          `"${vHost}" is an app hostname; change the app's hostnames instead`,
        )
      const view = routeView(route)
      await runtime.change((state) => {
        state.routes[vHost] = null
      })
      return view
    },
    addBackend: async (vHost, backend) => {
      const route = requireStatic(vHost)
      const id = backendId(backend)
      if (route.backends?.some((b) => backendId(b) === id))
        throw new errors.PTC_ERR_STATE_CONFLICT(`route "${vHost}" already has backend "${id}"`)
      await saveBackends(route, [...(route.backends ?? []), backend])
      return backendViews(requireStatic(vHost), registry).find((b) => b.id === id) as BackendView
    },
    removeBackend: async (vHost, id) => {
      const route = requireStatic(vHost)
      requireBackend(route, id)
      const view = backendViews(route, registry).find((b) => b.id === id) as BackendView
      await saveBackends(
        route,
        (route.backends ?? []).filter((b) => backendId(b) !== id),
      )
      return view
    },
    setDead: async (vHost, id, dead) => {
      const route = requireStatic(vHost)
      requireBackend(route, id)
      await saveBackends(
        route,
        (route.backends ?? []).map((b) => (backendId(b) === id ? { ...b, isDead: dead } : b)),
      )
      if (!dead) revive(registry, vHost, id)
      return backendViews(requireStatic(vHost), registry).find((b) => b.id === id) as BackendView
    },
  }
}

/** revive puts a backend an operator marked alive back into rotation at once, forgetting its failures. */
function revive(registry: Registry, vHost: string, id: string): void {
  const upstream = registry.get(upstreamNameForRoute(vHost))
  const target = upstream?.get(id)
  if (!upstream || !target) return
  target.fails = 0
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
    list: () =>
      deps.certs
        .list()
        .map((c) => ({ ...c, expiresSoon: Date.parse(c.validTo) - Date.now() < 14 * 86_400_000 })),
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
