import os from 'node:os'
import { describe, expect, it } from 'vitest'
import { parseConfig } from './load.ts'
import { defaultCaDir, parseDenyList, resolveConfigPath, resolveSettings } from './settings.ts'

const config = parseConfig({ edge: { https: { port: 9443 } }, apps: [] }, 'x')

describe('resolveSettings', () => {
  it('uses the config and the defaults without overrides', () => {
    const s = resolveSettings(config, '/srv/site/apps.config.ts', {}, 'dev')
    expect(s).toMatchObject({
      httpsPort: 9443,
      httpPort: 8880,
      apiPort: 8844,
      apiHost: '127.0.0.1',
      bind: '127.0.0.1',
      stateDir: '/srv/site/.portico',
      certsDir: '/srv/site/certs',
      portRange: { from: 21000, to: 21999 },
    })
  })

  it('lets every PORTICO_* variable beat the config', () => {
    const s = resolveSettings(
      config,
      '/srv/site/apps.config.ts',
      {
        PORTICO_HTTPS_PORT: '0',
        PORTICO_HTTP_PORT: '0',
        PORTICO_API_PORT: '0',
        PORTICO_BIND: '::1',
        PORTICO_STATE_DIR: '/tmp/state',
        PORTICO_CERTS_DIR: 'my-certs',
        PORTICO_PORT_RANGE: '45000-45100',
        PORTICO_API_TOKEN: 'secret-token-0123456789',
        PORTICO_LOG_LEVEL: 'warn',
      },
      'start',
    )
    expect(s).toMatchObject({
      httpsPort: 0,
      httpPort: 0,
      apiPort: 0,
      bind: '::1',
      stateDir: '/tmp/state',
      certsDir: '/srv/site/my-certs',
      portRange: { from: 45000, to: 45100 },
      apiToken: 'secret-token-0123456789',
      logLevel: 'warn',
      mode: 'start',
    })
  })

  it('explains a malformed variable', () => {
    expect(() => resolveSettings(config, '/x/a.ts', { PORTICO_HTTPS_PORT: 'abc' }, 'dev')).toThrow(
      'PORTICO_HTTPS_PORT: expected a port number from 0 to 65535, got "abc"',
    )
    expect(() =>
      resolveSettings(config, '/x/a.ts', { PORTICO_PORT_RANGE: '5000-4000' }, 'dev'),
    ).toThrow('PORTICO_PORT_RANGE: expected LO-HI')
  })

  it('serves in-process in dev and on every core in start unless edge.workers or PORTICO_WORKERS say otherwise', () => {
    const cores = os.availableParallelism()
    expect(resolveSettings(config, '/x/a.ts', {}, 'dev').workers).toBe(1)
    expect(resolveSettings(config, '/x/a.ts', {}, 'start').workers).toBe(cores)
    const three = parseConfig({ edge: { workers: 3 } }, 'x')
    expect(resolveSettings(three, '/x/a.ts', {}, 'start').workers).toBe(3)
    expect(resolveSettings(three, '/x/a.ts', { PORTICO_WORKERS: '2' }, 'dev').workers).toBe(2)
    expect(resolveSettings(three, '/x/a.ts', { PORTICO_WORKERS: 'auto' }, 'dev').workers).toBe(
      cores,
    )
    expect(() => resolveSettings(config, '/x/a.ts', { PORTICO_WORKERS: '0' }, 'dev')).toThrow(
      'PORTICO_WORKERS: expected a number from 1 to 64, or "auto", got "0"',
    )
    expect(() => parseConfig({ edge: { workers: 'all' } }, 'x')).toThrow('edge.workers')
  })

  it('picks --config over PORTICO_CONFIG over ./apps.config.ts', () => {
    expect(resolveConfigPath('a.ts', { PORTICO_CONFIG: 'b.ts' }, '/w')).toBe('/w/a.ts')
    expect(resolveConfigPath(undefined, { PORTICO_CONFIG: '/abs/b.ts' }, '/w')).toBe('/abs/b.ts')
    expect(resolveConfigPath(undefined, {}, '/w')).toBe('/w/apps.config.ts')
  })
})

describe('defaultCaDir', () => {
  it('is PORTICO_CA_DIR, else the XDG data folder, else ~/.local/share; macOS has its own', () => {
    expect(defaultCaDir({ PORTICO_CA_DIR: 'ca' }, '/srv/site')).toBe('/srv/site/ca')
    expect(defaultCaDir({ HOME: '/home/u', XDG_DATA_HOME: '/data' }, '/x', 'linux')).toBe(
      '/data/portico',
    )
    // A relative XDG_DATA_HOME is invalid by the XDG spec and ignored.
    expect(defaultCaDir({ HOME: '/home/u', XDG_DATA_HOME: 'rel' }, '/x', 'linux')).toBe(
      '/home/u/.local/share/portico',
    )
    expect(defaultCaDir({ HOME: '/Users/u' }, '/x', 'darwin')).toBe(
      '/Users/u/Library/Application Support/portico',
    )
  })
})

describe('parseDenyList', () => {
  it('splits on commas and spaces', () => {
    expect(parseDenyList(' AWS_*, GITHUB_TOKEN  X ')).toEqual(['AWS_*', 'GITHUB_TOKEN', 'X'])
    expect(parseDenyList(undefined)).toEqual([])
  })
})
