import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { generate } from 'selfsigned'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../config/load.ts'
import { checkCertificates, routedHostnames, wildcardRefusals } from './preflight.ts'

const backends = [{ hostname: '127.0.0.1', port: 9 }]
const config = (hosts: string[], apps: unknown[] = []) =>
  parseConfig({ apps, routes: hosts.map((vHost) => ({ vHost, backends })) }, 'test')

describe('certificate preflight', () => {
  let certsDir: string
  beforeAll(async () => {
    certsDir = await mkdtemp(path.join(os.tmpdir(), 'portico-preflight-'))
    const wildcard = await generate([{ name: 'commonName', value: '*.corp.example.com' }], {
      keyType: 'ec',
      algorithm: 'sha256',
      extensions: [
        { name: 'subjectAltName', altNames: [{ type: 2, value: '*.corp.example.com' }] },
      ],
    })
    await writeFile(path.join(certsDir, '_wildcard.corp.example.com.crt'), wildcard.cert)
    await writeFile(path.join(certsDir, '_wildcard.corp.example.com.key'), wildcard.private)
  })
  afterAll(async () => {
    await rm(certsDir, { recursive: true, force: true })
  })

  it('names where the config routes each host', () => {
    const hosts = routedHostnames(
      config(
        ['r.example.com'],
        [
          { name: 'web', script: 'x.js' },
          { name: 'api', script: 'y.js', hostnames: ['api.example.com'] },
        ],
      ),
    )
    expect(hosts).toEqual([
      { host: 'web.localhost', path: 'apps[0].name' },
      { host: 'api.example.com', path: 'apps[1].hostnames[0]' },
      { host: 'r.example.com', path: 'routes[0].vHost' },
    ])
  })

  it('accepts a wildcard file, an API upload, and public names ACME will obtain; warns for loopback names', async () => {
    const result = await checkCertificates({
      config: config([
        'a.corp.example.com',
        'up.example.com',
        'site.example.com',
        'web.localhost',
        '127.0.0.1',
      ]),
      certsDir,
      acme: true,
      hasApiCertificate: (host) => host === 'up.example.com',
    })
    expect(result.refusals).toEqual([])
    expect(result.warnings.map((w) => w.path)).toEqual(['routes[3].vHost', 'routes[4].vHost'])
  })

  it('refuses, with ACME on, a name ACME cannot certify and a public wildcard without a file', async () => {
    const options = {
      config: config(['db.internal', '*.example.com', '*.corp.example.com']),
      certsDir,
      acme: true,
      hasApiCertificate: () => false,
    }
    const { refusals } = await checkCertificates(options)
    expect(refusals.map((r) => r.path)).toEqual(['routes[0].vHost', 'routes[1].vHost'])
    expect(refusals[0]?.message).toContain('is not a public DNS name, so ACME cannot obtain one')
    expect(refusals[1]?.message).toContain('DNS-01')
    expect(await wildcardRefusals(options)).toEqual([refusals[1]])
    expect(await wildcardRefusals({ ...options, acme: false })).toEqual([])
  })

  it('reports a wildcard file that covers none of its names, for each name', async () => {
    const other = await generate([{ name: 'commonName', value: 'other.test' }], {
      keyType: 'ec',
      algorithm: 'sha256',
    })
    const dir = await mkdtemp(path.join(os.tmpdir(), 'portico-preflight-bad-'))
    await writeFile(path.join(dir, '_wildcard.shop.example.com.crt'), other.cert)
    await writeFile(path.join(dir, '_wildcard.shop.example.com.key'), other.private)
    const { refusals } = await checkCertificates({
      config: config(['a.shop.example.com', 'b.shop.example.com']),
      certsDir: dir,
      acme: false,
      hasApiCertificate: () => false,
    })
    await rm(dir, { recursive: true, force: true })
    expect(refusals).toHaveLength(2)
    expect(refusals[0]?.message).toContain('does not cover a.shop.example.com')
    expect(refusals[1]?.message).toContain('does not cover b.shop.example.com')
  })
})
