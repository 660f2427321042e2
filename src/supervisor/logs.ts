/** @module Instance output: raw chunks split into bounded lines, and the last lines of each app in a ring. */

/** A partial line longer than this many characters is cut and passed on as a line of its own. */
export const MAX_LINE_CHARS = 64 * 1024

/** Lines kept per app for `logs(name, tail)`. */
export const LOG_LINES_PER_APP = 1000

/**
 * LineSplitter turns the raw stdout or stderr chunks pm2 forwards (several lines or half of one)
 * into whole lines without their `\n` or `\r\n`. One splitter per instance and stream. Memory is
 * bounded: no line, finished or pending, exceeds `maxLineChars`.
 */
export class LineSplitter {
  readonly #maxLineChars: number
  #partial = ''

  constructor(maxLineChars = MAX_LINE_CHARS) {
    this.#maxLineChars = maxLineChars
  }

  /** push returns the lines that `chunk` completes, in order. */
  push(chunk: string): string[] {
    const parts = (this.#partial + chunk).split('\n')
    this.#partial = parts.pop() ?? ''
    const lines = parts.flatMap((line) => this.#cut(stripCr(line)))
    while (this.#partial.length > this.#maxLineChars) {
      lines.push(this.#partial.slice(0, this.#maxLineChars))
      this.#partial = this.#partial.slice(this.#maxLineChars)
    }
    return lines
  }

  /** flush returns the pending partial line, if any (call it when the process exits). */
  flush(): string[] {
    const rest = this.#partial
    this.#partial = ''
    return rest === '' ? [] : [stripCr(rest)]
  }

  #cut(line: string): string[] {
    if (line.length <= this.#maxLineChars) return [line]
    const pieces: string[] = []
    for (let i = 0; i < line.length; i += this.#maxLineChars) {
      pieces.push(line.slice(i, i + this.#maxLineChars))
    }
    return pieces
  }
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line
}

/** LogRing keeps the last `capacity` lines; older ones are overwritten. */
export class LogRing {
  readonly capacity: number
  readonly #lines: string[] = []
  /** Where the next line goes once the ring is full (= the oldest line). */
  #next = 0

  constructor(capacity = LOG_LINES_PER_APP) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be ≥ 1')
    this.capacity = capacity
  }

  push(line: string): void {
    if (this.#lines.length < this.capacity) {
      this.#lines.push(line)
      return
    }
    this.#lines[this.#next] = line
    this.#next = (this.#next + 1) % this.capacity
  }

  /** tail returns the last `count` lines, oldest first (a fresh array). */
  tail(count: number): string[] {
    if (count <= 0) return []
    const ordered = [...this.#lines.slice(this.#next), ...this.#lines.slice(0, this.#next)]
    return ordered.slice(-count)
  }

  /** clear forgets every line (a new run of an instance starts). */
  clear(): void {
    this.#lines.length = 0
    this.#next = 0
  }

  get size(): number {
    return this.#lines.length
  }
}
