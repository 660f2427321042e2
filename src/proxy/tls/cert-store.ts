/** @module CertStore: user certificates from certs/ and the API, dev leaves on demand, SNI lookup. */
import { createHash, type X509Certificate } from 'node:crypto'
import type { Dirent } from 'node:fs'
import { readdir, readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import type { SecureContext } from 'node:tls'
import { generate } from 'selfsigned'
import { CERT_EXPIRY_WARNING_DAYS } from '../../config/defaults.ts'
import { errors } from '../../errors.ts'
import type { Logger } from '../../observe/log.ts'
import { issueLeaf, type KeyPair } from './dev-ca.ts'
import { assertCovers, assertNotExpired, assertWildcardAllowed, validatePem } from './pem.ts'
import { normalizeHostname } from './sni.ts'

/** Where an installed certificate came from: a file in certs/, the REST API, ACME, or the dev CA. */
export type CertSource = 'file' | 'api' | 'acme' | 'dev'

const DAY_MS = 86_400_000

/**
 * daysLeft returns the whole days until a certificate expires (negative once expired); `now`
 * is injected for tests.
 */
export function daysLeft(cert: Pick<CertInfo, 'validTo'>, now = Date.now()): number {
  return Math.floor((Date.parse(cert.validTo) - now) / DAY_MS)
}

/** expiresSoon reports a certificate that expires within CERT_EXPIRY_WARNING_DAYS. */
export function expiresSoon(cert: Pick<CertInfo, 'validTo'>, now = Date.now()): boolean {
  return Date.parse(cert.validTo) - now < CERT_EXPIRY_WARNING_DAYS * DAY_MS
}

/** One installed certificate as `list()` reports it. Never carries a key. */
export interface CertInfo {
  /** The name it is indexed under: `a.example.test`, or `*.example.test` for a wildcard. */
  domain: string
  source: CertSource
  /** Issuer distinguished name on one line (`CN=…, O=…`). */
  issuer: string
  /** End of validity, ISO 8601. */
  validTo: string
  /** Upper-case hex, as `socket.getPeerCertificate().serialNumber` shows it. */
  serialNumber: string
}

/** Options for CertStore. */
export interface CertStoreOptions {
  /** Folder scanned by `load()` (`PORTICO_CERTS_DIR`). */
  certsDir: string
  /** The dev CA; without it no certificate is ever issued. */
  devCa?: KeyPair | undefined
  /**
   * Whether a dev leaf may be issued for a (normalised) name, e.g. routed hostnames plus any
   * `*.localhost` name in dev mode. Default: `localhost` and `*.localhost` only.
   */
  issueFor?: (servername: string) => boolean
  /** Most dev leaves kept in memory; the least recently used goes first. Default 10,000. */
  maxDevLeaves?: number
  log: Logger
}

interface Installed {
  domain: string
  source: CertSource
  pair: KeyPair
  cert: X509Certificate
  context: SecureContext
}

interface DevLeaf {
  promise: Promise<Installed>
  installed?: Installed
  /** Issue again after this time (epoch ms); infinite while the first issuance runs. */
  renewAtMs: number
}

/** A `<domain>.crt|.pem` + `<domain>.key` pair found in certs/, either half possibly missing. */
interface FilePair {
  domain: string
  certFile?: string
  keyFile?: string
}

const DEFAULT_MAX_DEV_LEAVES = 10_000
/** A cached dev leaf is issued again this long before it expires (long-running dev servers). */
const RENEW_BEFORE_EXPIRY_MS = 24 * 60 * 60_000
const WILDCARD_FILE_PREFIX = '_wildcard.'
const CERT_FILE_PATTERN = /^(.+)\.(crt|pem|key)$/

function isLocalhostName(name: string): boolean {
  return name === 'localhost' || name.endsWith('.localhost')
}

/**
 * CertStore returns the TLS context for a server name: a user certificate (exact name, then the
 * wildcard one level up), else a dev leaf issued on demand, else nothing (the caller serves the
 * default). User certificates come from files in certs/ (`load()`) and from the API
 * (`setCertificate()`); whichever was installed last wins for a domain. Every context is built
 * with SECURE_CONTEXT_OPTIONS. Swaps are one Map write, so new handshakes see them at once and
 * open connections keep theirs.
 */
export class CertStore {
  #certsDir: string
  #devCa: KeyPair | undefined
  #issueFor: (servername: string) => boolean
  #maxDevLeaves: number
  #log: Logger
  /** User certificates by domain; a wildcard is stored under `*.parent`. */
  #user = new Map<string, Installed>()
  /** Digest of the last good file pair per domain, so unchanged files are not installed again. */
  #fileDigests = new Map<string, string>()
  /** Dev leaves by name, oldest use first (a Map keeps insertion order). */
  #leaves = new Map<string, DevLeaf>()
  /** Certificates obtained with ACME, by exact name; file and API certificates win over them. */
  #managed = new Map<string, Installed>()
  /** Returns a promise while a name's first ACME certificate is being obtained (see awaitIssuance). */
  #issuance: (name: string) => Promise<void> | undefined = () => undefined
  #fallback: Promise<Installed> | undefined
  #loading: Promise<void> = Promise.resolve()
  #listeners = new Set<() => void>()

  constructor(options: CertStoreOptions) {
    this.#certsDir = options.certsDir
    this.#devCa = options.devCa
    this.#issueFor = options.issueFor ?? isLocalhostName
    this.#maxDevLeaves = options.maxDevLeaves ?? DEFAULT_MAX_DEV_LEAVES
    this.#log = options.log
  }

  /**
   * load scans certsDir for `<domain>.crt` (or `.pem`) + `<domain>.key` and
   * `_wildcard.<domain>.crt|.key` (for `*.<domain>`); other files, `dev-ca.*` included, are
   * ignored. An invalid or half-written pair is skipped with a warning naming the file and the
   * reason, and the last good certificate for that domain stays; a pair whose two files are both
   * gone is removed. A key readable by group or others gets a warning. Safe to call again
   * whenever the folder changes; calls run one after another. A missing folder loads nothing.
   */
  load(): Promise<void> {
    const run = this.#loading.then(() => this.#loadOnce()).finally(() => this.#changed())
    // The chain must survive a failed scan (e.g. EACCES); that caller still gets the rejection.
    this.#loading = run.catch(() => undefined)
    return run
  }

  /**
   * contextFor returns the context to serve for an SNI name: the exact user certificate, then the
   * wildcard user certificate one label up (RFC 6125 §6.4.3: one level only), then a dev leaf if
   * a dev CA is set and `issueFor(name)` allows it, else undefined. Names are lower-cased and
   * lose one trailing dot; an empty, over-long or non-`[a-z0-9.-]` name gives undefined.
   * Concurrent calls for one name share a single issuance. Rejects if issuing fails.
   */
  async contextFor(servername: string): Promise<SecureContext | undefined> {
    return (await this.#installedFor(servername))?.context
  }

  /** pairFor returns the PEMs behind `contextFor(servername)` (edge workers build their own). */
  async pairFor(servername: string): Promise<KeyPair | undefined> {
    return (await this.#installedFor(servername))?.pair
  }

  /**
   * onChange registers a listener called after a scan of certsDir and after setCertificate, so
   * copies of contexts made elsewhere (edge workers) can be dropped. Returns the unsubscribe.
   */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  async #installedFor(servername: string): Promise<Installed | undefined> {
    const name = normalizeHostname(servername)
    if (name === undefined) return undefined
    const found = this.#userCertFor(name) ?? this.#managed.get(name)
    if (found) return found
    const issuing = this.#issuance(name)
    if (issuing !== undefined) {
      // The first visitor of a new site waits for its certificate instead of getting the fallback.
      await issuing
      const issued = this.#userCertFor(name) ?? this.#managed.get(name)
      if (issued) return issued
    }
    if (this.#devCa === undefined || !this.#issueFor(name)) return undefined
    return this.#devLeaf(name, this.#devCa)
  }

  #changed(): void {
    for (const listener of this.#listeners) listener()
  }

  /**
   * setCertificate validates a certificate for `domain` (a hostname, or `*.parent` for a
   * wildcard) and installs it at once, replacing any other user certificate for that domain.
   * Throws PTC_ERR_CERT_INVALID with a readable reason: empty or unparsable PEM, a key that does
   * not match, an expired certificate, or a domain the certificate's SAN (or CN) does not cover,
   * wildcards matched per RFC 6125. Writing files is the caller's job.
   */
  async setCertificate(domain: string, keyPem: string, certPem: string): Promise<void> {
    const name = normalizeDomain(domain)
    if (name === undefined) throw new errors.PTC_ERR_CERT_INVALID(domain, 'not a valid hostname')
    let installed: Installed
    try {
      installed = validatePair(name, 'api', { certPem, keyPem })
      assertCovers(installed.cert, name)
      assertNotExpired(installed.cert)
    } catch (err) {
      throw new errors.PTC_ERR_CERT_INVALID(name, (err as Error).message, { cause: err })
    }
    this.#user.set(name, installed)
    this.#log.info({ domain: name, serialNumber: installed.cert.serialNumber }, 'certificate set')
    this.#changed()
  }

  /** list returns every installed certificate, user ones, then ACME, then dev leaves, never a key. */
  list(): CertInfo[] {
    const dev: Installed[] = []
    for (const leaf of this.#leaves.values()) if (leaf.installed) dev.push(leaf.installed)
    return [...this.#user.values(), ...this.#managed.values(), ...dev].map(toInfo)
  }

  // ── ACME-managed certificates (issue 16) ───────────────────────────────────────────────────

  /**
   * hasUserCertificate reports whether a file or API certificate serves `name` (exactly or by
   * its wildcard one level up): such a name is never managed by ACME.
   */
  hasUserCertificate(name: string): boolean {
    return this.#userCertFor(name) !== undefined
  }

  /**
   * setManaged validates an ACME pair for the hostname `domain` (it must match its key and cover
   * the name) and installs it, replacing the previous one at once for new handshakes; open
   * connections keep theirs. Listeners (edge workers) are told. Throws an Error whose message is
   * the reason, and then the previous certificate stays.
   */
  setManaged(domain: string, pair: KeyPair): CertInfo {
    const installed = validatePair(domain, 'acme', pair)
    assertCovers(installed.cert, domain)
    this.#managed.set(domain, installed)
    this.#changed()
    return toInfo(installed)
  }

  /** removeManaged drops the ACME certificate of a name that is no longer routed. */
  removeManaged(domain: string): void {
    if (this.#managed.delete(domain)) this.#changed()
  }

  /**
   * awaitIssuance sets the hook asked when a handshake names a host that has no certificate: it
   * returns a promise (bounded by its owner) while that host's first certificate is being
   * obtained, and the handshake waits for it; otherwise undefined.
   */
  awaitIssuance(hook: (name: string) => Promise<void> | undefined): void {
    this.#issuance = hook
  }

  /**
   * defaultContext returns the context for handshakes without SNI or with an unknown name: the
   * dev leaf for `localhost` when a dev CA is set, else the first user certificate, else a
   * self-signed EC certificate made once in memory so the server can start and answer errors.
   */
  async defaultContext(): Promise<SecureContext> {
    return (await this.#defaultCert()).context
  }

  /**
   * defaultKeyPair returns the PEMs behind `defaultContext()`, for the server's own `key`/`cert`
   * options. Node ignores a `secureContext` option on `tls.createServer`, and clients that send
   * no SNI never reach the SNICallback, so the server itself must hold this pair.
   */
  async defaultKeyPair(): Promise<KeyPair> {
    return (await this.#defaultCert()).pair
  }

  #defaultCert(): Promise<Installed> {
    if (this.#devCa !== undefined) return this.#devLeaf('localhost', this.#devCa)
    const first = this.#user.values().next()
    if (!first.done) return Promise.resolve(first.value)
    if (this.#fallback === undefined) {
      const fallback = makeFallback()
      this.#fallback = fallback
      // A failed generation is retried on the next call instead of being cached.
      fallback.catch(() => {
        if (this.#fallback === fallback) this.#fallback = undefined
      })
    }
    return this.#fallback
  }

  #userCertFor(name: string): Installed | undefined {
    const exact = this.#user.get(name)
    if (exact) return exact
    const dot = name.indexOf('.')
    return dot < 0 ? undefined : this.#user.get(`*${name.slice(dot)}`)
  }

  #devLeaf(name: string, ca: KeyPair): Promise<Installed> {
    const cached = this.#leaves.get(name)
    this.#leaves.delete(name)
    if (cached && Date.now() < cached.renewAtMs) {
      this.#leaves.set(name, cached)
      return cached.promise
    }
    const leaf: DevLeaf = {
      promise: issueLeaf(ca, name).then((pair) => validatePair(name, 'dev', pair)),
      renewAtMs: Number.POSITIVE_INFINITY,
    }
    void leaf.promise.then(
      (installed) => {
        leaf.installed = installed
        leaf.renewAtMs = Date.parse(installed.cert.validTo) - RENEW_BEFORE_EXPIRY_MS
        const fields = { domain: name, serialNumber: installed.cert.serialNumber }
        this.#log.info(fields, 'dev certificate issued')
      },
      () => {
        // The handshake that asked gets the rejection; forgetting the leaf lets the next one retry.
        if (this.#leaves.get(name) === leaf) this.#leaves.delete(name)
      },
    )
    this.#leaves.set(name, leaf)
    if (this.#leaves.size > this.#maxDevLeaves) {
      const oldest = this.#leaves.keys().next()
      if (!oldest.done) this.#leaves.delete(oldest.value)
    }
    return leaf.promise
  }

  async #loadOnce(): Promise<void> {
    const pairs = await scanCertsDir(this.#certsDir)
    for (const pair of pairs.values()) await this.#loadPair(pair)
    for (const domain of [...this.#fileDigests.keys()]) {
      if (pairs.has(domain)) continue
      this.#fileDigests.delete(domain)
      // Only a file-made entry goes: an API certificate for the same domain was installed later.
      if (this.#user.get(domain)?.source === 'file') {
        this.#user.delete(domain)
        this.#log.info({ domain }, 'certificate files removed: certificate unloaded')
      }
    }
  }

  async #loadPair(pair: FilePair): Promise<void> {
    const { domain, certFile, keyFile } = pair
    if (certFile === undefined || keyFile === undefined) {
      const missing = certFile === undefined ? 'certificate (.crt or .pem)' : 'key (.key)'
      this.#skip(domain, certFile ?? keyFile ?? domain, `its ${missing} file is missing`)
      return
    }
    let pems: KeyPair
    let keyMode: number
    try {
      pems = { certPem: await readFile(certFile, 'utf8'), keyPem: await readFile(keyFile, 'utf8') }
      keyMode = (await stat(keyFile)).mode
    } catch (err) {
      this.#skip(domain, certFile, `cannot read the pair (${(err as Error).message})`)
      return
    }
    const digest = digestOf(pems)
    if (this.#fileDigests.get(domain) === digest) return
    let installed: Installed
    try {
      installed = validatePair(domain, 'file', pems)
    } catch (err) {
      this.#skip(domain, certFile, (err as Error).message)
      return
    }
    this.#warnIfKeyExposed(keyFile, keyMode)
    this.#warnIfUnfit(installed, certFile)
    this.#user.set(domain, installed)
    this.#fileDigests.set(domain, digest)
    const fields = { domain, file: certFile, serialNumber: installed.cert.serialNumber }
    this.#log.info(fields, 'certificate loaded')
  }

  #skip(domain: string, file: string, reason: string): void {
    const outcome = this.#user.has(domain) ? 'keeping the last good certificate' : 'skipped'
    this.#log.warn({ domain, file, reason }, `certificate ${file}: ${reason}; ${outcome}`)
  }

  #warnIfKeyExposed(keyFile: string, mode: number): void {
    if ((mode & 0o077) === 0) return
    const octal = (mode & 0o777).toString(8)
    this.#log.warn(
      { file: keyFile, mode: octal },
      `key file is readable by others: chmod 600 ${keyFile}`,
    )
  }

  #warnIfUnfit(installed: Installed, certFile: string): void {
    const { domain, cert } = installed
    // Loaded anyway: the operator put it there, and the default certificate would be no better.
    for (const check of [assertCovers, assertNotExpired, assertWildcardAllowed]) {
      try {
        check(cert, domain)
      } catch (err) {
        this.#log.warn(
          { domain, file: certFile },
          `certificate ${certFile}: ${(err as Error).message}`,
        )
      }
    }
  }
}

/** normalizeDomain is normalizeHostname that also accepts a `*.` wildcard prefix. */
function normalizeDomain(domain: string): string | undefined {
  if (!domain.startsWith('*.')) return normalizeHostname(domain)
  const parent = normalizeHostname(domain.slice(2))
  return parent === undefined ? undefined : `*.${parent}`
}

/** fileDomain returns the domain a certs/ file name stands for, or undefined to ignore it. */
function fileDomain(fileName: string): { domain: string; isKey: boolean } | undefined {
  const match = CERT_FILE_PATTERN.exec(fileName.toLowerCase())
  const [, base, ext] = match ?? []
  if (base === undefined || base === 'dev-ca') return undefined
  const wildcard = base.startsWith(WILDCARD_FILE_PREFIX)
  const name = wildcard ? base.slice(WILDCARD_FILE_PREFIX.length) : base
  if (normalizeHostname(name) !== name) return undefined
  return { domain: wildcard ? `*.${name}` : name, isKey: ext === 'key' }
}

async function scanCertsDir(certsDir: string): Promise<Map<string, FilePair>> {
  let entries: Dirent[]
  try {
    entries = await readdir(certsDir, { withFileTypes: true })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map()
    throw err
  }
  const pairs = new Map<string, FilePair>()
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const found = fileDomain(entry.name)
    if (found === undefined || !(entry.isFile() || entry.isSymbolicLink())) continue
    const pair = pairs.get(found.domain) ?? { domain: found.domain }
    const file = path.join(certsDir, entry.name)
    if (found.isKey) {
      pair.keyFile = file
    } else if (pair.certFile === undefined || entry.name.toLowerCase().endsWith('.crt')) {
      // `<domain>.crt` wins over `<domain>.pem` when both exist.
      pair.certFile = file
    }
    pairs.set(found.domain, pair)
  }
  return pairs
}

/**
 * validatePair validates a pair (see validatePem) and wraps it as installed for `domain`; it
 * throws an Error whose message is the readable reason.
 */
function validatePair(domain: string, source: CertSource, pair: KeyPair): Installed {
  const { cert, context } = validatePem(pair)
  return { domain, source, pair, cert, context }
}

function digestOf(pair: KeyPair): string {
  return createHash('sha256').update(pair.certPem).update('\0').update(pair.keyPem).digest('hex')
}

function toInfo(installed: Installed): CertInfo {
  const { cert } = installed
  return {
    domain: installed.domain,
    source: installed.source,
    issuer: cert.issuer.split('\n').join(', '),
    validTo: new Date(cert.validTo).toISOString(),
    serialNumber: cert.serialNumber,
  }
}

async function makeFallback(): Promise<Installed> {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
  })
  return validatePair('localhost', 'dev', { certPem: pems.cert, keyPem: pems.private })
}
