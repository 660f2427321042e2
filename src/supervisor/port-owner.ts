/** @module Who listens on a port (Linux /proc): the instance's own process group, or a squatter that was there first. */
import { readdirSync } from 'node:fs'
import { readTcpListeners, socketInodes } from '../lib/proc-net.ts'
import { groupMembers, HAS_PROCFS, readEnviron } from './processes.ts'

/** How a listener on an instance's port relates to that instance. */
export type ListenerOwner =
  /** A process of the instance's process group holds the listening socket. */
  | 'ours'
  /** A process we can see that is not the instance's holds it: a squatter. */
  | 'foreign'
  /** Not provable either way (no /proc, another user's process, a container proxy, …). */
  | 'unknown'

/** listeningInodes returns the inodes of the TCP sockets (IPv4 and IPv6) listening on `port`. */
export function listeningInodes(port: number): Set<string> {
  return new Set(
    readTcpListeners()
      .filter((l) => l.port === port)
      .map((l) => l.inode),
  )
}

/** holdsSocket reports whether process `pid` has one of the socket `inodes` open. */
export function holdsSocket(pid: number, inodes: ReadonlySet<string>): boolean {
  for (const inode of socketInodes(pid)) if (inodes.has(inode)) return true
  return false
}

/** Who an instance is, as its processes' environment says (PORTICO_APP, PORTICO_INSTANCE). */
export interface InstanceIdentity {
  app: string
  index: number
  /** Process group of the instance: pm2 starts each process as a group leader. */
  pgid: number
}

/**
 * listenerOwner tells who holds the listening socket on `port`. A process of the instance's
 * group, or any process started with its PORTICO_APP/PORTICO_INSTANCE (something it launched
 * outside its group), is `ours`; any other process we can see is `foreign`, whenever it appeared
 * (a squatter that took the port while the instance restarted too); a holder we cannot see
 * (another user's, root's container proxy) is `unknown`. The scan of other processes runs only
 * when the group does not hold the socket, which is rare.
 */
export function listenerOwner(port: number, identity: InstanceIdentity): ListenerOwner {
  if (!HAS_PROCFS) return 'unknown'
  const inodes = listeningInodes(port)
  if (inodes.size === 0) return 'unknown'
  const group = new Set(groupMembers(identity.pgid))
  for (const pid of group) if (holdsSocket(pid, inodes)) return 'ours'
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || group.has(Number(entry))) continue
    const pid = Number(entry)
    if (!holdsSocket(pid, inodes)) continue
    const env = readEnviron(pid)
    const same =
      env?.get('PORTICO_APP') === identity.app &&
      env.get('PORTICO_INSTANCE') === String(identity.index)
    return same ? 'ours' : 'foreign'
  }
  return 'unknown'
}
