/** @module rawRequest: exact bytes over a plain TCP socket, for requests no HTTP client would send. */
import net from 'node:net'

/**
 * rawRequest connects to 127.0.0.1:port, writes `bytes` as they are (duplicate Host headers, h2c
 * upgrades, …) and resolves with everything the server sent back, once it closes the connection or
 * after `timeoutMs` (default 2000), whichever comes first; rejects on a socket error. The socket is
 * destroyed at the deadline, so nothing is left to clean up.
 */
export function rawRequest(port: number, bytes: string, timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes))
    let out = ''
    socket.on('data', (d) => {
      out += d.toString()
    })
    socket.setTimeout(timeoutMs, () => socket.destroy())
    socket.on('close', () => resolve(out))
    socket.on('error', reject)
  })
}
