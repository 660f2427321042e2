import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parsePasswordHash } from './config/policy-values.ts'
import { verifyPassword } from './proxy/policy/password-hash.ts'

const bin = fileURLToPath(new URL('../bin/portico.js', import.meta.url))

/** run starts `portico hash-password` with `input` on stdin; waits for it to exit. */
async function run(input: string): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [bin, 'hash-password'], { stdio: 'pipe' })
  let out = ''
  let err = ''
  child.stdout.on('data', (chunk) => {
    out += chunk
  })
  child.stderr.on('data', (chunk) => {
    err += chunk
  })
  child.stdin.end(input)
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, out, err }
}

describe('portico hash-password', () => {
  it('prints a PHC scrypt hash of the password read from stdin, which then verifies', async () => {
    const { code, out } = await run('s3cret pass\n')
    expect(code).toBe(0)
    const hash = parsePasswordHash(out.trim())
    if (typeof hash === 'string') throw new Error(hash)
    expect(await verifyPassword('s3cret pass', hash)).toBe(true)
    expect(await verifyPassword('s3cret pass\n', hash)).toBe(false)
  }, 20_000)

  it('refuses an empty password', async () => {
    const { code, err, out } = await run('')
    expect(code).toBe(1)
    expect(out).toBe('')
    expect(err).toContain('an empty password cannot be hashed')
  }, 20_000)
})
