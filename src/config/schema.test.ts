import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PorticoError } from '../errors.ts'
import { loadConfig, parseConfig } from './load.ts'
import { isValidHostname } from './schema.ts'

function messageOf(raw: unknown): string {
  try {
    parseConfig(raw, 'test.config.ts')
  } catch (error) {
    expect(error).toBeInstanceOf(PorticoError)
    expect((error as PorticoError).code).toBe('PTC_ERR_CONFIG_INVALID')
    return (error as PorticoError).message
  }
  throw new Error('expected the config to be rejected')
}

describe('config schema', () => {
  it('applies defaults to a minimal app', () => {
    const config = parseConfig({ apps: [{ name: 'web', command: 'node server.js' }] }, 'x')
    const app = config.apps[0]
    expect(app?.instances).toBe(1)
    expect(app?.hostnames).toBeUndefined()
    expect(config.edge.https.port).toBe(8443)
    expect(config.edge.http.port).toBe(8880)
    expect(config.edge.api).toEqual({ host: '127.0.0.1', port: 8844 })
  })

  it('names the path, the problem and the value for a wrong type', () => {
    const message = messageOf({
      apps: [
        { name: 'web', command: 'a' },
        { name: 'api', command: 'b', instances: 'two' },
      ],
    })
    expect(message).toContain('apps[1].instances: expected a positive integer, got "two"')
  })

  it('rejects zero and fractional instances', () => {
    expect(messageOf({ apps: [{ name: 'a', command: 'x', instances: 0 }] })).toContain(
      'apps[0].instances: expected a positive integer, got 0',
    )
    expect(messageOf({ apps: [{ name: 'a', command: 'x', instances: 1.5 }] })).toContain('got 1.5')
  })

  it('requires exactly one of command or script', () => {
    expect(messageOf({ apps: [{ name: 'a' }] })).toContain(
      'apps[0].command: expected exactly one of "command"',
    )
    expect(messageOf({ apps: [{ name: 'a', command: 'x', script: 'y' }] })).toContain(
      'exactly one of',
    )
  })

  it('reports unknown keys by name (typos)', () => {
    expect(messageOf({ apps: [{ name: 'a', command: 'x', instance: 2 }] })).toContain(
      'apps[0]: unknown key(s) "instance"',
    )
  })

  it('rejects duplicate app names and hostnames claimed twice', () => {
    const message = messageOf({
      apps: [
        { name: 'web', command: 'a' },
        { name: 'web', command: 'b', hostnames: ['x.localhost'] },
      ],
      routes: [{ vHost: 'x.localhost', backends: [{ hostname: '127.0.0.1', port: 9000 }] }],
    })
    expect(message).toContain('apps[1].name: duplicate app name, also apps[0]')
    expect(message).toContain(
      'routes[0].vHost: hostname "x.localhost" is already used by app "web"',
    )
  })

  it('rejects a route to an unknown app and out-of-range ports', () => {
    const message = messageOf({
      routes: [
        { vHost: 'a.test', app: 'nope' },
        { vHost: 'b.test', backends: [{ hostname: '127.0.0.1', port: 70000 }] },
      ],
      edge: { https: { port: -1 } },
    })
    expect(message).toContain('routes[0].app: no app named "nope"')
    expect(message).toContain(
      'routes[1].backends[0].port: expected a port number from 1 to 65535, got 70000',
    )
    expect(message).toContain('edge.https.port: expected a port number from 0 to 65535, got -1')
  })

  it('normalises hostnames and refuses malformed ones and header injection', () => {
    const config = parseConfig(
      { apps: [{ name: 'a', command: 'x', hostnames: ['Web.Example.COM.'] }] },
      'x',
    )
    expect(config.apps[0]?.hostnames).toEqual(['web.example.com'])
    const message = messageOf({
      routes: [
        {
          vHost: 'app.test\r\nX: y',
          backends: [{ hostname: '127.0.0.1', port: 1 }],
          headers: { 'X A': 'v', 'X-Ok': 'v\r\nSet-Cookie: p=1' },
        },
      ],
    })
    expect(message).toContain('routes[0].vHost: expected a DNS hostname')
    expect(message).toContain('routes[0].headers["X A"]: expected an HTTP header name')
    expect(message).toContain('expected a header value without CR, LF')
  })

  it('accepts a wildcard only as the whole first label', () => {
    expect(isValidHostname('*.example.com')).toBe(true)
    expect(isValidHostname('web.localhost')).toBe(true)
    expect(isValidHostname('*')).toBe(false)
    expect(isValidHostname('a.*.example.com')).toBe(false)
    expect(isValidHostname('*x.example.com')).toBe(false)
    expect(isValidHostname('-bad.example.com')).toBe(false)
    expect(isValidHostname('../x')).toBe(false)
    expect(isValidHostname('a b')).toBe(false)
  })
})

describe('loadConfig', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portico-config-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('loads a .ts config with types and no import, from any folder', async () => {
    const file = path.join(dir, 'a.config.ts')
    await writeFile(
      file,
      `const n: number = 2\nexport default { apps: [{ name: 'web', command: 'x', instances: n }] }\n`,
    )
    const config = await loadConfig(file)
    expect(config.apps[0]?.instances).toBe(2)
  })

  it('loads .mjs and .json configs', async () => {
    const mjs = path.join(dir, 'b.config.mjs')
    await writeFile(mjs, `export default { apps: [{ name: 'm', script: 's.js' }] }\n`)
    expect((await loadConfig(mjs)).apps[0]?.name).toBe('m')
    const json = path.join(dir, 'c.json')
    await writeFile(json, JSON.stringify({ apps: [{ name: 'j', command: 'x' }] }))
    expect((await loadConfig(json)).apps[0]?.name).toBe('j')
  })

  it('reads an edited file afresh (no module cache)', async () => {
    const file = path.join(dir, 'd.config.ts')
    await writeFile(file, `export default { apps: [{ name: 'one', command: 'x' }] }\n`)
    expect((await loadConfig(file)).apps[0]?.name).toBe('one')
    await writeFile(file, `export default { apps: [{ name: 'two', command: 'x' }] }\n`)
    expect((await loadConfig(file)).apps[0]?.name).toBe('two')
  })

  it('reports a syntax error as PTC_ERR_CONFIG_LOAD naming the file', async () => {
    const file = path.join(dir, 'e.config.ts')
    await writeFile(file, `export default { apps: [ }\n`)
    await expect(loadConfig(file)).rejects.toMatchObject({
      code: 'PTC_ERR_CONFIG_LOAD',
      message: expect.stringContaining(file),
    })
  })

  it('abandons a config that never finishes loading, and one that throws', async () => {
    const loop = path.join(dir, 'loop.config.ts')
    await writeFile(loop, 'while (true) {}\nexport default {}\n')
    await expect(loadConfig(loop, { timeoutMs: 1_000 })).rejects.toMatchObject({
      code: 'PTC_ERR_CONFIG_LOAD',
      message: expect.stringContaining('did not finish loading'),
    })
    const throws = path.join(dir, 'throws.config.ts')
    await writeFile(throws, 'throw new Error("boom from config")\nexport default {}\n')
    await expect(loadConfig(throws)).rejects.toMatchObject({
      message: expect.stringContaining('boom from config'),
    })
  })

  it('reports a missing file as PTC_ERR_CONFIG_NOT_FOUND', async () => {
    await expect(loadConfig(path.join(dir, 'missing.ts'))).rejects.toMatchObject({
      code: 'PTC_ERR_CONFIG_NOT_FOUND',
    })
  })
})
