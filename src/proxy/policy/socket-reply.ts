/** @module verdictReply: a policy's refusal as raw HTTP/1.1 bytes, for a WebSocket upgrade's socket. */
import { STATUS_CODES } from 'node:http'
import type { Reject, Respond } from './policy.ts'

/**
 * verdictReply returns the complete, closing HTTP/1.1 response for a refused upgrade: the
 * status, the verdict's headers and a body (the auth server's for `respond`, a small JSON error
 * with the code and request id for `reject`). An upgrade never reaches the request listener, so
 * the loop writes this on the socket and ends it, as upgrade.ts's rejectUpgrade does.
 */
export function verdictReply(verdict: Reject | Respond, requestId: string): Buffer {
  const status = verdict.kind === 'reject' ? verdict.error.statusCode : verdict.status
  const body =
    verdict.kind === 'respond'
      ? verdict.body
      : Buffer.from(
          JSON.stringify({
            error: { code: verdict.error.code, message: verdict.error.message, requestId },
          }),
        )
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n`
  for (let i = 0; i < verdict.headers.length; i += 2) {
    const name = verdict.headers[i] as string
    const lower = name.toLowerCase()
    if (lower === 'content-length' || lower === 'connection' || lower === 'content-type') continue
    head += `${name}: ${verdict.headers[i + 1]}\r\n`
  }
  const type =
    verdict.kind === 'reject' ? 'application/json' : headerValue(verdict.headers, 'content-type')
  if (type !== undefined) head += `Content-Type: ${type}\r\n`
  head += `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`
  return Buffer.concat([Buffer.from(head, 'latin1'), body])
}

function headerValue(headers: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2)
    if ((headers[i] as string).toLowerCase() === lowerName) return headers[i + 1]
  return undefined
}
