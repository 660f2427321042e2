/** @module PortAllocator: leases instance ports from a range, probing that each is free on 127.0.0.1 and ::1 first. */
import net from 'node:net'
import { errors } from '../errors.ts'

/** An inclusive range of TCP ports (`PORTICO_PORT_RANGE`). */
export interface PortRange {
  from: number
  to: number
}

/** Instances listen on loopback; the probe binds where they will. */
const PROBE_HOST = '127.0.0.1'

/**
 * isPortFree resolves true when a listener could bind `host:port` right now (bind, then close).
 * A listener on 0.0.0.0 or [::] holding the port makes the bind fail too. The answer is a
 * snapshot: another process may take the port a moment later, which the readiness probe and
 * the instance's own EADDRINUSE crash reveal.
 */
export function isPortFree(port: number, host = PROBE_HOST): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer()
    server.unref()
    server.once('error', () => resolve(false))
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)))
  })
}

/**
 * isPortFreeOnLoopback checks 127.0.0.1 and ::1 (an app bound to `localhost` may hold only
 * the latter); a host without IPv6 (EADDRNOTAVAIL on ::1) is judged on 127.0.0.1 alone.
 */
async function isPortFreeOnLoopback(port: number): Promise<boolean> {
  if (!(await isPortFree(port))) return false
  return new Promise((resolve) => {
    const server = net.createServer()
    server.unref()
    server.once('error', (error: NodeJS.ErrnoException) =>
      resolve(error.code === 'EADDRNOTAVAIL' || error.code === 'EAFNOSUPPORT'),
    )
    server.listen({ port, host: '::1', exclusive: true, ipv6Only: true }, () =>
      server.close(() => resolve(true)),
    )
  })
}

/**
 * PortAllocator hands out ports of one range, each at most once until released. A port is
 * reserved before it is probed, so concurrent leases never get the same one; a port some other
 * process holds is skipped. Leasing resumes after the last port handed out (wrapping around), so
 * a just-released port — maybe in TIME_WAIT or still held by a dying process — is reused last.
 */
export class PortAllocator {
  readonly #from: number
  readonly #to: number
  readonly #leased = new Set<number>()
  #cursor: number

  constructor(range: PortRange) {
    const valid = (p: number) => Number.isInteger(p) && p >= 1 && p <= 65535
    if (!valid(range.from) || !valid(range.to) || range.from > range.to) {
      throw new RangeError(`invalid port range ${range.from}-${range.to}`)
    }
    this.#from = range.from
    this.#to = range.to
    this.#cursor = range.from
  }

  /**
   * lease returns a free port of the range and marks it leased. It throws
   * PTC_ERR_PORT_RANGE_EXHAUSTED when every port is leased or held by another process.
   */
  async lease(): Promise<number> {
    const size = this.#to - this.#from + 1
    for (let i = 0; i < size; i++) {
      const port = this.#from + ((this.#cursor - this.#from + i) % size)
      if (this.#leased.has(port)) continue
      this.#leased.add(port)
      if (await isPortFreeOnLoopback(port)) {
        this.#cursor = port === this.#to ? this.#from : port + 1
        return port
      }
      this.#leased.delete(port)
    }
    throw new errors.PTC_ERR_PORT_RANGE_EXHAUSTED(`${this.#from}-${this.#to}`)
  }

  /** release gives a port back; releasing a port that is not leased does nothing. */
  release(port: number): void {
    this.#leased.delete(port)
  }

  /** isLeased reports whether `port` is currently handed out. */
  isLeased(port: number): boolean {
    return this.#leased.has(port)
  }
}
