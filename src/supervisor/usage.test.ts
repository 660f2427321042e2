import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { describe, expect, it } from 'vitest'
import { descendants, isAlive } from '../../test/helpers/processes.ts'
import { waitFor } from '../../test/helpers/wait.ts'
import { UsageSampler } from './usage.ts'

describe('UsageSampler', () => {
  it('measures the CPU and memory of a process tree, children included', async () => {
    // A shell whose child burns CPU: the usage of the shell's pid must include its child.
    const child = spawn('/bin/sh', ['-c', `exec ${process.execPath} -e "for(;;){}" & wait`], {
      stdio: 'ignore',
      detached: true,
    })
    await once(child, 'spawn')
    const pid = child.pid as number
    try {
      const usage = new UsageSampler()
      await usage.sample([pid])
      expect(usage.usage(pid)).toBeUndefined()
      const measured = await waitFor(
        async () => {
          await usage.sample([pid])
          const u = usage.usage(pid)
          return u !== undefined && u.cpuPercent > 20 ? u : undefined
        },
        { timeoutMs: 10_000, intervalMs: 300 },
      )
      expect(measured.memoryBytes).toBeGreaterThan(10 * 1024 * 1024)
    } finally {
      // The shell leads its own process group: the group kill takes the busy child too.
      const members = descendants(pid)
      process.kill(-pid, 'SIGKILL')
      await waitFor(() => [pid, ...members].every((p) => !isAlive(p)), { timeoutMs: 5_000 })
    }
  })

  it('knows nothing of a pid that is gone or was never sampled', async () => {
    const usage = new UsageSampler()
    await usage.sample([2 ** 22 + 12345])
    expect(usage.usage(2 ** 22 + 12345)).toBeUndefined()
    expect(usage.usage(null)).toBeUndefined()
  })
})
