/** @module Edge error responses: small HTML for browsers, JSON for API clients, each with a request id. */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { PorticoError } from '../errors.ts'

/** Extra content for an error page. */
export interface ErrorPageOptions {
  requestId: string
  /** Hostnames to list on a 404 page (the registered sites), if any. */
  knownHosts?: readonly string[]
  /** Seconds for Retry-After (503). */
  retryAfterSeconds?: number
  /**
   * More response headers as a flat [name, value, …] list: a policy verdict's WWW-Authenticate,
   * Retry-After and RateLimit fields (issue 17). A repeated name is sent as several fields.
   */
  headers?: readonly string[]
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c] as string)
}

function wantsJson(req: IncomingMessage): boolean {
  const accept = req.headers.accept
  return (
    accept !== undefined && accept.includes('application/json') && !accept.includes('text/html')
  )
}

function htmlBody(error: PorticoError, options: ErrorPageOptions): string {
  const hosts = options.knownHosts ?? []
  const list =
    hosts.length === 0
      ? ''
      : `<p>Registered sites:</p><ul>${hosts.map((h) => `<li>${escapeHtml(h)}</li>`).join('')}</ul>`
  return `<!doctype html><html><head><meta charset="utf-8"><title>${error.statusCode} ${escapeHtml(error.code)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}code{background:#f3f3f3;padding:0 .3em}</style></head>
<body><h1>${error.statusCode}</h1><p>${escapeHtml(error.message)}</p>${list}
<p><small>Portico · <code>${escapeHtml(error.code)}</code> · request id <code>${escapeHtml(options.requestId)}</code></small></p></body></html>
`
}

/**
 * sendError answers `req` with `error`'s status: JSON `{ error: { code, message, requestId } }`
 * when the client prefers JSON, else a small HTML page. Does nothing if headers were already
 * sent (the caller then destroys the response instead). Never throws.
 */
export function sendError(
  req: IncomingMessage,
  res: ServerResponse,
  error: PorticoError,
  options: ErrorPageOptions,
): void {
  if (res.headersSent || res.destroyed) return
  const json = wantsJson(req)
  const body = json
    ? JSON.stringify({
        error: { code: error.code, message: error.message, requestId: options.requestId },
      })
    : htmlBody(error, options)
  const headers: Record<string, string | number | string[]> = {
    'Content-Type': json ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    'X-Request-Id': options.requestId,
  }
  if (options.retryAfterSeconds !== undefined) headers['Retry-After'] = options.retryAfterSeconds
  addHeaders(headers, options.headers)
  // After a malformed request the rest of the connection cannot be trusted (smuggling): close it.
  if (error.statusCode === 400) headers.Connection = 'close'
  res.writeHead(error.statusCode, headers)
  res.end(req.method === 'HEAD' ? undefined : body)
}

/** addHeaders merges a flat header list into `headers`; a name given twice becomes a list. */
function addHeaders(
  headers: Record<string, string | number | string[]>,
  extra: readonly string[] | undefined,
): void {
  if (extra === undefined) return
  for (let i = 0; i < extra.length; i += 2) {
    const name = extra[i] as string
    const value = extra[i + 1] as string
    const existing = headers[name]
    headers[name] =
      existing === undefined
        ? value
        : [...(Array.isArray(existing) ? existing : [String(existing)]), value]
  }
}
