import { describe, expect, it } from 'vitest'
import { parseStatusEntry } from '../../config/policy-values.ts'
import { compileOutcome } from './response-outcome.ts'

describe('compileOutcome', () => {
  it('counts 502-504 as failures by default, and nothing slow', () => {
    const outcome = compileOutcome()
    expect([500, 501, 502, 503, 504, 505, 200, 404].map((s) => outcome.failed(s, 1e9))).toEqual([
      false,
      false,
      true,
      true,
      true,
      false,
      false,
      false,
    ])
  })

  it('takes listed statuses and classes, and a latency limit', () => {
    const outcome = compileOutcome({ unhealthyStatus: ['5xx', 429], unhealthyLatencyMs: 2_000 })
    expect(outcome.failed(500, 10)).toBe(true)
    expect(outcome.failed(599, 10)).toBe(true)
    expect(outcome.failed(429, 10)).toBe(true)
    expect(outcome.failed(404, 10)).toBe(false)
    expect(outcome.failed(200, 2_000)).toBe(false)
    expect(outcome.failed(200, 2_001)).toBe(true)
    expect(compileOutcome({ unhealthyStatus: [] }).failed(503, 0)).toBe(false)
  })

  it('says what to write for a bad entry', () => {
    expect(parseStatusEntry(600)).toMatch(/from 100 to 599/)
    expect(parseStatusEntry('6xx')).toMatch(/class such as "5xx"/)
    expect(parseStatusEntry('5XX')).toEqual([500, 599])
  })
})
