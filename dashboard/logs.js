// @ts-check
/** @module logs: one app's output, live, with follow, a filter and stderr marked. */
import { EventStream, request } from './api.js'
import { h } from './dom.js'
import { clock } from './format.js'
import { model } from './model.js'

/** Lines kept on the page; older ones are dropped from the top. */
const MAX_LINES = 2000
const HISTORY_LINES = 500

/**
 * @typedef {{ atMs: number, instance: string, stream: string, text: string }} Line
 */

/**
 * parseStored reads a stored log line: `<ISO time> <instance> <out|err> <text>`.
 * @param {string} raw
 * @returns {Line}
 */
function parseStored(raw) {
  const match = /^(\S+) (\S+) (out|err) ([\s\S]*)$/.exec(raw)
  if (match === null) return { atMs: Date.now(), instance: '', stream: 'out', text: raw }
  return { atMs: Date.parse(match[1]), instance: match[2], stream: match[3], text: match[4] }
}

/** @param {Line} line */
function lineElement(line) {
  const err = line.stream === 'err'
  return h(
    'li',
    { class: err ? 'log-line err' : 'log-line' },
    h('span', { class: 'time', text: clock(line.atMs) }),
    h('span', { class: 'inst', text: line.instance }),
    h('span', { class: 'stream', text: err ? 'stderr' : 'stdout' }),
    h('span', { class: 'text', text: line.text }),
  )
}

/**
 * logs renders the log page of `app` (or the first app) into `root`; returns its cleanup.
 * @param {HTMLElement} root
 * @param {string | undefined} app
 */
export function logs(root, app) {
  const name = app ?? model.apps[0]?.name
  const picker = h(
    'select',
    { id: 'log-app' },
    ...model.apps.map((a) => h('option', { value: a.name, text: a.name })),
  )
  if (name !== undefined) picker.value = name
  picker.addEventListener('change', () => {
    location.hash = `#/logs/${picker.value}`
  })
  const follow = h('input', { type: 'checkbox', id: 'log-follow', checked: true })
  const filter = h('input', { type: 'search', id: 'log-filter', placeholder: 'text to find' })
  const stream = h(
    'select',
    { id: 'log-stream' },
    h('option', { value: '', text: 'stdout and stderr' }),
    h('option', { value: 'out', text: 'stdout only' }),
    h('option', { value: 'err', text: 'stderr only' }),
  )
  const count = h('span', { class: 'muted', role: 'status' })
  const list = h('ol', {
    class: 'log',
    id: 'log-lines',
    tabindex: '0',
    'aria-label': `Output of ${name ?? 'no app'}`,
  })
  root.append(
    h('h1', {}, 'Logs', name === undefined ? '' : ` of ${name}`),
    h(
      'div',
      { class: 'toolbar' },
      h('label', { for: 'log-app', text: 'App' }),
      picker,
      h('label', { for: 'log-filter', text: 'Filter' }),
      filter,
      h('label', { for: 'log-stream', text: 'Stream' }),
      stream,
      h('span', { class: 'check' }, follow, h('label', { for: 'log-follow', text: 'Follow' })),
      count,
    ),
    list,
  )
  if (name === undefined) return () => undefined

  const matches = (/** @type {HTMLElement} */ li) => {
    const wanted = filter.value.trim().toLowerCase()
    const streamOk =
      stream.value === '' || li.classList.contains('err') === (stream.value === 'err')
    return streamOk && (wanted === '' || (li.textContent ?? '').toLowerCase().includes(wanted))
  }
  const applyFilter = () => {
    let shown = 0
    for (const child of Array.from(list.children)) {
      const li = /** @type {HTMLElement} */ (child)
      const show = matches(li)
      li.hidden = !show
      if (show) shown++
    }
    count.textContent = `${shown} of ${list.children.length} lines`
  }
  const scroll = () => {
    if (follow.checked) list.scrollTop = list.scrollHeight
  }
  /** @param {Line[]} lines */
  const add = (lines) => {
    for (const line of lines) {
      const li = lineElement(line)
      li.hidden = !matches(li)
      list.append(li)
    }
    while (list.children.length > MAX_LINES) list.firstElementChild?.remove()
    count.textContent = `${list.querySelectorAll('li:not([hidden])').length} of ${list.children.length} lines`
    scroll()
  }
  filter.addEventListener('input', applyFilter)
  stream.addEventListener('change', applyFilter)
  follow.addEventListener('change', scroll)

  /** @type {Line[]} */
  const early = []
  let loaded = false
  const live = new EventStream({
    types: ['instance:log'],
    app: name,
    onEvent: (frame) => {
      const { instance, stream: s, line } = frame.data
      const entry = { atMs: Date.parse(frame.at), instance, stream: s, text: line }
      if (loaded) add([entry])
      else early.push(entry)
    },
  })
  request(`/apps/${encodeURIComponent(name)}/logs?tail=${HISTORY_LINES}`)
    .then((body) => add(body.lines.map(parseStored)))
    .catch((error) =>
      add([
        {
          atMs: Date.now(),
          instance: '',
          stream: 'err',
          text: `could not read the log: ${error.message}`,
        },
      ]),
    )
    .finally(() => {
      loaded = true
      add(early.splice(0))
    })
  return () => live.close()
}
