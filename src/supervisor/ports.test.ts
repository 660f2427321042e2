import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { errors } from '../errors.ts'
import { isPortFree, PortAllocator } from './ports.ts'

const servers: net.Server[] = []

function listen(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      servers.push(server)
      resolve(server)
    })
  })
}

function portOf(server: net.Server): number {
  return (server.address() as net.AddressInfo).port
}

/**
 * Occupies a port P such that P+1 … P+spare are free; afterEach closes the listener. It searches
 * below the ephemeral range (32768-60999 on Linux), where no one else's listen(0) lands.
 */
async function occupyWithFreeNeighbours(spare: number): Promise<number> {
  const first = 26000 + Math.floor(Math.random() * 900)
  for (let port = first; port < 26990; port += spare + 1) {
    const next = Array.from({ length: spare }, (_, i) => port + 1 + i)
    const free = await Promise.all([port, ...next].map((p) => isPortFree(p)))
    if (free.every(Boolean)) {
      await listen(port)
      return port
    }
  }
  throw new Error('no occupied port with free neighbours found')
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))))
})

describe('isPortFree', () => {
  it('is false while a listener holds the port and true once it has closed', async () => {
    const server = await listen(0)
    const port = portOf(server)
    expect(await isPortFree(port)).toBe(false)
    await new Promise((resolve) => server.close(resolve))
    expect(await isPortFree(port)).toBe(true)
  })
})

describe('PortAllocator', () => {
  it('skips a port another process holds and leases the next one', async () => {
    const held = await occupyWithFreeNeighbours(1)
    const ports = new PortAllocator({ from: held, to: held + 1 })
    expect(await ports.lease()).toBe(held + 1)
    expect(ports.isLeased(held)).toBe(false)
  })

  it('throws PTC_ERR_PORT_RANGE_EXHAUSTED when every port is leased or held', async () => {
    const held = await occupyWithFreeNeighbours(1)
    const ports = new PortAllocator({ from: held, to: held + 1 })
    await ports.lease()
    const failure = ports.lease()
    await expect(failure).rejects.toBeInstanceOf(errors.PTC_ERR_PORT_RANGE_EXHAUSTED)
    await expect(failure).rejects.toMatchObject({
      code: 'PTC_ERR_PORT_RANGE_EXHAUSTED',
      message: `no free port left in ${held}-${held + 1}`,
    })
  })

  it('hands a released port out again', async () => {
    const held = await occupyWithFreeNeighbours(1)
    const ports = new PortAllocator({ from: held, to: held + 1 })
    const port = await ports.lease()
    ports.release(port)
    expect(ports.isLeased(port)).toBe(false)
    expect(await ports.lease()).toBe(port)
  })

  it('never hands the same port to concurrent leases', async () => {
    const held = await occupyWithFreeNeighbours(3)
    const ports = new PortAllocator({ from: held + 1, to: held + 3 })
    const leased = await Promise.all([ports.lease(), ports.lease(), ports.lease()])
    expect(new Set(leased)).toEqual(new Set([held + 1, held + 2, held + 3]))
    await expect(ports.lease()).rejects.toMatchObject({ code: 'PTC_ERR_PORT_RANGE_EXHAUSTED' })
  })

  it('moves on after the last port it leased, so a released port is reused last', async () => {
    const held = await occupyWithFreeNeighbours(2)
    const ports = new PortAllocator({ from: held + 1, to: held + 2 })
    const first = await ports.lease()
    ports.release(first)
    expect(await ports.lease()).toBe(held + 2)
    expect(await ports.lease()).toBe(first)
  })

  it('rejects an empty or invalid range', () => {
    expect(() => new PortAllocator({ from: 5000, to: 4999 })).toThrow(RangeError)
    expect(() => new PortAllocator({ from: 0, to: 10 })).toThrow(RangeError)
    expect(() => new PortAllocator({ from: 65535, to: 65536 })).toThrow(RangeError)
  })
})
