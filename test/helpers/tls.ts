/** @module tlsHandshake: one TLS handshake to 127.0.0.1 with an SNI name, verified against a given CA. */
import tls from 'node:tls'

/** What a verified handshake showed. */
export interface Handshake {
  serialNumber: string
  /** The certificate's subjectAltName (`DNS:a.example.com`). */
  subjectAltName: string
  /** When the handshake finished (epoch ms). */
  doneAt: number
}

/**
 * tlsHandshake connects to 127.0.0.1:port with `servername` as SNI, verifies the certificate
 * chain against `ca` only (and the name), and resolves with the leaf's serial number; it
 * rejects when verification fails. The socket is closed at once: nothing to clean up.
 */
export function tlsHandshake(options: {
  port: number
  servername: string
  ca: string
  timeoutMs?: number
}): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port: options.port,
      servername: options.servername,
      ca: options.ca,
      ALPNProtocols: ['http/1.1'],
    })
    socket.setTimeout(options.timeoutMs ?? 20_000, () =>
      socket.destroy(new Error('TLS handshake timed out')),
    )
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate()
      resolve({
        serialNumber: cert.serialNumber,
        subjectAltName: cert.subjectaltname ?? '',
        doneAt: Date.now(),
      })
      socket.destroy()
    })
    socket.once('error', reject)
  })
}
