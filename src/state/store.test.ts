import { spawn } from 'node:child_process'
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { emptyState, StateStore } from './store.ts'

describe('StateStore', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portico-state-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('loads an empty state when there is no file', async () => {
    expect(await new StateStore(path.join(dir, 'none')).load()).toEqual(emptyState())
  })

  it('round-trips, writes mode 0600 whatever the umask, and leaves no temp file', async () => {
    const store = new StateStore(dir)
    const old = process.umask(0)
    try {
      await store.save({ ...emptyState(), apps: { web: { name: 'web', command: 'x' } } })
    } finally {
      process.umask(old)
    }
    expect((await store.load()).apps).toEqual({ web: { name: 'web', command: 'x' } })
    expect((await stat(store.file)).mode & 0o777).toBe(0o600)
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([])
  })

  it('keeps the last save when saves overlap', async () => {
    const store = new StateStore(dir)
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.save({ ...emptyState(), routes: { n: i } })),
    )
    expect((await store.load()).routes).toEqual({ n: 19 })
  })

  it('refuses a corrupt file with a message naming it', async () => {
    const bad = path.join(dir, 'bad')
    await rm(bad, { recursive: true, force: true })
    await import('node:fs/promises').then((fs) => fs.mkdir(bad))
    await writeFile(path.join(bad, 'state.json'), '{"apps": 3}')
    await expect(new StateStore(bad).load()).rejects.toThrow(
      /state\.json is not a Portico state file/,
    )
  })

  it('always loads after a kill -9 in the middle of a burst of writes', async () => {
    const crashDir = path.join(dir, 'crash')
    await import('node:fs/promises').then((fs) => fs.mkdir(crashDir))
    const storeModule = fileURLToPath(new URL('./store.ts', import.meta.url))
    const script = `
      const { StateStore } = await import(${JSON.stringify(storeModule)})
      const store = new StateStore(${JSON.stringify(crashDir)})
      for (let i = 0; ; i++) {
        await store.save({ version: 1, apps: { big: 'x'.repeat(100000), i }, routes: {}, certificates: {} })
        if (i === 5) process.stdout.write('writing\\n')
      }`
    for (let round = 0; round < 3; round++) {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', script],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      )
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()))
      child.kill('SIGKILL')
      await new Promise((resolve) => child.once('exit', resolve))
      const state = await new StateStore(crashDir).load()
      expect(typeof state.apps.i).toBe('number')
    }
  })
})
