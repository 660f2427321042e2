// @ts-check
/** @module chart: small SVG line charts and sparklines, drawn from data (no library). */

import { h, svg } from './dom.js'
import { clock } from './format.js'

/**
 * @typedef {{ t: number, v: number }} Point
 * @typedef {{ name: string, className: string, points: Point[] }} Series
 * @typedef {{
 *   title: string,
 *   series: Series[],
 *   from: number,
 *   to: number,
 *   format: (v: number) => string,
 *   minMax?: number,
 *   seconds?: boolean,
 * }} ChartSpec
 */

const WIDTH = 480
const HEIGHT = 150
const PAD = { left: 52, right: 10, top: 12, bottom: 24 }
const GRID_LINES = 3

/**
 * niceMax rounds a maximum up to 1, 2 or 5 times a power of ten, so axis labels read well.
 * @param {number} max
 */
export function niceMax(max) {
  if (!(max > 0)) return 1
  const power = 10 ** Math.floor(Math.log10(max))
  for (const step of [1, 2, 5, 10]) if (max <= step * power) return step * power
  return 10 * power
}

/**
 * pathOf draws a series as an SVG path; a gap in time longer than three steps breaks the line.
 * @param {Point[]} points
 * @param {(t: number) => number} x
 * @param {(v: number) => number} y
 */
function pathOf(points, x, y) {
  let d = ''
  let lastT = Number.NaN
  const step =
    points.length > 1 ? (points[points.length - 1].t - points[0].t) / (points.length - 1) : 0
  for (const p of points) {
    const gap = !(p.t - lastT <= step * 3 + 1)
    d += `${gap ? 'M' : 'L'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`
    lastT = p.t
  }
  return d
}

/**
 * lineChart returns a figure with an SVG chart of the series over [from, to], y from 0 to a nice
 * maximum, three grid lines with labels, and a legend. The SVG is an image for assistive
 * technology, labelled with the title and each series' latest value; `data-points` holds the
 * number of points drawn.
 * @param {ChartSpec} spec
 */
export function lineChart(spec) {
  const all = spec.series.flatMap((s) => s.points)
  const max = niceMax(Math.max(spec.minMax ?? 0, ...all.map((p) => p.v)))
  const span = Math.max(1, spec.to - spec.from)
  const innerW = WIDTH - PAD.left - PAD.right
  const innerH = HEIGHT - PAD.top - PAD.bottom
  const x = (/** @type {number} */ t) => PAD.left + ((t - spec.from) / span) * innerW
  const y = (/** @type {number} */ v) => PAD.top + innerH - (Math.min(v, max) / max) * innerH
  const latest = spec.series
    .map(
      (s) =>
        `${s.name} ${s.points.length ? spec.format(s.points[s.points.length - 1].v) : 'no data'}`,
    )
    .join(', ')
  const chart = svg('svg', {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: 'img',
    'aria-label': `${spec.title}: ${latest}`,
    class: 'chart',
    'data-points': all.length,
  })
  for (let i = 0; i <= GRID_LINES; i++) {
    const v = (max / GRID_LINES) * i
    chart.append(
      svg('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(v), y2: y(v), class: 'grid' }),
      svg(
        'text',
        { x: PAD.left - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' },
        spec.format(v),
      ),
    )
  }
  for (const frac of [0, 0.5, 1]) {
    const t = spec.from + span * frac
    const anchor = frac === 0 ? 'start' : frac === 1 ? 'end' : 'middle'
    chart.append(
      svg(
        'text',
        { x: x(t), y: HEIGHT - 6, class: 'axis', 'text-anchor': anchor },
        clock(t, spec.seconds ?? false),
      ),
    )
  }
  for (const s of spec.series) {
    if (s.points.length === 0) continue
    chart.append(svg('path', { d: pathOf(s.points, x, y), class: `line ${s.className}` }))
    const last = s.points[s.points.length - 1]
    chart.append(
      svg('circle', { cx: x(last.t), cy: y(last.v), r: 2.5, class: `dot ${s.className}` }),
    )
  }
  const legend = h(
    'ul',
    { class: 'legend' },
    ...spec.series.map((s) =>
      h(
        'li',
        {},
        h('span', { class: `swatch ${s.className}`, 'aria-hidden': 'true' }),
        `${s.name} `,
        h('strong', { text: s.points.length ? spec.format(s.points[s.points.length - 1].v) : '—' }),
      ),
    ),
  )
  return h('figure', { class: 'chart-box' }, h('figcaption', { text: spec.title }), chart, legend)
}

/**
 * sparkline returns a tiny decorative line of the last values (the number beside it is the text).
 * @param {number[]} values
 * @param {string} className
 */
export function sparkline(values, className) {
  const w = 96
  const hgt = 24
  const max = niceMax(Math.max(...values, 0))
  const line = svg('svg', {
    viewBox: `0 0 ${w} ${hgt}`,
    class: 'spark',
    'aria-hidden': 'true',
    'data-points': values.length,
  })
  if (values.length > 1) {
    const step = w / (values.length - 1)
    const d = values
      .map(
        (v, i) =>
          `${i ? 'L' : 'M'}${(i * step).toFixed(1)},${(hgt - 2 - (v / max) * (hgt - 4)).toFixed(1)}`,
      )
      .join('')
    line.append(svg('path', { d, class: `line ${className}` }))
  }
  return line
}
