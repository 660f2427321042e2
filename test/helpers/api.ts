/** @module api: JSON calls to Portico's admin API with any headers (fetch cannot set Host). */
import http from 'node:http'

/** An API answer: status, parsed JSON body (or the raw text), headers. */
export interface ApiResponse<T = unknown> {
  status: number
  body: T
  headers: http.IncomingHttpHeaders
}

/** callApi sends one request to 127.0.0.1:port; a `json` body is sent as application/json. */
export function callApi<T = unknown>(
  port: number,
  method: string,
  path: string,
  options: { json?: unknown; headers?: Record<string, string>; raw?: string } = {},
): Promise<ApiResponse<T>> {
  const body = options.json !== undefined ? JSON.stringify(options.json) : options.raw
  const headers: Record<string, string> = { Host: `127.0.0.1:${port}`, ...options.headers }
  if (options.json !== undefined) headers['Content-Type'] = 'application/json'
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path: `/api/v1${path}`, headers, agent: false },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => {
          text += d
        })
        res.on('end', () => {
          let parsed: unknown = text
          try {
            parsed = JSON.parse(text)
          } catch {
            // Not JSON (e.g. /metrics): keep the text.
          }
          resolve({ status: res.statusCode ?? 0, body: parsed as T, headers: res.headers })
        })
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}
