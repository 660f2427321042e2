import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { LogFile } from './log-file.ts'

describe('LogFile', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-logfile-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('appends lines to a 0600 file in a folder it creates', async () => {
    const path = join(dir, 'logs', 'web.log')
    const file = new LogFile({ path })
    file.write('one')
    file.write('two')
    await file.close()
    expect(await readFile(path, 'utf8')).toBe('one\ntwo\n')
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    file.write('after close')
    await file.flush()
    expect(await readFile(path, 'utf8')).toBe('one\ntwo\n')
  })

  it('rotates before a write would pass maxBytes and keeps only `files` files', async () => {
    const path = join(dir, 'web.log')
    const file = new LogFile({ path, maxBytes: 20, files: 3 })
    for (const n of [1, 2, 3, 4, 5]) {
      file.write(`line ${n} ${'x'.repeat(8)}`)
      await file.flush()
    }
    await file.close()
    expect((await readdir(dir)).sort()).toEqual(['web.log', 'web.log.1', 'web.log.2'])
    expect(await readFile(path, 'utf8')).toBe('line 5 xxxxxxxx\n')
    expect(await readFile(`${path}.1`, 'utf8')).toBe('line 4 xxxxxxxx\n')
    expect(await readFile(`${path}.2`, 'utf8')).toBe('line 3 xxxxxxxx\n')
  })

  it('drops lines past maxPendingBytes instead of buffering them, and says so', async () => {
    const path = join(dir, 'web.log')
    const file = new LogFile({ path, maxPendingBytes: 100 })
    for (let n = 0; n < 1000; n++) file.write(`burst line ${n}`)
    await file.close()
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n')
    expect(lines.length).toBeLessThan(20)
    expect(lines[0]).toBe('burst line 0')
    expect(lines.at(-1)).toMatch(/^\[portico\] \d+ lines dropped/)
  })

  it('reports a failing disk once and keeps going', async () => {
    const errors: unknown[] = []
    // A folder where the file should be: every open fails with EISDIR.
    const file = new LogFile({ path: dir, onError: (e) => errors.push(e) })
    file.write('a')
    await file.flush()
    file.write('b')
    await file.close()
    expect(errors).toHaveLength(1)
  })
})
