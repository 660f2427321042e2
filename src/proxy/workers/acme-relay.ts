/** @module AcmeRelay: an edge worker's AcmeResponder, asking the primary over IPC (the challenges live there). */
import type { AcmeResponder } from '../acme-responder.ts'
import type { KeyPair } from '../tls/dev-ca.ts'
import type { AcmeAnswer, AcmeQuestion, FromWorker } from './protocol.ts'

/** Questions in flight at most; past this a challenge request is treated as unknown. */
const MAX_PENDING = 64
/** A question the primary has not answered within this long counts as "no such challenge". */
const ANSWER_TIMEOUT_MS = 5_000

/**
 * AcmeRelay answers the edge's ACME questions in a worker by asking the primary, which holds
 * the pending challenges; the primary has the answer before it tells the CA to validate, so no
 * push or acknowledgement is needed. Questions are bounded in number and time: anyone may send
 * `/.well-known/acme-challenge/…` requests, and each costs one IPC round trip.
 */
export class AcmeRelay implements AcmeResponder {
  readonly http01: boolean
  readonly tlsAlpn01: boolean
  readonly #send: (message: FromWorker) => void
  #waiters = new Map<number, (answer: AcmeAnswer | undefined) => void>()
  #nextId = 0

  constructor(flags: { http01: boolean; tlsAlpn01: boolean }, send: (message: FromWorker) => void) {
    this.http01 = flags.http01
    this.tlsAlpn01 = flags.tlsAlpn01
    this.#send = send
  }

  async keyAuthorization(token: string): Promise<string | undefined> {
    return (await this.#ask('http-01', token))?.keyAuthorization ?? undefined
  }

  async challengeCertificate(servername: string): Promise<KeyPair | undefined> {
    return (await this.#ask('tls-alpn-01', servername))?.pair ?? undefined
  }

  /** receive delivers the primary's answer to the question it belongs to. */
  receive(answer: AcmeAnswer): void {
    this.#waiters.get(answer.id)?.(answer)
  }

  #ask(kind: AcmeQuestion['kind'], key: string): Promise<AcmeAnswer | undefined> {
    if (this.#waiters.size >= MAX_PENDING) return Promise.resolve(undefined)
    const id = this.#nextId++
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(undefined), ANSWER_TIMEOUT_MS)
      timer.unref()
      const finish = (answer: AcmeAnswer | undefined) => {
        clearTimeout(timer)
        this.#waiters.delete(id)
        resolve(answer)
      }
      this.#waiters.set(id, finish)
      this.#send({ type: 'acme-question', id, kind, key })
    })
  }
}
