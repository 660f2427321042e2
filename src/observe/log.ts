/** @module pino root logger and per-component children; secrets redacted. */
import { type Logger, pino } from 'pino'

export type { Logger }

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
type Level = (typeof LEVELS)[number]

/** Options for createLogger. */
export interface LogOptions {
  /** `PORTICO_LOG_LEVEL`; default `info`. */
  level?: string | undefined
  /** Human-readable coloured output (dev mode on a TTY) instead of JSON lines. */
  pretty?: boolean
}

/** flushLogger writes out what the async destination still buffers; call it before process.exit. */
export function flushLogger(log: Logger): void {
  try {
    log.flush()
  } catch {
    // A destination that is already closed has nothing left to write.
  }
}

function toLevel(level: string | undefined): Level {
  const l = (level ?? 'info').toLowerCase()
  return (LEVELS as readonly string[]).includes(l) ? (l as Level) : 'info'
}

/**
 * createLogger returns the root logger. JSON lines on stdout by default; pretty output uses
 * pino-pretty in a worker thread. Tokens, keys and authorization headers are redacted.
 */
export function createLogger(options: LogOptions = {}): Logger {
  const level = toLevel(options.level)
  const redact = {
    paths: [
      'token',
      '*.token',
      'key',
      '*.key',
      'req.headers.authorization',
      'headers.authorization',
    ],
    censor: '[redacted]',
  }
  if (options.pretty) {
    return pino({
      level,
      redact,
      transport: {
        target: 'pino-pretty',
        options: {
          colorize: true,
          singleLine: true,
          ignore: 'pid,hostname',
          translateTime: 'HH:MM:ss',
        },
      },
    })
  }
  // Asynchronous, buffered writes to stdout: the access log is on the request path, and a
  // synchronous write per request costs more than the proxying. flushLogger() runs before exit.
  // Each write holds whole lines and at most 4 KiB (PIPE_BUF): edge workers share this stdout,
  // and writes that size are atomic on a pipe, so their lines never interleave.
  return pino(
    { level, redact, base: { pid: process.pid } },
    pino.destination({ dest: 1, sync: false, maxWrite: 4096 }),
  )
}
