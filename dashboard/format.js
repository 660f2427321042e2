// @ts-check
/** @module format: numbers, durations, bytes and times as people read them. */

/**
 * duration renders milliseconds as `45s`, `12m 3s`, `5h 2m`, `3d 4h`.
 * @param {number | null | undefined} ms
 */
export function duration(ms) {
  if (ms === null || ms === undefined || ms < 0) return '—'
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${s % 60}s`
  const hours = Math.floor(m / 60)
  if (hours < 24) return `${hours}h ${m % 60}m`
  return `${Math.floor(hours / 24)}d ${hours % 24}h`
}

/**
 * bytes renders a size: `812 B`, `48.2 MB`.
 * @param {number | null | undefined} n
 */
export function bytes(n) {
  if (n === null || n === undefined) return '—'
  const units = ['B', 'kB', 'MB', 'GB', 'TB']
  let value = n
  let unit = 0
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000
    unit++
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}

/**
 * percent renders a CPU share (already in percent).
 * @param {number | null | undefined} n
 */
export function cpu(n) {
  return n === null || n === undefined ? '—' : `${n.toFixed(1)}%`
}

/**
 * ratio renders 0..1 as a percentage.
 * @param {number} n
 */
export function ratio(n) {
  if (n === 0) return '0%'
  return n < 0.001 ? '<0.1%' : `${(n * 100).toFixed(1)}%`
}

/**
 * latency renders milliseconds: `0.4 ms`, `12 ms`, `1.3 s`.
 * @param {number} ms
 */
export function latency(ms) {
  if (ms >= 1000) return `${(ms / 1000).toFixed(1)} s`
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`
}

/**
 * rate renders requests per second.
 * @param {number} n
 */
export function rate(n) {
  if (n === 0) return '0/s'
  return n < 10 ? `${n.toFixed(2)}/s` : `${n.toFixed(0)}/s`
}

/**
 * ago renders how long ago an ISO time was: `just now`, `3 min ago`, `2 h ago`.
 * @param {string} iso
 * @param {number} [now]
 */
export function ago(iso, now = Date.now()) {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000))
  if (s < 10) return 'just now'
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.floor(s / 60)} min ago`
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`
  return `${Math.floor(s / 86400)} d ago`
}

/**
 * clock renders a time of day, `14:05:09`.
 * @param {number} ms
 * @param {boolean} [seconds]
 */
export function clock(ms, seconds = true) {
  const d = new Date(ms)
  const two = (/** @type {number} */ n) => String(n).padStart(2, '0')
  const hm = `${two(d.getHours())}:${two(d.getMinutes())}`
  return seconds ? `${hm}:${two(d.getSeconds())}` : hm
}
