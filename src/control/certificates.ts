/**
 * @module Composition helpers for certificates: which names ACME manages, the start-up refusal
 * of certificates that would fail, and the certificate list the API shows.
 */
import type { AcmeStatus } from '../acme/manager.ts'
import type { CertificateView } from '../api/certificates.ts'
import type { Config } from '../config/schema.ts'
import type { Mode } from '../config/settings.ts'
import { errors } from '../errors.ts'
import type { Logger } from '../observe/log.ts'
import { type CertStore, expiresSoon } from '../proxy/tls/cert-store.ts'
import { isPublicHostname } from '../proxy/tls/eligible.ts'
import { type CertIssue, checkCertificates, wildcardRefusals } from '../proxy/tls/preflight.ts'

/**
 * acmeNames returns the routed hostnames ACME keeps certificates for: exact public DNS names
 * (not `*.localhost`, not IPs, not wildcards) that no certificate file or API upload serves.
 */
export function acmeNames(hosts: readonly string[], certs: CertStore): string[] {
  return hosts.filter((host) => isPublicHostname(host) && !certs.hasUserCertificate(host))
}

/** hasApiCertificate reports a name served by a certificate uploaded over the API. */
export function apiCertificateCheck(certs: CertStore): (host: string) => boolean {
  return (host) => {
    const api = certs.list().filter((c) => c.source === 'api')
    const parent = `*${host.slice(host.indexOf('.'))}`
    return api.some((c) => c.domain === host || c.domain === parent)
  }
}

function lines(issues: CertIssue[]): string {
  return issues.map((i) => `  ${i.message} (${i.path})`).join('\n')
}

/**
 * assertCertificates runs the certificate preflight for the effective config. With `start`
 * every refusal (expired, wrong name, mismatched key, missing) throws PTC_ERR_CERT_REFUSED
 * listing them all, before anything serves; warnings are logged. With `dev` only the refusals
 * that hold in every mode (a public wildcard without a file while ACME is on) throw: dev
 * certificates cover the rest, and the certificate store warns about bad files itself.
 */
export async function assertCertificates(options: {
  mode: Mode
  config: Config
  certsDir: string
  acme: boolean
  certs: CertStore
  log: Logger
}): Promise<void> {
  const { mode, log } = options
  const check = { ...options, hasApiCertificate: apiCertificateCheck(options.certs) }
  if (mode === 'dev') {
    const refusals = await wildcardRefusals(check)
    if (refusals.length > 0) throw new errors.PTC_ERR_CERT_REFUSED(lines(refusals))
    return
  }
  const { refusals, warnings } = await checkCertificates(check)
  for (const warning of warnings) log.warn({ path: warning.path }, warning.message)
  if (refusals.length > 0) {
    throw new errors.PTC_ERR_CERT_REFUSED(lines(refusals), { details: refusals })
  }
}

/**
 * certificateViews merges the installed certificates with ACME's per-name state: every entry
 * gets `nextRenewal` and `lastError` (null unless ACME manages it), and a managed name still
 * without a certificate is listed with `validTo: null`.
 */
export function certificateViews(
  certs: CertStore,
  acme: { list: () => AcmeStatus[] } | undefined,
): CertificateView[] {
  const managed = new Map((acme?.list() ?? []).map((s) => [s.domain, s]))
  const views: CertificateView[] = certs.list().map((c) => {
    const state = c.source === 'acme' ? managed.get(c.domain) : undefined
    return {
      ...c,
      expiresSoon: expiresSoon(c),
      nextRenewal: state?.nextRenewal ?? null,
      lastError: state?.lastError ?? null,
    }
  })
  for (const state of managed.values()) {
    if (state.state === 'valid') continue
    views.push({
      domain: state.domain,
      source: 'acme',
      issuer: null,
      validTo: null,
      serialNumber: null,
      nextRenewal: state.nextRenewal,
      lastError: state.lastError,
    })
  }
  return views
}
