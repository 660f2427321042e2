import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { LOCK_STALE_MS, tryLock } from './lock.ts'

describe('tryLock', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portico-lock-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('takes a free lock (our pid, 0600) and frees it on release', async () => {
    const release = await tryLock(dir, 'a.example.com')
    expect(release).toBeDefined()
    const file = path.join(dir, 'a.example.com.lock')
    expect(Number.parseInt(await readFile(file, 'utf8'), 10)).toBe(process.pid)
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect(await tryLock(dir, 'a.example.com')).toBeUndefined()
    await release?.()
    const again = await tryLock(dir, 'a.example.com')
    expect(again).toBeDefined()
    await again?.()
  })

  it('refuses a lock held by another live process', async () => {
    // Our parent (the test runner) is alive and is not us.
    await writeFile(path.join(dir, 'b.example.com.lock'), `${process.ppid}\n`)
    expect(await tryLock(dir, 'b.example.com')).toBeUndefined()
  })

  it('takes over a lock whose process is gone, or one too old to trust', async () => {
    const gone = spawnSync(process.execPath, ['-e', '0']).pid as number
    await writeFile(path.join(dir, 'c.example.com.lock'), `${gone}\n`)
    const release = await tryLock(dir, 'c.example.com')
    expect(release).toBeDefined()
    await release?.()
    const old = path.join(dir, 'd.example.com.lock')
    await writeFile(old, `${process.ppid}\n`)
    const past = (Date.now() - LOCK_STALE_MS - 60_000) / 1000
    await utimes(old, past, past)
    expect(await tryLock(dir, 'd.example.com')).toBeDefined()
  })
})
