// @ts-check
/** @module dom: build and update DOM nodes. Text always goes in as text (textContent / text nodes), never as HTML. */

/**
 * @typedef {string | number | Node | null | undefined | false} Child
 * @typedef {Record<string, unknown>} Props
 */

/**
 * h creates an element. Props: `class`, `text` (textContent), `on<event>` (a listener), `hidden`,
 * booleans as present/absent attributes, anything else as an attribute (set with setAttribute,
 * so a value is never parsed as markup).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Props} [props]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(props)) setProp(el, key, value)
  append(el, children)
  return el
}

/**
 * @param {Element} el
 * @param {string} key
 * @param {unknown} value
 */
function setProp(el, key, value) {
  if (value === undefined || value === null || value === false) return
  if (key === 'class') el.setAttribute('class', String(value))
  else if (key === 'text') el.textContent = String(value)
  else if (key.startsWith('on') && typeof value === 'function')
    el.addEventListener(key.slice(2), /** @type {EventListener} */ (value))
  else el.setAttribute(key, value === true ? '' : String(value))
}

/**
 * append adds children: strings and numbers become text nodes.
 * @param {Element} el
 * @param {Child[]} children
 */
export function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    el.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
}

const SVG_NS = 'http://www.w3.org/2000/svg'

/**
 * svg creates an SVG element with attributes.
 * @param {string} tag
 * @param {Record<string, string | number>} [attrs]
 * @param {...(Node | string)} children
 * @returns {SVGElement}
 */
export function svg(tag, attrs = {}, ...children) {
  const el = /** @type {SVGElement} */ (document.createElementNS(SVG_NS, tag))
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value))
  for (const child of children) el.append(child)
  return el
}

/**
 * setText changes an element's text only when it differs (no needless layout work).
 * @param {Element} el
 * @param {string} text
 */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text
}

/**
 * keyed makes `container`'s children match `items` in order, keeping the element of each key
 * (so focus, an input being typed in and scroll positions survive an update): new keys are
 * created, gone keys (and unkeyed nodes) removed, every kept element updated in place.
 * @template T
 * @param {Element} container
 * @param {readonly T[]} items
 * @param {(item: T) => string} keyOf
 * @param {(item: T) => HTMLElement} create
 * @param {(el: HTMLElement, item: T) => void} update
 */
export function keyed(container, items, keyOf, create, update) {
  /** @type {Map<string, HTMLElement>} */
  const existing = new Map()
  for (const child of Array.from(container.childNodes)) {
    if (child instanceof HTMLElement && child.dataset.key !== undefined)
      existing.set(child.dataset.key, child)
    else child.remove()
  }
  /** @type {ChildNode | null} */
  let cursor = container.firstChild
  for (const item of items) {
    const key = keyOf(item)
    let el = existing.get(key)
    if (el === undefined) {
      el = create(item)
      el.dataset.key = key
    } else existing.delete(key)
    update(el, item)
    if (el !== cursor) container.insertBefore(el, cursor)
    cursor = el.nextSibling
  }
  for (const el of existing.values()) el.remove()
}

/**
 * Per-element references to the parts an update changes.
 * @type {WeakMap<Element, Record<string, HTMLElement>>}
 */
const refMap = new WeakMap()

/**
 * refs stores or reads the named parts of an element built once and updated often.
 * @param {Element} el
 * @param {Record<string, HTMLElement>} [parts]
 * @returns {Record<string, HTMLElement>}
 */
export function refs(el, parts) {
  if (parts !== undefined) refMap.set(el, parts)
  return refMap.get(el) ?? {}
}
