import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listenerOwner, listeningInodes } from './port-owner.ts'
import { HAS_PROCFS, waitUntilGone } from './processes.ts'

/** A server in this very process on 127.0.0.1:0; resolves with it and its port. */
async function listen(): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { server, port: (server.address() as net.AddressInfo).port }
}

describe.runIf(HAS_PROCFS)('listenerOwner', () => {
  let child: ChildProcess
  let childPort: number
  const identity = () => ({ app: 'web', index: 0, pgid: child.pid as number })

  beforeAll(async () => {
    // A process group of its own, like an instance pm2 starts: it prints its port once bound.
    const code = `const s=require('net').createServer().listen(0,'127.0.0.1',()=>console.log(s.address().port))`
    child = spawn(process.execPath, ['-e', code], {
      detached: true,
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    const [data] = (await once(child.stdout as NodeJS.ReadableStream, 'data')) as [Buffer]
    childPort = Number(data.toString().trim())
  })

  afterAll(async () => {
    child.kill('SIGKILL')
    expect(await waitUntilGone([child.pid as number], { timeoutMs: 5_000 })).toEqual([])
  })

  it('finds the listening socket of a port', async () => {
    const { server, port } = await listen()
    expect(listeningInodes(port).size).toBe(1)
    server.close()
  })

  it('is ours when the instance group holds the socket', () => {
    expect(listenerOwner(childPort, identity())).toBe('ours')
  })

  it('is foreign when a process outside the instance holds it (this test squats the port)', async () => {
    const { server, port } = await listen()
    expect(listenerOwner(port, identity())).toBe('foreign')
    server.close()
  })

  it('is ours when a process outside the group carries the instance environment', async () => {
    process.env.PORTICO_APP = 'web'
    process.env.PORTICO_INSTANCE = '0'
    try {
      // This test process now looks like something the instance launched in a group of its own.
      const code = `const s=require('net').createServer().listen(0,'127.0.0.1',()=>console.log(s.address().port))`
      const other = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'ignore'] })
      const [data] = (await once(other.stdout as NodeJS.ReadableStream, 'data')) as [Buffer]
      expect(listenerOwner(Number(data.toString().trim()), identity())).toBe('ours')
      other.kill('SIGKILL')
      expect(await waitUntilGone([other.pid as number], { timeoutMs: 5_000 })).toEqual([])
    } finally {
      delete process.env.PORTICO_APP
      delete process.env.PORTICO_INSTANCE
    }
  })

  it('is unknown when nothing listens', async () => {
    const { server, port } = await listen()
    server.close()
    await once(server, 'close')
    expect(listenerOwner(port, identity())).toBe('unknown')
  })
})
