/** @module The instances file (pids we started, written atomically) and killing leftovers after a crash. */
import { open, readFile, rename } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { Logger } from '../observe/log.ts'
import {
  groupMembers,
  HAS_PROCFS,
  isAlive,
  killGroup,
  readEnviron,
  readProcStat,
  waitUntilGone,
} from './processes.ts'

/** One running instance as recorded on disk: enough to find its process group again, and only it. */
export interface InstanceRecord {
  /** Target id, `<app>#<index>`. */
  id: string
  app: string
  index: number
  /** Pid of the process pm2 started; it leads its own process group. */
  pid: number
  /** `/proc/<pid>/stat` start time (clock ticks since boot), or null where there is no /proc. */
  startTime: number | null
}

interface InstancesFile {
  version: 1
  instances: InstanceRecord[]
}

/** How long leftovers get to disappear after SIGKILL, in milliseconds. */
const LEFTOVER_KILL_WAIT_MS = 5_000

/**
 * writeInstanceRecords replaces the file atomically (temp file in the same folder, fsync,
 * rename, fsync the folder): a crash mid-write leaves the old or the new list, never half.
 * Concurrent calls must be serialised by the caller (the Supervisor chains them).
 */
export async function writeInstanceRecords(
  file: string,
  records: readonly InstanceRecord[],
): Promise<void> {
  const body: InstancesFile = { version: 1, instances: [...records] }
  const tmp = `${file}.${process.pid}.tmp`
  const handle = await open(tmp, 'w', 0o600)
  try {
    await handle.writeFile(`${JSON.stringify(body, null, 2)}\n`)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(tmp, file)
  const dir = await open(dirname(file), 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}

/**
 * RecordsWriter keeps the instances file up to date: each write replaces the whole list, writes
 * are chained, so the file always ends with the latest one. Failures are logged, not thrown.
 */
export class RecordsWriter {
  readonly #file: string
  readonly #log: Logger
  #chain: Promise<void> = Promise.resolve()

  constructor(file: string, log: Logger) {
    this.#file = file
    this.#log = log
  }

  /** write queues `records` as the new content of the file. */
  write(records: readonly InstanceRecord[]): void {
    const copy = [...records]
    this.#chain = this.#chain
      .then(() => writeInstanceRecords(this.#file, copy))
      .catch((error: unknown) => this.#log.error({ err: error }, 'cannot write the instances file'))
  }

  /** flushed resolves once every queued write is done. */
  flushed(): Promise<void> {
    return this.#chain
  }
}

/**
 * readInstanceRecords returns the recorded instances: [] when the file is missing, and [] when
 * it is not valid JSON (a damaged file cannot safely name processes to kill). Entries that do not
 * look like records are skipped. Other read errors (EACCES, …) are thrown.
 */
export async function readInstanceRecords(file: string): Promise<InstanceRecord[]> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    // Damaged (hand-edited, or not ours): nothing in it can be trusted.
    return []
  }
  if (typeof parsed !== 'object' || parsed === null || !('instances' in parsed)) return []
  const list = (parsed as { instances: unknown }).instances
  return Array.isArray(list) ? list.filter(isRecord) : []
}

function isRecord(value: unknown): value is InstanceRecord {
  const r = value as Partial<InstanceRecord> | null
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.app === 'string' &&
    Number.isInteger(r.index) &&
    Number.isInteger(r.pid) &&
    (r.pid ?? 0) > 1 &&
    (r.startTime === null || typeof r.startTime === 'number')
  )
}

/** hasInstanceEnv reports whether `pid` was started with PORTICO_APP/PORTICO_INSTANCE of `record`. */
function hasInstanceEnv(pid: number, record: Pick<InstanceRecord, 'app' | 'index'>): boolean {
  const env = readEnviron(pid)
  return (
    env?.get('PORTICO_APP') === record.app && env.get('PORTICO_INSTANCE') === String(record.index)
  )
}

/**
 * instanceProcesses returns the live processes of the instance's process group, or [] when the
 * group is not provably ours. If the leader runs, its start time and environment must match the
 * record (the pid may have been reused). If it is gone, the group id cannot have been reused
 * while members remain (Linux never hands out a pid still used as a pgid), and each member must
 * still carry the instance's environment. Without /proc nothing is provable: [].
 */
export function instanceProcesses(
  record: Pick<InstanceRecord, 'pid' | 'app' | 'index' | 'startTime'>,
): number[] {
  if (!HAS_PROCFS) return []
  const leader = readProcStat(record.pid)
  if (leader && isAlive(record.pid)) {
    const sameProcess = record.startTime === null || leader.startTime === record.startTime
    if (!sameProcess || !hasInstanceEnv(record.pid, record)) return []
  }
  return groupMembers(record.pid).filter((pid) => hasInstanceEnv(pid, record))
}

/**
 * killInstanceGroup SIGKILLs the instance's process group when it is provably ours (see
 * instanceProcesses) and returns the pids it found; it does not wait for them to die.
 */
export function killInstanceGroup(
  record: Pick<InstanceRecord, 'pid' | 'app' | 'index' | 'startTime'>,
): number[] {
  const pids = instanceProcesses(record)
  if (pids.length > 0) killGroup(record.pid, 'SIGKILL')
  return pids
}

/**
 * killLeftovers kills every recorded instance that still runs (a previous Portico died without
 * stopping its apps: non-node apps survive their pm2), waits for them to go, and returns their
 * pids. Call it once at start-up, after pm2 has proved no live process owns the state dir.
 */
export async function killLeftovers(file: string, log: Logger): Promise<number[]> {
  const records = await readInstanceRecords(file)
  if (records.length === 0) return []
  if (!HAS_PROCFS) {
    log.warn({ file }, 'cannot check leftover instances without /proc; not killing them')
    return []
  }
  const killed = records.flatMap((record) => killInstanceGroup(record))
  if (killed.length > 0)
    log.warn({ pids: killed }, 'killed instances left over from a previous run')
  const survivors = await waitUntilGone(killed, { timeoutMs: LEFTOVER_KILL_WAIT_MS })
  if (survivors.length > 0) log.error({ pids: survivors }, 'leftover instances survived SIGKILL')
  await writeInstanceRecords(file, [])
  return killed
}
