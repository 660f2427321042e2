/** @module loadOrCreateSecret: a random secret made once and kept in a 0600 file (HMAC keys). */
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { writeFileAtomic } from './atomic-write.ts'

/** Size of a made secret, in bytes (HMAC-SHA256 keys gain nothing from more). */
export const SECRET_BYTES = 32

/**
 * loadOrCreateSecret returns the secret stored in `file` (hex), making one of SECRET_BYTES
 * random bytes the first time (the folder is made 0700, the file written atomically 0600). A
 * file that is group- or world-accessible is tightened to 0600. A file that does not hold at least
 * SECRET_BYTES of hex is an error naming the file, never silently replaced: replacing it would
 * invalidate every signed value (sticky cookies) without a word. Call once at start-up.
 */
export async function loadOrCreateSecret(file: string): Promise<Buffer> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 })
    const secret = randomBytes(SECRET_BYTES)
    await writeFileAtomic(file, `${secret.toString('hex')}\n`, 0o600)
    return secret
  }
  const hex = text.trim()
  if (!/^[0-9a-f]+$/i.test(hex) || hex.length < SECRET_BYTES * 2 || hex.length % 2 !== 0) {
    throw new Error(
      `${file} does not hold a secret of ${SECRET_BYTES} hex-encoded bytes; remove it to make a new one`,
    )
  }
  if (((await stat(file)).mode & 0o077) !== 0) await chmod(file, 0o600)
  return Buffer.from(hex, 'hex')
}
