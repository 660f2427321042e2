// Issue 15, item 4: `portico trust`, `trust --check` and `untrust` with the real bin, on a
// temporary HOME (NSS databases of Chrome/Chromium and a Firefox profile, checked with
// `certutil -L`) and a relocated Debian system store (real update-ca-certificates, checked with
// `openssl verify`); once as a user without root; once against this machine's own system store,
// which must end exactly as it was.
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import {
  chown,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { issueLeaf } from '../../src/proxy/tls/dev-ca.ts'
import { runCli } from '../helpers/cli.ts'

const exec = promisify(execFile)
const NOBODY = { uid: 65534, gid: 65534 }
const isRoot = process.getuid?.() === 0

/** certutil -L of an NSS database: its listing, one line per certificate. */
async function nssList(dir: string): Promise<string> {
  return (await exec('certutil', ['-L', '-d', `sql:${dir}`])).stdout
}

/** openssl verify exit status for `leaf` against a CA file or a hashed CA folder. */
async function verifies(leaf: string, ca: { file?: string; dir?: string }): Promise<boolean> {
  const args = ['verify', ...(ca.file ? ['-CAfile', ca.file] : ['-CApath', ca.dir as string]), leaf]
  return exec('openssl', args).then(
    (r) => r.stdout.trim().endsWith(': OK'),
    () => false,
  )
}

/** Every entry of `dir` as `name → link target | sha256`, sorted: equal means the same store. */
async function snapshot(dir: string, skip: string[] = []): Promise<string[]> {
  const lines: string[] = []
  for (const name of (await readdir(dir)).sort()) {
    if (skip.includes(name)) continue
    const file = path.join(dir, name)
    const info = await lstat(file)
    if (info.isSymbolicLink()) lines.push(`${name} -> ${await readlink(file)}`)
    else if (info.isFile())
      lines.push(
        `${name} ${createHash('sha256')
          .update(await readFile(file))
          .digest('hex')}`,
      )
    else lines.push(`${name}/`)
  }
  return lines
}

/** Links in `dir` whose target is gone. */
async function dangling(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const name of await readdir(dir)) {
    const file = path.join(dir, name)
    if (!(await lstat(file)).isSymbolicLink()) continue
    if (
      !(await stat(file).then(
        () => true,
        () => false,
      ))
    )
      out.push(name)
  }
  return out
}

/** A self-signed CA made with openssl, written to `file`. */
async function opensslCa(file: string, cn: string): Promise<void> {
  const key = `${file}.key`
  await exec('openssl', [
    ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
    ...['-keyout', key, '-out', file, '-subj', `/CN=${cn}`, '-days', '30'],
  ])
  await rm(key)
}

/** A leaf for web.localhost issued by the user's dev CA in `caDir`, written to `file`. */
async function leafFrom(caDir: string, file: string): Promise<void> {
  const ca = {
    certPem: await readFile(path.join(caDir, 'dev-ca.crt'), 'utf8'),
    keyPem: await readFile(path.join(caDir, 'dev-ca.key'), 'utf8'),
  }
  await writeFile(file, (await issueLeaf(ca, 'web.localhost')).certPem)
}

describe('portico trust on a temporary HOME and a relocated system store', () => {
  let dir: string
  let home: string
  let root: string
  let etc: string
  let before: string[]
  let env: Record<string, string>
  const firefox = () => path.join(home, '.mozilla/firefox/abcd1234.default-release')

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portico-trust-'))
    home = path.join(dir, 'home')
    root = path.join(dir, 'root')
    etc = path.join(root, 'etc/ssl/certs')
    for (const sub of [
      'usr/local/share/ca-certificates',
      'usr/share/ca-certificates',
      'etc/ssl/certs',
      'etc/ca-certificates/update.d',
    ]) {
      await mkdir(path.join(root, sub), { recursive: true })
    }
    await writeFile(path.join(root, 'etc/ca-certificates.conf'), '')
    // A hook like Debian's Java keystore one: it records the +/- lines it is given.
    await writeFile(
      path.join(root, 'etc/ca-certificates/update.d/record'),
      `#!/bin/sh\ncat >> '${path.join(dir, 'hook.log')}'\n`,
      { mode: 0o755 },
    )
    // The store already trusts two CAs; after trust and untrust it must trust exactly those.
    for (const cn of ['first-ca', 'second-ca']) {
      await opensslCa(path.join(root, `usr/local/share/ca-certificates/${cn}.crt`), cn)
    }
    await exec('update-ca-certificates', [
      ...['--certsconf', path.join(root, 'etc/ca-certificates.conf')],
      ...['--certsdir', path.join(root, 'usr/share/ca-certificates')],
      ...['--localcertsdir', path.join(root, 'usr/local/share/ca-certificates')],
      ...['--etccertsdir', etc, '--hooksdir', path.join(root, 'etc/ca-certificates/update.d')],
    ])
    await mkdir(firefox(), { recursive: true })
    await exec('certutil', ['-N', '-d', `sql:${firefox()}`, '--empty-password'])
    before = await snapshot(etc)
    env = { HOME: home, XDG_DATA_HOME: '', PORTICO_CA_DIR: '', PORTICO_SYSTEM_TRUST_ROOT: root }
  })

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('trust installs the CA into the system store and every NSS database, saying so per store', async () => {
    const result = await runCli(['trust'], { env })
    expect(result.code, result.stdout + result.stderr).toBe(0)
    expect(result.stdout).toMatch(/system \(Debian\/Ubuntu: .*\): installed/)
    expect(result.stdout).toMatch(/nss \(Chrome\/Chromium: .*\.pki\/nssdb\): installed/)
    expect(result.stdout).toMatch(
      /nss \(Firefox profile abcd1234\.default-release: .*\): installed/,
    )
    const caDir = path.join(home, '.local/share/portico')
    expect((await stat(caDir)).mode & 0o777).toBe(0o700)
    expect((await stat(path.join(caDir, 'dev-ca.key'))).mode & 0o777).toBe(0o600)
    for (const db of [path.join(home, '.pki/nssdb'), firefox()]) {
      expect(await nssList(db)).toMatch(/^Portico Development CA [0-9a-f]{8} +C,, *$/m)
    }
    const leaf = path.join(dir, 'leaf.pem')
    await leafFrom(caDir, leaf)
    expect(await verifies(leaf, { file: path.join(etc, 'ca-certificates.crt') })).toBe(true)
    expect(await verifies(leaf, { dir: etc })).toBe(true)
    expect(await readFile(path.join(dir, 'hook.log'), 'utf8')).toMatch(
      /^\+\S+\/etc\/ssl\/certs\/portico-dev-ca-[0-9a-f]{8}\.pem$/m,
    )
  })

  it('trust again and trust --check exit 0, naming every store', async () => {
    const again = await runCli(['trust'], { env })
    expect(again.code).toBe(0)
    expect(again.stdout.match(/already trusted/g)).toHaveLength(3)
    const check = await runCli(['trust', '--check'], { env })
    expect(check.code).toBe(0)
    expect(check.stdout).toMatch(/system \(Debian\/Ubuntu: .*\): trusted/)
    expect(check.stdout.match(/nss \(.*\): trusted/g)).toHaveLength(2)
  })

  it('untrust removes it everywhere and leaves the system store exactly as it was', async () => {
    const result = await runCli(['untrust'], { env })
    expect(result.code, result.stdout + result.stderr).toBe(0)
    expect(result.stdout.match(/: removed/g)).toHaveLength(3)
    for (const db of [path.join(home, '.pki/nssdb'), firefox()]) {
      expect(await nssList(db)).not.toContain('Portico Development CA')
    }
    expect(await snapshot(etc)).toEqual(before)
    expect(await dangling(etc)).toEqual([])
    // The hooks hear of the removal as update-ca-certificates tells them of one.
    expect(await readFile(path.join(dir, 'hook.log'), 'utf8')).toMatch(
      /^-\S+\/etc\/ssl\/certs\/portico-dev-ca-[0-9a-f]{8}\.pem$/m,
    )
    const leaf = path.join(dir, 'leaf.pem')
    expect(await verifies(leaf, { file: path.join(etc, 'ca-certificates.crt') })).toBe(false)
    const again = await runCli(['untrust'], { env })
    expect(again.code).toBe(0)
    const check = await runCli(['trust', '--check'], { env })
    expect(check.code).toBe(1)
    expect(check.stdout.match(/: not trusted/g)).toHaveLength(3)
  })
})

describe.runIf(isRoot)('portico trust as a user without root', () => {
  let home: string

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'portico-trust-user-'))
    await chown(home, NOBODY.uid, NOBODY.gid)
  })
  afterAll(async () => {
    await rm(home, { recursive: true, force: true })
  })

  it('does the user’s own stores, and says how to do the system store as root', async () => {
    const systemBefore = await snapshot('/usr/local/share/ca-certificates')
    const result = await runCli(['trust'], {
      env: { HOME: home, XDG_DATA_HOME: '', PORTICO_CA_DIR: '', PORTICO_SYSTEM_TRUST_ROOT: '' },
      as: NOBODY,
    })
    expect(result.code).toBe(1)
    expect(result.stdout).toMatch(/nss \(Chrome\/Chromium: .*\): installed/)
    const system = result.stdout.split('\n').find((l) => l.includes('system ('))
    expect(system).toMatch(/FAILED: needs root/)
    expect(system).toMatch(
      /sudo install -m 644 \S+dev-ca\.crt \/usr\/local\/share\/ca-certificates\/portico-dev-ca-[0-9a-f]{8}\.crt && sudo update-ca-certificates/,
    )
    expect(await nssList(path.join(home, '.pki/nssdb'))).toContain('Portico Development CA')
    expect(await snapshot('/usr/local/share/ca-certificates')).toEqual(systemBefore)
  })
})

// The real store, once: update-ca-certificates runs this machine's hooks (a Java keystore here,
// ~30 s per call). The store is saved byte for byte first and put back byte for byte at the end
// (update-ca-certificates normalises whatever it finds, so bytes may differ in between); what
// untrust must achieve is the same trust: same certificates behind the same names, the same
// bundle, the same Java keystore contents, no dangling link.
describe.runIf(isRoot && existsSync('/usr/sbin/update-ca-certificates'))(
  'portico trust against this machine’s own system store',
  () => {
    const etc = '/etc/ssl/certs'
    const local = '/usr/local/share/ca-certificates'
    const saved = ['etc/ssl/certs', 'usr/local/share/ca-certificates']
    let home: string
    let backup: string
    let backedUp = false
    let before: { etc: string[]; local: string[]; java: string[] }

    /** The Java keystore's certificates (fingerprints, each once), when keytool is there. */
    async function javaCerts(): Promise<string[]> {
      const keytool = await exec('keytool', ['-list', '-cacerts', '-storepass', 'changeit']).catch(
        () => undefined,
      )
      if (keytool === undefined) return []
      const prints = [...keytool.stdout.matchAll(/\(SHA-256\): ([0-9A-F:]+)/g)].map((m) => m[1])
      return [...new Set(prints as string[])].sort()
    }

    /** What the store trusts: each name with the content it leads to, links followed. */
    async function trusted(dir: string, skip: string[] = []): Promise<string[]> {
      const lines: string[] = []
      for (const name of (await readdir(dir)).sort()) {
        if (skip.includes(name)) continue
        const content = await readFile(path.join(dir, name)).catch(() => undefined)
        const hash = content && createHash('sha256').update(content).digest('hex')
        lines.push(`${name} ${hash ?? '(unreadable)'}`)
      }
      return lines
    }

    const state = async () => ({
      etc: await trusted(etc, ['java']),
      local: await trusted(local),
      java: await javaCerts(),
    })

    beforeAll(async () => {
      home = await mkdtemp(path.join(os.tmpdir(), 'portico-trust-real-'))
      backup = path.join(home, 'store.tar')
      await exec('tar', ['-C', '/', '-cpf', backup, ...saved])
      await exec('tar', ['-tf', backup])
      backedUp = true
      before = await state()
    })

    afterAll(async () => {
      // Put the store back exactly as saved, whatever happened above (never without a backup).
      if (!backedUp) return
      for (const sub of saved) {
        for (const name of await readdir(path.join('/', sub))) {
          await rm(path.join('/', sub, name), { recursive: true, force: true })
        }
      }
      await exec('tar', ['-C', '/', '-xpf', backup])
      await rm(home, { recursive: true, force: true })
    })

    it('trusts, verifies with openssl, untrusts, and leaves the store trusting what it did', async () => {
      const env = {
        HOME: home,
        XDG_DATA_HOME: '',
        PORTICO_CA_DIR: '',
        PORTICO_SYSTEM_TRUST_ROOT: '',
      }
      const trust = await runCli(['trust'], { env, timeoutMs: 240_000 })
      expect(trust.code, trust.stdout + trust.stderr).toBe(0)
      expect(trust.stdout).toMatch(
        /system \(Debian\/Ubuntu: \/usr\/local\/share\/ca-certificates\): installed/,
      )
      const leaf = path.join(home, 'leaf.pem')
      await leafFrom(path.join(home, '.local/share/portico'), leaf)
      expect(await verifies(leaf, { dir: etc })).toBe(true)
      expect(await verifies(leaf, { file: path.join(etc, 'ca-certificates.crt') })).toBe(true)
      const untrust = await runCli(['untrust'], { env, timeoutMs: 240_000 })
      expect(untrust.code, untrust.stdout + untrust.stderr).toBe(0)
      expect(await verifies(leaf, { dir: etc })).toBe(false)
      expect(await state()).toEqual(before)
      expect(await dangling(etc)).toEqual([])
    }, 600_000)
  },
)
