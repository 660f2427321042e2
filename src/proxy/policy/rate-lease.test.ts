import { describe, expect, it } from 'vitest'
import { LEASE_TIMEOUT_MS, type LimiterSpec, leaseBatch, RateLeaseServer } from './rate-lease.ts'
import { RateLeaseChannel } from './rate-lease-client.ts'
import { localTokenSource, type TakeResult, type TokenSource } from './rate-limit.ts'

/** A discrete-event clock: callbacks run in time order (a binary heap), nothing real waits. */
class Simulation {
  now = 0
  #heap: { at: number; seq: number; fn: () => void; live: boolean }[] = []
  #seq = 0

  after(ms: number, fn: () => void): () => void {
    const event = { at: this.now + ms, seq: this.#seq++, fn, live: true }
    const heap = this.#heap
    heap.push(event)
    for (let i = heap.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1
      if (!this.#before(i, parent)) break
      this.#swap(i, parent)
      i = parent
    }
    return () => {
      event.live = false
    }
  }

  runUntil(end: number): void {
    const heap = this.#heap
    while (heap.length > 0 && (heap[0]?.at ?? Number.POSITIVE_INFINITY) <= end) {
      const next = heap[0] as (typeof heap)[number]
      const last = heap.pop() as (typeof heap)[number]
      if (heap.length > 0) {
        heap[0] = last
        for (let i = 0; ; ) {
          const l = 2 * i + 1
          const r = l + 1
          let m = i
          if (l < heap.length && this.#before(l, m)) m = l
          if (r < heap.length && this.#before(r, m)) m = r
          if (m === i) break
          this.#swap(i, m)
          i = m
        }
      }
      this.now = next.at
      if (next.live) next.fn()
    }
    this.now = end
  }

  #before(a: number, b: number): boolean {
    const x = this.#heap[a] as { at: number; seq: number }
    const y = this.#heap[b] as { at: number; seq: number }
    return x.at < y.at || (x.at === y.at && x.seq < y.seq)
  }

  #swap(a: number, b: number): void {
    const heap = this.#heap
    const t = heap[a] as (typeof heap)[number]
    heap[a] = heap[b] as (typeof heap)[number]
    heap[b] = t
  }
}

const IPC_MS = 1
const SWEEP_MS = 100

interface Cluster {
  sim: Simulation
  workers: TokenSource[]
  /** Stops the primary from answering (a blocked primary). */
  silence: () => void
}

/** Two (or more) workers with lease channels, a primary with the buckets, IPC of 1 ms each way. */
function cluster(spec: LimiterSpec, count: number): Cluster {
  const sim = new Simulation()
  const server = new RateLeaseServer()
  let answering = true
  const workers = Array.from({ length: count }, () => {
    const channel: RateLeaseChannel = new RateLeaseChannel({
      workers: count,
      now: () => sim.now,
      schedule: (ms, fn) => sim.after(ms, fn),
      send: (message) =>
        sim.after(IPC_MS, () => {
          if (!answering) return
          if (message.type === 'rate:return') return server.giveBack(message, sim.now)
          const grant = server.lease(message, sim.now)
          sim.after(IPC_MS, () => channel.receive(grant))
        }),
    })
    const sweep = () => {
      channel.sweep()
      sim.after(SWEEP_MS, sweep)
    }
    sim.after(SWEEP_MS, sweep)
    return channel.source(spec)
  })
  return { sim, workers, silence: () => (answering = false) }
}

/** Offers requests for `key` every `everyMs` for `durationMs`, spread over `targets` in turn. */
async function offer(
  sim: Simulation,
  targets: TokenSource[],
  key: string,
  everyMs: number,
  durationMs: number,
): Promise<{ offered: number; admitted: number }> {
  let offered = 0
  let admitted = 0
  const results: Promise<TakeResult>[] = []
  for (let t = 0; t < durationMs; t += everyMs) {
    sim.after(t - sim.now, () => {
      const worker = targets[offered++ % targets.length] as TokenSource
      const result = worker.take(key, sim.now)
      if (result instanceof Promise) results.push(result)
      else if (result.ok) admitted++
    })
  }
  // A few IPC round trips more, so leases asked for at the end are answered.
  sim.runUntil(durationMs + 10 * IPC_MS)
  for (const result of await Promise.all(results)) if (result.ok) admitted++
  return { offered, admitted }
}

// 100/s with a burst of 100: over 10 s at most 100 + 100 × 10 = 1100 tokens exist.
const spec: LimiterSpec = { id: 'a.test|100/s', ratePerMs: 0.1, capacity: 100, maxKeys: 1000 }
const IDEAL = 100 + 0.1 * 10_000

describe('rate-limit leases across edge workers', () => {
  it('sizes batches from the rate and the burst', () => {
    expect(leaseBatch(spec, 2)).toBe(5)
    expect(leaseBatch({ ratePerMs: 10, capacity: 10_000 }, 2)).toBe(100)
    expect(leaseBatch({ ratePerMs: 0.001, capacity: 1 }, 8)).toBe(1)
  })

  it('admits within 10 % of the limit when one client is spread over two workers', async () => {
    const { sim, workers } = cluster(spec, 2)
    const { offered, admitted } = await offer(sim, workers, '10.0.0.1', 2, 10_000)
    expect(offered).toBe(5000)
    expect(admitted).toBeLessThanOrEqual(IDEAL)
    expect(admitted).toBeGreaterThanOrEqual(IDEAL * 0.9)
  })

  it('gives a client whose connection stays on one worker the whole limit, not half', async () => {
    const { sim, workers } = cluster(spec, 2)
    const { admitted } = await offer(sim, [workers[0] as TokenSource], '10.0.0.1', 2, 10_000)
    expect(admitted).toBeLessThanOrEqual(IDEAL)
    expect(admitted).toBeGreaterThanOrEqual(IDEAL * 0.9)
  })

  it('would admit twice the limit with a bucket per worker (what the leases prevent)', async () => {
    const sim = new Simulation()
    const perWorker = [0, 1].map(() =>
      localTokenSource({ ratePerMs: spec.ratePerMs, capacity: spec.capacity }, 100),
    )
    const { admitted } = await offer(sim, perWorker, '10.0.0.1', 2, 10_000)
    expect(admitted).toBeGreaterThan(IDEAL * 1.8)
  })

  it('admits every request of a client under the limit, across workers', async () => {
    const tight: LimiterSpec = { ...spec, id: 'tight', capacity: 10 }
    const { sim, workers } = cluster(tight, 2)
    const { offered, admitted } = await offer(sim, workers, '10.0.0.1', 11, 10_000)
    expect(admitted).toBe(offered)
  })

  it('keeps separate keys separate', async () => {
    const { sim, workers } = cluster(spec, 2)
    const first = offer(sim, workers, 'a', 4, 5_000)
    const { admitted } = await first
    expect(admitted).toBeGreaterThanOrEqual((100 + 0.1 * 5_000) * 0.9)
    expect(workers[1]?.take('b', sim.now)).toBeInstanceOf(Promise)
  })

  it('gives an idle reserve back so another worker can spend it', async () => {
    const small: LimiterSpec = { id: 'small', ratePerMs: 0.000_001, capacity: 8, maxKeys: 10 }
    const { sim, workers } = cluster(small, 2)
    const [a, b] = workers as [TokenSource, TokenSource]
    // Worker a takes a batch of 1 and spends it; the prefetch leaves a token in its reserve.
    const first = await offer(sim, [a], 'k', 10, 20)
    expect(first.admitted).toBe(2)
    sim.runUntil(2_000)
    const rest = await offer(sim, [b], 'k', 10, sim.now + 200)
    expect(rest.admitted).toBe(6)
  })

  it('falls back to the worker share when the primary does not answer, then answers the waiters', async () => {
    const { sim, workers, silence } = cluster(spec, 2)
    const worker = workers[0] as TokenSource
    silence()
    const pending = worker.take('k', sim.now)
    expect(pending).toBeInstanceOf(Promise)
    sim.runUntil(LEASE_TIMEOUT_MS + 1)
    expect(await pending).toEqual({ ok: true, retryAfterMs: 0 })
    // The share is 1/2 of the burst: 50 tokens, then refusals.
    let admitted = 1
    for (let i = 0; i < 100; i++) if ((worker.take('k', sim.now) as TakeResult).ok) admitted++
    expect(admitted).toBe(50)
  })
})
