/** @module tryLock: an exclusive lock file per name, so two Portico processes on one state dir never order twice. */
import { open, readFile, rm, stat } from 'node:fs/promises'
import path from 'node:path'

/** A lock older than this is taken over even if its pid is alive (the pid may have been reused). */
export const LOCK_STALE_MS = 10 * 60_000

/** Releases a held lock; safe to call more than once. */
export type Release = () => Promise<void>

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

async function create(file: string): Promise<Release | undefined> {
  try {
    const handle = await open(file, 'wx', 0o600)
    try {
      await handle.writeFile(`${process.pid}\n`)
    } finally {
      await handle.close()
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return undefined
    throw error
  }
  let released = false
  return async () => {
    if (released) return
    released = true
    await rm(file, { force: true })
  }
}

/** isAbandoned reports a lock whose owner is gone (or that is too old to trust its pid). */
async function isAbandoned(file: string, now: number): Promise<boolean> {
  try {
    const [text, info] = await Promise.all([readFile(file, 'utf8'), stat(file)])
    const pid = Number.parseInt(text, 10)
    if (now - info.mtimeMs > LOCK_STALE_MS) return true
    // A half-written lock (no pid yet) belongs to a process that is writing it right now.
    return Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && !isAlive(pid)
  } catch (error) {
    // Gone between our failed create and this read: free, try again.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true
    throw error
  }
}

/**
 * tryLock takes `<dir>/<name>.lock` (created with O_EXCL, holding our pid) and returns its
 * release, or undefined while another live process holds it. A lock left by a process that is
 * gone, or older than LOCK_STALE_MS, is removed and taken. `name` must be a safe file name
 * (a validated hostname is).
 */
export async function tryLock(
  dir: string,
  name: string,
  now = Date.now(),
): Promise<Release | undefined> {
  const file = path.join(dir, `${name}.lock`)
  const first = await create(file)
  if (first !== undefined) return first
  if (!(await isAbandoned(file, now))) return undefined
  await rm(file, { force: true })
  return create(file)
}
