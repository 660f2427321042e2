// Takes the README's dashboard screenshots: runs the real bin on the shipped apps.config.ts (as
// `npm run dev` does, with free ports and a temporary state dir), sends it a minute of varied
// traffic, and photographs each page with Debian's Chromium. Run: node --import tsx scripts/screenshots.ts
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { launchBrowser } from '../test/helpers/browser.ts'
import { request } from '../test/helpers/http.ts'
import { ROOT, startPortico } from '../test/helpers/portico.ts'
import { waitFor } from '../test/helpers/wait.ts'

const OUT = path.join(ROOT, 'docs')
const TRAFFIC_MS = 70_000

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'portico-shots-'))
  const portico = await startPortico({
    config: path.join(ROOT, 'apps.config.ts'),
    env: {
      PORTICO_STATE_DIR: path.join(dir, 'state'),
      PORTICO_CERTS_DIR: path.join(dir, 'certs'),
      PORTICO_CA_DIR: path.join(dir, 'ca'),
      PORTICO_LOG_LEVEL: 'warn',
    },
  })
  const chrome = await launchBrowser()
  try {
    const ca = readFileSync(path.join(dir, 'certs', 'dev-ca.crt'), 'utf8')
    await waitFor(
      async () => {
        const { body } = await portico.api<{ instances: { state: string }[] }[]>('/apps')
        return body.every((a) => a.instances.every((i) => i.state === 'healthy'))
      },
      { timeoutMs: 30_000 },
    )
    const page = await chrome.newPage()
    await page.setViewport({ width: 1360, height: 860, deviceScaleFactor: 1 })
    const base = `http://127.0.0.1:${portico.ports.api}/`
    await page.goto(base)
    // A wave of traffic: the web app steadily, the API in bursts, a few 404s from a missing path.
    const until = Date.now() + TRAFFIC_MS
    let n = 0
    while (Date.now() < until) {
      const wave = 4 + Math.round(3 * Math.sin(n / 15))
      const calls = Array.from({ length: wave }, (_, i) =>
        request({
          port: portico.ports.https,
          host: i % 3 ? 'web.localhost' : 'api.localhost',
          path: `/page/${n}-${i}`,
          ca,
        }),
      )
      await Promise.all(calls)
      await new Promise((resolve) => setTimeout(resolve, 120))
      n++
    }
    // Same page all along (hash changes only), so the live charts keep the whole minute.
    await page.waitForSelector('tr[data-instance="web#1"]')
    await page.screenshot({ path: path.join(OUT, 'dashboard-overview.png') })
    const show = (hash: string) =>
      page.evaluate((h) => {
        location.hash = h
      }, hash)
    await show('#/traffic')
    await new Promise((resolve) => setTimeout(resolve, 2500))
    await page.screenshot({ path: path.join(OUT, 'dashboard-traffic.png') })
    await show('#/logs/api')
    await page.waitForSelector('#log-lines li')
    await new Promise((resolve) => setTimeout(resolve, 1000))
    await page.screenshot({ path: path.join(OUT, 'dashboard-logs.png') })
  } finally {
    await chrome.close()
    portico.child.kill('SIGINT')
    await portico.exited
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
