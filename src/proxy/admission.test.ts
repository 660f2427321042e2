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
