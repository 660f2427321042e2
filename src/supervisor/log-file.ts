/** @module LogFile: an app's output appended to a size-capped, rotated file, written asynchronously with bounded memory. */
import { type FileHandle, mkdir, open, rename, rm } from 'node:fs/promises'
import { dirname } from 'node:path'

/** Bytes a log file may reach before it is rotated (5 MiB). */
export const LOG_FILE_MAX_BYTES = 5 * 1024 * 1024
/** Files kept per app, the live one included: `web.log`, `web.log.1`, `web.log.2`. */
export const LOG_FILES_KEPT = 3
/** Lines waiting for the disk may hold this many bytes; past it new lines are dropped (counted). */
export const LOG_PENDING_MAX_BYTES = 1024 * 1024

/** Options of a LogFile. */
export interface LogFileOptions {
  /** The live file; rotated copies get `.1`, `.2`, … appended. Its folder is created (0700). */
  path: string
  maxBytes?: number
  files?: number
  maxPendingBytes?: number
  /** Told once per failure streak when the disk refuses a write (the lines are dropped). */
  onError?: (error: unknown) => void
}

/**
 * LogFile appends lines to `path` (mode 0600) from a single background writer, so a burst of
 * output never blocks the caller and never grows memory past `maxPendingBytes`: lines beyond it
 * are dropped and a `[portico] N lines dropped` line says so once the writer catches up. Before
 * a write would take the file past `maxBytes` it is rotated: `.1` becomes `.2` (the oldest is
 * deleted), the live file becomes `.1`, a new live file starts. `close()` flushes and closes.
 */
export class LogFile {
  readonly #path: string
  readonly #maxBytes: number
  readonly #files: number
  readonly #maxPendingBytes: number
  readonly #onError: ((error: unknown) => void) | undefined
  #pending: string[] = []
  #pendingBytes = 0
  #dropped = 0
  #failing = false
  #handle: FileHandle | undefined
  #size = 0
  #writing: Promise<void> | undefined
  #closed = false

  constructor(options: LogFileOptions) {
    this.#path = options.path
    this.#maxBytes = options.maxBytes ?? LOG_FILE_MAX_BYTES
    this.#files = Math.max(1, options.files ?? LOG_FILES_KEPT)
    this.#maxPendingBytes = options.maxPendingBytes ?? LOG_PENDING_MAX_BYTES
    this.#onError = options.onError
  }

  /** write queues one line (a newline is added); it never throws and never waits. */
  write(line: string): void {
    if (this.#closed) return
    const text = `${line}\n`
    const bytes = Buffer.byteLength(text)
    if (this.#pendingBytes + bytes > this.#maxPendingBytes) {
      this.#dropped++
      return
    }
    this.#pending.push(text)
    this.#pendingBytes += bytes
    this.#writing ??= this.#drain()
  }

  /** flush resolves once every line queued so far is on disk (or dropped after an error). */
  async flush(): Promise<void> {
    while (this.#writing) await this.#writing
  }

  /** close flushes, then closes the file; later writes are ignored. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true
    await this.flush()
    await this.#handle?.close().catch(() => undefined)
    this.#handle = undefined
  }

  async #drain(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        if (this.#dropped > 0) {
          this.#pending.push(`[portico] ${this.#dropped} lines dropped: the log file fell behind\n`)
          this.#dropped = 0
        }
        const batch = this.#pending.join('')
        this.#pending = []
        this.#pendingBytes = 0
        await this.#append(batch)
      }
    } finally {
      this.#writing = undefined
    }
  }

  async #append(text: string): Promise<void> {
    const bytes = Buffer.byteLength(text)
    try {
      await this.#open()
      if (this.#size > 0 && this.#size + bytes > this.#maxBytes) await this.#rotate()
      const handle = await this.#open()
      await handle.appendFile(text)
      this.#size += bytes
      this.#failing = false
    } catch (error) {
      // Logging must never take an app down: the batch is lost, the next one tries again.
      await this.#handle?.close().catch(() => undefined)
      this.#handle = undefined
      if (!this.#failing) this.#onError?.(error)
      this.#failing = true
    }
  }

  async #open(): Promise<FileHandle> {
    if (this.#handle) return this.#handle
    await mkdir(dirname(this.#path), { recursive: true, mode: 0o700 })
    const handle = await open(this.#path, 'a', 0o600)
    this.#size = (await handle.stat()).size
    this.#handle = handle
    return handle
  }

  async #rotate(): Promise<void> {
    await this.#handle?.close()
    this.#handle = undefined
    await rm(`${this.#path}.${this.#files - 1}`, { force: true })
    for (let n = this.#files - 2; n >= 1; n--) {
      await rename(`${this.#path}.${n}`, `${this.#path}.${n + 1}`).catch(ignoreMissing)
    }
    if (this.#files > 1) await rename(this.#path, `${this.#path}.1`)
    else await rm(this.#path, { force: true })
    this.#size = 0
  }
}

function ignoreMissing(error: unknown): void {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
}
