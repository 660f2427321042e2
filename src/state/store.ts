/** @module StateStore: the API's changes (an overlay on the config file), persisted atomically in state.json. */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { z } from 'zod'
import { writeFileAtomic } from '../lib/atomic-write.ts'

/** Current state.json format version; older ones are migrated on load. */
export const STATE_VERSION = 1

/**
 * The persisted state. `apps` and `routes` are an overlay on the config file keyed by app name
 * and vHost: an entry replaces the file's entry with that key, `null` deletes it (a tombstone).
 * Entries are stored as the user sent them (inputs, before defaults), so defaults can evolve.
 */
export interface PersistedState {
  version: number
  apps: Record<string, unknown>
  routes: Record<string, unknown>
  /** Certificates uploaded over the API: domain → files under the state dir. */
  certificates: Record<string, { certFile: string; keyFile: string }>
}

const stateSchema = z.object({
  version: z.number().int(),
  apps: z.record(z.string(), z.unknown()).default({}),
  routes: z.record(z.string(), z.unknown()).default({}),
  certificates: z
    .record(z.string(), z.object({ certFile: z.string(), keyFile: z.string() }))
    .default({}),
})

/** emptyState returns a state with no API changes. */
export function emptyState(): PersistedState {
  return { version: STATE_VERSION, apps: {}, routes: {}, certificates: {} }
}

/**
 * StateStore reads and writes `<stateDir>/state.json` (mode 0600). Writes are serialised (one
 * at a time, in call order) and atomic, so a kill -9 at any moment leaves a file that loads.
 */
export class StateStore {
  readonly file: string
  #writing: Promise<void> = Promise.resolve()

  constructor(stateDir: string) {
    this.file = path.join(stateDir, 'state.json')
  }

  /** load returns the saved state, or an empty one when there is none yet. A corrupt file throws. */
  async load(): Promise<PersistedState> {
    let text: string
    try {
      text = await readFile(this.file, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyState()
      throw error
    }
    const parsed = stateSchema.safeParse(JSON.parse(text))
    if (!parsed.success)
      throw new Error(`${this.file} is not a Portico state file: ${parsed.error.message}`)
    return { ...parsed.data, version: STATE_VERSION }
  }

  /** save writes `state` atomically; concurrent saves land in call order. */
  save(state: PersistedState): Promise<void> {
    const data = `${JSON.stringify(state, null, 2)}\n`
    const next = this.#writing.then(() => writeFileAtomic(this.file, data, 0o600))
    // Keep the chain alive after a failed write; the caller still sees the failure.
    this.#writing = next.catch(() => undefined)
    return next
  }
}
