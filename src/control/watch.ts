/** @module watchConfig: live edits of the config file and certs/ applied to a running Portico. */
import { watchFiles } from '../config/watch.ts'
import type { EventBus } from '../observe/events.ts'
import type { Logger } from '../observe/log.ts'
import { type CertStore, daysLeft, expiresSoon } from '../proxy/tls/cert-store.ts'

/** What watchConfig needs. */
export interface WatchConfigOptions {
  configPath: string
  certsDir: string
  /** Re-reads, checks and applies the config file (createConfigReloader); throws when refused. */
  reloader: { reload: () => Promise<unknown> }
  certs: CertStore
  events: EventBus
  log: Logger
}

/**
 * watchConfig watches the config file (and its local imports) and certs/: a saved config is
 * loaded and applied (a bad one is logged and the running state kept), changed certificates are
 * reloaded (the last good pair kept) and near-expiry ones warned about. Resolves with the
 * function that stops watching.
 */
export function watchConfig(options: WatchConfigOptions): Promise<() => Promise<void>> {
  const { reloader, certs, events, log } = options
  return watchFiles({
    configPath: options.configPath,
    certsDir: options.certsDir,
    onChange: (kind) =>
      kind === 'certs' ? reloadCerts(certs, log) : reloadConfig(reloader, events, log),
  })
}

/** reloadConfig loads the edited config file and applies it; a bad edit is logged and ignored. */
async function reloadConfig(
  reloader: WatchConfigOptions['reloader'],
  events: EventBus,
  log: Logger,
): Promise<void> {
  try {
    await reloader.reload()
  } catch (err) {
    // The running state stays as it was; fixing the file applies it.
    const message = err instanceof Error ? err.message : String(err)
    events.emit('config:failed', { error: message, code: (err as { code?: string }).code ?? null })
    log.error(
      { code: (err as { code?: string }).code },
      `config not applied, still running the previous one: ${message}`,
    )
  }
}

/** reloadCerts re-reads certs/ (last good pair kept) and warns about certificates near expiry. */
async function reloadCerts(certs: CertStore, log: Logger): Promise<void> {
  try {
    await certs.load()
  } catch (err) {
    log.error({ err }, 'certificates folder could not be read; serving the previous certificates')
  }
  warnExpiring(certs, log)
}

/** warnExpiring logs one warning per user certificate that expires soon (`expiresSoon`). */
export function warnExpiring(certs: CertStore, log: Logger, now = Date.now()): void {
  for (const cert of certs.list()) {
    if (cert.source === 'dev' || !expiresSoon(cert, now)) continue
    log.warn(
      { domain: cert.domain, validTo: cert.validTo },
      `certificate for ${cert.domain} expires in ${daysLeft(cert, now)} day(s)`,
    )
  }
}
