/** @module Load a config file (.ts, .js, .mjs, .json), validate it, and explain every problem by path. */
import { readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import type { z } from 'zod'
import { errors } from '../errors.ts'
import { checkPolicyFiles } from './policy-files.ts'
import { type Config, configSchema } from './schema.ts'

/** Extensions a config file may have. */
export const CONFIG_EXTENSIONS = ['.ts', '.mts', '.js', '.mjs', '.cjs', '.json'] as const

/** A config module that has not finished loading after this long is abandoned, in milliseconds. */
export const CONFIG_LOAD_TIMEOUT_MS = 10_000

// The config module runs in a worker thread: a config that loops forever (F16) or throws at
// import can then be abandoned without harming the running process. jiti (moduleCache off)
// re-reads the file and the local files it imports each time. The worker is plain JS so it
// needs no TypeScript loader of its own; jiti is resolved here and passed in as a URL.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
import(workerData.jitiUrl).then(async ({ createJiti }) => {
  const jiti = createJiti(workerData.file, { moduleCache: false, fsCache: false, interopDefault: true })
  const mod = await jiti.import(workerData.file, { default: true })
  const value = typeof mod === 'function' ? await mod() : mod
  parentPort.postMessage({ ok: true, value: JSON.parse(JSON.stringify(value ?? null)) })
}).catch((error) => {
  parentPort.postMessage({ ok: false, message: error && error.message ? String(error.message) : String(error) })
})
`

/**
 * loadConfig reads, imports and validates the config file at `file`. It throws
 * PTC_ERR_CONFIG_NOT_FOUND, PTC_ERR_CONFIG_LOAD (syntax error, throwing module) or
 * PTC_ERR_CONFIG_INVALID whose message lists one `path: problem, got value` line per issue.
 */
export async function loadConfig(
  file: string,
  options: { timeoutMs?: number } = {},
): Promise<Config> {
  const absolute = path.resolve(file)
  try {
    await stat(absolute)
  } catch (cause) {
    throw new errors.PTC_ERR_CONFIG_NOT_FOUND(absolute, { cause })
  }
  const raw = await importConfig(absolute, options.timeoutMs ?? CONFIG_LOAD_TIMEOUT_MS)
  const config = parseConfig(raw, absolute)
  // Issue 17: an authProvider module must exist (the schema cannot look at the disk).
  const missing = await checkPolicyFiles(config, path.dirname(absolute))
  if (missing.length > 0) {
    throw new errors.PTC_ERR_CONFIG_INVALID(absolute, missing.map((l) => `  ${l}`).join('\n'), {
      details: missing,
    })
  }
  return config
}

/** parseConfig validates an already-imported config object; `source` names it in messages. */
export function parseConfig(raw: unknown, source: string): Config {
  const result = configSchema.safeParse(raw)
  if (result.success) return result.data
  const lines = formatIssues(result.error, raw)
  throw new errors.PTC_ERR_CONFIG_INVALID(source, lines.map((l) => `  ${l}`).join('\n'), {
    details: lines,
  })
}

async function importConfig(file: string, timeoutMs: number): Promise<unknown> {
  try {
    if (file.endsWith('.json')) return JSON.parse(await readFile(file, 'utf8'))
    return await importInWorker(file, timeoutMs)
  } catch (cause) {
    throw new errors.PTC_ERR_CONFIG_LOAD(file, describeLoadError(cause), { cause })
  }
}

type WorkerReply = { ok: true; value: unknown } | { ok: false; message: string }

function importInWorker(file: string, timeoutMs: number): Promise<unknown> {
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { file, jitiUrl: import.meta.resolve('jiti') },
    // The config sees the same environment but cannot keep Portico alive or write its stdin.
    stdin: false,
  })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void worker.terminate()
      reject(
        new Error(`the config did not finish loading within ${timeoutMs} ms (an endless loop?)`),
      )
    }, timeoutMs)
    worker.once('message', (reply: WorkerReply) => {
      clearTimeout(timer)
      void worker.terminate()
      if (reply.ok) resolve(reply.value)
      else reject(new Error(reply.message))
    })
    worker.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
  })
}

function describeLoadError(cause: unknown): string {
  if (cause instanceof Error) return cause.message.split('\n').slice(0, 6).join('\n')
  return String(cause)
}

/**
 * formatIssues turns zod issues into lines such as
 * `apps[1].instances: expected a positive integer, got "two"`, reading the offending value
 * from `input` so the user sees what they wrote.
 */
export function formatIssues(error: z.ZodError, input: unknown): string[] {
  return error.issues.map((issue) => {
    const where = formatPath(issue.path) || '(config)'
    if (issue.code === 'unrecognized_keys') {
      return `${where}: unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}`
    }
    if (issue.code === 'invalid_key') {
      const inner = issue.issues[0]?.message ?? issue.message
      return `${where}: ${inner} (the key itself is wrong)`
    }
    const value = valueAt(input, issue.path)
    const got = value.found && issue.code !== 'custom' ? `, got ${describeValue(value.value)}` : ''
    return `${where}: ${issue.message}${got}`
  })
}

const IDENTIFIER = /^[A-Za-z_$][\w$-]*$/

/** formatPath renders `['apps', 1, 'instances']` as `apps[1].instances`. */
export function formatPath(segments: readonly PropertyKey[]): string {
  let out = ''
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`
    else if (typeof s === 'string' && IDENTIFIER.test(s)) out += out === '' ? s : `.${s}`
    else out += `[${JSON.stringify(String(s))}]`
  }
  return out
}

function valueAt(
  input: unknown,
  segments: readonly PropertyKey[],
): { found: boolean; value?: unknown } {
  let current: unknown = input
  for (const s of segments) {
    if (current === null || typeof current !== 'object' || !(s in current)) return { found: false }
    current = (current as Record<PropertyKey, unknown>)[s]
  }
  return { found: true, value: current }
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing'
  if (typeof value === 'function') return 'a function'
  const json = JSON.stringify(value)
  if (json === undefined) return String(value)
  return json.length > 60 ? `${json.slice(0, 57)}...` : json
}
