/** @module Dev terminal output of app instances: `web#0 | line`, coloured per instance. */
import type { Writable } from 'node:stream'

const COLOURS = [36, 33, 32, 35, 34, 91, 92, 93, 94, 95, 96] as const

/**
 * createOutputPrinter returns an onOutput callback that writes each app line prefixed by
 * `<app>#<index> |`, padded and coloured per instance like a Procfile runner. Colour only on a TTY.
 */
export function createOutputPrinter(out: Writable & { isTTY?: boolean }) {
  const colours = new Map<string, number>()
  const tty = out.isTTY === true
  return function printOutput(
    app: string,
    index: number,
    stream: 'out' | 'err',
    line: string,
  ): void {
    const id = `${app}#${index}`
    let colour = colours.get(id)
    if (colour === undefined) {
      colour = COLOURS[colours.size % COLOURS.length] as number
      colours.set(id, colour)
    }
    const prefix = id.padEnd(10)
    const mark = stream === 'err' ? '!' : '|'
    out.write(
      tty ? `\x1b[${colour}m${prefix} ${mark}\x1b[0m ${line}\n` : `${prefix} ${mark} ${line}\n`,
    )
  }
}
