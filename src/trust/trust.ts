/** @module portico trust | trust --check | untrust: the dev CA put into (or taken out of) every store this user's browsers and tools read. */
import os from 'node:os'
import { loadUserDevCa } from '../proxy/tls/ca-dir.ts'
import { nssStores } from './nss-store.ts'
import { readTrustedCa, type TrustedCa, type TrustStore } from './store.ts'
import { systemStore } from './system-store.ts'

/** What the command does. */
export type TrustAction = 'trust' | 'check' | 'untrust'

/** What runTrust reports: lines to print and the exit code. */
export interface TrustReport {
  lines: string[]
  /** 0 when every available store ends as asked (trust, check: trusted; untrust: not trusted). */
  exitCode: number
}

/** Options of runTrust. */
export interface TrustOptions {
  /** The user's dev CA folder (settings: PORTICO_CA_DIR or the XDG data folder). */
  caDir: string
  /** Another CA certificate to act on instead (`--ca FILE`: an old certs/dev-ca.crt, say). */
  caFile?: string | undefined
  env?: Readonly<Record<string, string | undefined>>
  /** The stores to use; default: the system store and the NSS databases of $HOME. */
  stores?: TrustStore[]
}

/**
 * runTrust applies `action` to every store, one line per store saying what happened (done,
 * already, skipped and why, failed and how to do it by hand). `trust` makes the user's CA if
 * there is none yet, so it may run before the first `portico dev`. Every action is idempotent.
 * Stores that do not exist here (no Firefox profile, no certutil) are skipped and do not count.
 */
export async function runTrust(action: TrustAction, options: TrustOptions): Promise<TrustReport> {
  const env = options.env ?? process.env
  const certPath = options.caFile ?? (await loadUserDevCa({ caDir: options.caDir })).certPath
  const ca = await readTrustedCa(certPath)
  const stores = options.stores ?? (await defaultStores(env))
  const lines = [`dev CA ${ca.certPath}`, `  SHA-256 ${ca.fingerprint256}`]
  let failed = 0
  for (const store of stores) {
    const { line, ok } = await applyTo(store, action, ca)
    lines.push(`  ${store.name}: ${line}`)
    if (!ok) failed++
  }
  if (stores.length === 0) lines.push('  no trust store found on this machine')
  lines.push(summary(action, failed))
  return { lines, exitCode: failed === 0 ? 0 : 1 }
}

/** The system store (if one is installed) and the NSS databases of $HOME. */
export async function defaultStores(
  env: Readonly<Record<string, string | undefined>>,
): Promise<TrustStore[]> {
  const system = await systemStore(env)
  const home = env.HOME || os.homedir()
  return [...(system ? [system] : []), ...(await nssStores(home))]
}

async function applyTo(
  store: TrustStore,
  action: TrustAction,
  ca: TrustedCa,
): Promise<{ line: string; ok: boolean }> {
  const available = await store.available()
  if (!available.ok) return { line: `skipped (${available.why})`, ok: true }
  if (action === 'check') {
    const trusted = await store.isTrusted(ca)
    return { line: trusted ? 'trusted' : 'not trusted', ok: trusted }
  }
  const outcome = action === 'trust' ? await store.install(ca) : await store.remove(ca)
  switch (outcome.status) {
    case 'done':
      return { line: action === 'trust' ? 'installed' : 'removed', ok: true }
    case 'already':
      return {
        line: action === 'trust' ? 'already trusted' : 'not trusted (nothing to remove)',
        ok: true,
      }
    case 'failed':
      return { line: `FAILED: ${outcome.detail}`, ok: false }
  }
}

function summary(action: TrustAction, failed: number): string {
  if (failed > 0)
    return `${failed} store(s) not ${action === 'untrust' ? 'cleaned' : 'trusting it'}: see above`
  if (action === 'untrust') return 'no store trusts it any more'
  return action === 'trust'
    ? 'trusted: browsers started from now on accept https://<name>.localhost (restart open ones)'
    : 'trusted by every store found'
}
