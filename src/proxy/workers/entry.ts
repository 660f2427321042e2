/**
 * @module The edge worker process (node:cluster exec). It waits for the primary's `init`, serves
 * until told to close, and exits; it also exits when the primary goes away (cluster's default on
 * a lost IPC channel), so no worker outlives Portico.
 */
import { createLogger, flushLogger, type Logger } from '../../observe/log.ts'
import type { FromWorker, ToWorker } from './protocol.ts'
import { EdgeWorker } from './worker.ts'

function send(message: FromWorker, done?: () => void): void {
  if (!process.connected || process.send === undefined) {
    done?.()
    return
  }
  process.send(message, undefined, {}, () => done?.())
}

let worker: EdgeWorker | undefined
let log: Logger | undefined

function fail(err: unknown): never {
  log?.fatal({ err }, 'edge worker failed')
  if (log) flushLogger(log)
  process.exit(1)
}

process.on('uncaughtException', fail)
process.on('unhandledRejection', fail)
// Ctrl-C reaches the whole process group: the primary decides when workers stop.
// SIGTERM too (systemd signals the whole group): the primary drains the workers itself.
process.on('SIGINT', () => undefined)
process.on('SIGTERM', () => undefined)

process.on('message', (message: ToWorker) => {
  if (message.type === 'init') {
    log = createLogger({ level: message.logLevel, pretty: message.prettyLog })
    worker = new EdgeWorker(message, send, log)
    worker.start().catch(fail)
    return
  }
  if (message.type === 'close') {
    const closing = worker?.close(message.drainMs) ?? Promise.resolve()
    closing.then(() => {
      if (log) flushLogger(log)
      process.exit(0)
    }, fail)
    return
  }
  worker?.receive(message)
})
send({ type: 'ready' })
