/** @module AcmeFiles: the ACME account key and the obtained certificates under the state dir (0600 in 0700). */
import { createHash, randomBytes } from 'node:crypto'
import { chmod, link, mkdir, readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { writeFileAtomic } from '../lib/atomic-write.ts'
import type { KeyPair } from '../proxy/tls/dev-ca.ts'

const DIR_MODE = 0o700
const FILE_MODE = 0o600

/**
 * directoryKey names the folder of one ACME directory: its host and port plus a short hash of
 * the URL, so staging and production (or two test servers) never share an account or serve each
 * other's certificates.
 */
export function directoryKey(directoryUrl: string): string {
  const url = new URL(directoryUrl)
  const host = `${url.hostname}${url.port === '' ? '' : `_${url.port}`}`.replace(
    /[^a-z0-9._-]/gi,
    '_',
  )
  const hash = createHash('sha256').update(directoryUrl).digest('hex').slice(0, 8)
  return `${host}-${hash}`
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

/**
 * AcmeFiles owns `<stateDir>/acme/<directory key>/`: `account.key` (the account's private key),
 * `account.json` (its URL), `certs/<name>.crt` (leaf and chain) with `certs/<name>.key`, and
 * `locks/`. Folders are 0700 and files 0600 whatever the umask; every write is atomic (temp
 * file, fsync, rename), so a crash never leaves half a file.
 */
export class AcmeFiles {
  /** The folder of this directory's account and certificates. */
  readonly root: string
  readonly #certs: string
  /** Where per-name lock files go (see lock.ts). */
  readonly locks: string

  constructor(stateDir: string, directoryUrl: string) {
    this.root = path.join(stateDir, 'acme', directoryKey(directoryUrl))
    this.#certs = path.join(this.root, 'certs')
    this.locks = path.join(this.root, 'locks')
  }

  /** prepare makes the folders (0700, also when they existed with a wider mode). */
  async prepare(): Promise<void> {
    for (const dir of [path.dirname(this.root), this.root, this.#certs, this.locks]) {
      await mkdir(dir, { recursive: true, mode: DIR_MODE })
      await chmod(dir, DIR_MODE)
    }
  }

  /**
   * accountKey returns the account's private key (PEM), making it with `create` on first use.
   * Two processes starting at once end up with the same key: the new file is linked into place,
   * which fails if the other got there first, and then theirs is read.
   */
  async accountKey(create: () => Promise<string>): Promise<string> {
    const file = path.join(this.root, 'account.key')
    const existing = await readIfExists(file)
    if (existing !== undefined) return existing
    const fresh = `${file}.${randomBytes(6).toString('hex')}.new`
    await writeFileAtomic(fresh, await create(), FILE_MODE)
    try {
      await link(fresh, file)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    } finally {
      await rm(fresh, { force: true })
    }
    return readFile(file, 'utf8')
  }

  /** accountUrl returns the account URL saved by an earlier run, if any. */
  async accountUrl(): Promise<string | undefined> {
    const text = await readIfExists(path.join(this.root, 'account.json'))
    if (text === undefined) return undefined
    try {
      const url = (JSON.parse(text) as { url?: unknown }).url
      return typeof url === 'string' ? url : undefined
    } catch {
      // A damaged file only costs one account lookup (the CA finds the account by its key).
      return undefined
    }
  }

  /** saveAccountUrl records the account URL so later runs skip the lookup. */
  async saveAccountUrl(url: string): Promise<void> {
    await writeFileAtomic(path.join(this.root, 'account.json'), JSON.stringify({ url }), FILE_MODE)
  }

  /** certificateFiles returns the paths of a name's certificate (chain) and key. */
  certificateFiles(name: string): { certFile: string; keyFile: string } {
    return {
      certFile: path.join(this.#certs, `${name}.crt`),
      keyFile: path.join(this.#certs, `${name}.key`),
    }
  }

  /** readCertificate returns a name's stored pair, or undefined if either file is missing. */
  async readCertificate(name: string): Promise<KeyPair | undefined> {
    const { certFile, keyFile } = this.certificateFiles(name)
    const [certPem, keyPem] = await Promise.all([readIfExists(certFile), readIfExists(keyFile)])
    return certPem === undefined || keyPem === undefined ? undefined : { certPem, keyPem }
  }

  /**
   * writeCertificate stores a name's pair, key first: a crash between the two writes leaves a
   * new key beside the old certificate, which fails validation at the next start and is simply
   * ordered again.
   */
  async writeCertificate(name: string, pair: KeyPair): Promise<void> {
    const { certFile, keyFile } = this.certificateFiles(name)
    await writeFileAtomic(keyFile, pair.keyPem, FILE_MODE)
    await writeFileAtomic(certFile, pair.certPem, FILE_MODE)
  }
}
