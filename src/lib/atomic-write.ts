/** @module writeFileAtomic: temp file in the same folder, fsync, rename, fsync the folder. */
import { randomBytes } from 'node:crypto'
import { open, rename, rm } from 'node:fs/promises'
import path from 'node:path'

/**
 * writeFileAtomic replaces `file` with `data` so that a crash at any moment leaves either the old
 * or the new content, never a mix: write a new temp file beside it with the exact final `mode`
 * (whatever the umask), fsync it, rename it over the target, then fsync the folder so the rename
 * itself is durable. If any step before the rename fails, the temp file is removed and the error
 * thrown. Not safe against two writers of the same file at once (the last rename wins).
 */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  mode = 0o600,
): Promise<void> {
  const dir = path.dirname(file)
  const temp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`)
  // 'wx' fails rather than reuse (or follow a link at) a name that already exists.
  const handle = await open(temp, 'wx', mode)
  try {
    try {
      await handle.writeFile(data)
      // The mode given to open() is masked by the umask; chmod makes it exact (keys stay 0600).
      await handle.chmod(mode)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temp, file)
  } catch (error) {
    await rm(temp, { force: true })
    throw error
  }
  await syncFolder(dir)
}

async function syncFolder(dir: string): Promise<void> {
  const folder = await open(dir, 'r')
  try {
    await folder.sync()
  } catch (error) {
    // Some filesystems refuse fsync on a directory (EINVAL): the rename has happened, only its
    // durability across a power cut is not promised there.
    if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error
  } finally {
    await folder.close()
  }
}
