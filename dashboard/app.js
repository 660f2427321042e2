// @ts-check
/** @module app: the dashboard's entry: login when a token is required, the live stream, the pages. */
import { ApiError, EventStream, onUnauthorized, request } from './api.js'
import { certificates } from './certificates.js'
import { h, setText } from './dom.js'
import { ago } from './format.js'
import { logs } from './logs.js'
import { applyEvent, model, refresh, subscribe } from './model.js'
import { notify } from './notify.js'
import { overview } from './overview.js'
import { traffic } from './traffic.js'

const STREAM_TYPES = [
  'stats:sampled',
  'instance:state-changed',
  'target:down',
  'target:up',
  'route:changed',
  'config:applied',
  'config:failed',
  'app:changed',
]
/** A slow full refresh, in case an event was missed while the stream reconnected. */
const REFRESH_MS = 30_000

const byId = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id))

/** @type {(() => void) | undefined} */
let cleanup
/** @type {EventStream | undefined} */
let stream

/** route shows the page named by the location hash. */
function route() {
  cleanup?.()
  const view = byId('view')
  view.replaceChildren()
  const [, page = '', arg] = location.hash.split('/')
  for (const link of Array.from(document.querySelectorAll('nav a'))) {
    const target = link.getAttribute('href')?.split('/')[1] ?? ''
    if (target === page) link.setAttribute('aria-current', 'page')
    else link.removeAttribute('aria-current')
  }
  if (page === 'traffic') cleanup = traffic(view)
  else if (page === 'logs')
    cleanup = logs(view, arg === undefined ? undefined : decodeURIComponent(arg))
  else if (page === 'certificates') cleanup = certificates(view)
  else cleanup = overview(view)
}

/** @param {'connecting' | 'live' | 'retrying'} state */
function showConnection(state) {
  const el = byId('conn')
  el.dataset.state = state
  setText(el, state === 'live' ? 'Live' : state === 'retrying' ? 'Reconnecting…' : 'Connecting…')
  if (state === 'live') refresh('apps', 'routes', 'config', 'certificates').catch(() => undefined)
}

function showConfigStatus() {
  const el = byId('config-status')
  const config = model.config
  if (!config) return setText(el, '')
  const failed =
    config.lastError && Date.parse(config.lastError.at) > Date.parse(config.lastApplied.at)
  el.className = failed ? 'config bad' : 'config'
  setText(
    el,
    failed
      ? `Config error ${ago(config.lastError.at)}`
      : `Config applied ${ago(config.lastApplied.at)}`,
  )
  el.title = failed ? config.lastError.message : config.lastApplied.summary
}

async function reloadConfig() {
  const button = /** @type {HTMLButtonElement} */ (byId('reload-config'))
  button.disabled = true
  try {
    const result = await request('/config/reload', { method: 'POST', body: {} })
    notify(`Config reloaded${result?.summary ? `: ${result.summary}` : ''}`)
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      notify(
        'This Portico cannot reload its config on request; edits to the config file apply by themselves.',
        'error',
      )
    } else
      notify(
        `Config reload failed: ${error instanceof Error ? error.message : String(error)}`,
        'error',
      )
  } finally {
    button.disabled = false
    refresh('config').catch(() => undefined)
  }
}

let started = false

async function start() {
  byId('login').hidden = true
  byId('app').hidden = false
  await refresh('health', 'apps', 'routes', 'certificates', 'config')
  stream = new EventStream({ types: STREAM_TYPES, onEvent: applyEvent, onState: showConnection })
  if (started) return route()
  started = true
  subscribe((what) => {
    if (what === 'config') showConfigStatus()
  })
  showConfigStatus()
  setInterval(() => {
    showConfigStatus()
    refresh('certificates', 'config').catch(() => undefined)
  }, REFRESH_MS)
  window.addEventListener('hashchange', route)
  route()
}

/** @param {boolean} tokenRequired */
function showLogin(tokenRequired) {
  stream?.close()
  byId('app').hidden = true
  byId('login').hidden = false
  byId('logout').hidden = !tokenRequired
  byId('token').focus()
}

async function login(/** @type {SubmitEvent} */ event) {
  event.preventDefault()
  const input = /** @type {HTMLInputElement} */ (byId('token'))
  const message = byId('login-error')
  message.textContent = ''
  try {
    await request('/session', { method: 'POST', body: { token: input.value } })
    input.value = ''
    byId('logout').hidden = false
    await start()
  } catch (error) {
    message.textContent =
      error instanceof ApiError && error.status === 401
        ? 'That token is not right.'
        : `Could not log in: ${String(error)}`
    input.value = ''
    input.focus()
  }
}

async function logout() {
  await request('/session', { method: 'DELETE' }).catch(() => undefined)
  location.reload()
}

async function boot() {
  byId('login-form').addEventListener('submit', (event) => void login(event))
  byId('logout').addEventListener('click', () => void logout())
  byId('reload-config').addEventListener('click', () => void reloadConfig())
  onUnauthorized(() => showLogin(true))
  try {
    const session = await request('/session')
    byId('logout').hidden = !session.tokenRequired
    if (session.authenticated) await start()
    else showLogin(true)
  } catch (error) {
    byId('view').replaceChildren(
      h('p', { class: 'bad', text: `Portico did not answer: ${String(error)}` }),
    )
  }
}

void boot()
