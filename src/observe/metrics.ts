/** @module Metrics: Prometheus counters and a latency histogram from request events, as text 0.0.4. */
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks'
import type { EventBus, RequestCompleted } from './events.ts'
import { STATUS_CLASSES, statusClassIndex } from './tracker.ts'

/** The Content-Type of `render()`'s output (Prometheus text exposition format 0.0.4). */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/** Upper bounds (`le`) of the request duration histogram, in seconds; `+Inf` follows them. */
export const DURATION_BUCKETS_SECONDS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const

/**
 * The label value that stands in for every route (or every target of a route) first seen after
 * the label-set cap was reached, so sums over a metric stay exact.
 */
export const OVERFLOW_LABEL = '_other'

const DEFAULT_MAX_LABEL_SETS = 10_000
const MS_PER_SECOND = 1000
const NS_PER_SECOND = 1e9
const MICROS_PER_SECOND = 1e6
const LOOP_RESOLUTION_MS = 20
const NO_TARGET_LABEL = ''

/** Live figures rendered as gauges at scrape time; the composition root implements it. */
export interface GaugeSource {
  routes: () => Array<{
    vHost: string
    active: number
    queued: number
    healthyTargets: number
    targets: number
  }>
  instances: () => Array<{ app: string; instance: string; state: string; restarts: number }>
  /** Served certificates (issue 16): one expiry gauge per domain and source. */
  certificates?: () => Array<{ domain: string; source: string; validTo: string }>
}

/** Options of Metrics. */
export interface MetricsOptions {
  events: EventBus
  /** Most distinct label sets kept (routes plus route×target pairs); default 10,000. */
  maxLabelSets?: number
}

interface TargetSeries {
  /** Pre-rendered `target="…"`. */
  label: string
  /** Requests per status class, in STATUS_CLASSES order. */
  counts: Float64Array
}

interface RouteSeries {
  /** Pre-rendered `route="…"`. */
  label: string
  byTarget: Map<string, TargetSeries>
  /** Per-bucket (not cumulative) counts; the last entry is the `+Inf` overflow. */
  buckets: Float64Array
  durationSeconds: number
  count: number
  retries: number
  responseBytes: number
}

/** escapeLabelValue escapes a label value per the exposition format: `\`, `"` and newline. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\\' ? '\\\\' : c === '"' ? '\\"' : '\\n'))
}

function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === '\\' ? '\\\\' : '\\n'))
}

function label(name: string, value: string): string {
  return `${name}="${escapeLabelValue(value)}"`
}

/** formatValue writes a sample value as Go's ParseFloat reads it (`+Inf`, `-Inf`, `NaN`). */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (value === Number.POSITIVE_INFINITY) return '+Inf'
  if (value === Number.NEGATIVE_INFINITY) return '-Inf'
  return String(value)
}

function header(out: string[], name: string, type: string, help: string): void {
  out.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`)
}

function sample(out: string[], name: string, labels: string, value: number): void {
  out.push(
    labels === '' ? `${name} ${formatValue(value)}` : `${name}{${labels}} ${formatValue(value)}`,
  )
}

function bucketIndex(seconds: number): number {
  for (let i = 0; i < DURATION_BUCKETS_SECONDS.length; i++) {
    if (seconds <= (DURATION_BUCKETS_SECONDS[i] ?? 0)) return i
  }
  return DURATION_BUCKETS_SECONDS.length
}

function add(values: Float64Array, index: number, amount: number): void {
  values[index] = (values[index] ?? 0) + amount
}

function routeSeries(route: string): RouteSeries {
  return {
    label: label('route', route),
    byTarget: new Map(),
    buckets: new Float64Array(DURATION_BUCKETS_SECONDS.length + 1),
    durationSeconds: 0,
    count: 0,
    retries: 0,
    responseBytes: 0,
  }
}

function renderRouteGauges(out: string[], routes: ReturnType<GaugeSource['routes']>): void {
  const gauges = [
    ['portico_route_active_requests', 'Requests holding an admission slot.', 'active'],
    ['portico_route_queued_requests', 'Requests waiting in the route queue.', 'queued'],
    ['portico_route_healthy_targets', 'Targets in rotation.', 'healthyTargets'],
    ['portico_route_targets', 'Targets of the route, in rotation or not.', 'targets'],
  ] as const
  for (const [name, help, field] of gauges) {
    header(out, name, 'gauge', help)
    for (const route of routes) sample(out, name, label('route', route.vHost), route[field])
  }
}

function renderInstances(out: string[], instances: ReturnType<GaugeSource['instances']>): void {
  header(
    out,
    'portico_instance_state',
    'gauge',
    'Current state of each instance (1 for its state).',
  )
  for (const i of instances) {
    const labels = `${label('app', i.app)},${label('instance', i.instance)},${label('state', i.state)}`
    sample(out, 'portico_instance_state', labels, 1)
  }
  header(out, 'portico_instance_restarts_total', 'counter', 'Restarts of each instance.')
  for (const i of instances) {
    const labels = `${label('app', i.app)},${label('instance', i.instance)}`
    sample(out, 'portico_instance_restarts_total', labels, i.restarts)
  }
}

function renderCertificates(
  out: string[],
  certs: ReturnType<NonNullable<GaugeSource['certificates']>>,
): void {
  const name = 'portico_certificate_expiry_timestamp_seconds'
  header(out, name, 'gauge', 'When each served certificate expires, in seconds since the epoch.')
  for (const cert of certs) {
    const labels = `${label('domain', cert.domain)},${label('source', cert.source)}`
    sample(out, name, labels, Date.parse(cert.validTo) / MS_PER_SECOND)
  }
}

/**
 * Metrics keeps Prometheus series fed by `request:completed` and renders them, with gauges read
 * at scrape time, in the text exposition format 0.0.4:
 * - `portico_requests_total{route,status_class,target}` counter (`status_class` is one of
 *   1xx…5xx or 499 for a client that went away; `target=""` when no target answered);
 * - `portico_request_duration_seconds{route}` histogram (`le` = DURATION_BUCKETS_SECONDS, +Inf);
 * - `portico_retries_total{route}`, `portico_response_bytes_total{route}` counters;
 * - `portico_slow_clients_closed_total{reason}` counter: clients cut off for a slow upload
 *   (`slow-upload`) or for not reading their response (`slow-read`);
 * - route gauges (active, queued, healthy targets, targets), `portico_instance_state`,
 *   `portico_instance_restarts_total`, `portico_certificate_expiry_timestamp_seconds{domain,source}`
 *   and process/Node.js metrics.
 *
 * Recording is O(1) (O(11) for the bucket scan) with no allocation once a label set is known.
 * Cardinality is bounded: past `maxLabelSets` (10,000) routes plus route×target pairs, new routes
 * count under route `_other` and new targets under target `_other` of their route (so at most
 * 2 × maxLabelSets + 2 label sets in all, and every sum stays exact). Series never
 * expire (counters must not go backwards while the process lives). Call `close()` to unsubscribe
 * and stop the event-loop monitor.
 */
export class Metrics {
  #routes = new Map<string, RouteSeries>()
  #labelSets = 0
  #maxLabelSets: number
  #slowClients = { 'slow-upload': 0, 'slow-read': 0 }
  #loopDelay: IntervalHistogram
  #unsubscribe: () => void

  constructor(options: MetricsOptions) {
    this.#maxLabelSets = options.maxLabelSets ?? DEFAULT_MAX_LABEL_SETS
    this.#loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS })
    this.#loopDelay.enable()
    this.#unsubscribe = options.events.on('request:completed', (event) => this.#record(event))
  }

  /** render returns the whole exposition (HELP and TYPE for each family), ending in a newline. */
  render(gauges: GaugeSource): string {
    const out: string[] = []
    this.#renderRequests(out)
    this.#renderDurations(out)
    this.#renderRouteCounters(out)
    renderRouteGauges(out, gauges.routes())
    renderInstances(out, gauges.instances())
    if (gauges.certificates) renderCertificates(out, gauges.certificates())
    this.#renderProcess(out)
    return `${out.join('\n')}\n`
  }

  /** close unsubscribes from the event bus and stops the event-loop monitor. Idempotent. */
  close(): void {
    this.#unsubscribe()
    this.#loopDelay.disable()
  }

  #record(event: RequestCompleted): void {
    const route = this.#route(event.route)
    const target = this.#target(route, event.target ?? NO_TARGET_LABEL)
    add(target.counts, statusClassIndex(event.status), 1)
    const seconds = event.durationMs / MS_PER_SECOND
    add(route.buckets, bucketIndex(seconds), 1)
    route.durationSeconds += seconds
    route.count++
    route.retries += event.retries
    route.responseBytes += event.bytesOut
    if (event.cutOff !== undefined) this.#slowClients[event.cutOff]++
  }

  #route(name: string): RouteSeries {
    let series = this.#routes.get(name)
    if (series !== undefined) return series
    const key = this.#labelSets < this.#maxLabelSets ? name : OVERFLOW_LABEL
    series = this.#routes.get(key)
    if (series === undefined) {
      series = routeSeries(key)
      this.#routes.set(key, series)
      this.#labelSets++
    }
    return series
  }

  #target(route: RouteSeries, name: string): TargetSeries {
    let series = route.byTarget.get(name)
    if (series !== undefined) return series
    const key = this.#labelSets < this.#maxLabelSets ? name : OVERFLOW_LABEL
    series = route.byTarget.get(key)
    if (series === undefined) {
      series = { label: label('target', key), counts: new Float64Array(STATUS_CLASSES.length) }
      route.byTarget.set(key, series)
      this.#labelSets++
    }
    return series
  }

  #renderRequests(out: string[]): void {
    const name = 'portico_requests_total'
    header(out, name, 'counter', 'Proxied requests by route, status class and target.')
    for (const route of this.#routes.values()) {
      for (const target of route.byTarget.values()) {
        STATUS_CLASSES.forEach((statusClass, index) => {
          const count = target.counts[index] ?? 0
          if (count === 0) return
          const labels = `${route.label},${label('status_class', statusClass)},${target.label}`
          sample(out, name, labels, count)
        })
      }
    }
  }

  #renderDurations(out: string[]): void {
    const name = 'portico_request_duration_seconds'
    header(out, name, 'histogram', 'Time from request received to response finished, in seconds.')
    for (const route of this.#routes.values()) {
      let cumulative = 0
      route.buckets.forEach((count, index) => {
        cumulative += count
        const le = DURATION_BUCKETS_SECONDS[index] ?? Number.POSITIVE_INFINITY
        sample(out, `${name}_bucket`, `${route.label},le="${formatValue(le)}"`, cumulative)
      })
      sample(out, `${name}_sum`, route.label, route.durationSeconds)
      sample(out, `${name}_count`, route.label, route.count)
    }
  }

  #renderRouteCounters(out: string[]): void {
    header(out, 'portico_retries_total', 'counter', 'Retries on another target, by route.')
    for (const r of this.#routes.values()) sample(out, 'portico_retries_total', r.label, r.retries)
    const bytes = 'portico_response_bytes_total'
    header(out, bytes, 'counter', 'Response body bytes sent to clients, by route.')
    for (const r of this.#routes.values()) sample(out, bytes, r.label, r.responseBytes)
    const slow = 'portico_slow_clients_closed_total'
    header(out, slow, 'counter', 'Clients cut off for uploading or reading too slowly, by reason.')
    for (const [reason, count] of Object.entries(this.#slowClients))
      sample(out, slow, label('reason', reason), count)
  }

  #renderProcess(out: string[]): void {
    const memory = process.memoryUsage()
    const cpu = process.cpuUsage()
    const gauges: Array<[string, string, string, number]> = [
      ['process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', memory.rss],
      [
        'process_cpu_seconds_total',
        'counter',
        'Total user and system CPU time spent in seconds.',
        (cpu.user + cpu.system) / MICROS_PER_SECOND,
      ],
      [
        'process_start_time_seconds',
        'gauge',
        'Start time of the process since unix epoch in seconds.',
        Math.floor(performance.timeOrigin) / MS_PER_SECOND,
      ],
      ['nodejs_heap_used_bytes', 'gauge', 'V8 heap used, in bytes.', memory.heapUsed],
      [
        'nodejs_eventloop_lag_seconds',
        'gauge',
        'Mean event loop delay since the previous scrape, in seconds.',
        this.#takeLoopLag(),
      ],
    ]
    for (const [name, type, help, value] of gauges) {
      header(out, name, type, help)
      sample(out, name, '', value)
    }
  }

  /** takeLoopLag returns the mean delay beyond the timer resolution since the last call. */
  #takeLoopLag(): number {
    const mean = this.#loopDelay.mean
    this.#loopDelay.reset()
    if (!Number.isFinite(mean)) return 0
    return Math.max(0, mean - LOOP_RESOLUTION_MS * (NS_PER_SECOND / MS_PER_SECOND)) / NS_PER_SECOND
  }
}
