/** @module NSS databases that browsers read: Chrome/Chromium's ~/.pki/nssdb and each Firefox profile, changed with certutil. */
import { mkdir, readdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { lastLine, run, which } from './exec.ts'
import { type Outcome, pemBody, type TrustedCa, type TrustStore } from './store.ts'

/** NSS trust flags for a CA trusted to identify websites (SSL), and nothing else. */
export const NSS_CA_TRUST = 'C,,'

const CERTUTIL_HINT =
  'certutil not found: install libnss3-tools (Debian/Ubuntu), nss-tools (Fedora), nss (Arch) or `brew install nss` (macOS)'

/**
 * nssStores returns the NSS databases of the user whose home is `home`: Chrome/Chromium's
 * `~/.pki/nssdb` (Linux; made if missing, as Chrome itself would), and every Firefox profile
 * (`~/.mozilla/firefox`, the snap's, macOS's `Library/Application Support/Firefox/Profiles`).
 */
export async function nssStores(
  home: string,
  platform: NodeJS.Platform = process.platform,
): Promise<TrustStore[]> {
  const stores: TrustStore[] = []
  if (platform !== 'darwin') {
    stores.push(nssStore(path.join(home, '.pki', 'nssdb'), 'Chrome/Chromium', true))
  }
  for (const profile of await firefoxProfiles(home)) {
    stores.push(
      nssStore(profile.dir, `Firefox profile ${path.basename(profile.dir)}`, false, profile.prefix),
    )
  }
  return stores
}

/**
 * nssStore is one NSS database. The CA goes in under its own nickname with trust `C,,`; a
 * database that does not exist yet is created (empty password) only when `create` is set.
 */
export function nssStore(
  dir: string,
  label: string,
  create: boolean,
  prefix: 'sql' | 'dbm' = 'sql',
): TrustStore {
  const db = `${prefix}:${dir}`
  const certutil = (...args: string[]) => run('certutil', ['-d', db, ...args])
  const isTrusted = async (ca: TrustedCa) => (await exists(dir)) && (await holdsCa(certutil, ca))
  return {
    name: `nss (${label}: ${dir})`,
    available: async () =>
      (await which('certutil')) ? { ok: true } : { ok: false, why: CERTUTIL_HINT },
    isTrusted,
    install: async (ca): Promise<Outcome> => {
      if (await isTrusted(ca)) return { status: 'already' }
      if (!(await exists(dir))) {
        const why = create ? await createDb(certutil, dir) : `${dir} does not exist`
        if (why !== undefined) return { status: 'failed', detail: why }
      }
      // A stale entry under our nickname (another CA, or other flags) is replaced.
      await deleteAll(certutil, ca.nickname)
      const added = await certutil('-A', '-t', NSS_CA_TRUST, '-n', ca.nickname, '-i', ca.certPath)
      if (!added.ok) return { status: 'failed', detail: `certutil -A: ${lastLine(added)}` }
      return (await isTrusted(ca))
        ? { status: 'done' }
        : { status: 'failed', detail: 'certutil did not keep it' }
    },
    remove: async (ca): Promise<Outcome> => {
      if (!(await exists(dir))) return { status: 'already' }
      const removed = await deleteAll(certutil, ca.nickname)
      if (await isTrusted(ca)) return { status: 'failed', detail: 'certutil -D did not remove it' }
      return removed > 0 ? { status: 'done' } : { status: 'already' }
    },
  }
}

type Certutil = (...args: string[]) => ReturnType<typeof run>

/** Whether the database lists the CA under its nickname, trusted for SSL (`C` in the first field). */
async function holdsCa(certutil: Certutil, ca: TrustedCa): Promise<boolean> {
  const list = await certutil('-L')
  const line = list.stdout.split('\n').find((l) => l.startsWith(`${ca.nickname} `))
  const flags = line?.trim().split(/\s+/).at(-1) ?? ''
  if (!(flags.split(',')[0] ?? '').includes('C')) return false
  const pem = await certutil('-L', '-n', ca.nickname, '-a')
  return pem.ok && pemBody(pem.stdout).includes(pemBody(ca.certPem))
}

/** Makes an empty database (no password), as Chrome does on first run; why it failed, if it did. */
async function createDb(certutil: Certutil, dir: string): Promise<string | undefined> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const made = await certutil('-N', '--empty-password')
  return made.ok ? undefined : `certutil -N: ${lastLine(made)}`
}

/** Deletes every entry under `nickname` (NSS allows several); returns how many went. */
async function deleteAll(
  certutil: (...args: string[]) => ReturnType<typeof run>,
  nickname: string,
) {
  let removed = 0
  // Bounded: a database never holds many entries under one nickname.
  for (let i = 0; i < 16; i++) {
    if (!(await certutil('-D', '-n', nickname)).ok) break
    removed++
  }
  return removed
}

/** The Firefox profiles under `home` that hold an NSS database (cert9.db, or the old cert8.db). */
async function firefoxProfiles(home: string): Promise<{ dir: string; prefix: 'sql' | 'dbm' }[]> {
  const roots = [
    path.join(home, '.mozilla', 'firefox'),
    path.join(home, 'snap', 'firefox', 'common', '.mozilla', 'firefox'),
    path.join(home, 'Library', 'Application Support', 'Firefox', 'Profiles'),
  ]
  const profiles: { dir: string; prefix: 'sql' | 'dbm' }[] = []
  for (const root of roots) {
    let names: string[]
    try {
      names = await readdir(root)
    } catch {
      continue
    }
    for (const name of names.sort()) {
      const dir = path.join(root, name)
      if (await exists(path.join(dir, 'cert9.db'))) profiles.push({ dir, prefix: 'sql' })
      else if (await exists(path.join(dir, 'cert8.db'))) profiles.push({ dir, prefix: 'dbm' })
    }
  }
  return profiles
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file)
    return true
  } catch {
    return false
  }
}
