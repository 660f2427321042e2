/** @module Route: the runtime form of a vHost — its upstream, strategy, admission and headers. */

import { DEFAULT_QUEUE_TIMEOUT_MS } from '../config/defaults.ts'
import type { StrategyName } from '../config/schema.ts'
import type { Upstream } from '../registry/upstream.ts'
import { Admission } from './admission.ts'
import { STRATEGIES, type Strategy } from './balancer/strategy.ts'
import { flattenHeaders } from './headers.ts'

/** A route as the request path reads it. Built once per config change, never per request. */
export interface Route {
  vHost: string
  /** Identifies the options the route was built from (routes with equal keys are reused). */
  key: string
  /** The app that serves this route, if it targets one (for logs, stats and the API). */
  app: string | undefined
  upstream: Upstream
  strategy: Strategy
  admission: Admission
  /** Route `headers` as a flat [name, value, …] list. */
  routeHeaders: readonly string[]
  /** Lower-cased names of `routeHeaders`: client copies of these are replaced. */
  routeHeaderNames: ReadonlySet<string>
  autoHttps: boolean
  /** rewritePath maps the client's path+query to the upstream's (prefix strip / add). */
  rewritePath: (url: string) => string
  /** Detach from the upstream's change notifications (when the route is replaced). */
  dispose: () => void
}

/**
 * A route as plain data: what the control plane derives from the config (an app's hostname or a
 * config route) and what the data plane builds a Route from, in the main process and in every
 * edge worker alike. `upstream` names the registry entry whose targets serve it.
 */
export interface RouteSpec {
  vHost: string
  /** The app that serves this route, if it targets one (for logs, stats and the API). */
  app?: string | undefined
  upstream: string
  strategy: StrategyName
  reqActiveLength: number
  reqQueueLength: number
  queueTimeoutMs?: number | undefined
  headers: Readonly<Record<string, string>>
  autoHttps: boolean
  stripPrefix?: string | undefined
  addPrefix?: string | undefined
  /** Serve every host no other route matches. */
  fallback?: boolean | undefined
}

/**
 * pathRewriter returns the route's path mapping: `stripPrefix` is removed when the path starts
 * with it at a segment boundary (`/api` strips `/api/x` and `/api`, not `/apix`), then
 * `addPrefix` is prepended. Without either, the path is passed through untouched.
 */
export function pathRewriter(
  stripPrefix: string | undefined,
  addPrefix: string | undefined,
): (url: string) => string {
  if (!stripPrefix && !addPrefix) return (url) => url
  const strip = stripPrefix?.replace(/\/+$/, '') ?? ''
  const add = addPrefix?.replace(/\/+$/, '') ?? ''
  return function rewritePath(url) {
    let rest = url
    if (strip !== '' && url.startsWith(strip)) {
      const next = url.charAt(strip.length)
      if (next === '' || next === '/' || next === '?') rest = url.slice(strip.length)
    }
    if (!rest.startsWith('/')) rest = `/${rest}`
    return add + rest
  }
}

/**
 * createRoute builds a Route from its spec over `upstream` and subscribes its admission queue to
 * the upstream, so requests waiting for a starting instance are let in the moment it turns
 * healthy. `key` identifies the spec (routes with equal keys are reused across rebuilds). Call
 * `dispose()` when the route leaves the table.
 */
export function createRoute(spec: RouteSpec, upstream: Upstream, key = ''): Route {
  const init = spec
  const admission = new Admission({
    maxActive: init.reqActiveLength,
    maxQueue: init.reqQueueLength,
    queueTimeoutMs: init.queueTimeoutMs ?? DEFAULT_QUEUE_TIMEOUT_MS,
    canServe: () => upstream.available().length > 0,
    mayServeSoon: () => upstream.hasStarting(),
  })
  let disposed = false
  const unsubscribe = upstream.onChange(() => {
    admission.wake()
    // A replaced route keeps listening only until the requests queued on it are served.
    if (disposed && admission.queued === 0) unsubscribe()
  })
  return {
    vHost: init.vHost,
    key,
    app: init.app,
    upstream,
    strategy: STRATEGIES[init.strategy](),
    admission,
    routeHeaders: flattenHeaders(init.headers),
    routeHeaderNames: new Set(Object.keys(init.headers).map((h) => h.toLowerCase())),
    autoHttps: init.autoHttps,
    rewritePath: pathRewriter(init.stripPrefix, init.addPrefix),
    dispose: () => {
      disposed = true
      admission.wake()
      if (admission.queued === 0) unsubscribe()
    },
  }
}
