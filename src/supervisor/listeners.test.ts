import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeAddress } from '../lib/proc-net.ts'
import { formatListening, listenersOf, wrongPortProblem } from './listeners.ts'
import { HAS_PROCFS, waitUntilGone } from './processes.ts'

describe('decodeAddress', () => {
  it('reads /proc/net addresses, each 32-bit word in little-endian order', () => {
    expect(decodeAddress('0100007F')).toBe('127.0.0.1')
    expect(decodeAddress('00000000')).toBe('0.0.0.0')
    expect(decodeAddress('00000000000000000000000001000000')).toBe('::1')
    expect(decodeAddress('00000000000000000000000000000000')).toBe('::')
    expect(decodeAddress('0000000000000000FFFF00000100007F')).toBe('::ffff:7f00:1')
  })
})

describe.runIf(HAS_PROCFS)('listenersOf', () => {
  let shell: ChildProcess
  let ports: { v4: number; v6: number }

  beforeAll(async () => {
    // The listener is a grandchild (sh → node), like `sh -c "npx vite"`; one socket per family.
    const code = [
      "const net=require('net')",
      "const a=net.createServer().listen(0,'127.0.0.1',()=>{",
      "const b=net.createServer().listen(0,'::1',()=>console.log(a.address().port+' '+b.address().port))})",
    ].join(';')
    shell = spawn('/bin/sh', ['-c', `"${process.execPath}" -e "${code}"; true`], {
      detached: true,
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    const [data] = (await once(shell.stdout as NodeJS.ReadableStream, 'data')) as [Buffer]
    const [v4, v6] = data.toString().trim().split(' ').map(Number) as [number, number]
    ports = { v4, v6 }
  })

  afterAll(async () => {
    process.kill(-(shell.pid as number), 'SIGKILL')
    expect(await waitUntilGone([shell.pid as number], { timeoutMs: 5_000 })).toEqual([])
  })

  it('finds the loopback listeners of the whole process tree, IPv4 and IPv6', async () => {
    const found = (await listenersOf(shell.pid as number)).map(formatListening)
    expect(found).toContain(`127.0.0.1:${ports.v4}`)
    expect(found).toContain(`[::1]:${ports.v6}`)
    expect(found).toHaveLength(2)
  })

  it('finds nothing for a process that is gone', async () => {
    expect(await listenersOf(2 ** 22 + 7)).toEqual([])
  })
})

describe('wrongPortProblem', () => {
  it('names the ports it listens on, its own port and the fix', () => {
    expect(wrongPortProblem('web#0', 21003, [{ address: '::1', port: 5173 }])).toBe(
      'web#0 listens on 5173, not 21003: pass --port $PORT (or have it read process.env.PORT)',
    )
    expect(
      wrongPortProblem('web#0', 21003, [
        { address: '127.0.0.1', port: 5173 },
        { address: '::1', port: 5173 },
        { address: '127.0.0.1', port: 24678 },
      ]),
    ).toMatch(/^web#0 listens on 5173 and 24678, not 21003:/)
  })

  it('is silent when it listens on its port too, or nowhere yet', () => {
    const own = [
      { address: '127.0.0.1', port: 9229 },
      { address: '::1', port: 21003 },
    ]
    expect(wrongPortProblem('web#0', 21003, own)).toBeUndefined()
    expect(wrongPortProblem('web#0', 21003, [])).toBeUndefined()
  })
})
