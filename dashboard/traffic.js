// @ts-check
/** @module traffic: requests/s, p50/p99 latency and error rate per route, live or from the history. */
import { request } from './api.js'
import { lineChart } from './chart.js'
import { h } from './dom.js'
import { latency, rate, ratio } from './format.js'
import { model, subscribe, TOTAL } from './model.js'

/**
 * @typedef {{ t: number, rps: number, p50: number, p99: number, err: number }} Point
 * @typedef {{ id: string, label: string, spanMs: number, stepS: number, refreshMs: number }} Range
 */

/** @type {Range[]} */
const RANGES = [
  { id: 'live', label: 'Live (5 min)', spanMs: 5 * 60_000, stepS: 0, refreshMs: 0 },
  { id: 'hour', label: 'Last hour', spanMs: 60 * 60_000, stepS: 60, refreshMs: 20_000 },
  { id: 'day', label: 'Last 24 hours', spanMs: 24 * 60 * 60_000, stepS: 600, refreshMs: 120_000 },
]

let current = RANGES[0]

/**
 * fromHistory turns history buckets into chart points; the running bucket's rate counts only the
 * time elapsed in it.
 * @param {any[]} rows
 * @param {number} stepS
 * @returns {Point[]}
 */
function fromHistory(rows, stepS) {
  const now = Date.now()
  return rows.map((row) => {
    const t = Date.parse(row.at)
    const seconds = Math.max(1, Math.min(stepS, (now - t) / 1000))
    return {
      t,
      rps: row.requests / seconds,
      p50: row.latencyMs.p50,
      p99: row.latencyMs.p99,
      err: row.requests === 0 ? 0 : row.errors / row.requests,
    }
  })
}

/**
 * charts returns the three charts of one series of points over [from, to].
 * @param {Point[]} points
 * @param {number} from
 * @param {number} to
 * @param {boolean} seconds
 */
function charts(points, from, to, seconds) {
  const pick = (/** @type {keyof Point} */ key) => points.map((p) => ({ t: p.t, v: p[key] }))
  // Latency of an interval without requests is unknown, not zero: leave a gap.
  const served = (/** @type {keyof Point} */ key) =>
    points.filter((p) => p.rps > 0).map((p) => ({ t: p.t, v: p[key] }))
  return [
    lineChart({
      title: 'Requests per second',
      series: [{ name: 'req/s', className: 's-rps', points: pick('rps') }],
      from,
      to,
      format: rate,
      seconds,
    }),
    lineChart({
      title: 'Latency',
      series: [
        { name: 'p50', className: 's-p50', points: served('p50') },
        { name: 'p99', className: 's-p99', points: served('p99') },
      ],
      from,
      to,
      format: latency,
      seconds,
    }),
    lineChart({
      title: 'Error rate (5xx)',
      series: [{ name: '5xx', className: 's-err', points: pick('err') }],
      from,
      to,
      format: ratio,
      minMax: 0.01,
      seconds,
    }),
  ]
}

/** The series shown: all routes together, then each route. */
function seriesKeys() {
  return [
    { key: TOTAL, title: 'All routes' },
    ...model.routes.map((r) => ({ key: r.vHost, title: r.vHost })),
  ]
}

/**
 * traffic renders the traffic page into `root` and keeps it live; returns its cleanup.
 * @param {HTMLElement} root
 */
export function traffic(root) {
  const note = h('p', { class: 'muted', role: 'status' })
  const body = h('div', { class: 'traffic' })
  const buttons = RANGES.map((range) => {
    const button = h('button', {
      type: 'button',
      'aria-pressed': String(range === current),
      text: range.label,
    })
    button.addEventListener('click', () => {
      current = range
      for (const b of buttons) b.setAttribute('aria-pressed', String(b === button))
      void draw()
      schedule()
    })
    return button
  })
  root.append(
    h('h1', { text: 'Traffic' }),
    h('div', { class: 'toolbar', role: 'group', 'aria-label': 'Time range' }, ...buttons),
    note,
    body,
  )
  /** @type {ReturnType<typeof setInterval> | undefined} */
  let timer
  let drawing = 0
  const draw = async () => {
    const mine = ++drawing
    const to = Date.now()
    const from = to - current.spanMs
    const sections = []
    for (const { key, title } of seriesKeys()) {
      /** @type {Point[]} */
      let points
      if (current.id === 'live') {
        points = (model.series.get(key) ?? []).filter((p) => p.t >= from)
      } else {
        const query = new URLSearchParams({
          from: String(from),
          to: String(to),
          step: String(current.stepS),
        })
        if (key !== TOTAL) query.set('route', key)
        try {
          points = fromHistory(await request(`/stats/history?${query}`), current.stepS)
          note.textContent = ''
        } catch (error) {
          note.textContent = `History is not available: ${error instanceof Error ? error.message : String(error)}`
          points = []
        }
      }
      sections.push(
        h(
          'section',
          { class: 'card', 'aria-label': `Traffic of ${title}`, 'data-series': key },
          h('h2', { text: title }),
          h('div', { class: 'charts' }, ...charts(points, from, to, current.id === 'live')),
        ),
      )
    }
    if (mine !== drawing) return
    body.replaceChildren(...sections)
    if (current.id === 'live' && model.series.size === 0)
      note.textContent = 'Waiting for the first live sample…'
    else if (current.id === 'live') note.textContent = ''
  }
  const schedule = () => {
    clearInterval(timer)
    if (current.refreshMs > 0) timer = setInterval(() => void draw(), current.refreshMs)
  }
  void draw()
  schedule()
  const unsubscribe = subscribe((what) => {
    if ((what === 'live' && current.id === 'live') || what === 'routes') void draw()
  })
  return () => {
    clearInterval(timer)
    unsubscribe()
  }
}
