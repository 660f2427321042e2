/**
 * @module Password hashes for Basic auth: PHC-form scrypt (made and checked with node:crypto, off
 * the event loop) and htpasswd bcrypt (`$2y$`/`$2b$`/`$2a$`, checked with bcryptjs).
 */
import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto'
import bcrypt from 'bcryptjs'
import type { PasswordHash } from '../../config/policy-values.ts'

/** scrypt cost made by hashPassword: N = 2^15, r = 8, p = 1 (32 MiB, ~50-100 ms on one core). */
export const SCRYPT_DEFAULTS = { ln: 15, r: 8, p: 1 } as const
const SALT_BYTES = 16
const KEY_BYTES = 32

function scryptAsync(password: string, salt: Buffer, length: number, options: ScryptOptions) {
  return new Promise<Buffer>((resolve, reject) => {
    scrypt(password, salt, length, options, (error, key) => (error ? reject(error) : resolve(key)))
  })
}

function scryptOptions(ln: number, r: number, p: number): ScryptOptions {
  // maxmem above the exact need: Node refuses when 128 · N · r reaches it.
  return { N: 2 ** ln, r, p, maxmem: 2 * 128 * 2 ** ln * r }
}

/**
 * verifyPassword resolves whether `password` matches `hash`. scrypt runs in libuv's thread pool
 * (never scryptSync on the request path); keys are compared in constant time. It never rejects:
 * a hash the library refuses counts as a mismatch.
 */
export async function verifyPassword(password: string, hash: PasswordHash): Promise<boolean> {
  try {
    if (hash.kind === 'bcrypt') return await bcrypt.compare(password, hash.hash)
    const key = await scryptAsync(
      password,
      hash.salt,
      hash.key.length,
      scryptOptions(hash.ln, hash.r, hash.p),
    )
    return timingSafeEqual(key, hash.key)
  } catch {
    // bcryptjs throws for inputs it will not hash (e.g. a non-string): not a match.
    return false
  }
}

const b64 = (bytes: Buffer) => bytes.toString('base64').replace(/=+$/, '')

/**
 * hashPassword returns a new PHC-form scrypt hash of `password` with a random salt:
 * `$scrypt$ln=15,r=8,p=1$<salt>$<key>`, ready for `auth.basic.users` (`portico hash-password`).
 */
export async function hashPassword(password: string): Promise<string> {
  const { ln, r, p } = SCRYPT_DEFAULTS
  const salt = randomBytes(SALT_BYTES)
  const key = await scryptAsync(password, salt, KEY_BYTES, scryptOptions(ln, r, p))
  return `$scrypt$ln=${ln},r=${r},p=${p}$${b64(salt)}$${b64(key)}`
}
