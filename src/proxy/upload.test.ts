import { EventEmitter } from 'node:events'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { describe, expect, it } from 'vitest'
import { Exchange } from './exchange.ts'
import { BodyBudget, UploadWatch } from './upload.ts'

/** A request/response pair that only emits what the Exchange listens to (no sockets needed). */
function exchange(): { ex: Exchange; destroyed: () => boolean } {
  const req = Object.assign(new EventEmitter(), { errored: null, socket: null })
  let destroyed = false
  const res = Object.assign(new EventEmitter(), {
    writableFinished: false,
    destroy: () => {
      destroyed = true
    },
  })
  return {
    ex: new Exchange(req as unknown as IncomingMessage, res as unknown as ServerResponse, 'id'),
    destroyed: () => destroyed,
  }
}

describe('UploadWatch', () => {
  it('cuts off an upload once it falls behind the minimum rate after the grace period', () => {
    let now = 0
    let sent = 0
    const cut: Exchange[] = []
    const watch = new UploadWatch({ minBytesPerS: 1000, graceMs: 2000, now: () => now }, (e) =>
      cut.push(e),
    )
    const { ex, destroyed } = exchange()
    watch.watch(ex, () => sent)
    now = 2000
    watch.check()
    expect(cut).toEqual([])
    // 1000 bytes buy one more second.
    sent = 1000
    now = 3000
    watch.check()
    expect(cut).toEqual([])
    now = 3001
    watch.check()
    expect(cut).toEqual([ex])
    expect(ex.cutOffReason).toBe('slow-upload')
    expect(ex.ended).toBe('gone')
    expect(destroyed()).toBe(true)
    expect(watch.size).toBe(0)
    watch.close()
  })

  it('stops watching an upload that finished', () => {
    let now = 0
    const watch = new UploadWatch({ minBytesPerS: 1000, graceMs: 10, now: () => now })
    const { ex } = exchange()
    const stop = watch.watch(ex, () => 0)
    stop()
    now = 1_000_000
    watch.check()
    expect(ex.ended).toBeUndefined()
    watch.close()
  })
})

describe('BodyBudget', () => {
  it('lends bytes until none are left and takes them back', () => {
    const budget = new BodyBudget(100)
    expect(budget.take(60)).toBe(true)
    expect(budget.take(60)).toBe(false)
    budget.give(60)
    expect(budget.take(100)).toBe(true)
    expect(budget.free).toBe(0)
  })
})
