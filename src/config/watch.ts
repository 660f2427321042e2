/** @module watchFiles: chokidar on the config file (and its local imports) and certs/, debounced. */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { type FSWatcher, watch } from 'chokidar'

/** Quiet time after the last change before a reload runs, in milliseconds. */
export const WATCH_DEBOUNCE_MS = 250

/** What changed: the config (file or an import of it) or the certificates folder. */
export type WatchedKind = 'config' | 'certs'

/** Options of watchFiles. */
export interface WatchOptions {
  configPath: string
  certsDir: string
  /** Called once per quiet period with what changed; never concurrently with itself. */
  onChange: (kind: WatchedKind) => Promise<void>
  debounceMs?: number
}

const IMPORT = /(?:from\s+|import\s*\(\s*|require\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g
const SOURCE_EXTENSIONS = ['', '.ts', '.mts', '.js', '.mjs', '.cjs', '.json']

/**
 * localImports returns the config file and the local files it imports (relative specifiers,
 * followed transitively, at most 50 files), so edits to a helper module reload the config too.
 */
export async function localImports(file: string): Promise<string[]> {
  const seen = new Set<string>()
  const queue = [path.resolve(file)]
  while (queue.length > 0 && seen.size < 50) {
    const current = queue.shift() as string
    if (seen.has(current)) continue
    let text: string
    try {
      text = await readFile(current, 'utf8')
    } catch {
      // An import that does not resolve to a file (a package, a typo) is not watched.
      continue
    }
    seen.add(current)
    for (const match of text.matchAll(IMPORT)) {
      const base = path.resolve(path.dirname(current), match[1] as string)
      for (const ext of SOURCE_EXTENSIONS) queue.push(base + ext)
    }
  }
  return [...seen]
}

/**
 * watchFiles watches the config file, its local imports and the certs folder. Editors that save
 * by rename or write twice produce one callback (chokidar `atomic` + `awaitWriteFinish`, then a
 * debounce). Changes that arrive while a callback runs are collected and delivered after it.
 * Returns a function that stops watching.
 */
export async function watchFiles(options: WatchOptions): Promise<() => Promise<void>> {
  const configFiles = await localImports(options.configPath)
  const watcher: FSWatcher = watch([...configFiles, options.certsDir], {
    ignoreInitial: true,
    atomic: true,
    awaitWriteFinish: { stabilityThreshold: 150, pollInterval: 50 },
  })
  const pending = new Set<WatchedKind>()
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  const certsDir = path.resolve(options.certsDir)
  const flush = async () => {
    timer = undefined
    if (running) return
    const kinds = [...pending]
    pending.clear()
    running = (async () => {
      for (const kind of kinds) await options.onChange(kind)
      // The edit may have added an import: watch it from now on.
      if (kinds.includes('config')) watcher.add(await localImports(options.configPath))
    })()
    await running
    running = undefined
    if (pending.size > 0) schedule()
  }
  const schedule = () => {
    clearTimeout(timer)
    timer = setTimeout(() => void flush(), options.debounceMs ?? WATCH_DEBOUNCE_MS)
  }
  watcher.on('all', (_event, changed) => {
    pending.add(
      path.resolve(changed).startsWith(certsDir + path.sep) || path.resolve(changed) === certsDir
        ? 'certs'
        : 'config',
    )
    schedule()
  })
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()))
  return async () => {
    clearTimeout(timer)
    await watcher.close()
    await running
  }
}
