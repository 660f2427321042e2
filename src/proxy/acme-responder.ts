/**
 * @module The edge's side of ACME challenges: HTTP-01 answered on the HTTP listener before any
 * routing or redirect (RFC 8555 §8.3), TLS-ALPN-01 answered on the HTTPS listener through the
 * ALPN and SNI callbacks (RFC 8737).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createSecureContext, type SecureContext } from 'node:tls'
import type { Logger } from '../observe/log.ts'
import type { KeyPair } from './tls/dev-ca.ts'
import { normalizeHostname, SECURE_CONTEXT_OPTIONS, type SniCallback } from './tls/sni.ts'

/** The path prefix of HTTP-01 requests (RFC 8555 §8.3). */
export const ACME_CHALLENGE_PREFIX = '/.well-known/acme-challenge/'
/** The ALPN protocol a TLS-ALPN-01 validator offers, and nothing else (RFC 8737 §3). */
export const ACME_TLS_ALPN = 'acme-tls/1'
/** What the edge speaks over TLS otherwise (what `https.createServer` offers on its own). */
export const EDGE_ALPN_PROTOCOLS: readonly string[] = ['http/1.1']

/** An ACME token is base64url of at least 128 bits (RFC 8555 §8.1); anything else is no token. */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{22,256}$/

/**
 * AcmeResponder is what the edge asks while Portico obtains certificates: the key authorization
 * for an HTTP-01 token and the challenge certificate for a TLS-ALPN-01 handshake, each
 * undefined when no such challenge is pending. In the main process it reads the ACME manager's
 * challenges; in an edge worker it asks the main process.
 */
export interface AcmeResponder {
  /** Answer HTTP-01 on the HTTP listener. */
  readonly http01: boolean
  /** Answer TLS-ALPN-01 on the HTTPS listener (installs an ALPN callback). */
  readonly tlsAlpn01: boolean
  keyAuthorization: (token: string) => Promise<string | undefined>
  challengeCertificate: (servername: string) => Promise<KeyPair | undefined>
}

/** challengeToken returns the HTTP-01 token a GET or HEAD asks for, else undefined. */
export function challengeToken(req: IncomingMessage): string | undefined {
  const url = req.url
  if (url === undefined || !url.startsWith(ACME_CHALLENGE_PREFIX)) return undefined
  if (req.method !== 'GET' && req.method !== 'HEAD') return undefined
  const token = url.slice(ACME_CHALLENGE_PREFIX.length)
  return TOKEN_PATTERN.test(token) ? token : undefined
}

/**
 * answerHttp01 answers a pending HTTP-01 challenge with its key authorization and resolves
 * true; for a token Portico does not know it resolves false without touching the response, so
 * the request is routed as usual (an app may run its own ACME client).
 */
export async function answerHttp01(
  res: ServerResponse,
  responder: AcmeResponder,
  token: string,
): Promise<boolean> {
  let keyAuthorization: string | undefined
  try {
    keyAuthorization = await responder.keyAuthorization(token)
  } catch {
    // The answer is unknown (a worker lost its primary): route it like any request.
    return false
  }
  if (keyAuthorization === undefined) return false
  res.writeHead(200, {
    'Content-Type': 'application/octet-stream',
    'Content-Length': Buffer.byteLength(keyAuthorization),
    'Cache-Control': 'no-store',
  })
  res.end(keyAuthorization)
  return true
}

/**
 * tlsAlpnCallbacks returns the `ALPNCallback` and `SNICallback` for the HTTPS server when
 * TLS-ALPN-01 is on. Node picks the certificate in the SNI callback, which does not see the
 * client's ALPN list; but OpenSSL runs the ALPN callback first, for the same ClientHello and
 * with only ticks and microtasks in between (no I/O). So the ALPN callback notes the name of a
 * handshake that offers `acme-tls/1`, and the SNI callback that follows for that name serves
 * the challenge certificate instead of asking `sni`. A note not taken (a validator that sent no
 * SNI) is dropped before the next I/O callback. Other handshakes get the first of
 * EDGE_ALPN_PROTOCOLS the client offers; one that offers none of them gets a
 * `no_application_protocol` alert (RFC 7301 §3.2) where Node alone would omit ALPN.
 */
export function tlsAlpnCallbacks(
  responder: AcmeResponder,
  sni: SniCallback,
  log: Logger,
): {
  ALPNCallback: (info: { servername: string; protocols: string[] }) => string | undefined
  SNICallback: SniCallback
} {
  let offeredFor: string | undefined
  return {
    ALPNCallback: ({ servername, protocols }) => {
      if (!protocols.includes(ACME_TLS_ALPN)) {
        offeredFor = undefined
        return EDGE_ALPN_PROTOCOLS.find((p) => protocols.includes(p))
      }
      const name = normalizeHostname(servername ?? '')
      offeredFor = name
      setImmediate(() => {
        if (offeredFor === name) offeredFor = undefined
      })
      return ACME_TLS_ALPN
    },
    SNICallback: (servername, cb) => {
      const name = normalizeHostname(servername)
      const challenge = name !== undefined && offeredFor === name
      offeredFor = undefined
      if (!challenge) return sni(servername, cb)
      void challengeContext(responder, name, log).then((ctx) => cb(null, ctx))
    },
  }
}

/** challengeContext never rejects: a failure is logged and the default certificate served. */
async function challengeContext(
  responder: AcmeResponder,
  name: string,
  log: Logger,
): Promise<SecureContext | undefined> {
  try {
    const pair = await responder.challengeCertificate(name)
    if (pair === undefined) return undefined
    return createSecureContext({ ...SECURE_CONTEXT_OPTIONS, key: pair.keyPem, cert: pair.certPem })
  } catch (err) {
    log.warn({ err, servername: name }, 'TLS-ALPN-01: no usable challenge certificate')
    return undefined
  }
}
