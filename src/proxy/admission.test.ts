import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { Admission, type AdmissionOptions, type Rejection } from './admission.ts'

function make(over: Partial<AdmissionOptions> = {}) {
  const state = { available: true, starting: false }
  const admission = new Admission({
    maxActive: 2,
    maxQueue: 3,
    queueTimeoutMs: 1000,
    canServe: () => state.available,
    mayServeSoon: () => state.starting,
    ...over,
  })
  return { admission, state }
}

/** track records the order in which queued acquisitions settle. */
function track(result: ReturnType<Admission['acquire']>, log: (Rejection | 'granted')[]) {
  void Promise.resolve(result).then((r) => log.push(r ?? 'granted'))
}

describe('Admission', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('admits up to maxActive at once, synchronously', () => {
    const { admission } = make()
    expect(admission.acquire()).toBeUndefined()
    expect(admission.acquire()).toBeUndefined()
    expect(admission.active).toBe(2)
    expect(admission.acquire()).toBeInstanceOf(Promise)
    expect(admission.queued).toBe(1)
  })

  it('rejects past maxActive + maxQueue at once with "full"', () => {
    const { admission } = make()
    for (let i = 0; i < 5; i++) void admission.acquire()
    expect(admission.acquire()).toBe('full')
    expect(admission.queued).toBe(3)
  })

  it('grants waiters in FIFO order as slots are released', async () => {
    const { admission } = make({ maxActive: 1 })
    void admission.acquire()
    const order: [number, Rejection | 'granted'][] = []
    for (const n of [1, 2, 3]) {
      void Promise.resolve(admission.acquire()).then((r) => order.push([n, r ?? 'granted']))
    }
    admission.release()
    await vi.advanceTimersByTimeAsync(0)
    expect(order).toEqual([[1, 'granted']])
    admission.release()
    admission.release()
    await vi.advanceTimersByTimeAsync(0)
    expect(order).toEqual([
      [1, 'granted'],
      [2, 'granted'],
      [3, 'granted'],
    ])
  })

  it('times a waiter out with "timeout" and frees its place', async () => {
    const { admission } = make({ maxActive: 1 })
    void admission.acquire()
    const log: (Rejection | 'granted')[] = []
    track(admission.acquire(), log)
    await vi.advanceTimersByTimeAsync(999)
    expect(log).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(log).toEqual(['timeout'])
    expect(admission.queued).toBe(0)
  })

  it('removes an aborted waiter: it is never granted and the next one is', async () => {
    const { admission } = make({ maxActive: 1 })
    void admission.acquire()
    const log: (Rejection | 'granted')[] = []
    const controller = new AbortController()
    track(admission.acquire(controller.signal), log)
    track(admission.acquire(), log)
    controller.abort()
    await vi.advanceTimersByTimeAsync(0)
    expect(log).toEqual(['closed'])
    admission.release()
    await vi.advanceTimersByTimeAsync(0)
    expect(log).toEqual(['closed', 'granted'])
    expect(admission.active).toBe(1)
  })

  it('holds requests while a target is starting and lets them in when it is healthy', async () => {
    const { admission, state } = make()
    state.available = false
    state.starting = true
    const log: (Rejection | 'granted')[] = []
    track(admission.acquire(), log)
    track(admission.acquire(), log)
    await vi.advanceTimersByTimeAsync(500)
    expect(log).toEqual([])
    state.available = true
    admission.wake()
    await vi.advanceTimersByTimeAsync(0)
    expect(log).toEqual(['granted', 'granted'])
  })

  it('answers "no-target" at once when nothing is available or starting', async () => {
    const { admission, state } = make()
    state.available = false
    expect(admission.acquire()).toBe('no-target')
    state.starting = true
    const log: (Rejection | 'granted')[] = []
    track(admission.acquire(), log)
    state.starting = false
    admission.wake()
    await vi.advanceTimersByTimeAsync(0)
    expect(log).toEqual(['no-target'])
  })

  it('close rejects every waiter and later requests', async () => {
    const { admission } = make({ maxActive: 1 })
    void admission.acquire()
    const log: (Rejection | 'granted')[] = []
    track(admission.acquire(), log)
    admission.close()
    await vi.advanceTimersByTimeAsync(0)
    expect(log).toEqual(['closed'])
    expect(admission.acquire()).toBe('closed')
  })

  it('keeps its internal queue bounded over many waits', async () => {
    const { admission } = make({ maxActive: 1, maxQueue: 10 })
    void admission.acquire()
    for (let i = 0; i < 10_000; i++) {
      void admission.acquire()
      admission.release()
      await vi.advanceTimersByTimeAsync(0)
    }
    expect(admission.active).toBe(1)
    expect(admission.queued).toBe(0)
  })
})

describe('Admission between clients', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  const a = { client: 'a', upload: false }
  const b = { client: 'b', upload: false }
  const aUpload = { client: 'a', upload: true }

  it('lets a client alone use every slot and queue place', () => {
    const { admission } = make({ maxActive: 4, maxQueue: 4 })
    for (let i = 0; i < 4; i++) expect(admission.acquire(undefined, a)).toBeUndefined()
    for (let i = 0; i < 4; i++) expect(admission.acquire(undefined, a)).toBeInstanceOf(Promise)
    expect(admission.acquire(undefined, a)).toBe('full')
    expect(admission.clientLimits).toEqual({ maxActive: 2, maxQueue: 2 })
  })

  it('admits a waiter of a client under its share before earlier waiters of one over it', async () => {
    const { admission } = make({ maxActive: 2, maxQueue: 4 })
    void admission.acquire(undefined, a)
    void admission.acquire(undefined, a)
    const log: (Rejection | 'granted')[] = []
    track(admission.acquire(undefined, a), log)
    const order: string[] = []
    void Promise.resolve(admission.acquire(undefined, a)).then(() => order.push('a'))
    void Promise.resolve(admission.acquire(undefined, b)).then(() => order.push('b'))
    admission.release(a)
    await vi.advanceTimersByTimeAsync(0)
    expect(order).toEqual(['b'])
    admission.release(a)
    await vi.advanceTimersByTimeAsync(0)
    expect(log).toEqual(['granted'])
  })

  it('gives a newcomer under its share the place of the newest waiter of the client over it', async () => {
    const { admission } = make({ maxActive: 1, maxQueue: 4 })
    void admission.acquire(undefined, a)
    const log: (Rejection | 'granted')[] = []
    for (let i = 0; i < 4; i++) track(admission.acquire(undefined, a), log)
    const b1 = admission.acquire(undefined, b)
    expect(b1).toBeInstanceOf(Promise)
    await vi.advanceTimersByTimeAsync(0)
    expect(log).toEqual(['full'])
    // b holds no more than its share of the queue: a newcomer of b is refused, a's are kept.
    void admission.acquire(undefined, b)
    expect(admission.acquire(undefined, b)).toBe('full')
    expect(admission.queued).toBe(4)
  })

  it('holds streaming uploads of one client to its share even when slots are free', async () => {
    const { admission } = make({ maxActive: 4, maxQueue: 4 })
    expect(admission.acquire(undefined, aUpload)).toBeUndefined()
    expect(admission.acquire(undefined, aUpload)).toBeUndefined()
    const log: (Rejection | 'granted')[] = []
    track(admission.acquire(undefined, aUpload), log)
    expect(admission.acquire(undefined, a)).toBeInstanceOf(Promise)
    await vi.advanceTimersByTimeAsync(0)
    // The plain request passed the held-back upload; the upload waits for a's own uploads.
    expect(admission.active).toBe(3)
    expect(log).toEqual([])
    admission.release(aUpload)
    await vi.advanceTimersByTimeAsync(0)
    expect(log).toEqual(['granted'])
    expect(admission.clients).toBe(1)
  })

  it('forgets a client once it holds nothing', () => {
    const { admission } = make({ maxActive: 4, maxQueue: 4 })
    void admission.acquire(undefined, a)
    void admission.acquire(undefined, b)
    admission.release(a)
    admission.release(b)
    expect(admission.clients).toBe(0)
  })
})
