import { X509Certificate } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { appCaFile, loadUserDevCa } from './ca-dir.ts'
import { loadOrCreateDevCa } from './dev-ca.ts'

function capture() {
  const lines: { level: number; msg: string }[] = []
  const log = pino(
    { level: 'info' },
    { write: (line: string) => lines.push(JSON.parse(line) as { level: number; msg: string }) },
  )
  return { log, lines }
}

describe('loadUserDevCa', () => {
  let root: string
  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'portico-cadir-'))
  })
  afterAll(async () => {
    await rm(root, { recursive: true, force: true })
  })

  it('makes the CA once in its folder (0700, key 0600) and reports its SHA-256', async () => {
    const caDir = path.join(root, 'data', 'portico')
    const first = await loadUserDevCa({ caDir })
    expect((await stat(caDir)).mode & 0o777).toBe(0o700)
    expect((await stat(path.join(caDir, 'dev-ca.key'))).mode & 0o777).toBe(0o600)
    expect(first.certPath).toBe(path.join(caDir, 'dev-ca.crt'))
    expect(first.fingerprint256).toBe(new X509Certificate(first.ca.certPem).fingerprint256)
    expect(first.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
    const again = await loadUserDevCa({ caDir })
    expect(again.ca.certPem).toBe(first.ca.certPem)
  })

  it('adopts the CA an older Portico left in certs/, keeping the originals', async () => {
    const project = path.join(root, 'project', 'certs')
    const old = await loadOrCreateDevCa(project)
    const caDir = path.join(root, 'adopting')
    const { log, lines } = capture()
    const adopted = await loadUserDevCa({ caDir, legacyDir: project, log })
    expect(adopted.ca.certPem).toBe(old.certPem)
    expect(await readFile(path.join(caDir, 'dev-ca.key'), 'utf8')).toBe(old.keyPem)
    expect((await stat(path.join(caDir, 'dev-ca.key'))).mode & 0o777).toBe(0o600)
    expect(await readFile(path.join(project, 'dev-ca.crt'), 'utf8')).toBe(old.certPem)
    expect(lines.some((l) => l.msg.startsWith('adopted the dev CA'))).toBe(true)
  })

  it('warns about a different old CA once the user has one, and never adopts it', async () => {
    const caDir = path.join(root, 'data', 'portico')
    const own = await loadUserDevCa({ caDir })
    const project = path.join(root, 'other', 'certs')
    await loadOrCreateDevCa(project)
    const { log, lines } = capture()
    const loaded = await loadUserDevCa({ caDir, legacyDir: project, log })
    expect(loaded.ca.certPem).toBe(own.ca.certPem)
    expect(lines.some((l) => l.level === 40 && l.msg.includes('no longer uses'))).toBe(true)
  })

  it('does not adopt an unusable old CA', async () => {
    const project = path.join(root, 'broken', 'certs')
    await mkdir(project, { recursive: true })
    await writeFile(path.join(project, 'dev-ca.crt'), 'not a certificate')
    await writeFile(path.join(project, 'dev-ca.key'), 'not a key')
    const caDir = path.join(root, 'fresh')
    const made = await loadUserDevCa({ caDir, legacyDir: project })
    expect(made.ca.certPem).toContain('BEGIN CERTIFICATE')
  })
})

describe('appCaFile', () => {
  let root: string
  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'portico-cafile-'))
    await writeFile(path.join(root, 'dev-ca.crt'), 'DEV\n')
    await writeFile(path.join(root, 'corp.pem'), 'CORP\n')
  })
  afterAll(async () => {
    await rm(root, { recursive: true, force: true })
  })

  it('is the dev CA itself unless Portico runs with NODE_EXTRA_CA_CERTS', async () => {
    const certPath = path.join(root, 'dev-ca.crt')
    expect(await appCaFile({ certPath, inherited: undefined, stateDir: root })).toBe(certPath)
    expect(await appCaFile({ certPath, inherited: '/nope.pem', stateDir: root })).toBe(certPath)
  })

  it('bundles the dev CA with the one Portico was given', async () => {
    const certPath = path.join(root, 'dev-ca.crt')
    const file = await appCaFile({
      certPath,
      inherited: path.join(root, 'corp.pem'),
      stateDir: root,
    })
    expect(file).toBe(path.join(root, 'node-extra-ca-certs.pem'))
    expect(await readFile(file, 'utf8')).toBe('DEV\nCORP\n')
  })
})
