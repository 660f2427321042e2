/** @module writeFileAtomic: temp file in the same folder, fsync, rename, fsync the folder. */
import { randomBytes } from 'node:crypto'
import { open, rename, rm } from 'node:fs/promises'
import path from 'node:path'

/**
 * writeFileAtomic replaces `file` with `data` so that a crash at any moment leaves either the old
 * or the new content, never a mix: write a temp file beside it with the final `mode`, fsync it,
 * rename it over the target, then fsync the folder so the rename itself is durable.
 */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  mode = 0o600,
): Promise<void> {
  const dir = path.dirname(file)
  const temp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`)
  const handle = await open(temp, 'w', mode)
  try {
    await handle.writeFile(data)
    // The mode given to open() is masked by the umask; chmod makes it exact (keys stay 0600).
    await handle.chmod(mode)
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await rename(temp, file)
  } catch (error) {
    await rm(temp, { force: true })
    throw error
  }
  const folder = await open(dir, 'r')
  try {
    await folder.sync()
  } finally {
    await folder.close()
  }
}
