/**
 * @module Certificate preflight: before `portico start` serves, every routed hostname must have a
 * certificate that will work (a valid file, an API upload, or one ACME can obtain); each problem
 * names its file, or the hostname, and the fix.
 */
import { access, readFile } from 'node:fs/promises'
import path from 'node:path'
import { appHostnames, type Config } from '../../config/schema.ts'
import { isLoopbackName, isPublicHostname } from './eligible.ts'
import { assertCovers, assertNotExpired, validatePem } from './pem.ts'

/** A routed hostname and where the config names it (`routes[2].vHost`). */
export interface RoutedHost {
  host: string
  path: string
}

/** One finding: where in the config, and the sentence to print. */
export interface CertIssue {
  path: string
  message: string
}

/** What a preflight found: problems that refuse a start, and warnings. */
export interface Preflight {
  refusals: CertIssue[]
  warnings: CertIssue[]
}

/** Options of checkCertificates. */
export interface PreflightOptions {
  config: Config
  certsDir: string
  /** Whether `edge.acme` is set (public names without a file are then obtained). */
  acme: boolean
  /** Names served by a certificate uploaded over the API (exact or wildcard). */
  hasApiCertificate: (host: string) => boolean
}

/** routedHostnames lists every hostname the config routes, with its config path. */
export function routedHostnames(config: Config): RoutedHost[] {
  const hosts: RoutedHost[] = []
  config.apps.forEach((app, i) => {
    const explicit = app.hostnames !== undefined
    appHostnames(app).forEach((host, j) => {
      hosts.push({ host, path: explicit ? `apps[${i}].hostnames[${j}]` : `apps[${i}].name` })
    })
  })
  config.routes.forEach((route, i) => {
    hosts.push({ host: route.vHost, path: `routes[${i}].vHost` })
  })
  return hosts
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file)
    return true
  } catch {
    return false
  }
}

interface FoundPair {
  certFile: string | undefined
  keyFile: string | undefined
  /** What a complete pair would be called, for messages. */
  expected: { certFile: string; keyFile: string }
}

/** findPair returns the files the certificate store would use for `host`: exact, then wildcard. */
async function findPair(certsDir: string, host: string): Promise<FoundPair | undefined> {
  const parent = host.slice(host.indexOf('.') + 1)
  const bases = host.startsWith('*.') ? [`_wildcard.${parent}`] : [host, `_wildcard.${parent}`]
  for (const base of bases) {
    const keyFile = path.join(certsDir, `${base}.key`)
    const crt = path.join(certsDir, `${base}.crt`)
    const pem = path.join(certsDir, `${base}.pem`)
    const certFile = (await exists(crt)) ? crt : (await exists(pem)) ? pem : undefined
    const hasKey = await exists(keyFile)
    if (certFile !== undefined || hasKey) {
      return {
        certFile,
        keyFile: hasKey ? keyFile : undefined,
        expected: { certFile: crt, keyFile },
      }
    }
  }
  return undefined
}

/** pairProblem returns why a found pair will not serve `host`, with the fix, or undefined. */
async function pairProblem(
  found: FoundPair,
  host: string,
  acme: boolean,
): Promise<string | undefined> {
  const { certFile, keyFile } = found
  if (certFile === undefined) {
    return `${found.keyFile} has no certificate beside it; fix: add ${found.expected.certFile} (PEM, with its chain) or remove the key`
  }
  if (keyFile === undefined) {
    return `${certFile} has no key beside it; fix: add ${found.expected.keyFile} (PEM, mode 0600) or remove the certificate`
  }
  const orAcme =
    acme && isPublicHostname(host) ? ', or delete both files to have ACME obtain one' : ''
  try {
    const pems = {
      certPem: await readFile(certFile, 'utf8'),
      keyPem: await readFile(keyFile, 'utf8'),
    }
    const { cert } = validatePem(pems)
    try {
      assertCovers(cert, host)
    } catch (err) {
      return `${certFile}: ${(err as Error).message}; fix: replace ${certFile} and ${keyFile} with a certificate for ${host}${orAcme}`
    }
    assertNotExpired(cert)
  } catch (err) {
    return `${certFile} / ${keyFile}: ${(err as Error).message}; fix: replace both with a current, matching pair${orAcme}`
  }
  return undefined
}

/** missingProblem says why a hostname without any certificate cannot be served, or undefined. */
function missingProblem(host: string, acme: boolean, certsDir: string): string | undefined {
  const base = host.startsWith('*.') ? `_wildcard.${host.slice(2)}` : host
  const files = `${path.join(certsDir, `${base}.crt`)} and ${path.join(certsDir, `${base}.key`)}`
  if (host.startsWith('*.') && acme && isPublicHostname(host.slice(2))) {
    return `${host} is a wildcard without a certificate file, and ACME cannot obtain wildcard certificates (that needs the DNS-01 challenge, which Portico does not support); fix: put ${files}, or route each name explicitly`
  }
  if (acme && isPublicHostname(host)) return undefined
  if (acme) {
    return `${host} has no certificate file and is not a public DNS name, so ACME cannot obtain one; fix: put ${files}`
  }
  if (!isPublicHostname(host)) return `${host} has no certificate; fix: put ${files}`
  return `${host} has no certificate; fix: put ${files}, or set edge.acme.email to have Portico obtain one`
}

/**
 * checkCertificates inspects the certificate of every routed hostname as `portico start` would
 * serve it. Refused: a certificate file that is expired, does not cover the name, does not
 * match its key (or misses its other half); a name with no certificate at all while ACME is
 * off or cannot certify it; a wildcard without a file while ACME is on (DNS-01 is not
 * supported). Loopback names (`*.localhost`, IPs) without a file are only warned about: they
 * never reach a remote visitor, and the fallback certificate serves them. One problem per file.
 */
export async function checkCertificates(options: PreflightOptions): Promise<Preflight> {
  const { config, certsDir, acme } = options
  const result: Preflight = { refusals: [], warnings: [] }
  const seen = new Set<string>()
  for (const { host, path: where } of routedHostnames(config)) {
    const found = await findPair(certsDir, host)
    let message: string | undefined
    if (found !== undefined) message = await pairProblem(found, host, acme)
    else if (options.hasApiCertificate(host)) message = undefined
    else if (isLoopbackName(host.replace(/^\*\./, ''))) {
      result.warnings.push({
        path: where,
        message: `${host} has no certificate; it is served with the self-signed fallback`,
      })
    } else message = missingProblem(host, acme, certsDir)
    if (message === undefined || seen.has(message)) continue
    seen.add(message)
    result.refusals.push({ path: where, message })
  }
  return result
}

/**
 * wildcardRefusals is the part of the preflight that applies in every mode and to every config
 * change: with ACME on, a public wildcard hostname needs a certificate file.
 */
export async function wildcardRefusals(options: PreflightOptions): Promise<CertIssue[]> {
  if (!options.acme) return []
  const issues: CertIssue[] = []
  for (const { host, path: where } of routedHostnames(options.config)) {
    if (!host.startsWith('*.') || !isPublicHostname(host.slice(2))) continue
    if (options.hasApiCertificate(host) || (await findPair(options.certsDir, host))) continue
    issues.push({ path: where, message: missingProblem(host, true, options.certsDir) as string })
  }
  return issues
}
