/** @module ConfigStatus: when the config was last applied and the last error applying it, from the bus. */
import type { EventBus } from './events.ts'

/** What the dashboard shows about the config. Times are ISO 8601. */
export interface ConfigStatusView {
  /** The config file in use. */
  file: string
  lastApplied: { at: string; summary: string }
  /** The last change that could not be applied (the running config stayed), or null. */
  lastError: { at: string; message: string; code: string | null } | null
}

/**
 * ConfigStatus remembers the last `config:applied` and the last `config:failed` event. It starts
 * as "applied at start". `close()` unsubscribes.
 */
export class ConfigStatus {
  #view: ConfigStatusView
  readonly #stops: Array<() => void>

  constructor(options: { events: EventBus; file: string; now?: () => number }) {
    const now = options.now ?? Date.now
    const at = () => new Date(now()).toISOString()
    this.#view = {
      file: options.file,
      lastApplied: { at: at(), summary: 'loaded at start' },
      lastError: null,
    }
    this.#stops = [
      options.events.on('config:applied', ({ summary }) => {
        this.#view = { ...this.#view, lastApplied: { at: at(), summary } }
      }),
      options.events.on('config:failed', ({ error, code }) => {
        this.#view = { ...this.#view, lastError: { at: at(), message: error, code } }
      }),
    ]
  }

  /** view returns the current status. */
  view(): ConfigStatusView {
    return this.#view
  }

  /** close unsubscribes from the bus. */
  close(): void {
    for (const stop of this.#stops.splice(0)) stop()
  }
}
