import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseDenyList } from '../config/settings.ts'
import { instanceEnvironment, isDenied, publicUrl, readEnvFiles } from './app-env.ts'

const portico = {
  PATH: '/usr/bin',
  HOME: '/home/dev',
  DATABASE_URL: 'postgres://from-the-shell',
  HOST: 'my-laptop',
  PORTICO_API_TOKEN: 'secret-token-0123456789',
  PM2_HOME: '/state/pm2',
  npm_config_local_prefix: '/work/portico',
  INIT_CWD: '/work/portico',
  AWS_SECRET_ACCESS_KEY: 'aws',
  AWS_REGION: 'eu-west-1',
  PORT: '9999',
}
const web = { name: 'web', env: {} as Record<string, string>, hostnames: undefined }

describe('instanceEnvironment', () => {
  it('inherits Portico’s environment except its secrets, pm2’s and npm’s variables', () => {
    const env = instanceEnvironment(web, { index: 1, port: 41001 }, { inherited: portico })
    expect(env).toEqual({
      PATH: '/usr/bin',
      HOME: '/home/dev',
      DATABASE_URL: 'postgres://from-the-shell',
      HOST: 'my-laptop',
      AWS_SECRET_ACCESS_KEY: 'aws',
      AWS_REGION: 'eu-west-1',
      PORT: '41001',
      PORTICO_APP: 'web',
      PORTICO_INSTANCE: '1',
    })
  })

  it('drops what the deny list names, exactly or by prefix', () => {
    const env = instanceEnvironment(
      web,
      { index: 0, port: 41000 },
      { inherited: portico, deny: parseDenyList('AWS_*, DATABASE_URL') },
    )
    expect(Object.keys(env)).not.toContain('AWS_REGION')
    expect(Object.keys(env)).not.toContain('AWS_SECRET_ACCESS_KEY')
    expect(Object.keys(env)).not.toContain('DATABASE_URL')
    expect(env.PATH).toBe('/usr/bin')
  })

  it('layers: config env > .env > dev server variables > inherited; Portico’s own last', () => {
    const spec = {
      name: 'web',
      env: { MODE: 'config', PORT: '80', PORTICO_APP: 'x', PORTICO_URL: 'http://no' },
      hostnames: undefined,
    }
    const env = instanceEnvironment(
      spec,
      { index: 0, port: 41000 },
      {
        inherited: { ...portico, MODE: 'shell', FROM_SHELL: '1' },
        httpsPort: 8443,
        caFile: '/ca.pem',
      },
      {
        tool: { HOST: '127.0.0.1', MODE: 'tool' },
        dotenv: { MODE: 'dotenv', DATABASE_URL: 'postgres://from-dotenv' },
      },
    )
    expect(env).toMatchObject({
      MODE: 'config',
      DATABASE_URL: 'postgres://from-dotenv',
      HOST: '127.0.0.1',
      FROM_SHELL: '1',
      PORT: '41000',
      PORTICO_APP: 'web',
      PORTICO_INSTANCE: '0',
      PORTICO_URL: 'https://web.localhost:8443',
      NODE_EXTRA_CA_CERTS: '/ca.pem',
    })
  })

  it('lets .env or env replace NODE_EXTRA_CA_CERTS, never PORTICO_URL', () => {
    const env = instanceEnvironment(
      { name: 'web', env: {}, hostnames: undefined },
      { index: 0, port: 41000 },
      { inherited: {}, caFile: '/ca.pem', httpsPort: 443 },
      { dotenv: { NODE_EXTRA_CA_CERTS: '/mine.pem', PORTICO_URL: 'x' } },
    )
    expect(env.NODE_EXTRA_CA_CERTS).toBe('/mine.pem')
    expect(env.PORTICO_URL).toBe('https://web.localhost')
  })
})

describe('publicUrl', () => {
  it('uses the first plain hostname and omits :443', () => {
    expect(publicUrl({ name: 'web', hostnames: undefined }, 8443)).toBe(
      'https://web.localhost:8443',
    )
    expect(publicUrl({ name: 'web', hostnames: ['*.x.test', 'a.test'] }, 443)).toBe(
      'https://a.test',
    )
    expect(publicUrl({ name: 'web', hostnames: [] }, 8443)).toBeUndefined()
    expect(publicUrl({ name: 'web', hostnames: undefined }, undefined)).toBeUndefined()
  })
})

describe('isDenied', () => {
  it('matches exact names and PREFIX* patterns', () => {
    expect(isDenied('AWS_REGION', ['AWS_*'])).toBe(true)
    expect(isDenied('AWS', ['AWS_*'])).toBe(false)
    expect(isDenied('TOKEN', ['TOKEN'])).toBe(true)
    expect(isDenied('TOKEN2', ['TOKEN'])).toBe(false)
  })
})

describe('readEnvFiles', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portico-dotenv-'))
    await writeFile(
      path.join(dir, '.env'),
      '# comment\nA=1\nB="two words"\nexport C=3\nMULTI="x\ny"\n',
    )
    await writeFile(path.join(dir, '.env.local'), 'A=local\n')
    // A folder where a file is expected: unreadable for root too (EISDIR).
    await mkdir(path.join(dir, 'folder.env'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('parses with util.parseEnv, later files winning, missing files skipped', async () => {
    const env = await readEnvFiles(
      ['.env', '.env.local', '.env.missing'].map((f) => path.join(dir, f)),
    )
    expect(env).toMatchObject({ A: 'local', B: 'two words', MULTI: 'x\ny' })
  })

  it('reports an unreadable file by path and goes on', async () => {
    const reported: string[] = []
    const env = await readEnvFiles([path.join(dir, 'folder.env'), path.join(dir, '.env')], (f) =>
      reported.push(f),
    )
    expect(env.A).toBe('1')
    expect(reported).toEqual([path.join(dir, 'folder.env')])
  })
})
