/** @module Usage: CPU and memory of each instance's process tree, sampled from /proc (Linux). */
import { readFile } from 'node:fs/promises'
import { HAS_PROCFS } from './processes.ts'

/** Kernel clock ticks per second as /proc reports CPU time (USER_HZ: 100 on every Linux ABI). */
const TICKS_PER_SECOND = 100
const BYTES_PER_KIB = 1024
/** Most processes counted in one instance's tree (a shell, the app, its workers). */
const MAX_TREE_SIZE = 64

/** One instance's resource use: the process tree rooted at its pid. */
export interface ResourceUsage {
  /** CPU over the last sampling interval, in percent of one core (200 = two cores busy). */
  cpuPercent: number
  /** Resident memory of the whole tree, in bytes. */
  memoryBytes: number
}

interface TreeReading {
  ticks: number
  memoryBytes: number
  atMs: number
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch {
    // The process ended between two reads: it simply no longer counts.
    return undefined
  }
}

/** childrenOf returns the direct children of `pid` (every thread's children list). */
async function childrenOf(pid: number): Promise<number[]> {
  const text = await readText(`/proc/${pid}/task/${pid}/children`)
  return text === undefined ? [] : text.split(' ').filter(Boolean).map(Number)
}

/** processTree returns `root` and its descendants, at most MAX_TREE_SIZE of them. */
async function processTree(root: number): Promise<number[]> {
  const tree = [root]
  for (let i = 0; i < tree.length && tree.length < MAX_TREE_SIZE; i++) {
    for (const child of await childrenOf(tree[i] as number)) {
      if (tree.length < MAX_TREE_SIZE) tree.push(child)
    }
  }
  return tree
}

/** readProcess returns a process's CPU ticks (user + system) and resident bytes, or undefined. */
async function readProcess(pid: number): Promise<{ ticks: number; rssBytes: number } | undefined> {
  const [stat, status] = await Promise.all([
    readText(`/proc/${pid}/stat`),
    readText(`/proc/${pid}/status`),
  ])
  if (stat === undefined || status === undefined) return undefined
  // Fields resume after the command name's last ')': state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ticks = Number(fields[11]) + Number(fields[12])
  const rssKib = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0)
  return { ticks, rssBytes: rssKib * BYTES_PER_KIB }
}

async function readTree(root: number, atMs: number): Promise<TreeReading | undefined> {
  const readings = await Promise.all((await processTree(root)).map(readProcess))
  if (readings[0] === undefined) return undefined
  let ticks = 0
  let memoryBytes = 0
  for (const reading of readings) {
    ticks += reading?.ticks ?? 0
    memoryBytes += reading?.rssBytes ?? 0
  }
  return { ticks, memoryBytes, atMs }
}

/**
 * UsageSampler reads the CPU time and resident memory of process trees from /proc, asynchronously
 * (a few small reads per process), and turns two readings of the same root pid into a CPU
 * percentage. `sample(pids)` is called on a timer by the live sampler; `usage(pid)` answers from
 * the last sample (undefined before the second one, for a gone pid, or without /proc). Memory is
 * bounded by the pids of the last sample.
 */
export class UsageSampler {
  readonly #now: () => number
  #last = new Map<number, TreeReading>()
  #usage = new Map<number, ResourceUsage>()

  constructor(now: () => number = Date.now) {
    this.#now = now
  }

  /** sample reads every pid's tree and keeps the usage since the previous reading of that pid. */
  async sample(pids: Iterable<number>): Promise<void> {
    if (!HAS_PROCFS) return
    const atMs = this.#now()
    const unique = [...new Set(pids)]
    const readings = await Promise.all(unique.map((pid) => readTree(pid, atMs)))
    const last = new Map<number, TreeReading>()
    const usage = new Map<number, ResourceUsage>()
    unique.forEach((pid, i) => {
      const reading = readings[i]
      if (reading === undefined) return
      last.set(pid, reading)
      const before = this.#last.get(pid)
      if (before === undefined || reading.atMs <= before.atMs) return
      const seconds = (reading.atMs - before.atMs) / 1000
      const cpuSeconds = Math.max(0, reading.ticks - before.ticks) / TICKS_PER_SECOND
      usage.set(pid, {
        cpuPercent: Math.round((cpuSeconds / seconds) * 1000) / 10,
        memoryBytes: reading.memoryBytes,
      })
    })
    this.#last = last
    this.#usage = usage
  }

  /** usage returns the last measured use of the tree rooted at `pid`, if any. */
  usage(pid: number | null): ResourceUsage | undefined {
    return pid === null ? undefined : this.#usage.get(pid)
  }
}
