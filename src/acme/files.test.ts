import { mkdtemp, rm, stat } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { AcmeFiles, directoryKey } from './files.ts'

describe('AcmeFiles', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portico-acme-files-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('keeps one folder per directory URL', () => {
    const prod = directoryKey('https://acme-v02.api.letsencrypt.org/directory')
    const staging = directoryKey('https://acme-staging-v02.api.letsencrypt.org/directory')
    expect(prod).toMatch(/^acme-v02\.api\.letsencrypt\.org-[0-9a-f]{8}$/)
    expect(staging).not.toBe(prod)
    expect(directoryKey('https://127.0.0.1:14000/dir')).toMatch(/^127\.0\.0\.1_14000-/)
  })

  it('makes the account key once, 0600 in 0700 folders, and stores pairs 0600', async () => {
    const files = new AcmeFiles(dir, 'https://127.0.0.1:14000/dir')
    await files.prepare()
    let made = 0
    const create = async () => {
      made++
      return `KEY ${made}`
    }
    const [a, b] = await Promise.all([files.accountKey(create), files.accountKey(create)])
    expect(a).toBe(b)
    expect(await files.accountKey(create)).toBe(a)
    await files.writeCertificate('site1.example.com', { certPem: 'CERT', keyPem: 'KEY' })
    expect(await files.readCertificate('site1.example.com')).toEqual({
      certPem: 'CERT',
      keyPem: 'KEY',
    })
    expect(await files.readCertificate('other.example.com')).toBeUndefined()
    const { certFile, keyFile } = files.certificateFiles('site1.example.com')
    for (const file of [certFile, keyFile, path.join(files.root, 'account.key')])
      expect((await stat(file)).mode & 0o777).toBe(0o600)
    for (const folder of [path.join(dir, 'acme'), files.root, path.dirname(certFile), files.locks])
      expect((await stat(folder)).mode & 0o777).toBe(0o700)
    await files.saveAccountUrl('https://127.0.0.1:14000/my-account/1')
    expect(await files.accountUrl()).toBe('https://127.0.0.1:14000/my-account/1')
  })
})
