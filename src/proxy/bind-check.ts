/** @module Before anything listens: each edge and API port is tried once, so a refused or taken port is one clear line (port, cause, holder, fix). */
import net from 'node:net'
import { errors, type PorticoError } from '../errors.ts'
import { commandLine, holdersOf, readTcpListeners } from '../lib/proc-net.ts'

/** A listener Portico is about to open, and the variable that moves it. */
export interface PlannedListener {
  /** `https`, `http` or `api`. */
  name: string
  host: string
  /** 0 means "any free port": never checked. */
  port: number
  /** The environment variable that sets this port (`PORTICO_HTTPS_PORT`). */
  setting: string
}

/** Ports below this need root or CAP_NET_BIND_SERVICE on Linux (net.ipv4.ip_unprivileged_port_start). */
const PRIVILEGED_BELOW = 1024

/**
 * assertBindable binds and at once closes each planned listener, in order, and throws the
 * first failure as PTC_ERR_PORT_DENIED or PTC_ERR_PORT_IN_USE (one line: the address, the
 * cause, the process holding the port when /proc tells, the fix). Other errors are rethrown.
 * A port taken between this check and the real listen still fails there (describeListenError).
 */
export async function assertBindable(listeners: readonly PlannedListener[]): Promise<void> {
  for (const listener of listeners) {
    if (listener.port === 0) continue
    const error = await tryListen(listener.host, listener.port)
    if (error === undefined) continue
    throw describeListenError(error, listener) ?? error
  }
}

function tryListen(host: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer()
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error))
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)))
  })
}

/**
 * describeListenError turns a failed listen (EACCES, EADDRINUSE, EADDRNOTAVAIL) into the
 * PorticoError to print, or undefined for any other error. `listener` names the port's role
 * and setting; without it they are taken from the error.
 */
export function describeListenError(
  error: NodeJS.ErrnoException & { port?: number; address?: string },
  listener?: PlannedListener,
): PorticoError | undefined {
  const port = listener?.port ?? error.port ?? 0
  const host = listener?.host ?? error.address ?? '?'
  const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
  const role = listener?.name ?? 'listener'
  const setting = listener?.setting ?? 'the PORTICO_*_PORT variable'
  switch (error.code) {
    case 'EACCES':
      return new errors.PTC_ERR_PORT_DENIED(where, role, deniedWhy(port, setting))
    case 'EADDRINUSE':
      return new errors.PTC_ERR_PORT_IN_USE(
        where,
        role,
        `${heldBy(port)}; stop it, or set ${setting} to another port (0 picks any free one)`,
      )
    case 'EADDRNOTAVAIL':
      return new errors.PTC_ERR_PORT_DENIED(
        where,
        role,
        `${host} is not an address of this machine; set PORTICO_BIND (or edge.bind) to one of its addresses, such as 127.0.0.1`,
      )
    default:
      return undefined
  }
}

function deniedWhy(port: number, setting: string): string {
  if (port >= PRIVILEGED_BELOW)
    return `permission denied (a security policy refuses port ${port}); set ${setting} to another port`
  return (
    `permission denied: ports below ${PRIVILEGED_BELOW} need root or CAP_NET_BIND_SERVICE; ` +
    `grant it to node once with sudo setcap 'cap_net_bind_service=+ep' ${process.execPath}, ` +
    `or set ${setting} to a port from ${PRIVILEGED_BELOW} up (8443 by default)`
  )
}

/** Who holds `port`, as far as /proc tells this user. */
function heldBy(port: number): string {
  const inodes = new Set(
    readTcpListeners()
      .filter((l) => l.port === port)
      .map((l) => l.inode),
  )
  const holders = inodes.size === 0 ? [] : holdersOf(inodes).filter((pid) => pid !== process.pid)
  const [pid] = holders
  if (pid === undefined)
    return `port ${port} is in use by another process (not one this user can see)`
  const cmd = commandLine(pid)
  const shown = cmd === undefined ? '' : ` (${cmd.length > 80 ? `${cmd.slice(0, 77)}...` : cmd})`
  return `port ${port} is in use by pid ${pid}${shown}`
}
