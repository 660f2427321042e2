// @ts-check
/** @module model: what the dashboard knows, filled from the API and kept live by the event stream. */
import { request } from './api.js'

/**
 * @typedef {{ id: string, index?: number, port: number, pid: number | null, state: string, restarts: number,
 *   uptimeMs?: number | null, cpuPercent?: number | null, memoryBytes?: number | null }} Instance
 * @typedef {{ name: string, hostnames: string[], instances: Instance[], [key: string]: unknown }} App
 * @typedef {{ id: string, hostname: string, port: number, isDead: boolean, failureCount: number, state: string }} Backend
 * @typedef {{ vHost: string, app?: string, strategy: string, reqActiveLength: number, reqQueueLength: number,
 *   backends: Backend[], source: string }} Route
 * @typedef {{ id: string, address: string, state: string, available: boolean, inFlight: number, fails: number }} LiveTarget
 * @typedef {{ requestsPerSecond: number, errorRate: number, latencyMs: { p50: number, p99: number } }} Traffic
 * @typedef {Traffic & { vHost: string, app: string | null, active: number, queued: number, targets: LiveTarget[] }} LiveRoute
 * @typedef {{ app: string, id: string, pid: number | null, port: number, state: string, restarts: number,
 *   uptimeMs: number | null, cpuPercent: number | null, memoryBytes: number | null }} LiveInstance
 * @typedef {{ atMs: number, intervalMs: number, total: Traffic, routes: LiveRoute[], instances: LiveInstance[] }} Sample
 * @typedef {{ t: number, rps: number, p50: number, p99: number, err: number }} LivePoint
 */

/** Live points kept per route for the live charts: 150 × 2 s = 5 minutes. */
export const LIVE_POINTS = 150
/** The key of the all-routes series. */
export const TOTAL = '*'

export const model = {
  /** @type {App[]} */ apps: [],
  /** @type {Route[]} */ routes: [],
  /** @type {any[]} */ certificates: [],
  /** @type {any} */ health: null,
  /** @type {any} */ config: null,
  /** @type {any} */ history: null,
  /** @type {Sample | null} */ sample: null,
  /** @type {Map<string, LivePoint[]>} */ series: new Map(),
}

/** @type {Set<(what: string) => void>} */
const listeners = new Set()

/**
 * subscribe calls `listener` with what changed (`apps`, `routes`, `live`, `certificates`,
 * `config`) until the returned function is called.
 * @param {(what: string) => void} listener
 */
export function subscribe(listener) {
  listeners.add(listener)
  return () => listeners.delete(listener)
}

/** @param {string} what */
export function changed(what) {
  for (const listener of listeners) listener(what)
}

/** @type {Record<string, () => Promise<void>>} */
const loaders = {
  apps: async () => {
    model.apps = await request('/apps')
  },
  routes: async () => {
    model.routes = await request('/routes')
  },
  certificates: async () => {
    model.certificates = await request('/certificates')
  },
  config: async () => {
    model.config = await request('/config/status').catch(() => null)
    model.history = await request('/stats/history/status').catch(() => null)
  },
  health: async () => {
    model.health = await request('/health')
  },
}

/**
 * refresh reloads parts of the model from the API and tells the views.
 * @param {...string} parts
 */
export async function refresh(...parts) {
  await Promise.all(parts.map((part) => loaders[part]?.()))
  for (const part of parts) changed(part)
}

/** @type {Map<string, ReturnType<typeof setTimeout>>} */
const pending = new Map()

/**
 * refreshSoon refreshes a part once after a short quiet time (events often come in bursts).
 * @param {string} part
 */
export function refreshSoon(part) {
  if (pending.has(part)) return
  pending.set(
    part,
    setTimeout(() => {
      pending.delete(part)
      refresh(part).catch(() => undefined)
    }, 300),
  )
}

/**
 * @param {string} key
 * @param {LivePoint} point
 */
function pushPoint(key, point) {
  const points = model.series.get(key) ?? []
  points.push(point)
  if (points.length > LIVE_POINTS) points.splice(0, points.length - LIVE_POINTS)
  model.series.set(key, points)
}

/**
 * @param {number} t
 * @param {Traffic} traffic
 * @returns {LivePoint}
 */
function pointOf(t, traffic) {
  const { requestsPerSecond: rps, errorRate: err, latencyMs } = traffic
  return { t, rps, err, p50: latencyMs.p50, p99: latencyMs.p99 }
}

/**
 * applySample takes a `stats:sampled` payload: live points, and the instances as they are now.
 * @param {Sample} sample
 */
function applySample(sample) {
  model.sample = sample
  pushPoint(TOTAL, pointOf(sample.atMs, sample.total))
  for (const route of sample.routes) pushPoint(route.vHost, pointOf(sample.atMs, route))
  let unknownApp = false
  for (const app of model.apps) {
    const live = sample.instances.filter((i) => i.app === app.name)
    app.instances = live.map((i) => ({ ...app.instances.find((old) => old.id === i.id), ...i }))
  }
  for (const inst of sample.instances) {
    if (!model.apps.some((a) => a.name === inst.app)) unknownApp = true
  }
  if (unknownApp) refreshSoon('apps')
  changed('live')
  changed('apps')
}

/**
 * applyStateChange shows an instance's new state at once; a new instance (a reload's
 * replacement) appears and its pid and port follow with the next refresh.
 * @param {{ app: string, instance: string, to: string }} change
 */
function applyStateChange(change) {
  const app = model.apps.find((a) => a.name === change.app)
  if (app === undefined) return refreshSoon('apps')
  const inst = app.instances.find((i) => i.id === change.instance)
  if (inst === undefined) {
    app.instances.push({ id: change.instance, port: 0, pid: null, state: change.to, restarts: 0 })
    refreshSoon('apps')
  } else inst.state = change.to
  changed('apps')
}

/**
 * applyEvent updates the model from one event frame.
 * @param {import('./api.js').EventFrame} frame
 */
export function applyEvent(frame) {
  switch (frame.type) {
    case 'stats:sampled':
      return applySample(frame.data)
    case 'instance:state-changed':
      return applyStateChange(frame.data)
    case 'app:changed':
      return refreshSoon('apps')
    case 'route:changed':
      refreshSoon('routes')
      return refreshSoon('certificates')
    case 'config:applied':
    case 'config:failed':
      refreshSoon('config')
      refreshSoon('routes')
      return refreshSoon('apps')
    default:
      return undefined
  }
}
