/** @module EnvFileWatcher: chokidar on the folders of the apps' `.env` files; a change reloads the apps that read the file. */
import path from 'node:path'
import { type FSWatcher, watch } from 'chokidar'
import { WATCH_DEBOUNCE_MS } from './watch.ts'

/** Options of EnvFileWatcher.start. */
export interface EnvWatchOptions {
  /** Which files each app reads now (absolute paths), asked again by refresh(). */
  filesByApp: () => ReadonlyMap<string, readonly string[]>
  /** Called once per quiet period with the apps whose files changed; never concurrently. */
  onChange: (apps: string[]) => Promise<void>
  debounceMs?: number
}

/**
 * EnvFileWatcher watches the folders that hold the apps' `.env` files (one level deep, so a
 * file replaced by rename or created later is seen; a watch on the file itself misses writes
 * after an editor's rename-over). Events for other files are ignored. After a config change,
 * refresh() re-reads which apps read which files.
 */
export class EnvFileWatcher {
  readonly #o: EnvWatchOptions
  readonly #watcher: FSWatcher
  #byFile = new Map<string, string[]>()
  #dirs = new Set<string>()
  readonly #pending = new Set<string>()
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined

  private constructor(options: EnvWatchOptions, watcher: FSWatcher) {
    this.#o = options
    this.#watcher = watcher
    watcher.on('all', (_event, changed) => this.#onEvent(path.resolve(changed)))
  }

  /** start watches the current files; resolves once the watcher is ready. */
  static async start(options: EnvWatchOptions): Promise<EnvFileWatcher> {
    const watcher = watch([], {
      ignoreInitial: true,
      depth: 0,
      atomic: true,
      awaitWriteFinish: { stabilityThreshold: 150, pollInterval: 50 },
    })
    const self = new EnvFileWatcher(options, watcher)
    self.refresh()
    // chokidar never says `ready` while it watches nothing (a config without apps).
    if (self.#dirs.size > 0)
      await new Promise<void>((resolve) => watcher.once('ready', () => resolve()))
    return self
  }

  /** refresh re-reads which apps read which files and watches any new folder. */
  refresh(): void {
    const byFile = new Map<string, string[]>()
    for (const [app, files] of this.#o.filesByApp()) {
      for (const file of files) byFile.set(file, [...(byFile.get(file) ?? []), app])
    }
    this.#byFile = byFile
    const dirs = new Set([...byFile.keys()].map((file) => path.dirname(file)))
    const added = [...dirs].filter((dir) => !this.#dirs.has(dir))
    const gone = [...this.#dirs].filter((dir) => !dirs.has(dir))
    this.#dirs = dirs
    if (added.length > 0) this.#watcher.add(added)
    if (gone.length > 0) this.#watcher.unwatch(gone)
  }

  /** close stops watching and waits for a running callback. */
  async close(): Promise<void> {
    clearTimeout(this.#timer)
    await this.#watcher.close()
    await this.#running
  }

  #onEvent(file: string): void {
    const apps = this.#byFile.get(file)
    if (apps === undefined) return
    for (const app of apps) this.#pending.add(app)
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => void this.#flush(), this.#o.debounceMs ?? WATCH_DEBOUNCE_MS)
  }

  async #flush(): Promise<void> {
    if (this.#running) return
    const apps = [...this.#pending]
    this.#pending.clear()
    // onChange reports its own failures; one must not stop later reloads.
    this.#running = this.#o.onChange(apps).catch(() => undefined)
    await this.#running
    this.#running = undefined
    if (this.#pending.size > 0) await this.#flush()
  }
}
