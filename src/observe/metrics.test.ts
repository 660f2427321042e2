import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { afterEach, describe, expect, it } from 'vitest'
import { completedEvent } from '../../test/helpers/completed.ts'
import { EventBus } from './events.ts'
import {
  DURATION_BUCKETS_SECONDS,
  escapeLabelValue,
  type GaugeSource,
  METRICS_CONTENT_TYPE,
  Metrics,
  type MetricsOptions,
} from './metrics.ts'

// The text exposition format 0.0.4 grammar, line by line.
const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'
const LABEL = String.raw`[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"`
const VALUE = String.raw`(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)`
const SAMPLE_LINE = new RegExp(
  String.raw`^(${NAME})(?:\{(${LABEL}(?:,${LABEL})*)?\})? (${VALUE})(?: -?\d+)?$`,
)
const HELP_LINE = new RegExp(String.raw`^# HELP (${NAME}) (?:[^\\\n]|\\[\\n])*$`)
const TYPE_LINE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`)
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"/g

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

function unescapeLabel(value: string): string {
  return value.replace(/\\([\\"n])/g, (_, c: string) => (c === 'n' ? '\n' : c))
}

function parseLabels(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {}
  for (const [, name = '', value = ''] of (text ?? '').matchAll(LABEL_PAIR)) {
    labels[name] = unescapeLabel(value)
  }
  return labels
}

function allowedNames(family: string, type: string): string[] {
  return type === 'histogram' ? [`${family}_bucket`, `${family}_sum`, `${family}_count`] : [family]
}

/**
 * checkExposition asserts every line follows the 0.0.4 grammar, each family has one HELP and one
 * TYPE before its samples, samples belong to the family above them and no series repeats; it
 * returns the samples.
 */
function checkExposition(text: string): Sample[] {
  expect(text.endsWith('\n')).toBe(true)
  const samples: Sample[] = []
  const families = new Set<string>()
  const series = new Set<string>()
  let allowed: string[] = []
  for (const line of text.slice(0, -1).split('\n')) {
    const help = HELP_LINE.exec(line)
    const type = TYPE_LINE.exec(line)
    const sample = SAMPLE_LINE.exec(line)
    if (help) {
      expect(families.has(help[1] ?? '')).toBe(false)
      families.add(help[1] ?? '')
    } else if (type) {
      expect(families.has(type[1] ?? '')).toBe(true)
      allowed = allowedNames(type[1] ?? '', type[2] ?? '')
    } else {
      expect(sample, `not a valid sample line: ${JSON.stringify(line)}`).not.toBeNull()
      const name = sample?.[1] ?? ''
      expect(allowed).toContain(name)
      expect(series.has(`${name}{${sample?.[2]}}`)).toBe(false)
      series.add(`${name}{${sample?.[2]}}`)
      samples.push({ name, labels: parseLabels(sample?.[2]), value: Number(sample?.[3]) })
    }
  }
  return samples
}

function find(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  return samples.find(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )?.value
}

const NO_GAUGES: GaugeSource = { routes: () => [], instances: () => [] }
const GAUGES: GaugeSource = {
  routes: () => [
    { vHost: 'web.localhost', active: 3, queued: 1, healthyTargets: 2, targets: 3 },
    { vHost: 'api.localhost', active: 0, queued: 0, healthyTargets: 0, targets: 1 },
  ],
  instances: () => [
    { app: 'web', instance: 'web#0', state: 'healthy', restarts: 0 },
    { app: 'web', instance: 'web#1', state: 'crashed', restarts: 4 },
  ],
}
const created: Metrics[] = []

/** setup returns Metrics on a fresh bus; afterEach closes it (unsubscribes, stops the monitor). */
function setup(options: Partial<MetricsOptions> = {}) {
  const events = new EventBus()
  const metrics = new Metrics({ events, ...options })
  created.push(metrics)
  return { events, metrics }
}

afterEach(() => {
  for (const metrics of created.splice(0)) metrics.close()
})

describe('checkExposition', () => {
  it('rejects what the grammar forbids', () => {
    expect(() => checkExposition('# TYPE a counter\na 1\n')).toThrow()
    expect(() => checkExposition('# HELP a x\n# TYPE a counter\na{b="c} 1\n')).toThrow()
    expect(() => checkExposition('# HELP a x\n# TYPE a counter\na{b="\\q"} 1\n')).toThrow()
    expect(() => checkExposition('# HELP a x\n# TYPE a counter\na 1\na 2\n')).toThrow()
    expect(() => checkExposition('# HELP a x\n# TYPE a counter\nb 1\n')).toThrow()
    expect(checkExposition('# HELP a x\n# TYPE a counter\na{b="\\n"} +Inf\n')).toHaveLength(1)
  })
})

describe('Metrics', () => {
  it('counts a known amount of traffic exactly by route, status class and target', () => {
    const { events, metrics } = setup()
    const plan: Array<[string, string | undefined, number, number]> = [
      ['web.localhost', 'web#0', 200, 40],
      ['web.localhost', 'web#1', 200, 35],
      ['web.localhost', 'web#1', 502, 5],
      ['web.localhost', undefined, 503, 3],
      ['web.localhost', 'web#0', 499, 2],
      ['api.localhost', 'api#0', 404, 7],
    ]
    for (const [route, target, status, n] of plan) {
      for (let i = 0; i < n; i++) {
        events.emit(
          'request:completed',
          completedEvent({ route, target, status, retries: 1, bytesOut: 10 }),
        )
      }
    }
    const samples = checkExposition(metrics.render(NO_GAUGES))
    const total = (labels: Record<string, string>) =>
      find(samples, 'portico_requests_total', labels)
    const web = { route: 'web.localhost' }
    expect(total({ ...web, status_class: '2xx', target: 'web#0' })).toBe(40)
    expect(total({ ...web, status_class: '2xx', target: 'web#1' })).toBe(35)
    expect(total({ ...web, status_class: '5xx', target: 'web#1' })).toBe(5)
    expect(total({ ...web, status_class: '5xx', target: '' })).toBe(3)
    expect(total({ ...web, status_class: '499', target: 'web#0' })).toBe(2)
    expect(total({ route: 'api.localhost', status_class: '4xx', target: 'api#0' })).toBe(7)
    const requests = samples.filter((s) => s.name === 'portico_requests_total')
    expect(requests.reduce((sum, s) => sum + s.value, 0)).toBe(92)
    expect(find(samples, 'portico_retries_total', web)).toBe(85)
    expect(find(samples, 'portico_response_bytes_total', web)).toBe(850)
    expect(find(samples, 'portico_request_duration_seconds_count', web)).toBe(85)
  })

  it('renders a cumulative latency histogram whose count equals the requests', () => {
    const { events, metrics } = setup()
    for (const durationMs of [1, 1, 5, 30, 30, 20_000]) {
      events.emit('request:completed', completedEvent({ durationMs }))
    }
    const text = metrics.render(NO_GAUGES)
    const samples = checkExposition(text)
    const buckets = samples.filter((s) => s.name === 'portico_request_duration_seconds_bucket')
    expect(buckets.map((s) => s.labels.le)).toEqual([
      ...DURATION_BUCKETS_SECONDS.map(String),
      '+Inf',
    ])
    expect(buckets.map((s) => s.value)).toEqual([3, 3, 3, 5, 5, 5, 5, 5, 5, 5, 5, 6])
    const web = { route: 'web.localhost' }
    expect(find(samples, 'portico_request_duration_seconds_count', web)).toBe(6)
    expect(find(samples, 'portico_request_duration_seconds_sum', web)).toBeCloseTo(20.067, 9)

    const family = parsePrometheusTextFormat(text).find(
      (f) => f.name === 'portico_request_duration_seconds',
    )
    expect(family?.type).toBe('HISTOGRAM')
    expect(family?.metrics[0]?.buckets?.['+Inf']).toBe('6')
    expect(family?.metrics[0]?.buckets?.['0.05']).toBe('5')
  })

  it('produces output the Prometheus text parser reads, gauges and process metrics included', () => {
    const { events, metrics } = setup()
    events.emit('request:completed', completedEvent())
    events.emit('request:completed', completedEvent({ route: 'api.localhost', target: 'api#0' }))
    const text = metrics.render(GAUGES)
    checkExposition(text)
    const types = Object.fromEntries(parsePrometheusTextFormat(text).map((f) => [f.name, f.type]))
    expect(types).toMatchObject({
      portico_requests_total: 'COUNTER',
      portico_request_duration_seconds: 'HISTOGRAM',
      portico_retries_total: 'COUNTER',
      portico_response_bytes_total: 'COUNTER',
      portico_route_active_requests: 'GAUGE',
      portico_route_queued_requests: 'GAUGE',
      portico_route_healthy_targets: 'GAUGE',
      portico_instance_state: 'GAUGE',
      portico_instance_restarts_total: 'COUNTER',
      process_resident_memory_bytes: 'GAUGE',
      process_cpu_seconds_total: 'COUNTER',
      process_start_time_seconds: 'GAUGE',
      nodejs_heap_used_bytes: 'GAUGE',
      nodejs_eventloop_lag_seconds: 'GAUGE',
    })
  })

  it('renders route and instance gauges and process metrics as read at scrape time', () => {
    const { metrics } = setup()
    const samples = checkExposition(metrics.render(GAUGES))
    const web = { route: 'web.localhost' }
    expect(find(samples, 'portico_route_active_requests', web)).toBe(3)
    expect(find(samples, 'portico_route_queued_requests', web)).toBe(1)
    expect(find(samples, 'portico_route_healthy_targets', web)).toBe(2)
    expect(find(samples, 'portico_route_targets', web)).toBe(3)
    expect(find(samples, 'portico_instance_state', { instance: 'web#1', state: 'crashed' })).toBe(1)
    expect(find(samples, 'portico_instance_restarts_total', { instance: 'web#1' })).toBe(4)
    expect(find(samples, 'process_resident_memory_bytes', {})).toBeGreaterThan(0)
    const start = find(samples, 'process_start_time_seconds', {}) ?? 0
    expect(start).toBeLessThanOrEqual(Date.now() / 1000)
    expect(start).toBeGreaterThan(Date.now() / 1000 - 3600)
  })

  it('renders HELP and TYPE for every family before any request', () => {
    const { metrics } = setup()
    const text = metrics.render(NO_GAUGES)
    checkExposition(text)
    expect(text).toContain('# TYPE portico_requests_total counter\n')
    expect(text).toContain('# TYPE portico_request_duration_seconds histogram\n')
    expect(() => parsePrometheusTextFormat(text)).not.toThrow()
  })

  it('escapes backslash, double quote and newline in label values', () => {
    const { events, metrics } = setup()
    const route = 'we"ird\\route\nname'
    expect(escapeLabelValue(route)).toBe('we\\"ird\\\\route\\nname')
    events.emit('request:completed', completedEvent({ route, target: 'a\\b' }))
    const text = metrics.render({
      routes: () => [{ vHost: route, active: 1, queued: 0, healthyTargets: 1, targets: 1 }],
      instances: () => [],
    })
    expect(text).toContain('route="we\\"ird\\\\route\\nname"')
    const samples = checkExposition(text)
    expect(find(samples, 'portico_requests_total', { route, target: 'a\\b' })).toBe(1)
    expect(find(samples, 'portico_route_active_requests', { route })).toBe(1)
    const parsed = parsePrometheusTextFormat(text).find((f) => f.name === 'portico_requests_total')
    expect(parsed?.metrics[0]?.labels).toEqual({ route, status_class: '2xx', target: 'a\\b' })
  })

  it('caps distinct label sets and counts the rest under _other, keeping sums exact', () => {
    const { events, metrics } = setup({ maxLabelSets: 10 })
    for (let i = 0; i < 1000; i++) {
      events.emit(
        'request:completed',
        completedEvent({ route: `r${i % 100}`, target: `t${i % 300}` }),
      )
    }
    const samples = checkExposition(metrics.render(NO_GAUGES))
    const requests = samples.filter((s) => s.name === 'portico_requests_total')
    expect(requests.reduce((sum, s) => sum + s.value, 0)).toBe(1000)
    expect(requests.length).toBeLessThanOrEqual(2 * 10 + 1)
    expect(find(samples, 'portico_request_duration_seconds_count', { route: '_other' })).toBe(950)
  })

  it('stops counting after close()', () => {
    const { events, metrics } = setup()
    metrics.close()
    events.emit('request:completed', completedEvent())
    expect(metrics.render(NO_GAUGES)).not.toContain('portico_requests_total{')
  })

  it('declares the 0.0.4 text content type', () => {
    expect(METRICS_CONTENT_TYPE).toBe('text/plain; version=0.0.4; charset=utf-8')
  })
})
