import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { renderUnit, serviceEnv } from './systemd-unit.ts'

const run = promisify(execFile)
const BIN = new URL('../../bin/portico.js', import.meta.url).pathname

describe('systemd unit (portico startup)', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portico-unit-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('runs `portico start` for the config as a dedicated user, restarting always, binding 80/443 without root', () => {
    const unit = renderUnit({
      configPath: '/srv/sites/apps.config.ts',
      env: {
        PORTICO_LOG_LEVEL: 'warn',
        PORTICO_API_TOKEN: 'secret-token-value-123',
        HOME: '/root',
      },
      node: '/usr/bin/node',
      bin: '/opt/portico/bin/portico.js',
    })
    const lines = unit.split('\n')
    for (const line of [
      '[Service]',
      'User=portico',
      'Group=portico',
      'WorkingDirectory=/srv/sites',
      'Environment="PORTICO_CONFIG=/srv/sites/apps.config.ts"',
      'Environment="PORTICO_BIND=0.0.0.0"',
      'Environment="PORTICO_HTTPS_PORT=443"',
      'Environment="PORTICO_HTTP_PORT=80"',
      'Environment="PORTICO_STATE_DIR=/var/lib/portico"',
      'Environment="PORTICO_LOG_LEVEL=warn"',
      'EnvironmentFile=-/etc/portico/portico.env',
      'ExecStart="/usr/bin/node" "/opt/portico/bin/portico.js" start',
      'Restart=always',
      'AmbientCapabilities=CAP_NET_BIND_SERVICE',
      'KillMode=mixed',
      'StateDirectory=portico',
      'StateDirectoryMode=0700',
      'WantedBy=multi-user.target',
    ])
      expect(lines).toContain(line)
    // The token never lands in a world-readable unit; other variables never leak in.
    expect(unit).not.toContain('secret-token-value-123')
    expect(unit).not.toContain('HOME=')
  })

  it('keeps PORTICO_* overrides, escapes values, and refuses what a unit cannot hold', () => {
    const env = serviceEnv('/c/a.ts', {
      PORTICO_STATE_DIR: '/data/portico',
      PORTICO_BIND: '10.0.0.5',
    })
    expect(env).toMatchObject({ PORTICO_STATE_DIR: '/data/portico', PORTICO_BIND: '10.0.0.5' })
    const unit = renderUnit({
      configPath: '/c/a.ts',
      env: { PORTICO_STATE_DIR: '/data/portico', PORTICO_WORKERS: '50%"x' },
      node: '/n',
      bin: '/b',
      user: 'web',
    })
    expect(unit).toContain('User=web')
    expect(unit).toContain('Environment="PORTICO_WORKERS=50%%\\"x"')
    // systemd only makes /var/lib/portico; another state dir is the operator's.
    expect(unit).not.toContain('StateDirectory=')
    expect(() => renderUnit({ configPath: '/c/a.ts', env: {}, user: 'root; rm' })).toThrow(
      'user name',
    )
    expect(() => renderUnit({ configPath: '/c/a.ts', env: { PORTICO_BIND: 'a\nb' } })).toThrow(
      'line break',
    )
  })

  it('`portico startup` prints the unit; `--install` writes it (0644) to the given path, or fails with its code', async () => {
    const config = path.join(dir, 'apps.config.ts')
    const printed = await run(process.execPath, [BIN, 'startup', '--config', config])
    expect(printed.stdout).toContain(`Environment="PORTICO_CONFIG=${config}"`)
    const unitPath = path.join(dir, 'portico.service')
    const installed = await run(process.execPath, [
      ...[BIN, 'startup', '--config', config, '--install', '--unit-path', unitPath],
    ])
    expect(installed.stdout).toContain(`wrote ${unitPath}`)
    expect(installed.stdout).toContain(
      'systemctl daemon-reload && systemctl enable --now portico.service',
    )
    expect(await readFile(unitPath, 'utf8')).toBe(printed.stdout)
    expect((await stat(unitPath)).mode & 0o777).toBe(0o644)
    const denied = run(process.execPath, [
      ...[BIN, 'startup', '--install', '--unit-path', path.join(dir, 'missing', 'x.service')],
    ])
    await expect(denied).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('PTC_ERR_UNIT_INSTALL'),
    })
  })
})
