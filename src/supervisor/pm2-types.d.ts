/** @module Types for the slice of pm2 internals that pm2.ts reads (pm2 ships none for them). */

/**
 * pm2's process table. In no-daemon mode it lives in our own process, and `clusters_db[pm_id]`
 * is the Node ChildProcess pm2 spawned (fork mode): the only place that knows the exit signal,
 * which pm2's bus drops (`handleExit` stores `code || 0`).
 */
declare module 'pm2/lib/God.js' {
  interface GodChild {
    readonly pid?: number | undefined
    readonly exitCode?: number | null | undefined
    readonly signalCode?: string | null | undefined
    /** The process's output pipes (pm2 spawns with stdio 'pipe'). */
    readonly stdout?: import('node:stream').Readable | null | undefined
    readonly stderr?: import('node:stream').Readable | null | undefined
  }
  /** pm2's in-process event emitter (EventEmitter2): `process:event`, `log:out`, `log:err`. */
  interface GodBus {
    on(event: string, listener: (data: never) => void): unknown
    off(event: string, listener: (data: never) => void): unknown
  }
  const God: {
    readonly clusters_db: Readonly<Record<number, GodChild | null | undefined>>
    readonly bus?: GodBus | undefined
  }
  export default God
}
