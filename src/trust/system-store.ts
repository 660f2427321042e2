/** @module The operating system's trust store: Debian/Ubuntu, Fedora/RHEL, Arch (p11-kit) and macOS, picked by what is installed. */
import { readdir, readlink, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { asRoot, isWritable, lastLine, run, which } from './exec.ts'
import {
  type Availability,
  bundleHas,
  type Outcome,
  type TrustedCa,
  type TrustStore,
} from './store.ts'

type Env = Readonly<Record<string, string | undefined>>

/**
 * systemStore returns the store of this machine: macOS's System keychain; else Debian's
 * `update-ca-certificates`, Fedora's `update-ca-trust` or p11-kit's `trust`, the first found on
 * PATH; undefined when none is. `PORTICO_SYSTEM_TRUST_ROOT` relocates the Debian store under
 * another root (tests, images being built): its folders and update-ca-certificates' hooks are
 * taken from there.
 */
export async function systemStore(
  env: Env = process.env,
  platform: NodeJS.Platform = process.platform,
): Promise<TrustStore | undefined> {
  if (platform === 'darwin') return macosStore()
  const root = env.PORTICO_SYSTEM_TRUST_ROOT || undefined
  if (root !== undefined || (await which('update-ca-certificates'))) return debianStore(root)
  if (await which('update-ca-trust')) return redHatStore()
  if (await which('trust')) return p11KitStore()
  return undefined
}

/** Debian/Ubuntu: a `.crt` in /usr/local/share/ca-certificates, then update-ca-certificates. */
export function debianStore(root?: string): TrustStore {
  const at = (p: string) => (root === undefined ? p : path.join(root, p))
  const local = at('/usr/local/share/ca-certificates')
  const etc = at('/etc/ssl/certs')
  const bundle = path.join(etc, 'ca-certificates.crt')
  // Relocated, every folder the script uses is named (and the hooks are the root's own).
  const relocation =
    root === undefined
      ? []
      : [
          ...['--certsconf', at('/etc/ca-certificates.conf'), '--certsdir'],
          ...[at('/usr/share/ca-certificates'), '--localcertsdir', local],
          ...['--etccertsdir', etc, '--hooksdir', at('/etc/ca-certificates/update.d')],
        ]
  const update = ['update-ca-certificates', ...relocation]
  const fileOf = (ca: TrustedCa) => path.join(local, `${ca.fileStem}.crt`)
  return {
    name: `system (Debian/Ubuntu: ${local})`,
    available: async () => availableDir(local, 'update-ca-certificates'),
    isTrusted: (ca) => bundleHas(bundle, ca.certPem),
    install: async (ca) => {
      if (await bundleHas(bundle, ca.certPem)) return { status: 'already' }
      const copy = ['install', '-m', '644', ca.certPath, fileOf(ca)]
      return verified(await asRootUnless(local, [copy, update]), bundle, ca, true)
    },
    // update-ca-certificates tracks no removal of a local certificate: its links would dangle
    // and its hooks (the Java keystore) would keep it. So the links go first, the bundle is
    // rebuilt, and each hook is told `-<pem>` exactly as the script tells it of a removal.
    // (`--fresh` is no substitute: it rewrites every link and never tells the hooks.)
    remove: (ca) =>
      removeDebian(ca, {
        local,
        etc,
        bundle,
        update,
        hooksDir: at('/etc/ca-certificates/update.d'),
      }),
  }
}

/**
 * Takes the CA out of a Debian store: its files and links, the bundle rebuilt, and each hook
 * told `-<pem>` as update-ca-certificates tells hooks of a removal.
 */
async function removeDebian(
  ca: TrustedCa,
  store: { local: string; etc: string; bundle: string; update: string[]; hooksDir: string },
): Promise<Outcome> {
  const files = await filesHolding(store.local, ca)
  if (files.length === 0 && !(await bundleHas(store.bundle, ca.certPem)))
    return { status: 'already' }
  const pem = path.join(store.etc, `${ca.fileStem}.pem`)
  const links = await linksTo(store.etc, pem, files)
  const hooks = await executables(store.hooksDir)
  const steps = [
    ...[...files, ...links].map((file) => ['rm', '-f', file]),
    store.update,
    ...hooks.map((hook) => ['sh', '-c', 'printf "%s\\n" "$1" | "$2"', 'sh', `-${pem}`, hook]),
  ]
  return verified(await asRootUnless(store.local, steps), store.bundle, ca, false)
}

/** Fedora/RHEL/CentOS: a PEM in /etc/pki/ca-trust/source/anchors, then update-ca-trust extract. */
export function redHatStore(): TrustStore {
  const anchors = '/etc/pki/ca-trust/source/anchors'
  const bundle = '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem'
  const extract = ['update-ca-trust', 'extract']
  return {
    name: `system (Fedora/RHEL: ${anchors})`,
    available: async () => availableDir(anchors, 'update-ca-trust'),
    isTrusted: (ca) => bundleHas(bundle, ca.certPem),
    install: async (ca) => {
      if (await bundleHas(bundle, ca.certPem)) return { status: 'already' }
      const copy = ['install', '-m', '644', ca.certPath, path.join(anchors, `${ca.fileStem}.pem`)]
      return verified(await asRootUnless(anchors, [copy, extract]), bundle, ca, true)
    },
    remove: async (ca) => {
      const files = await filesHolding(anchors, ca)
      if (files.length === 0 && !(await bundleHas(bundle, ca.certPem))) return { status: 'already' }
      const steps = [...files.map((file) => ['rm', '-f', file]), extract]
      return verified(await asRootUnless(anchors, steps), bundle, ca, false)
    },
  }
}

/** Arch and other p11-kit systems: `trust anchor --store` / `--remove` (extraction is automatic). */
export function p11KitStore(): TrustStore {
  const bundle = '/etc/ssl/certs/ca-certificates.crt'
  return {
    name: 'system (p11-kit: trust anchor)',
    available: async () => ({ ok: true }),
    isTrusted: (ca) => bundleHas(bundle, ca.certPem),
    install: async (ca) => {
      if (await bundleHas(bundle, ca.certPem)) return { status: 'already' }
      const why = await asRoot([['trust', 'anchor', '--store', ca.certPath]])
      return verified(why, bundle, ca, true)
    },
    remove: async (ca) => {
      if (!(await bundleHas(bundle, ca.certPem))) return { status: 'already' }
      const why = await asRoot([['trust', 'anchor', '--remove', ca.certPath]])
      return verified(why, bundle, ca, false)
    },
  }
}

/** macOS: the System keychain, trusted as a root for SSL by `security add-trusted-cert`. */
export function macosStore(): TrustStore {
  const keychain = '/Library/Keychains/System.keychain'
  const trusted = async (ca: TrustedCa) =>
    (await run('security', ['verify-cert', '-c', ca.certPath, '-p', 'ssl', '-q'])).ok
  const check = async (ca: TrustedCa, want: boolean, why: string | undefined): Promise<Outcome> => {
    if (why !== undefined) return { status: 'failed', detail: why }
    return (await trusted(ca)) === want
      ? { status: 'done' }
      : { status: 'failed', detail: 'the keychain did not change' }
  }
  return {
    name: `system (macOS: ${keychain})`,
    available: async () =>
      (await which('security')) ? { ok: true } : { ok: false, why: 'no `security` tool' },
    isTrusted: trusted,
    install: async (ca) => {
      if (await trusted(ca)) return { status: 'already' }
      const add = [
        'security',
        'add-trusted-cert',
        '-d',
        '-r',
        'trustRoot',
        '-k',
        keychain,
        ca.certPath,
      ]
      return check(ca, true, await asRoot([add]))
    },
    remove: async (ca) => {
      if (!(await trusted(ca))) return { status: 'already' }
      const steps = [
        ['security', 'remove-trusted-cert', '-d', ca.certPath],
        ['security', 'delete-certificate', '-Z', ca.sha1, keychain],
      ]
      return check(ca, false, await asRoot(steps))
    },
  }
}

/** Runs `steps` directly when `dir` is writable by this process (a relocated store), else as root. */
async function asRootUnless(dir: string, steps: string[][]): Promise<string | undefined> {
  if (!(await isWritable(dir))) return asRoot(steps)
  for (const [file, ...args] of steps as [string, ...string[]][]) {
    if (file === 'rm') {
      await rm(args.at(-1) as string, { force: true })
      continue
    }
    const result = await run(file, args)
    if (!result.ok) return `${file} failed: ${lastLine(result)}`
  }
  return undefined
}

/** The outcome of a change, checked against the bundle it must (or must no longer) be in. */
async function verified(
  why: string | undefined,
  bundle: string,
  ca: TrustedCa,
  wanted: boolean,
): Promise<Outcome> {
  if (why !== undefined) return { status: 'failed', detail: why }
  if ((await bundleHas(bundle, ca.certPem)) === wanted) return { status: 'done' }
  return { status: 'failed', detail: `${bundle} still ${wanted ? 'lacks' : 'holds'} the CA` }
}

async function availableDir(dir: string, tool: string): Promise<Availability> {
  try {
    if ((await stat(dir)).isDirectory()) return { ok: true }
  } catch {
    // Missing: reported below.
  }
  return { ok: false, why: `${dir} does not exist (is ${tool} installed?)` }
}

/**
 * The links in `etc` that lead to the CA: its `<stem>.pem` link (to one of `files`) and the
 * hash links (`1a2b3c4d.0`) naming that link.
 */
async function linksTo(etc: string, pem: string, files: string[]): Promise<string[]> {
  let names: string[]
  try {
    names = await readdir(etc)
  } catch {
    return []
  }
  const found: string[] = []
  for (const name of names) {
    const link = path.join(etc, name)
    const target = await readlink(link).catch(() => undefined)
    if (target === undefined) continue
    const resolved = path.resolve(etc, target)
    if (resolved === pem || files.includes(resolved)) found.push(link)
  }
  return found
}

/** The hooks update-ca-certificates runs (run-parts names: letters, digits, `_`, `-`). */
async function executables(dir: string): Promise<string[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return []
  }
  const hooks: string[] = []
  for (const name of names.sort()) {
    if (!/^[A-Za-z0-9_-]+$/.test(name)) continue
    const file = path.join(dir, name)
    const info = await stat(file).catch(() => undefined)
    if (info?.isFile() && (info.mode & 0o111) !== 0) hooks.push(file)
  }
  return hooks
}

/** The files in `dir` that hold the CA (ours by name, or an identical copy put there by hand). */
async function filesHolding(dir: string, ca: TrustedCa): Promise<string[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return []
  }
  const found: string[] = []
  for (const name of names) {
    const file = path.join(dir, name)
    if (name.startsWith(ca.fileStem) || (await bundleHas(file, ca.certPem))) found.push(file)
  }
  return found
}
