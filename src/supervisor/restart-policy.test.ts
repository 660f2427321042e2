import { describe, expect, it } from 'vitest'
import {
  DEFAULT_RESTART_POLICY,
  isCrashLoop,
  isUnstable,
  nextStreak,
  type RestartPolicy,
  type RunEnd,
} from './restart-policy.ts'

const policy: RestartPolicy = { minUptimeMs: 1_000, maxUnstableRestarts: 3, windowMs: 60_000 }

const run = (atMs: number, uptimeMs: number | null, becameReady = true): RunEnd => ({
  atMs,
  uptimeMs,
  becameReady,
})

describe('isUnstable', () => {
  it('counts a run that ended before minUptimeMs, even if it became ready', () => {
    expect(isUnstable(run(0, 999), policy)).toBe(true)
    expect(isUnstable(run(0, 1_000), policy)).toBe(false)
  })

  it('counts a run that never became ready, however long it lived (start timeouts)', () => {
    expect(isUnstable(run(0, 30_000, false), policy)).toBe(true)
  })

  it('counts a process that never came online', () => {
    expect(isUnstable(run(0, null, false), policy)).toBe(true)
  })
})

describe('nextStreak', () => {
  it('appends an unstable run and leaves the input untouched', () => {
    const streak = [100]
    expect(nextStreak(streak, run(200, 50), policy)).toEqual([100, 200])
    expect(streak).toEqual([100])
  })

  it('is emptied by a stable run', () => {
    expect(nextStreak([100, 200, 300], run(5_000, 4_000), policy)).toEqual([])
  })

  it('forgets unstable runs older than the window', () => {
    expect(nextStreak([0, 30_000, 59_999], run(60_000, 10), policy)).toEqual([
      30_000, 59_999, 60_000,
    ])
  })
})

describe('isCrashLoop', () => {
  it('allows maxUnstableRestarts unstable runs in a row and stops at the next one', () => {
    let streak: number[] = []
    const verdicts: boolean[] = []
    for (let i = 0; i < 5; i++) {
      streak = nextStreak(streak, run(i * 500, 20, false), policy)
      verdicts.push(isCrashLoop(streak, policy))
    }
    expect(verdicts).toEqual([false, false, false, true, true])
  })

  it('never fires for an app that crashes slower than the window allows', () => {
    let streak: number[] = []
    for (let i = 0; i < 20; i++) {
      streak = nextStreak(streak, run(i * 30_000, 20, false), policy)
      expect(isCrashLoop(streak, policy)).toBe(false)
    }
  })

  it('gives up an app that dies at once after 11 runs with the defaults', () => {
    let streak: number[] = []
    let runs = 0
    while (!isCrashLoop(streak, DEFAULT_RESTART_POLICY)) {
      runs++
      streak = nextStreak(streak, run(runs * 1_000, 50), DEFAULT_RESTART_POLICY)
    }
    expect(runs).toBe(DEFAULT_RESTART_POLICY.maxUnstableRestarts + 1)
  })
})
