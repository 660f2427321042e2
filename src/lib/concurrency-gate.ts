/** @module ConcurrencyGate: at most N tasks run at once, a bounded FIFO waits, the rest are refused. */

/**
 * ConcurrencyGate runs at most `maxRunning` tasks at once; up to `maxWaiting` more wait in FIFO
 * order. `run` returns undefined, without calling `task`, when both are full: the caller answers
 * "busy" instead of growing a queue. Used to cap password hashing (CPU and memory heavy) so a
 * flood of wrong passwords cannot take the edge's thread pool or event loop.
 */
export class ConcurrencyGate {
  readonly maxRunning: number
  readonly maxWaiting: number
  #running = 0
  #waiting: (() => void)[] = []

  constructor(maxRunning: number, maxWaiting: number) {
    this.maxRunning = maxRunning
    this.maxWaiting = maxWaiting
  }

  /** Tasks running now. */
  get running(): number {
    return this.#running
  }

  /** run starts `task` now or once a slot frees; undefined when the gate is full. */
  run<T>(task: () => Promise<T>): Promise<T> | undefined {
    if (this.#running < this.maxRunning) return this.#start(task)
    if (this.#waiting.length >= this.maxWaiting) return undefined
    return new Promise<void>((resolve) => this.#waiting.push(resolve)).then(() => this.#start(task))
  }

  async #start<T>(task: () => Promise<T>): Promise<T> {
    this.#running++
    try {
      return await task()
    } finally {
      this.#running--
      const next = this.#waiting.shift()
      if (next !== undefined) next()
    }
  }
}
