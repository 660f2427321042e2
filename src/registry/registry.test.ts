import { describe, expect, it } from 'vitest'
import { appOfUpstream, upstreamNameForApp, upstreamNameForRoute } from './registry.ts'

describe('upstream names', () => {
  it('round-trips an app name and tells route upstreams apart', () => {
    expect(appOfUpstream(upstreamNameForApp('web'))).toBe('web')
    expect(appOfUpstream(upstreamNameForRoute('app.test'))).toBeUndefined()
  })
})
