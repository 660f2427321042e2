import { describe, expect, it } from 'vitest'
import { appSchema } from '../config/schema.ts'
import {
  candidateId,
  canTransition,
  exitOutcome,
  type InstanceState,
  launchOf,
  mentionsPortInUse,
  newInstance,
  slotId,
} from './instance.ts'

describe('canTransition', () => {
  const cases: [InstanceState, InstanceState, boolean][] = [
    // The normal life: start, pass the probe, exit, come back (requests wait meanwhile).
    ['starting', 'healthy', true],
    ['healthy', 'starting', true],
    // Start timeout, then the relaunch we ask for.
    ['starting', 'unhealthy', true],
    ['unhealthy', 'starting', true],
    // A crash loop ends in crashed from any running state; a new start leaves it.
    ['starting', 'crashed', true],
    ['healthy', 'crashed', true],
    ['crashed', 'starting', true],
    ['crashed', 'stopped', true],
    // Scale down, reload and stop take a running instance out of rotation, then stop it.
    ['healthy', 'draining', true],
    ['starting', 'draining', true],
    ['unhealthy', 'draining', true],
    ['draining', 'stopped', true],
    ['stopped', 'starting', true],
    // A draining instance is going away whatever its process does meanwhile.
    ['draining', 'starting', false],
    ['draining', 'crashed', false],
    ['draining', 'healthy', false],
    // Late or duplicate pm2 events change nothing once it is stopped or crashed.
    ['stopped', 'crashed', false],
    ['stopped', 'stopped', false],
    ['crashed', 'crashed', false],
    ['stopped', 'draining', false],
    ['crashed', 'draining', false],
    // Only a probe of a new process makes an instance healthy.
    ['crashed', 'healthy', false],
    ['stopped', 'healthy', false],
  ]
  it.each(cases)('%s → %s is %s', (from, to, allowed) => {
    expect(canTransition(from, to)).toBe(allowed)
  })
})

describe('exitOutcome', () => {
  it('ignores an exit we caused, whatever else is true', () => {
    expect(exitOutcome({ expected: true, crashLoop: true, portInUse: true })).toBe('expected')
  })

  it('gives up a crash loop before anything else, port collisions included', () => {
    expect(exitOutcome({ expected: false, crashLoop: true, portInUse: true })).toBe('give-up')
  })

  it('moves an instance that could not bind its port, and lets pm2 restart the rest', () => {
    expect(exitOutcome({ expected: false, crashLoop: false, portInUse: true })).toBe('move-port')
    expect(exitOutcome({ expected: false, crashLoop: false, portInUse: false })).toBe('restart')
  })
})

describe('mentionsPortInUse', () => {
  it('recognises Node, Python and Go wording', () => {
    expect(mentionsPortInUse(['Error: listen EADDRINUSE: address already in use :::3000'])).toBe(
      true,
    )
    expect(mentionsPortInUse(['OSError: [Errno 98] Address already in use'])).toBe(true)
    expect(mentionsPortInUse(['listen tcp :8080: bind: address already in use'])).toBe(true)
    expect(mentionsPortInUse(['listening on 3000', 'Error: boom'])).toBe(false)
  })
})

describe('newInstance', () => {
  it('names the target after its slot, or as the replacement of that slot', () => {
    const spec = appSchema.parse({ name: 'web', command: 'serve' })
    const live = newInstance({ spec, index: 1, port: 41001, pm2Name: 'web-1', candidate: false })
    const next = newInstance({ spec, index: 1, port: 41005, pm2Name: 'web-1-r3', candidate: true })
    expect(live).toMatchObject({ id: 'web#1', state: 'starting', holdsPort: true, restarts: 0 })
    expect(next.id).toBe('web#1.next')
    expect([slotId('web', 1), candidateId('web', 1)]).toEqual(['web#1', 'web#1.next'])
  })
})

describe('launchOf', () => {
  it('runs a command through the shell and a script with node, resolved against cwd', () => {
    const base = appSchema.parse({ name: 'web', command: 'npm run dev' })
    expect(launchOf(base, '/srv/web')).toEqual({ kind: 'shell', command: 'npm run dev' })
    const node = appSchema.parse({ name: 'api', script: 'server.js', args: ['--quiet'] })
    expect(launchOf(node, '/srv/api')).toEqual({
      kind: 'node',
      script: '/srv/api/server.js',
      args: ['--quiet'],
    })
  })
})
