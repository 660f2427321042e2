// @ts-check
/** @module certificates: served certificates with source and expiry; the config and history status. */
import { h } from './dom.js'
import { ago } from './format.js'
import { model, subscribe } from './model.js'

const DAY_MS = 24 * 60 * 60 * 1000

/** @param {any} cert */
function certRow(cert) {
  const leftMs = Date.parse(cert.validTo) - Date.now()
  const days = Math.floor(leftMs / DAY_MS)
  const expiry = leftMs < 0 ? 'expired' : `${days} day${days === 1 ? '' : 's'} left`
  const level = leftMs < 0 ? 'bad' : cert.expiresSoon || days < 14 ? 'warn' : 'good'
  return h(
    'tr',
    { 'data-domain': cert.domain },
    h('td', { text: cert.domain }),
    h('td', { text: cert.source }),
    h('td', { text: cert.issuer }),
    h('td', { text: new Date(cert.validTo).toLocaleString() }),
    h('td', {}, h('span', { class: `pill ${level}`, text: expiry })),
    h('td', { class: 'mono', text: cert.serialNumber }),
  )
}

function configPanel() {
  const config = model.config
  const history = model.history
  const items = []
  if (config) {
    items.push(
      ['Config file', config.file],
      ['Last applied', `${ago(config.lastApplied.at)} — ${config.lastApplied.summary}`],
    )
    items.push([
      'Last error',
      config.lastError ? `${ago(config.lastError.at)} — ${config.lastError.message}` : 'none',
    ])
  }
  if (history) {
    const where =
      history.storage === 'file' ? history.file : 'memory only (the file could not be used)'
    items.push([
      'Metrics history',
      `${where}, kept ${Math.round(history.retentionMs / DAY_MS)} days`,
    ])
    if (history.problem)
      items.push(['History problem', `${history.problem.kind}: ${history.problem.message}`])
    if (history.setAside) items.push(['Set aside', history.setAside])
  } else items.push(['Metrics history', 'off'])
  return h(
    'dl',
    { class: 'facts' },
    ...items.map(([k, v]) => h('div', {}, h('dt', { text: k }), h('dd', { text: v }))),
  )
}

/**
 * certificates renders the certificates and status page into `root`; returns its cleanup.
 * @param {HTMLElement} root
 */
export function certificates(root) {
  const table = h('tbody')
  const status = h('div')
  root.append(
    h('h1', { text: 'Certificates and status' }),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'certs-heading' },
      h('h2', { id: 'certs-heading', text: 'Certificates' }),
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          {},
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ...['Domain', 'Source', 'Issuer', 'Expires', 'Validity', 'Serial'].map((t) =>
                h('th', { scope: 'col', text: t }),
              ),
            ),
          ),
          table,
        ),
      ),
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'status-heading' },
      h('h2', { id: 'status-heading', text: 'Configuration' }),
      status,
    ),
  )
  const render = () => {
    const certs = [...model.certificates].sort((a, b) => a.domain.localeCompare(b.domain))
    table.replaceChildren(...certs.map(certRow))
    if (certs.length === 0)
      table.append(
        h(
          'tr',
          {},
          h('td', {
            colspan: '6',
            class: 'muted',
            text: 'No certificates yet: dev certificates are issued on the first visit of each host.',
          }),
        ),
      )
    status.replaceChildren(configPanel())
  }
  render()
  return subscribe((what) => {
    if (what === 'certificates' || what === 'config') render()
  })
}
