/** @module ChallengeStore: the pending HTTP-01 and TLS-ALPN-01 answers, as the edge reads them. */
import type { AcmeResponder } from '../proxy/acme-responder.ts'
import type { KeyPair } from '../proxy/tls/dev-ca.ts'

/**
 * ChallengeStore holds what the edge must answer while orders run: a key authorization per
 * HTTP-01 token and a self-signed `acmeIdentifier` certificate per TLS-ALPN-01 name. The ACME
 * issuer adds an entry before it tells the CA to validate and removes it once the authorization
 * is decided; the edge reads it through the AcmeResponder interface (directly in the main
 * process, over IPC from edge workers). Entries are few and short-lived.
 */
export class ChallengeStore implements AcmeResponder {
  readonly http01: boolean
  readonly tlsAlpn01: boolean
  #tokens = new Map<string, string>()
  #certificates = new Map<string, KeyPair>()

  constructor(enabled: { http01: boolean; tlsAlpn01: boolean }) {
    this.http01 = enabled.http01
    this.tlsAlpn01 = enabled.tlsAlpn01
  }

  /** addToken makes the HTTP listener answer `token` with `keyAuthorization`. */
  addToken(token: string, keyAuthorization: string): void {
    this.#tokens.set(token, keyAuthorization)
  }

  removeToken(token: string): void {
    this.#tokens.delete(token)
  }

  /** addCertificate makes TLS-ALPN-01 handshakes for `name` get this challenge certificate. */
  addCertificate(name: string, pair: KeyPair): void {
    this.#certificates.set(name, pair)
  }

  removeCertificate(name: string): void {
    this.#certificates.delete(name)
  }

  async keyAuthorization(token: string): Promise<string | undefined> {
    return this.#tokens.get(token)
  }

  async challengeCertificate(servername: string): Promise<KeyPair | undefined> {
    return this.#certificates.get(servername)
  }
}
