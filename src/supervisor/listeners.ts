/** @module Where an instance's process tree listens on loopback, and the one line that says so when it is not its PORT. */
import {
  isLoopbackOrAny,
  processTree,
  readTcpListenersAsync,
  socketInodesAsync,
} from '../lib/proc-net.ts'

/** One listening socket: its bound address (`127.0.0.1`, `::1`, `0.0.0.0`, `::`) and port. */
export interface Listening {
  address: string
  port: number
}

/**
 * listenersOf returns the loopback (or all-interfaces) TCP listeners held by process `pid` or
 * any of its descendants, sorted by port, without duplicates. Costs one read of the socket
 * tables plus the fd folders of the tree, without blocking the event loop: call it while an instance starts, not per
 * request. Empty without /proc or once the process is gone.
 */
export async function listenersOf(pid: number): Promise<Listening[]> {
  const tree = processTree(pid)
  if (tree.length === 0) return []
  const held = new Set<string>()
  for (const inodes of await Promise.all(tree.map(socketInodesAsync))) {
    for (const inode of inodes) held.add(inode)
  }
  const seen = new Map<string, Listening>()
  for (const listener of await readTcpListenersAsync()) {
    if (!held.has(listener.inode) || !isLoopbackOrAny(listener.address)) continue
    const found = { address: listener.address, port: listener.port }
    seen.set(formatListening(found), found)
  }
  return [...seen.values()].sort((a, b) => a.port - b.port || a.address.localeCompare(b.address))
}

/** formatListening renders `127.0.0.1:5173` or `[::1]:5173`. */
export function formatListening(l: Listening): string {
  return l.address.includes(':') ? `[${l.address}]:${l.port}` : `${l.address}:${l.port}`
}

/**
 * wrongPortProblem returns the line that tells an instance listens elsewhere than its `port`
 * (`web#0 listens on 5173, not 21003: pass --port $PORT …`), or undefined when it listens on
 * its port, or nowhere yet.
 */
export function wrongPortProblem(
  id: string,
  port: number,
  listening: readonly Listening[],
): string | undefined {
  if (listening.length === 0 || listening.some((l) => l.port === port)) return undefined
  const ports = [...new Set(listening.map((l) => l.port))]
  const where =
    ports.length === 1 ? String(ports[0]) : `${ports.slice(0, -1).join(', ')} and ${ports.at(-1)}`
  return `${id} listens on ${where}, not ${port}: pass --port $PORT (or have it read process.env.PORT)`
}
