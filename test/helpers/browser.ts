/** @module launchBrowser: Debian's headless Chromium driven by puppeteer-core (never a downloaded browser). */
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import puppeteer, { type Browser, type Page } from 'puppeteer-core'
import { isAlive } from './processes.ts'
import { waitFor } from './wait.ts'

/** Where Debian's `chromium` package puts the browser (`.ci/run` installs it). */
export const CHROMIUM = '/usr/bin/chromium'

/** A running browser. The caller must `close()` it (afterAll): that also checks its pid is gone. */
export interface RunningBrowser {
  browser: Browser
  /** newPage opens a page that records console errors, page errors and failed requests in `problems`. */
  newPage: () => Promise<Page>
  problems: string[]
  close: () => Promise<void>
}

/** launchBrowser starts headless Chromium with a temporary profile and no network of its own. */
export async function launchBrowser(): Promise<RunningBrowser> {
  const profile = await mkdtemp(path.join(os.tmpdir(), 'portico-chromium-'))
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--headless',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      `--user-data-dir=${profile}`,
    ],
  })
  const pid = browser.process()?.pid
  const problems: string[] = []
  return {
    browser,
    problems,
    newPage: async () => {
      const page = await browser.newPage()
      await page.setViewport({ width: 1360, height: 900 })
      page.on('console', (message) => {
        if (message.type() === 'error' || message.type() === 'warn')
          problems.push(
            `console ${message.type()}: ${message.text()} (${message.location().url ?? ''})`,
          )
      })
      page.on('pageerror', (error) => problems.push(`page error: ${String(error)}`))
      page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()}`))
      return page
    },
    close: async () => {
      await browser.close()
      if (pid !== undefined) await waitFor(() => !isAlive(pid), { timeoutMs: 10_000 })
      await rm(profile, { recursive: true, force: true })
    },
  }
}
