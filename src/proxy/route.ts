/** @module Route: the runtime form of a vHost — its upstream, strategy, admission and headers. */

import { DEFAULT_QUEUE_TIMEOUT_MS } from '../config/defaults.ts'
import type { RouteConfig, StrategyName } from '../config/schema.ts'
import type { Upstream } from '../registry/upstream.ts'
import { Admission } from './admission.ts'
import { STRATEGIES, type Strategy } from './balancer/strategy.ts'
import { flattenHeaders } from './headers.ts'

/** A route as the request path reads it. Built once per config change, never per request. */
export interface Route {
  vHost: string
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
  /** Detach from the upstream's change notifications (when the route is replaced). */
  dispose: () => void
}

/** What createRoute needs: the route options plus the upstream it reads. */
export interface RouteInit {
  vHost: string
  app?: string | undefined
  upstream: Upstream
  strategy: StrategyName
  reqActiveLength: number
  reqQueueLength: number
  queueTimeoutMs?: number
  headers: RouteConfig['headers']
  autoHttps: boolean
}

/**
 * createRoute builds a Route and subscribes its admission queue to the upstream, so requests
 * waiting for a starting instance are let in the moment it turns healthy. Call `dispose()` when
 * the route leaves the table.
 */
export function createRoute(init: RouteInit): Route {
  const upstream = init.upstream
  const admission = new Admission({
    maxActive: init.reqActiveLength,
    maxQueue: init.reqQueueLength,
    queueTimeoutMs: init.queueTimeoutMs ?? DEFAULT_QUEUE_TIMEOUT_MS,
    canServe: () => upstream.available().length > 0,
    mayServeSoon: () => upstream.hasStarting(),
  })
  const unsubscribe = upstream.onChange(() => admission.wake())
  return {
    vHost: init.vHost,
    app: init.app,
    upstream,
    strategy: STRATEGIES[init.strategy](),
    admission,
    routeHeaders: flattenHeaders(init.headers),
    routeHeaderNames: new Set(Object.keys(init.headers).map((h) => h.toLowerCase())),
    autoHttps: init.autoHttps,
    dispose: () => {
      unsubscribe()
      admission.wake()
    },
  }
}
