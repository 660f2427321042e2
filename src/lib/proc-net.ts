/** @module Listening TCP sockets and who holds them, read from Linux /proc (net/tcp, net/tcp6, <pid>/fd, children). */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { readdir, readFile, readlink } from 'node:fs/promises'

/** One listening TCP socket of this network namespace. */
export interface TcpListener {
  /** Socket inode: what `/proc/<pid>/fd/*` links to (`socket:[<inode>]`). */
  inode: string
  /** Bound address: `127.0.0.1`, `0.0.0.0`, `::1`, `::`, … */
  address: string
  port: number
}

const TCP_LISTEN = '0A'

/**
 * readTcpListeners returns every listening TCP socket (IPv4 and IPv6) of this network
 * namespace. Empty without /proc; a table that cannot be read (no IPv6) adds nothing.
 */
export function readTcpListeners(): TcpListener[] {
  return TCP_TABLES.flatMap((table) => {
    try {
      return parseTcpTable(readFileSync(table, 'utf8'))
    } catch {
      // No IPv6 (or no /proc): that table simply has no listeners.
      return []
    }
  })
}

/** readTcpListenersAsync is readTcpListeners without blocking the event loop (a busy host's tables are large). */
export async function readTcpListenersAsync(): Promise<TcpListener[]> {
  const tables = await Promise.all(
    TCP_TABLES.map((table) => readFile(table, 'utf8').then(parseTcpTable, () => [])),
  )
  return tables.flat()
}

const TCP_TABLES = ['/proc/net/tcp', '/proc/net/tcp6']

function parseTcpTable(text: string): TcpListener[] {
  const listeners: TcpListener[] = []
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/)
    const local = fields[1]
    const inode = fields[9]
    if (local === undefined || inode === undefined || fields[3] !== TCP_LISTEN) continue
    const [hexAddress = '', hexPort = ''] = local.split(':')
    listeners.push({
      inode,
      address: decodeAddress(hexAddress),
      port: Number.parseInt(hexPort, 16),
    })
  }
  return listeners
}

/**
 * decodeAddress turns a /proc/net address into text. The kernel prints each 32-bit word in host
 * byte order (little-endian here): `0100007F` is 127.0.0.1, and `::1` ends in `01000000`.
 */
export function decodeAddress(hex: string): string {
  const bytes = Buffer.from(hex, 'hex')
  for (let i = 0; i + 4 <= bytes.length; i += 4) bytes.subarray(i, i + 4).reverse()
  if (bytes.length === 4) return [...bytes].join('.')
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16))
  return compressIpv6(groups)
}

/** compressIpv6 writes 8 hex groups in the short form: the longest run of zeros becomes `::`. */
function compressIpv6(groups: string[]): string {
  let best = { at: -1, length: 0 }
  for (let i = 0; i < groups.length; ) {
    let j = i
    while (j < groups.length && groups[j] === '0') j++
    if (j - i > best.length) best = { at: i, length: j - i }
    i = j === i ? i + 1 : j
  }
  if (best.length < 2) return groups.join(':')
  const head = groups.slice(0, best.at).join(':')
  const tail = groups.slice(best.at + best.length).join(':')
  return `${head}::${tail}`
}

/** isLoopbackOrAny reports an address a local client reaches through loopback (or all interfaces). */
export function isLoopbackOrAny(address: string): boolean {
  return (
    address.startsWith('127.') ||
    address === '0.0.0.0' ||
    address === '::1' ||
    address === '::' ||
    address.startsWith('::ffff:127.')
  )
}

/** socketInodes returns the socket inodes process `pid` has open (empty if gone or not ours). */
export function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>()
  let fds: string[]
  try {
    fds = readdirSync(`/proc/${pid}/fd`)
  } catch {
    // Gone, or another user's process: it cannot be shown to hold anything.
    return inodes
  }
  for (const fd of fds) {
    let link: string
    try {
      link = readlinkSync(`/proc/${pid}/fd/${fd}`)
    } catch {
      // The fd closed while we looked.
      continue
    }
    if (link.startsWith('socket:[')) inodes.add(link.slice(8, -1))
  }
  return inodes
}

/** socketInodesAsync is socketInodes without blocking the event loop. */
export async function socketInodesAsync(pid: number): Promise<Set<string>> {
  const inodes = new Set<string>()
  let fds: string[]
  try {
    fds = await readdir(`/proc/${pid}/fd`)
  } catch {
    // Gone, or another user's process.
    return inodes
  }
  const links = await Promise.all(
    fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')),
  )
  for (const link of links) if (link.startsWith('socket:[')) inodes.add(link.slice(8, -1))
  return inodes
}

/**
 * processTree returns `root` and all its live descendants, read from each process's
 * `/proc/<pid>/task/<tid>/children`; where the kernel lacks that file, from every process's
 * parent in `/proc/<pid>/stat`. Empty if `root` is gone.
 */
export function processTree(root: number): number[] {
  const tree: number[] = []
  const queue = [root]
  while (queue.length > 0) {
    const pid = queue.shift() as number
    const kids = childrenOf(pid)
    if (kids === undefined) return pid === root ? [] : tree
    tree.push(pid)
    queue.push(...kids)
  }
  return tree
}

function childrenOf(pid: number): number[] | undefined {
  let tasks: string[]
  try {
    tasks = readdirSync(`/proc/${pid}/task`)
  } catch {
    return undefined
  }
  const kids: number[] = []
  for (const tid of tasks) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim()
      if (text !== '') kids.push(...text.split(' ').map(Number))
    } catch {
      // No `children` file (kernel without CONFIG_PROC_CHILDREN): scan the parents instead.
      return childrenByScan(pid)
    }
  }
  return kids
}

function childrenByScan(parent: number): number[] {
  const kids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === parent) kids.push(Number(entry))
    } catch {
      // Gone meanwhile.
    }
  }
  return kids
}

/** holdersOf returns the pids (that we may look into) holding one of the socket `inodes`. */
export function holdersOf(inodes: ReadonlySet<string>): number[] {
  const pids: number[] = []
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return pids
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    const held = socketInodes(Number(entry))
    if ([...inodes].some((inode) => held.has(inode))) pids.push(Number(entry))
  }
  return pids
}

/** commandLine returns a process's command line, arguments joined by spaces, or undefined. */
export function commandLine(pid: number): string | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    const line = raw.split('\0').filter(Boolean).join(' ')
    return line === '' ? undefined : line
  } catch {
    return undefined
  }
}
