// Issue 18: the dashboard in a real browser (Debian's Chromium through puppeteer-core) against the
// real bin with real apps: it renders, stays live through a rolling reload, shows app output,
// draws charts that grow, guards itself with a login form when a token is set, logs no console
// error and passes an axe-core scan.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import type { Page } from 'puppeteer-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchBrowser, type RunningBrowser } from '../helpers/browser.ts'
import { request } from '../helpers/http.ts'
import { ROOT, type RunningPortico, startPortico } from '../helpers/portico.ts'
import { descendants, isAlive } from '../helpers/processes.ts'
import { waitFor } from '../helpers/wait.ts'

const CONFIG = path.join(ROOT, 'test/fixtures/dashboard.config.ts')
const AXE_SOURCE = readFileSync(
  createRequire(import.meta.url).resolve('axe-core/axe.min.js'),
  'utf8',
)
const TOKEN = 'dashboard-test-token-0123456789'

interface AppView {
  name: string
  instances: { id: string; pid: number | null; state: string }[]
}

/** trackPids collects every app process (and child) of a running Portico. */
async function trackPids(portico: RunningPortico, into: Set<number>, token?: string) {
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {}
  const { body } = await portico.api<AppView[]>('/apps', { headers })
  for (const app of body) {
    for (const i of app.instances) {
      if (i.pid === null) continue
      into.add(i.pid)
      for (const child of descendants(i.pid)) into.add(child)
    }
  }
}

/** stopAll stops Portico by its pid and checks that no app process it ran survives. */
async function stopAll(portico: RunningPortico | undefined, pids: Set<number>, token?: string) {
  if (portico === undefined || portico.child.exitCode !== null) return
  await trackPids(portico, pids, token).catch(() => undefined)
  portico.child.kill('SIGINT')
  await portico.exited
  await waitFor(() => [...pids].every((pid) => !isAlive(pid)), {
    timeoutMs: 15_000,
    message: 'app processes survived Portico',
  })
}

/** axeScan runs axe-core in the page and returns its serious and critical violations. */
async function axeScan(page: Page): Promise<string[]> {
  // DevTools evaluation is not subject to the page's CSP, so the page keeps its strict policy.
  await page.evaluate(AXE_SOURCE)
  const violations = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as {
        axe: {
          run: () => Promise<{
            violations: { id: string; impact: string; nodes: { target: unknown }[] }[]
          }>
        }
      }
    ).axe
    const result = await axe.run()
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      targets: v.nodes.map((n) => JSON.stringify(n.target)),
    }))
  })
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.targets.join(' ')}`)
}

const instanceState = (page: Page, id: string) =>
  page.$eval(`tr[data-instance="${id}"] .c-state`, (el) => el.textContent ?? '').catch(() => '')

describe('dashboard in a browser (no token)', () => {
  let portico: RunningPortico
  let chrome: RunningBrowser
  let page: Page
  let ca: string
  const pids = new Set<number>()
  const dashboard = () => `http://127.0.0.1:${portico.ports.api}/`
  const hit = (urlPath: string) =>
    request({ port: portico.ports.https, host: 'web.localhost', path: urlPath, ca })

  beforeAll(async () => {
    portico = await startPortico({ config: CONFIG })
    ca = readFileSync(path.join(portico.certsDir, 'dev-ca.crt'), 'utf8')
    await waitFor(
      async () => {
        const { body } = await portico.api<AppView[]>('/apps')
        return body.every((a) => a.instances.every((i) => i.state === 'healthy'))
      },
      { timeoutMs: 30_000, message: 'apps did not become healthy' },
    )
    await trackPids(portico, pids)
    chrome = await launchBrowser()
    page = await chrome.newPage()
    await page.goto(dashboard())
  })

  afterAll(async () => {
    await chrome?.close()
    await stopAll(portico, pids)
  })

  it('serves a text/html page that lists every app and instance as text', async () => {
    const res = await fetch(dashboard())
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
    await page.waitForSelector('article[data-app="web"] tr[data-instance="web#1"]')
    const { body } = await portico.api<AppView>('/apps/web')
    for (const inst of body.instances) {
      const row = `tr[data-instance="${inst.id}"]`
      expect(await page.$eval(`${row} .c-pid`, (el) => el.textContent)).toBe(String(inst.pid))
      expect(await instanceState(page, inst.id)).toBe('healthy')
    }
    const appNames = await page.$$eval('article[data-app] h3', (els) =>
      els.map((e) => e.textContent),
    )
    expect(appNames).toEqual(['web', 'py'])
    await page.waitForFunction(
      () =>
        document.querySelector('tr[data-instance="web#0"] .c-memory')?.textContent?.endsWith('MB'),
      { timeout: 10_000 },
    )
  })

  it('shows a rolling reload live: states change and new pids appear without a page reload', async () => {
    const before = (await portico.api<AppView>('/apps/web')).body.instances.map((i) => i.pid)
    await page.evaluate(() => {
      const w = window as unknown as { seen: string[]; marker: boolean }
      w.marker = true
      w.seen = []
      new MutationObserver(() => {
        for (const el of document.querySelectorAll('article[data-app="web"] .c-state'))
          w.seen.push(el.textContent ?? '')
      }).observe(document.body, { subtree: true, childList: true, characterData: true })
    })
    await page.click('article[data-app="web"] button[data-action="reload"]')
    await page.waitForFunction(
      (old: (number | null)[]) => {
        const rows = [...document.querySelectorAll('article[data-app="web"] tbody tr')]
        const pids = rows.map((r) => Number(r.querySelector('.c-pid')?.textContent))
        const states = rows.map((r) => r.querySelector('.c-state')?.textContent)
        return (
          rows.length === 2 &&
          states.every((s) => s === 'healthy') &&
          pids.every((p) => !old.includes(p))
        )
      },
      { timeout: 60_000 },
      before,
    )
    const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen)
    expect(seen).toContain('starting')
    expect(seen.some((s) => s === 'draining' || s === 'stopped')).toBe(true)
    expect(await page.evaluate(() => (window as unknown as { marker?: boolean }).marker)).toBe(true)
    await trackPids(portico, pids)
  })

  it('shows a line an app printed in its log view, reached from the app name, stderr marked', async () => {
    await page.click('article[data-app="web"] h3 a')
    await page.waitForSelector('#log-lines')
    expect(await page.$eval('#view h1', (el) => el.textContent)).toBe('Logs of web')
    const mark = `dash-${Date.now()}`
    await hit(`/${mark}`)
    await hit(`/warn-${mark}`)
    await page.waitForFunction(
      (m: string) =>
        document.querySelector('#log-lines')?.textContent?.includes(`served GET /${m}`),
      { timeout: 15_000 },
      mark,
    )
    const errLine = await page.waitForSelector(
      `xpath///li[contains(., "warning while serving /warn-${mark}")]`,
    )
    expect(await errLine?.evaluate((el) => el.className)).toContain('err')
    expect(await errLine?.evaluate((el) => el.querySelector('.stream')?.textContent)).toBe('stderr')
    await page.type('#log-filter', `warn-${mark}`)
    const visible = await page.$$eval('#log-lines li:not([hidden])', (els) =>
      els.map((e) => e.textContent ?? ''),
    )
    expect(visible.length).toBeGreaterThan(0)
    expect(visible.every((t) => t.includes(`warn-${mark}`))).toBe(true)
  })

  it('draws traffic charts that gain points as samples arrive', async () => {
    await page.goto(`${dashboard()}#/traffic`)
    const chart = 'section[data-series="web.localhost"] svg.chart'
    await page.waitForSelector(chart)
    const points = () => page.$eval(chart, (el) => Number(el.getAttribute('data-points')))
    const first = await points()
    for (let i = 0; i < 20; i++) await hit(`/load-${i}`)
    await waitFor(async () => (await points()) >= first + 2, {
      timeoutMs: 15_000,
      message: 'the chart did not grow',
    })
    const label = await page.$eval(chart, (el) => el.getAttribute('aria-label'))
    expect(label).toMatch(/^Requests per second: req\/s /)
    await page.click('.toolbar button:nth-child(2)')
    await page.waitForFunction(
      `Number(document.querySelector('${chart}')?.getAttribute('data-points')) > 0`,
      { timeout: 10_000 },
    )
  })

  it('has no serious accessibility violations (axe-core) on each page', async () => {
    for (const hash of ['#/', '#/traffic', '#/logs/web', '#/certificates']) {
      await page.goto(`${dashboard()}${hash}`)
      await page.waitForSelector('#view > *')
      await new Promise((resolve) =>
        page.waitForNetworkIdle({ idleTime: 300 }).then(resolve, resolve),
      )
      expect(await axeScan(page), hash).toEqual([])
    }
  })

  it('says why a config reload is unavailable instead of failing silently', async () => {
    await page.goto(dashboard())
    await page.waitForSelector('article[data-app="web"]')
    await page.click('#reload-config')
    const toast = await page.waitForSelector('.toast')
    expect(await toast?.evaluate((el) => el.textContent)).toMatch(/config/i)
  })

  it('logged no console error, CSP violation or failed request', () => {
    // A 404 from the optional config reload endpoint is expected (another part adds it).
    const problems = chrome.problems.filter((p) => !p.includes('/api/v1/config/reload'))
    expect(problems).toEqual([])
  })
})

describe('dashboard login (token set)', () => {
  let portico: RunningPortico
  let chrome: RunningBrowser
  const pids = new Set<number>()

  beforeAll(async () => {
    portico = await startPortico({ config: CONFIG, env: { PORTICO_API_TOKEN: TOKEN } })
    chrome = await launchBrowser()
  })

  afterAll(async () => {
    await chrome?.close()
    await stopAll(portico, pids, TOKEN)
  })

  it('shows only a login form until the right token is given, then the dashboard', async () => {
    const page = await chrome.newPage()
    await page.goto(`http://127.0.0.1:${portico.ports.api}/`)
    await page.waitForSelector('#login:not([hidden])')
    expect(await page.$('article[data-app]')).toBeNull()
    expect(await axeScan(page)).toEqual([])
    await page.type('#token', 'not-the-token')
    await page.click('#login-form button[type="submit"]')
    await page.waitForFunction(
      "document.querySelector('#login-error')?.textContent?.includes('not right')",
    )
    expect(await page.$('article[data-app]')).toBeNull()
    await page.type('#token', TOKEN)
    await page.click('#login-form button[type="submit"]')
    await page.waitForSelector('article[data-app="web"] tr[data-instance="web#0"]', {
      timeout: 15_000,
    })
    const cookie = (await page.cookies()).find((c) => c.name === 'portico_session')
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' })
    // The session survives a reload; the API without it still says 401.
    await page.reload()
    await page.waitForSelector('article[data-app="web"]', { timeout: 15_000 })
    expect((await portico.api('/apps')).status).toBe(401)
    await page.click('#logout')
    await page.waitForSelector('#login:not([hidden])')
    const failures = chrome.problems.filter((p) => !p.includes('401'))
    expect(failures).toEqual([])
  })
})
