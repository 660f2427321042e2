/** @module `portico open`: print the dashboard's URL and open it in a browser. */
import { spawn } from 'node:child_process'
import type { ApiTarget } from './operator.ts'

/** How long `portico open` waits for the API to answer before saying nobody runs there, in ms. */
const PROBE_TIMEOUT_MS = 2_000

/** The command that opens a URL on this platform, with its leading arguments. */
export function openerFor(
  platform: NodeJS.Platform,
  env: Readonly<Record<string, string | undefined>>,
): string[] | undefined {
  // BROWSER is the common convention (xdg-open and many CLIs honour it); "none" opens nothing.
  if (env.BROWSER !== undefined && env.BROWSER !== '')
    return env.BROWSER === 'none' ? undefined : [env.BROWSER]
  if (platform === 'darwin') return ['open']
  if (platform === 'win32') return ['cmd', '/c', 'start', '""']
  return ['xdg-open']
}

/** The outcome of `portico open`, as the CLI prints it. */
export type OpenResult = { ok: true; text: string } | { ok: false; text: string; exitCode: number }

/**
 * openDashboard checks that a Portico answers at `target` (its `/api/v1/health`), prints the
 * dashboard URL and starts the platform's opener detached (`xdg-open`, `open`, or `$BROWSER`).
 * A missing opener is not an error: the URL is printed either way. With a token set, the page
 * asks for it once (a session cookie follows).
 */
export async function openDashboard(
  target: ApiTarget,
  env: Readonly<Record<string, string | undefined>> = process.env,
  platform: NodeJS.Platform = process.platform,
): Promise<OpenResult> {
  const url = `${target.base}/`
  try {
    const res = await fetch(`${target.base}/api/v1/health`, {
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
      headers: target.token ? { Authorization: `Bearer ${target.token}` } : {},
    })
    await res.body?.cancel()
  } catch {
    return {
      ok: false,
      exitCode: 1,
      text: `portico: no Portico answers at ${target.base} (start one with \`portico dev\`, or pass --api URL)`,
    }
  }
  const opener = openerFor(platform, env)
  let how = 'set BROWSER to choose a browser'
  if (opener !== undefined) {
    const [command, ...args] = opener as [string, ...string[]]
    how = await launch(command, [...args, url])
  }
  return { ok: true, text: `Dashboard: ${url}\n${how}` }
}

/** launch starts the opener detached and reports whether it could be started. */
function launch(command: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { detached: true, stdio: 'ignore' })
    child.once('error', () => resolve(`(could not run ${command}: open the URL yourself)`))
    child.once('spawn', () => {
      child.unref()
      resolve(`opened with ${command}`)
    })
  })
}
