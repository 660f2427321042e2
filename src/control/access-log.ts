/** @module startAccessLogFile: the access log as JSON lines in a size-rotated file, written once in the main process. */
import type { EventBus } from '../observe/events.ts'
import type { Logger } from '../observe/log.ts'
import { LogFile } from '../supervisor/log-file.ts'

/** Options of startAccessLogFile (`edge.accessLog`, path absolute). */
export interface AccessLogOptions {
  file: string
  maxBytes: number
  keep: number
  events: EventBus
  log: Logger
}

/**
 * startAccessLogFile appends one JSON line per `request:completed` event (the fields of the
 * stdout access log plus `time`, ISO 8601) to `file` (0600, folder made 0700), rotating it to
 * `.1`, `.2`, … before it would pass `maxBytes` and keeping `keep` files. It runs in the main
 * process, which receives every edge worker's finished requests, so one writer owns the file
 * and rotation never races. Writes are asynchronous and bounded (LogFile drops and counts lines
 * past 1 MiB pending); lines that arrive while a write is under way go out together, and a
 * file may pass `maxBytes` by that one batch. Returns `flush()` and `close()` (which flushes).
 */
export function startAccessLogFile(options: AccessLogOptions): {
  flush: () => Promise<void>
  close: () => Promise<void>
} {
  const file = new LogFile({
    path: options.file,
    maxBytes: options.maxBytes,
    files: options.keep,
    onError: (err) =>
      options.log.error({ err, file: options.file }, 'access log file write failed'),
  })
  const unsubscribe = options.events.on('request:completed', (record) => {
    file.write(JSON.stringify({ time: new Date().toISOString(), ...record }))
  })
  options.log.info({ file: options.file }, 'access log written to a file')
  return {
    flush: () => file.flush(),
    close: async () => {
      unsubscribe()
      await file.close()
    },
  }
}
