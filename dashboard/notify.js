// @ts-check
/** @module notify: short messages in a polite live region (what an action did, or why it failed). */
import { h } from './dom.js'

const SHOW_MS = 6000

/**
 * notify shows a message for a few seconds; `error` ones stay until dismissed.
 * @param {string} message
 * @param {'ok' | 'error'} [kind]
 */
export function notify(message, kind = 'ok') {
  const box = document.getElementById('toasts')
  if (box === null) return
  const item = h('div', { class: `toast ${kind}` }, h('span', { text: message }))
  const dismiss = h('button', {
    class: 'quiet',
    type: 'button',
    'aria-label': 'Dismiss',
    text: '×',
  })
  dismiss.addEventListener('click', () => item.remove())
  item.append(dismiss)
  box.append(item)
  if (kind === 'ok') setTimeout(() => item.remove(), SHOW_MS)
}
