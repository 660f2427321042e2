/** @module closedPort: a loopback port nothing listens on, for dead backends and servers started later. */
import net from 'node:net'

/**
 * closedPort binds 127.0.0.1:0, closes it and returns the port: connections to it are refused
 * until someone binds it again (a test may, to bring a backend back). Nothing to clean up.
 */
export async function closedPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  const port = (server.address() as net.AddressInfo).port
  await new Promise((r) => server.close(r))
  return port
}
