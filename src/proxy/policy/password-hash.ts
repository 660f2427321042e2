/**
 * @module Password hashes for Basic auth: PHC-form scrypt (made and checked with node:crypto, off
 * the event loop) and htpasswd bcrypt (`$2y$`/`$2b$`/`$2a$`, checked with bcryptjs).
 */
import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto'
import bcrypt from 'bcryptjs'

/** A parsed, checkable password hash. */
export type PasswordHash =
  | { kind: 'scrypt'; ln: number; r: number; p: number; salt: Buffer; key: Buffer }
  | { kind: 'bcrypt'; hash: string; cost: number }

/** scrypt cost made by hashPassword: N = 2^15, r = 8, p = 1 (32 MiB, ~50-100 ms on one core). */
export const SCRYPT_DEFAULTS = { ln: 15, r: 8, p: 1 } as const
const SALT_BYTES = 16
const KEY_BYTES = 32
/** Largest scrypt memory a hash may ask for (128 · N · r bytes): the edge checks several at once. */
export const MAX_SCRYPT_MEMORY_BYTES = 256 * 1024 * 1024
/**
 * Highest bcrypt cost accepted. bcryptjs runs on the event loop (in slices, but on the edge's one
 * thread): cost 10 took ~70 ms here, and each step doubles it. Prefer scrypt for new hashes.
 */
export const MAX_BCRYPT_COST = 14

const PHC_SCRYPT =
  /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/
const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/

/**
 * parsePasswordHash reads a hash as written in `auth.basic.users`, or returns a message saying
 * which forms are accepted (for the config schema). scrypt salt and key are PHC "B64": standard
 * base64 without padding.
 */
export function parsePasswordHash(text: string): PasswordHash | string {
  const scryptMatch = PHC_SCRYPT.exec(text)
  if (scryptMatch !== null) {
    const [ln, r, p] = [1, 2, 3].map((i) => Number(scryptMatch[i]))
    const salt = Buffer.from(scryptMatch[4] as string, 'base64')
    const key = Buffer.from(scryptMatch[5] as string, 'base64')
    if (!(ln && r && p) || ln > 20 || 128 * 2 ** ln * r > MAX_SCRYPT_MEMORY_BYTES) {
      return `scrypt parameters ln=${ln},r=${r},p=${p} are outside what the edge checks (128 · 2^ln · r must stay within 256 MiB); make a new hash with \`portico hash-password\``
    }
    if (salt.length < 8 || key.length < 16) return 'scrypt salt or key is too short'
    return { kind: 'scrypt', ln: ln as number, r: r as number, p: p as number, salt, key }
  }
  const bcryptMatch = BCRYPT.exec(text)
  if (bcryptMatch !== null) {
    const cost = Number(bcryptMatch[1])
    if (cost < 4 || cost > MAX_BCRYPT_COST) {
      return `bcrypt cost ${cost} is outside 4..${MAX_BCRYPT_COST} (bcrypt runs on the edge's event loop); use a lower cost or an scrypt hash from \`portico hash-password\``
    }
    return { kind: 'bcrypt', hash: text, cost }
  }
  return 'expected a password hash: "$scrypt$ln=…,r=…,p=…$salt$key" (from `portico hash-password`) or htpasswd bcrypt "$2y$…"/"$2b$…" (`htpasswd -nB user`)'
}

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
