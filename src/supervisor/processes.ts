/** @module Process facts from /proc (Linux): liveness, start time, process group and environment, by pid. */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { setTimeout as delay } from 'node:timers/promises'

/** Whether /proc is there to answer (Linux). Elsewhere the helpers below degrade as documented. */
export const HAS_PROCFS = existsSync('/proc/self/stat')

/** The fields of `/proc/<pid>/stat` this project reads (proc(5) field numbers in brackets). */
export interface ProcStat {
  pid: number
  /** [3] One letter: R, S, D, Z (zombie), X (dead), T, … */
  state: string
  /** [4] */
  ppid: number
  /** [5] Process group id; an app started by pm2 leads its own group (pgid = pid). */
  pgrp: number
  /** [22] Start time in clock ticks since boot: with the pid, the identity of a process. */
  startTime: number
}

/** readProcStat returns the stat of a live or zombie process, or undefined when it is gone. */
export function readProcStat(pid: number): ProcStat | undefined {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    // ENOENT: the process is gone (or there is no /proc); both mean "no facts".
    return undefined
  }
  // comm (field 2) may hold spaces and parentheses: the fields resume after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  return {
    pid,
    state: fields[0] ?? '?',
    ppid: Number(fields[1]),
    pgrp: Number(fields[2]),
    startTime: Number(fields[19]),
  }
}

/**
 * isAlive reports whether `pid` runs. A zombie counts as gone: it holds no port and no memory,
 * and the reaper (init here reaps lazily, ~1.5 s) decides when the pid disappears. EPERM means
 * it exists but is not ours: alive. Without /proc, `kill(pid, 0)` alone decides.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
  if (!HAS_PROCFS) return true
  const stat = readProcStat(pid)
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X'
}

/** readEnviron returns the environment a process was started with, or undefined if unreadable. */
export function readEnviron(pid: number): Map<string, string> | undefined {
  let raw: string
  try {
    raw = readFileSync(`/proc/${pid}/environ`, 'utf8')
  } catch {
    // Gone, or not ours to read (EACCES): the caller treats both as "unknown".
    return undefined
  }
  const env = new Map<string, string>()
  for (const entry of raw.split('\0')) {
    const eq = entry.indexOf('=')
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1))
  }
  return env
}

/** groupMembers returns the live pids whose process group is `pgid` (empty without /proc). */
export function groupMembers(pgid: number): number[] {
  if (!HAS_PROCFS) return []
  const members: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = readProcStat(Number(entry))
    if (stat?.pgrp === pgid && stat.state !== 'Z' && stat.state !== 'X') members.push(stat.pid)
  }
  return members
}

/**
 * killGroup sends `signal` to the whole process group `pgid` and returns false when the group no
 * longer exists (ESRCH). The caller must know the group is its own: see leftovers.ts.
 */
export function killGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false
    throw error
  }
}

/** waitUntilGone polls until none of `pids` is alive and returns those still alive at the deadline. */
export async function waitUntilGone(
  pids: Iterable<number>,
  options: { timeoutMs: number; intervalMs?: number },
): Promise<number[]> {
  const deadline = Date.now() + options.timeoutMs
  let alive = [...new Set(pids)].filter(isAlive)
  while (alive.length > 0 && Date.now() < deadline) {
    await delay(options.intervalMs ?? 50)
    alive = alive.filter(isAlive)
  }
  return alive
}
