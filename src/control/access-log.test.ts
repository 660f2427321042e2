import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { completedEvent } from '../../test/helpers/completed.ts'
import { EventBus } from '../observe/events.ts'
import { createLogger } from '../observe/log.ts'
import { startAccessLogFile } from './access-log.ts'

describe('access log file', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portico-access-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('writes one JSON line per finished request, 0600, and rotates by size keeping `keep` files', async () => {
    const events = new EventBus()
    const file = path.join(dir, 'logs', 'access.log')
    const log = startAccessLogFile({
      file,
      maxBytes: 4096,
      keep: 3,
      events,
      log: createLogger({ level: 'silent' }),
    })
    // Ten bursts of ten requests: each burst is one write, so rotation happens between them.
    for (let i = 0; i < 100; i++) {
      events.emit('request:completed', completedEvent({ requestId: `r${i}`, path: `/p/${i}` }))
      if (i % 10 === 9) await log.flush()
    }
    await log.close()
    events.emit('request:completed', completedEvent({ requestId: 'after-close' }))
    const files = (await readdir(path.dirname(file))).sort()
    expect(files).toEqual(['access.log', 'access.log.1', 'access.log.2'])
    const lines = []
    for (const name of files.reverse()) {
      const text = await readFile(path.join(dir, 'logs', name), 'utf8')
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(4096)
      lines.push(
        ...text
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { requestId: string; time: string; status: number }),
      )
    }
    // The oldest lines were rotated away; the newest are all there, in order.
    expect(lines.at(-1)?.requestId).toBe('r99')
    const ids = lines.map((l) => Number(l.requestId.slice(1)))
    expect(ids).toEqual([...ids].sort((a, b) => a - b))
    expect(ids[0]).toBeGreaterThan(0)
    expect(lines[0]).toMatchObject({
      status: 200,
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    })
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect(lines.some((l) => l.requestId === 'after-close')).toBe(false)
  })
})
