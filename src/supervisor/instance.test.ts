import { describe, expect, it } from 'vitest'
import { appSchema } from '../config/schema.ts'
import { canTransition, exitState, type InstanceState, instanceEnv, launchOf } from './instance.ts'

describe('canTransition', () => {
  const cases: [InstanceState, InstanceState, boolean][] = [
    // The normal life: start, pass the probe, crash, come back.
    ['starting', 'healthy', true],
    ['healthy', 'crashed', true],
    ['crashed', 'starting', true],
    // Start timeout, then the restart we ask for.
    ['starting', 'unhealthy', true],
    ['unhealthy', 'draining', true],
    ['draining', 'stopped', true],
    ['stopped', 'starting', true],
    // A stop request takes any running instance out of rotation.
    ['healthy', 'draining', true],
    ['starting', 'draining', true],
    ['crashed', 'stopped', true],
    // pm2 sends a second exit event after a stop: it must change nothing.
    ['stopped', 'crashed', false],
    ['stopped', 'stopped', false],
    ['crashed', 'crashed', false],
    // A stopped or crashed instance is not drained, and only a probe makes one healthy.
    ['stopped', 'draining', false],
    ['crashed', 'draining', false],
    ['crashed', 'healthy', false],
    ['stopped', 'healthy', false],
    ['draining', 'healthy', false],
  ]
  it.each(cases)('%s → %s is %s', (from, to, allowed) => {
    expect(canTransition(from, to)).toBe(allowed)
  })
})

describe('exitState', () => {
  it('is stopped when we asked for the exit and crashed otherwise', () => {
    expect(exitState(true)).toBe('stopped')
    expect(exitState(false)).toBe('crashed')
  })
})

describe('instanceEnv', () => {
  const portico = {
    PATH: '/usr/bin',
    HOME: '/home/dev',
    LC_ALL: 'C.UTF-8',
    PORTICO_API_TOKEN: 'secret-token-0123456789',
    PM2_HOME: '/state/pm2',
    DATABASE_URL: 'postgres://from-the-shell',
  }

  it('inherits only PATH, HOME, locale and the like, never Portico or pm2 variables', () => {
    const env = instanceEnv({ name: 'web', env: {} }, { index: 1, port: 41001 }, portico)
    expect(env).toEqual({
      PATH: '/usr/bin',
      HOME: '/home/dev',
      LC_ALL: 'C.UTF-8',
      PORT: '41001',
      PORTICO_APP: 'web',
      PORTICO_INSTANCE: '1',
    })
  })

  it('lets the app env override inherited values but never PORT or the PORTICO_ pair', () => {
    const spec = {
      name: 'web',
      env: { PATH: '/opt/bin', PORT: '80', PORTICO_APP: 'x', MODE: 'dev' },
    }
    const env = instanceEnv(spec, { index: 0, port: 41000 }, portico)
    expect(env).toMatchObject({ PATH: '/opt/bin', MODE: 'dev', PORT: '41000', PORTICO_APP: 'web' })
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
