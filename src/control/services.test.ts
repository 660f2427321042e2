import { describe, expect, it } from 'vitest'
import { Registry } from '../registry/registry.ts'
import type { InstanceStatus } from '../supervisor/supervisor.ts'
import { liveState } from './services.ts'

const instance = (state: InstanceStatus['state'], port = 21000): InstanceStatus => ({
  id: 'web#0',
  index: 0,
  port,
  pid: 123,
  state,
  restarts: 0,
  startedAt: null,
  lastExitCode: null,
  lastSignal: null,
})

describe('liveState', () => {
  it('reports a target that health checks took out of rotation, whatever the supervisor thinks', () => {
    const registry = new Registry()
    registry
      .upstream('app:web')
      .add({ id: 'web#0', host: '127.0.0.1', port: 21000, state: 'unhealthy' })
    expect(liveState(registry, 'web', instance('healthy'))).toBe('unhealthy')
  })

  it('falls back to the supervisor when the target is missing or on another port', () => {
    const registry = new Registry()
    expect(liveState(registry, 'web', instance('starting'))).toBe('starting')
    registry
      .upstream('app:web')
      .add({ id: 'web#0', host: '127.0.0.1', port: 21001, state: 'healthy' })
    expect(liveState(registry, 'web', instance('draining'))).toBe('draining')
  })
})
