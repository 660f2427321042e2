import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { loadOrCreateSecret, SECRET_BYTES } from './secret-file.ts'

const dirs: string[] = []
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'portico-secret-'))
  dirs.push(dir)
  return dir
}

afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true })
})

describe('loadOrCreateSecret', () => {
  it('makes a secret once, 0600 in a 0700 folder, and returns the same one after', async () => {
    const file = path.join(await tempDir(), 'state', 'sticky-secret')
    const first = await loadOrCreateSecret(file)
    expect(first).toHaveLength(SECRET_BYTES)
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect((await stat(path.dirname(file))).mode & 0o777).toBe(0o700)
    expect(await loadOrCreateSecret(file)).toEqual(first)
    expect((await readFile(file, 'utf8')).trim()).toBe(first.toString('hex'))
  })

  it('tightens a loose mode and refuses a damaged file rather than replace it', async () => {
    const dir = await tempDir()
    const file = path.join(dir, 'secret')
    await writeFile(file, 'ab'.repeat(SECRET_BYTES))
    await chmod(file, 0o644)
    await loadOrCreateSecret(file)
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    await writeFile(file, 'not hex')
    await expect(loadOrCreateSecret(file)).rejects.toThrow(/remove it to make a new one/)
    expect(await readFile(file, 'utf8')).toBe('not hex')
  })
})
