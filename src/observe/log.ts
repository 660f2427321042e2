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
        options: { colorize: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss' },
      },
    })
  }
  return pino({ level, redact, base: { pid: process.pid } })
}
