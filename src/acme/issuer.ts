/** @module Issuer: one ACME order (RFC 8555) for one hostname with acme-client, failures classified for retries. */
import https from 'node:https'
import { rootCertificates } from 'node:tls'
import { axios as acmeAxios, crypto as acmeCrypto, Client } from 'acme-client'
import { errors, type PorticoError } from '../errors.ts'
import type { Logger } from '../observe/log.ts'
import type { KeyPair } from '../proxy/tls/dev-ca.ts'
import type { ChallengeStore } from './challenges.ts'
import type { AcmeFiles } from './files.ts'

/** The challenge types Portico answers. */
export type ChallengeType = 'http-01' | 'tls-alpn-01'

/** Options of an Issuer. */
export interface IssuerOptions {
  directoryUrl: string
  email: string
  files: AcmeFiles
  challenges: ChallengeStore
  log: Logger
}

/** What an order failure tells the scheduler (the `details` of PTC_ERR_ACME_ORDER_FAILED). */
export interface OrderFailure {
  retryAfterMs?: number
  rateLimited?: boolean
}

/** Polls of an order or challenge: first after 1 s, growing to 10 s (acme-client waits 5 s first). */
const POLL = { backoffAttempts: 12, backoffMin: 1_000, backoffMax: 10_000 }
const RATE_LIMITED = 'urn:ietf:params:acme:error:rateLimited'
const MS_PER_SECOND = 1000
/** One request to the CA may take this long before the order fails (and is retried later). */
const ACME_REQUEST_TIMEOUT_MS = 30_000

/** retryAfterMs reads a Retry-After header (seconds or an HTTP date, RFC 9110 §10.2.3). */
export function retryAfterMs(header: unknown, now = Date.now()): number | undefined {
  if (typeof header !== 'string' || header.trim() === '') return undefined
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * MS_PER_SECOND
  const at = Date.parse(header)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

interface HttpFailure {
  response?: { status?: number; headers?: Record<string, unknown>; data?: unknown }
  config?: { url?: string }
  code?: string
  message?: string
}

/**
 * classifyHttpFailure turns what axios rejected with into an error the scheduler can use, or
 * undefined to let acme-client handle it (an ordinary ACME error answer such as badNonce).
 * Network failures and rate limits (HTTP 429 or a `rateLimited` problem, RFC 8555 §6.6) and
 * 503 answers become Errors carrying `retryAfterMs` and `rateLimited`. Exported for tests.
 */
export function classifyHttpFailure(failure: HttpFailure): (Error & OrderFailure) | undefined {
  const { response } = failure
  if (response === undefined) {
    const where = failure.config?.url ?? 'the ACME server'
    return new Error(`cannot reach ${where}: ${failure.code ?? failure.message ?? 'no answer'}`)
  }
  const problem = (response.data ?? {}) as { type?: unknown; detail?: unknown }
  const rateLimited = response.status === 429 || problem.type === RATE_LIMITED
  if (!rateLimited && response.status !== 503) return undefined
  const detail = typeof problem.detail === 'string' ? problem.detail : `HTTP ${response.status}`
  const error: Error & OrderFailure = new Error(rateLimited ? `rate limited: ${detail}` : detail)
  const after = retryAfterMs(response.headers?.['retry-after'])
  if (after !== undefined) error.retryAfterMs = after
  if (rateLimited) error.rateLimited = true
  return error
}

let httpConfigured = false

/**
 * configureAcmeHttp sets up acme-client's HTTP client (one per process): trust `caBundlePem`
 * besides the system roots for the directory's HTTPS, a 30 s timeout per request, no retries inside acme-client (it would
 * sleep through a Retry-After of hours while holding the order; the scheduler retries
 * instead), and failures classified by classifyHttpFailure. acme-client registers its own
 * retry interceptor when it loads; ours is moved in front of it so a network failure keeps its
 * message (acme-client 5.4 turns it into a TypeError).
 */
export function configureAcmeHttp(caBundlePem: string | undefined): void {
  if (caBundlePem !== undefined) {
    acmeAxios.defaults.httpsAgent = new https.Agent({ ca: [...rootCertificates, caBundlePem] })
  }
  if (httpConfigured) return
  httpConfigured = true
  // axios waits forever by default: a CA that stops answering would hold an order (and the name) for good.
  acmeAxios.defaults.timeout = ACME_REQUEST_TIMEOUT_MS
  const settings = (acmeAxios.defaults as { acmeSettings?: { retryMaxAttempts: number } })
    .acmeSettings
  if (settings) settings.retryMaxAttempts = 0
  const interceptors = acmeAxios.interceptors.response
  interceptors.use(null, (failure: HttpFailure) => {
    const classified = classifyHttpFailure(failure)
    return Promise.reject(classified ?? failure)
  })
  const handlers = (interceptors as unknown as { handlers?: unknown[] }).handlers
  if (Array.isArray(handlers)) handlers.unshift(handlers.pop())
}

/**
 * Issuer runs ACME orders against one directory with one account (made on first use, key kept
 * by AcmeFiles). `order()` obtains a certificate for one hostname through the first of the
 * given challenge types the CA offers; it never checks the challenge from here first (that
 * would need this machine's own DNS view of the name, often wrong behind NAT).
 */
export class Issuer {
  readonly #o: IssuerOptions
  #client: Promise<Client> | undefined

  constructor(options: IssuerOptions) {
    this.#o = options
  }

  /**
   * order returns a new EC P-256 key and the certificate chain for `name`. It throws
   * PTC_ERR_ACME_ORDER_FAILED with the CA's reason; `details` carries `retryAfterMs` and
   * `rateLimited` when the CA said so.
   */
  async order(name: string, preference: readonly ChallengeType[]): Promise<KeyPair> {
    try {
      const client = await this.#account()
      const key = await acmeCrypto.createPrivateEcdsaKey()
      const [, csr] = await acmeCrypto.createCsr({ commonName: name, altNames: [name] }, key)
      const chain = await client.auto({
        csr,
        email: this.#o.email,
        termsOfServiceAgreed: true,
        skipChallengeVerification: true,
        challengePriority: [...preference],
        challengeCreateFn: (authz, challenge, keyAuthorization) =>
          this.#present(authz.identifier.value, challenge, keyAuthorization, authz),
        challengeRemoveFn: async (authz, challenge) =>
          this.#withdraw(authz.identifier.value, challenge),
      })
      await this.#saveAccountUrl(client)
      return { certPem: chain, keyPem: key.toString() }
    } catch (error) {
      throw orderFailed(name, error)
    }
  }

  #account(): Promise<Client> {
    this.#client ??= (async () => {
      const { files, directoryUrl } = this.#o
      const accountKey = await files.accountKey(async () =>
        (await acmeCrypto.createPrivateEcdsaKey()).toString(),
      )
      const accountUrl = await files.accountUrl()
      return new Client({
        directoryUrl,
        accountKey,
        ...(accountUrl === undefined ? {} : { accountUrl }),
        ...POLL,
      })
    })()
    // A failure (unreadable key) is tried again at the next order.
    this.#client.catch(() => {
      this.#client = undefined
    })
    return this.#client
  }

  async #saveAccountUrl(client: Client): Promise<void> {
    const url = client.getAccountUrl()
    if ((await this.#o.files.accountUrl()) !== url) await this.#o.files.saveAccountUrl(url)
  }

  async #present(
    name: string,
    challenge: { type: string; token: string },
    keyAuthorization: string,
    authz: Parameters<typeof acmeCrypto.createAlpnCertificate>[0],
  ): Promise<void> {
    const { challenges, log } = this.#o
    if (challenge.type === 'http-01') {
      challenges.addToken(challenge.token, keyAuthorization)
    } else if (challenge.type === 'tls-alpn-01') {
      // EC like every other certificate the edge serves: Node keeps the default certificate's
      // key type first when an SNI context brings another one.
      const key = await acmeCrypto.createPrivateEcdsaKey()
      const [, cert] = await acmeCrypto.createAlpnCertificate(authz, keyAuthorization, key)
      challenges.addCertificate(name, { keyPem: key.toString(), certPem: cert.toString() })
    } else {
      throw new Error(`the CA offered no challenge Portico answers (only ${challenge.type})`)
    }
    log.info({ domain: name, challenge: challenge.type }, 'ACME challenge ready')
  }

  #withdraw(name: string, challenge: { type: string; token: string }): void {
    if (challenge.type === 'http-01') this.#o.challenges.removeToken(challenge.token)
    else this.#o.challenges.removeCertificate(name)
  }
}

function orderFailed(name: string, error: unknown): PorticoError {
  const hint = error as OrderFailure
  const details: OrderFailure = {}
  if (typeof hint.retryAfterMs === 'number') details.retryAfterMs = hint.retryAfterMs
  if (hint.rateLimited === true) details.rateLimited = true
  const reason = error instanceof Error ? error.message : String(error)
  return new errors.PTC_ERR_ACME_ORDER_FAILED(name, reason, { cause: error, details })
}
