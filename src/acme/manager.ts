/**
 * @module AcmeManager: the certificate lifecycle of every ACME-managed hostname: load from disk,
 * order, install live, renew, back off, and let a first visitor wait for a new site's certificate.
 */
import { X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { ACME_HANDSHAKE_WAIT_MS, ACME_MAX_CONCURRENT_ORDERS } from '../config/defaults.ts'
import type { AcmeSettings } from '../config/settings.ts'
import { PorticoError } from '../errors.ts'
import type { EventBus } from '../observe/events.ts'
import type { Logger } from '../observe/log.ts'
import type { CertStore } from '../proxy/tls/cert-store.ts'
import type { KeyPair } from '../proxy/tls/dev-ca.ts'
import { ChallengeStore } from './challenges.ts'
import { AcmeFiles } from './files.ts'
import { type ChallengeType, configureAcmeHttp, Issuer, type OrderFailure } from './issuer.ts'
import { tryLock } from './lock.ts'
import { nextRenewalMs, retryDelayMs, type Validity } from './schedule.ts'

/** One managed name as `GET /api/v1/certificates` shows it. */
export interface AcmeStatus {
  domain: string
  /** `valid`: a certificate is installed; `pending`: none yet; `failed`: none and the last order failed. */
  state: 'valid' | 'pending' | 'failed'
  /** When the next order (renewal or retry) is due, ISO 8601. */
  nextRenewal: string
  lastError: string | null
  /** Failed orders in a row. */
  failures: number
}

/** Options of AcmeManager.create. */
export interface AcmeManagerOptions {
  settings: AcmeSettings
  stateDir: string
  certs: Pick<CertStore, 'setManaged' | 'removeManaged' | 'awaitIssuance'>
  events: EventBus
  log: Logger
  now?: () => number
  random?: () => number
  /** How soon to look again while another process holds a name's lock; default 30 s. */
  lockRetryMs?: number
}

interface Managed {
  domain: string
  validity: (Validity & { serialNumber: string }) | undefined
  /** Set when this process obtained the installed certificate. */
  obtainedAtMs: number | undefined
  nextAttemptMs: number
  failures: number
  lastError: string | undefined
  timer: NodeJS.Timeout | undefined
  /** Queued or running. */
  busy: boolean
  /** Handshakes waiting for this name's first certificate. */
  waiters: Set<() => void>
}

/** A timer never waits longer than this; a later due time is re-checked then (setTimeout's limit is ~24.8 days). */
const MAX_TIMER_MS = 24 * 60 * 60_000
/** How soon to look again while another Portico holds a name's lock. */
const LOCK_RETRY_MS = 30_000
/** Handshakes that may wait for one name at once; later ones get the fallback at once. */
const MAX_WAITERS = 1_000

/**
 * AcmeManager keeps a certificate for each name given to `manage()`. Certificates live under
 * the state dir (AcmeFiles) and are reused across restarts; a missing or due one is ordered
 * (at most ACME_MAX_CONCURRENT_ORDERS at once, one per name, never while another process holds
 * the name's lock), installed in the CertStore (which tells the edge workers) and renewed once
 * `renewalWindowRatio` of its lifetime is left. A failed order keeps the installed certificate
 * and is retried with jittered exponential back-off that honours Retry-After. Each outcome is a
 * `cert:issued` / `cert:failed` event and a log line.
 */
export class AcmeManager {
  /** The pending challenges, for the edge (main process) and the workers' relay. */
  readonly challenges: ChallengeStore
  readonly #o: AcmeManagerOptions
  readonly #files: AcmeFiles
  readonly #issuer: Issuer
  readonly #now: () => number
  readonly #random: () => number
  #names = new Map<string, Managed>()
  #queue: Managed[] = []
  #running = 0
  #started = false
  #closed = false
  #managing: Promise<void> = Promise.resolve()

  private constructor(options: AcmeManagerOptions, files: AcmeFiles) {
    this.#o = options
    this.#files = files
    this.#now = options.now ?? Date.now
    this.#random = options.random ?? Math.random
    this.challenges = new ChallengeStore(options.settings.challenges)
    this.#issuer = new Issuer({
      directoryUrl: options.settings.directoryUrl,
      email: options.settings.email,
      files,
      challenges: this.challenges,
      log: options.log,
    })
    options.certs.awaitIssuance((name) => this.#awaitFirst(name))
  }

  /** create prepares the state folders and the ACME HTTP client (reads `caBundle`). */
  static async create(options: AcmeManagerOptions): Promise<AcmeManager> {
    const { caBundleFile, directoryUrl } = options.settings
    configureAcmeHttp(caBundleFile === undefined ? undefined : await readFile(caBundleFile, 'utf8'))
    const files = new AcmeFiles(options.stateDir, directoryUrl)
    await files.prepare()
    options.log.info({ directory: directoryUrl, folder: files.root }, 'ACME enabled')
    return new AcmeManager(options, files)
  }

  /**
   * manage sets the names to keep certificates for: a new name's stored certificate is loaded
   * and installed (before this resolves), a name no longer listed is dropped (its files stay for
   * a later return). Calls run one after another. Once `start()` ran, due names are ordered.
   */
  manage(names: Iterable<string>): Promise<void> {
    const wanted = new Set(names)
    const run = this.#managing.then(() => this.#reconcile(wanted))
    this.#managing = run.catch(() => undefined)
    return run
  }

  /** start begins ordering and renewing (the edge must be listening for the challenges). */
  start(): void {
    this.#started = true
    for (const entry of this.#names.values()) this.#schedule(entry)
  }

  /** list returns every managed name's state, sorted by name. */
  list(): AcmeStatus[] {
    return [...this.#names.values()]
      .sort((a, b) => a.domain.localeCompare(b.domain))
      .map((entry) => ({
        domain: entry.domain,
        state: entry.validity ? 'valid' : entry.failures > 0 ? 'failed' : 'pending',
        nextRenewal: new Date(entry.nextAttemptMs).toISOString(),
        lastError: entry.lastError ?? null,
        failures: entry.failures,
      }))
  }

  /** close stops every timer; an order already running finishes but installs nothing. */
  close(): void {
    this.#closed = true
    for (const entry of this.#names.values()) {
      clearTimeout(entry.timer)
      this.#release(entry)
    }
  }

  async #reconcile(wanted: Set<string>): Promise<void> {
    for (const [domain, entry] of this.#names) {
      if (wanted.has(domain)) continue
      clearTimeout(entry.timer)
      this.#release(entry)
      this.#names.delete(domain)
      this.#o.certs.removeManaged(domain)
    }
    for (const domain of wanted) {
      if (this.#names.has(domain)) continue
      const entry: Managed = {
        domain,
        validity: undefined,
        obtainedAtMs: undefined,
        nextAttemptMs: this.#now(),
        failures: 0,
        lastError: undefined,
        timer: undefined,
        busy: false,
        waiters: new Set(),
      }
      this.#names.set(domain, entry)
      await this.#loadStored(entry)
      if (this.#started) this.#schedule(entry)
    }
  }

  /** loadStored installs the name's certificate from disk when it is usable and new to us. */
  async #loadStored(entry: Managed): Promise<void> {
    let pair: KeyPair | undefined
    try {
      pair = await this.#files.readCertificate(entry.domain)
    } catch (err) {
      this.#o.log.warn({ err, domain: entry.domain }, 'stored certificate unreadable')
    }
    if (pair === undefined) return
    let cert: X509Certificate
    try {
      cert = new X509Certificate(pair.certPem)
      if (cert.serialNumber === entry.validity?.serialNumber) return
      this.#o.certs.setManaged(entry.domain, pair)
    } catch (err) {
      const { certFile } = this.#files.certificateFiles(entry.domain)
      const reason = (err as Error).message
      this.#o.log.warn(
        { domain: entry.domain, file: certFile },
        `stored certificate unusable: ${reason}; ordering a new one`,
      )
      return
    }
    entry.validity = validityOf(cert)
    entry.nextAttemptMs = nextRenewalMs(entry.validity, this.#ratio(), entry.obtainedAtMs)
    this.#o.log.info(
      {
        domain: entry.domain,
        validTo: cert.validTo,
        renewAt: new Date(entry.nextAttemptMs).toISOString(),
      },
      'ACME certificate loaded',
    )
    this.#release(entry)
  }

  #ratio(): number {
    return this.#o.settings.renewalWindowRatio
  }

  #schedule(entry: Managed): void {
    clearTimeout(entry.timer)
    entry.timer = undefined
    if (this.#closed || entry.busy || this.#names.get(entry.domain) !== entry) return
    const delayMs = entry.nextAttemptMs - this.#now()
    if (delayMs <= 0) {
      this.#enqueue(entry)
      return
    }
    entry.timer = setTimeout(() => this.#schedule(entry), Math.min(delayMs, MAX_TIMER_MS))
    entry.timer.unref()
  }

  #enqueue(entry: Managed): void {
    entry.busy = true
    this.#queue.push(entry)
    this.#drain()
  }

  #drain(): void {
    while (this.#running < ACME_MAX_CONCURRENT_ORDERS && this.#queue.length > 0) {
      const entry = this.#queue.shift() as Managed
      this.#running++
      void this.#attempt(entry).finally(() => {
        this.#running--
        entry.busy = false
        this.#schedule(entry)
        this.#drain()
      })
    }
  }

  async #attempt(entry: Managed): Promise<void> {
    if (this.#closed || this.#names.get(entry.domain) !== entry) return
    const release = await tryLock(this.#files.locks, entry.domain).catch((err: unknown) => {
      this.#o.log.warn({ err, domain: entry.domain }, 'ACME lock unavailable')
      return undefined
    })
    // Another Portico on this state dir may just have obtained it: look on disk first.
    await this.#loadStored(entry)
    if (release === undefined) {
      const retryMs = this.#o.lockRetryMs ?? LOCK_RETRY_MS
      if (entry.nextAttemptMs <= this.#now()) entry.nextAttemptMs = this.#now() + retryMs
      this.#o.log.info(
        { domain: entry.domain },
        'another Portico is ordering this certificate; waiting',
      )
      return
    }
    try {
      if (entry.nextAttemptMs <= this.#now()) await this.#order(entry)
    } finally {
      await release()
    }
  }

  async #order(entry: Managed): Promise<void> {
    const { domain } = entry
    const renewal = entry.validity !== undefined
    this.#o.log.info(
      { domain, renewal },
      renewal ? 'renewing certificate (ACME)' : 'obtaining certificate (ACME)',
    )
    try {
      const pair = await this.#issuer.order(domain, this.#preference(entry.failures))
      if (this.#closed || this.#names.get(domain) !== entry) return
      await this.#files.writeCertificate(domain, pair)
      const info = this.#o.certs.setManaged(domain, pair)
      this.#issued(entry, new X509Certificate(pair.certPem), renewal)
      this.#o.events.emit('cert:issued', {
        domain,
        source: 'acme',
        serialNumber: info.serialNumber,
        validTo: info.validTo,
        renewal,
      })
    } catch (error) {
      this.#failed(entry, error)
    }
  }

  #issued(entry: Managed, cert: X509Certificate, renewal: boolean): void {
    const now = this.#now()
    entry.validity = validityOf(cert)
    entry.obtainedAtMs = now
    entry.failures = 0
    entry.lastError = undefined
    entry.nextAttemptMs = nextRenewalMs(entry.validity, this.#ratio(), now)
    const fields = {
      domain: entry.domain,
      serialNumber: cert.serialNumber,
      validTo: cert.validTo,
      renewAt: new Date(entry.nextAttemptMs).toISOString(),
    }
    this.#o.log.info(fields, renewal ? 'certificate renewed (ACME)' : 'certificate obtained (ACME)')
    this.#release(entry)
  }

  #failed(entry: Managed, error: unknown): void {
    entry.failures++
    entry.lastError = error instanceof Error ? error.message : String(error)
    const hint = (error instanceof PorticoError ? error.details : undefined) as
      | OrderFailure
      | undefined
    entry.nextAttemptMs = this.#now() + retryDelayMs(entry.failures, hint, this.#random)
    const nextAttemptAt = new Date(entry.nextAttemptMs).toISOString()
    const keeping = entry.validity ? 'the current certificate keeps serving' : 'no certificate yet'
    this.#o.log.error(
      {
        domain: entry.domain,
        failures: entry.failures,
        nextAttemptAt,
        code: (error as PorticoError).code,
      },
      `${entry.lastError}; ${keeping}; next attempt at ${nextAttemptAt}`,
    )
    this.#o.events.emit('cert:failed', {
      domain: entry.domain,
      error: entry.lastError,
      failures: entry.failures,
      nextAttemptAt,
    })
    this.#release(entry)
  }

  /** The challenge types to try, the first one rotated after each failure. */
  #preference(failures: number): ChallengeType[] {
    const { http01, tlsAlpn01 } = this.#o.settings.challenges
    const enabled: ChallengeType[] = [
      ...(http01 ? (['http-01'] as const) : []),
      ...(tlsAlpn01 ? (['tls-alpn-01'] as const) : []),
    ]
    const shift = failures % enabled.length
    return [...enabled.slice(shift), ...enabled.slice(0, shift)]
  }

  /**
   * awaitFirst returns a promise for a handshake naming a managed host that has no certificate
   * yet while its order is queued or running: it settles when the order ends or after
   * ACME_HANDSHAKE_WAIT_MS, whichever is first. Otherwise (a certificate is installed, or the
   * name is backing off after a failure) undefined: no wait.
   */
  #awaitFirst(name: string): Promise<void> | undefined {
    const entry = this.#names.get(name)
    if (entry === undefined || entry.validity !== undefined || this.#closed) return undefined
    const due = this.#started && entry.nextAttemptMs <= this.#now()
    if (!(entry.busy || due) || entry.waiters.size >= MAX_WAITERS) return undefined
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        entry.waiters.delete(done)
        resolve()
      }
      const timer = setTimeout(done, ACME_HANDSHAKE_WAIT_MS)
      timer.unref()
      entry.waiters.add(done)
    })
  }

  /** release lets every handshake waiting for this name go on. */
  #release(entry: Managed): void {
    for (const done of [...entry.waiters]) done()
  }
}

function validityOf(cert: X509Certificate): Validity & { serialNumber: string } {
  return {
    notBeforeMs: Date.parse(cert.validFrom),
    notAfterMs: Date.parse(cert.validTo),
    serialNumber: cert.serialNumber,
  }
}
