// @ts-check
/** @module overview: every app with its instances and actions, every route with its targets. */
import { request } from './api.js'
import { sparkline } from './chart.js'
import { h, keyed, refs, setText } from './dom.js'
import { bytes, cpu, duration, latency, rate, ratio } from './format.js'
import { model, refresh, subscribe, TOTAL } from './model.js'
import { notify } from './notify.js'

const ACTIONS = [
  ['start', 'Start'],
  ['stop', 'Stop'],
  ['restart', 'Restart'],
  ['reload', 'Reload'],
]
const SPARK_POINTS = 30

/**
 * run calls an action endpoint with its button disabled meanwhile, and says how it went.
 * @param {HTMLButtonElement} button
 * @param {string} path
 * @param {unknown} body
 * @param {string} done
 */
async function run(button, path, body, done) {
  button.disabled = true
  button.setAttribute('aria-busy', 'true')
  try {
    await request(path, { method: 'POST', body })
    notify(done)
  } catch (error) {
    notify(
      `${done.split(':')[0]} failed: ${error instanceof Error ? error.message : String(error)}`,
      'error',
    )
  } finally {
    button.disabled = false
    button.removeAttribute('aria-busy')
    refresh('apps', 'routes').catch(() => undefined)
  }
}

/** @param {import('./model.js').App} app */
function serving(app) {
  return app.instances.filter((i) => !i.id.endsWith('.next'))
}

/** @param {string} state */
function badge(state) {
  return h('span', { class: `state state-${state}`, text: state })
}

/** @param {import('./model.js').App} app */
function createApp(app) {
  const name = app.name
  const summary = h('span', { class: 'pill' })
  const hosts = h('ul', { class: 'hosts', 'aria-label': `Hostnames of ${name}` })
  const scaleInput = h('input', {
    type: 'number',
    min: '1',
    max: '64',
    id: `scale-${name}`,
    class: 'scale',
  })
  const scaleButton = h('button', { type: 'button', text: 'Scale' })
  const buttons = ACTIONS.map(([action, label]) => {
    const button = h('button', { type: 'button', 'data-action': action, text: label })
    button.addEventListener('click', () =>
      run(button, `/apps/${encodeURIComponent(name)}/${action}`, {}, `${label}: ${name}`),
    )
    return button
  })
  scaleButton.addEventListener('click', () => {
    const instances = Number(scaleInput.value)
    if (!Number.isInteger(instances) || instances < 1 || instances > 64) {
      notify('Instances must be a whole number from 1 to 64', 'error')
      return
    }
    void run(
      scaleButton,
      `/apps/${encodeURIComponent(name)}/scale`,
      { instances },
      `Scale: ${name} to ${instances}`,
    )
  })
  const rows = h('tbody')
  const el = h(
    'article',
    { class: 'card app', 'aria-labelledby': `app-${name}`, 'data-app': name },
    h(
      'header',
      { class: 'card-head' },
      h(
        'h3',
        { id: `app-${name}` },
        h('a', { href: `#/logs/${name}`, title: `Logs of ${name}`, text: name }),
      ),
      summary,
      hosts,
    ),
    h(
      'div',
      { class: 'actions', role: 'group', 'aria-label': `Actions for ${name}` },
      ...buttons,
      h(
        'span',
        { class: 'scale-group' },
        h('label', { for: `scale-${name}`, text: 'Instances' }),
        scaleInput,
        scaleButton,
      ),
      h('a', { class: 'button', href: `#/logs/${name}`, text: 'Logs' }),
    ),
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'instances' },
        h('caption', { class: 'visually-hidden', text: `Instances of ${name}` }),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...['Instance', 'State', 'PID', 'Port', 'Uptime', 'Restarts', 'CPU', 'Memory'].map(
              (t) => h('th', { scope: 'col', text: t }),
            ),
          ),
        ),
        rows,
      ),
    ),
  )
  refs(el, { summary, hosts, rows, scaleInput })
  scaleInput.value = String(serving(app).length || 1)
  return el
}

/**
 * @param {HTMLElement} el
 * @param {import('./model.js').App} app
 */
function updateApp(el, app) {
  const r = refs(el)
  const live = serving(app)
  const healthy = live.filter((i) => i.state === 'healthy').length
  setText(r.summary, `${healthy}/${live.length} healthy`)
  r.summary.className = `pill ${healthy === live.length && live.length > 0 ? 'good' : healthy > 0 ? 'warn' : 'bad'}`
  const port = model.health?.ports?.https
  keyed(
    r.hosts,
    app.hostnames,
    (host) => host,
    (host) => {
      const href = `https://${host}${port && port !== 443 ? `:${port}` : ''}/`
      return h('li', {}, h('a', { href, target: '_blank', rel: 'noopener noreferrer', text: host }))
    },
    () => undefined,
  )
  keyed(r.rows, app.instances, (i) => i.id, createInstance, updateInstance)
  const input = /** @type {HTMLInputElement} */ (r.scaleInput)
  if (document.activeElement !== input && input.dataset.count !== String(live.length)) {
    input.value = String(live.length || 1)
    input.dataset.count = String(live.length)
  }
}

/** @param {import('./model.js').Instance} inst */
function createInstance(inst) {
  const cells = ['id', 'state', 'pid', 'port', 'uptime', 'restarts', 'cpu', 'memory'].map((c) =>
    h('td', { class: `c-${c}` }),
  )
  const row = h('tr', { 'data-instance': inst.id }, ...cells)
  const [id, state, pid, port, uptime, restarts, cpuCell, memory] = cells
  refs(row, { id, state, pid, port, uptime, restarts, cpu: cpuCell, memory })
  return row
}

/**
 * @param {HTMLElement} row
 * @param {import('./model.js').Instance} inst
 */
function updateInstance(row, inst) {
  const r = refs(row)
  setText(r.id, inst.id)
  if (r.state.textContent !== inst.state) r.state.replaceChildren(badge(inst.state))
  row.dataset.state = inst.state
  setText(r.pid, inst.pid === null ? '—' : String(inst.pid))
  setText(r.port, inst.port ? String(inst.port) : '—')
  setText(r.uptime, duration(inst.uptimeMs))
  setText(r.restarts, String(inst.restarts))
  setText(r.cpu, cpu(inst.cpuPercent))
  setText(r.memory, bytes(inst.memoryBytes))
}

/**
 * @param {string} vHost
 * @param {string} id
 * @param {boolean} dead
 * @param {HTMLButtonElement} button
 */
function mark(vHost, id, dead, button) {
  const path = `/routes/${encodeURIComponent(vHost)}/backends/${encodeURIComponent(id)}/${dead ? 'dead' : 'alive'}`
  return run(button, path, {}, `${id} marked ${dead ? 'dead' : 'alive'}`)
}

/** @param {import('./model.js').Route} route */
function createRoute(route) {
  const figures = h('dl', { class: 'figures' })
  const spark = h('div', { class: 'spark-box' })
  const rows = h('tbody')
  const target = route.app ? `app ${route.app}` : `${route.backends.length} backend(s)`
  const el = h(
    'article',
    { class: 'card route', 'data-route': route.vHost, 'aria-label': `Route ${route.vHost}` },
    h(
      'header',
      { class: 'card-head' },
      h('h3', { text: route.vHost }),
      h('span', { class: 'muted', text: `→ ${target} · ${route.strategy}` }),
      spark,
    ),
    figures,
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'targets' },
        h('caption', { class: 'visually-hidden', text: `Targets of ${route.vHost}` }),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...['Target', 'Address', 'Health', 'In flight', 'Failures', 'Actions'].map((t) =>
              h('th', { scope: 'col', text: t }),
            ),
          ),
        ),
        rows,
      ),
    ),
  )
  refs(el, { figures, spark, rows })
  return el
}

/**
 * @param {HTMLElement} el
 * @param {import('./model.js').Route} route
 */
function updateRoute(el, route) {
  const r = refs(el)
  const live = model.sample?.routes.find((x) => x.vHost === route.vHost)
  const figures = [
    ['Requests', live ? rate(live.requestsPerSecond) : '—'],
    ['p50', live ? latency(live.latencyMs.p50) : '—'],
    ['p99', live ? latency(live.latencyMs.p99) : '—'],
    ['Errors', live ? ratio(live.errorRate) : '—'],
    ['In flight', live ? `${live.active} / ${route.reqActiveLength}` : '—'],
    ['Queue', live ? `${live.queued} / ${route.reqQueueLength}` : '—'],
  ]
  r.figures.replaceChildren(
    ...figures.flatMap(([k, v]) => [h('div', {}, h('dt', { text: k }), h('dd', { text: v }))]),
  )
  const points = (model.series.get(route.vHost) ?? []).slice(-SPARK_POINTS).map((p) => p.rps)
  r.spark.replaceChildren(sparkline(points, 's-rps'))
  const backends = new Map(route.backends.map((b) => [b.id, b]))
  const targets = live?.targets ?? []
  keyed(
    r.rows,
    targets,
    (t) => t.id,
    (t) => {
      const cells = [h('td'), h('td'), h('td'), h('td'), h('td'), h('td')]
      const row = h('tr', { 'data-target': t.id }, ...cells)
      const [id, address, health, inflight, fails, actions] = cells
      refs(row, { id, address, health, inflight, fails, actions })
      if (backends.has(t.id)) {
        const dead = h('button', { type: 'button', class: 'small', text: 'Mark dead' })
        const alive = h('button', { type: 'button', class: 'small', text: 'Mark alive' })
        dead.addEventListener('click', () => mark(route.vHost, t.id, true, dead))
        alive.addEventListener('click', () => mark(route.vHost, t.id, false, alive))
        actions.append(dead, alive)
      }
      return row
    },
    (row, t) => {
      const c = refs(row)
      const dead = backends.get(t.id)?.isDead === true && t.state !== 'healthy'
      setText(c.id, t.id)
      setText(c.address, t.address)
      const word = dead ? 'dead' : t.available ? t.state : t.state === 'healthy' ? 'full' : t.state
      if (c.health.textContent !== word) c.health.replaceChildren(badge(word))
      setText(c.inflight, String(t.inFlight))
      setText(c.fails, String(t.fails))
    },
  )
  if (targets.length === 0 && r.rows.children.length === 0) {
    r.rows.append(
      h(
        'tr',
        { 'data-key': '' },
        h('td', { colspan: '6', class: 'muted', text: 'Waiting for the first sample…' }),
      ),
    )
  }
}

/** @param {HTMLElement} root */
function summaryCards(root) {
  const cards = ['Instances healthy', 'Requests', 'p99 latency', 'Errors'].map((label) => {
    const value = h('span', { class: 'big' })
    const spark = h('span', { class: 'spark-box' })
    const card = h(
      'div',
      { class: 'card stat' },
      h('dt', { text: label }),
      h('dd', {}, value, spark),
    )
    refs(card, { value, spark })
    return card
  })
  root.append(h('dl', { class: 'summary' }, ...cards))
  return () => {
    const all = model.apps.flatMap(serving)
    const healthy = all.filter((i) => i.state === 'healthy').length
    const total = model.sample?.total
    const points = (model.series.get(TOTAL) ?? []).slice(-SPARK_POINTS)
    const values = [
      [`${healthy} / ${all.length}`, []],
      [total ? rate(total.requestsPerSecond) : '—', points.map((p) => p.rps), 's-rps'],
      [total ? latency(total.latencyMs.p99) : '—', points.map((p) => p.p99), 's-p99'],
      [total ? ratio(total.errorRate) : '—', points.map((p) => p.err), 's-err'],
    ]
    cards.forEach((card, i) => {
      const [text, series, cls] = /** @type {[string, number[], string | undefined]} */ (values[i])
      setText(refs(card).value, text)
      if (cls) refs(card).spark.replaceChildren(sparkline(series, cls))
    })
  }
}

/**
 * overview renders the overview page into `root` and keeps it live; returns its cleanup.
 * @param {HTMLElement} root
 */
export function overview(root) {
  root.append(h('h1', { class: 'visually-hidden', text: 'Overview' }))
  const renderSummary = summaryCards(root)
  const apps = h('div', { class: 'grid apps' })
  const routes = h('div', { class: 'grid routes' })
  root.append(
    h(
      'section',
      { 'aria-labelledby': 'apps-heading' },
      h('h2', { id: 'apps-heading', text: 'Apps' }),
      apps,
    ),
    h(
      'section',
      { 'aria-labelledby': 'routes-heading' },
      h('h2', { id: 'routes-heading', text: 'Routes' }),
      routes,
    ),
  )
  const render = () => {
    renderSummary()
    keyed(apps, model.apps, (a) => a.name, createApp, updateApp)
    if (model.apps.length === 0)
      apps.replaceChildren(h('p', { class: 'muted', text: 'No apps yet.' }))
    keyed(routes, model.routes, (r) => r.vHost, createRoute, updateRoute)
  }
  render()
  return subscribe((what) => {
    if (what === 'apps' || what === 'routes' || what === 'live' || what === 'health') render()
  })
}
