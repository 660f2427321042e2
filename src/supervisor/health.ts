/** @module Readiness probe: a TCP connect or an HTTP GET, polled until the instance answers, times out or is aborted. */
import http from 'node:http'
import net from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'

/** Where to probe. Without `path` a TCP connect is enough; with it, a GET must answer 2xx or 3xx. */
export interface ProbeTarget {
  host: string
  port: number
  path?: string | undefined
}

/** Options of waitUntilReady. */
export interface ReadinessOptions extends ProbeTarget {
  /**
   * Addresses tried in turn on each attempt (default: `host` alone). Instances are probed on
   * 127.0.0.1 then ::1: `localhost` on Node ≥ 17 binds ::1 only where it resolves there first.
   */
  hosts?: readonly string[]
  /** Give up (result `timeout`) after this long, in milliseconds. */
  timeoutMs: number
  /** Pause between failed attempts, in milliseconds (STARTUP_PROBE_INTERVAL_MS). */
  intervalMs: number
  /** One attempt may take this long, in milliseconds. */
  attemptTimeoutMs: number
  /** Abort when the process exits or the instance is stopped (result `aborted`). */
  signal: AbortSignal
  /** Clock, injectable for tests. */
  now?: () => number
}

/** How a readiness wait ended. */
export type Readiness = 'ready' | 'timeout' | 'aborted'

/**
 * waitUntilReady probes the target until one attempt succeeds (`ready`), `timeoutMs` passes
 * (`timeout`) or `signal` aborts (`aborted`). It never rejects. An abort ends it at once, even
 * mid-attempt, so a process exit stops the probe without waiting for a socket timeout.
 */
export async function waitUntilReady(options: ReadinessOptions): Promise<Readiness> {
  return (await waitUntilListening(options)).readiness
}

/**
 * waitUntilListening is waitUntilReady that also says which of `hosts` answered (the address
 * the instance's target must point at); `host` is undefined unless the result is `ready`.
 */
export async function waitUntilListening(
  options: ReadinessOptions,
): Promise<{ readiness: Readiness; host?: string }> {
  const now = options.now ?? Date.now
  const deadline = now() + options.timeoutMs
  const hosts = options.hosts ?? [options.host]
  while (!options.signal.aborted) {
    for (const host of hosts) {
      const leftMs = deadline - now()
      if (leftMs <= 0) return { readiness: 'timeout' }
      const attemptMs = Math.min(options.attemptTimeoutMs, leftMs)
      const ok = await probeOnce({ ...options, host }, attemptMs, options.signal)
      if (options.signal.aborted) return { readiness: 'aborted' }
      if (ok) return { readiness: 'ready', host }
    }
    if (deadline - now() <= 0) return { readiness: 'timeout' }
    const pauseMs = Math.min(options.intervalMs, Math.max(0, deadline - now()))
    try {
      await delay(pauseMs, undefined, { signal: options.signal })
    } catch {
      // AbortError: the loop condition reports it.
    }
  }
  return { readiness: 'aborted' }
}

/** probeOnce resolves true when one attempt succeeds within `timeoutMs`; it never rejects. */
export function probeOnce(
  target: ProbeTarget,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  return target.path === undefined
    ? connectOnce(target, timeoutMs, signal)
    : getOnce({ ...target, path: target.path }, timeoutMs, signal)
}

function connectOnce(
  target: ProbeTarget,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: target.host, port: target.port })
    const finish = (ok: boolean) => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      socket.destroy()
      resolve(ok)
    }
    const onAbort = () => finish(false)
    const timer = setTimeout(onAbort, timeoutMs)
    signal?.addEventListener('abort', onAbort, { once: true })
    socket.once('connect', () => finish(true))
    socket.once('error', () => finish(false))
  })
}

function getOnce(
  target: Required<ProbeTarget>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({
      host: target.host,
      port: target.port,
      path: target.path,
      agent: false,
      headers: { 'user-agent': 'portico-readiness' },
    })
    const finish = (ok: boolean) => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      req.destroy()
      resolve(ok)
    }
    const onAbort = () => finish(false)
    const timer = setTimeout(onAbort, timeoutMs)
    signal?.addEventListener('abort', onAbort, { once: true })
    req.once('error', () => finish(false))
    req.once('response', (res) => {
      res.resume()
      const status = res.statusCode ?? 0
      finish(status >= 200 && status < 400)
    })
  })
}
