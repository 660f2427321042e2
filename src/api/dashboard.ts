/** @module The dashboard's static files at `/` and `/ui/*`, from memory, under a strict Content-Security-Policy. */
import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { gzip } from 'node:zlib'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { errors } from '../errors.ts'

/** Where the dashboard's files live: `dashboard/` at the package root (beside `src/` and `dist/`). */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../dashboard/', import.meta.url))
/** The route patterns the dashboard is served at (the security hook treats them as static). */
export const DASHBOARD_PATHS = ['/', '/ui/:file'] as const

/**
 * The page's Content-Security-Policy: its own files only, no inline script or style, no
 * framing, no plugins, connections (fetch, WebSocket) to this origin only.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ')

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
}
/** Files smaller than this are sent uncompressed (gzip would not pay for its header). */
const MIN_GZIP_BYTES = 1024
const gzipAsync = promisify(gzip)

/** One file held in memory, with its gzip form when that is smaller. */
interface Asset {
  type: string
  body: Buffer
  gzipped: Buffer | undefined
  etag: string
}

/** loadAssets reads every servable file of `dir` (flat) into memory; a missing folder is empty. */
export async function loadAssets(dir: string): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>()
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    // No dashboard folder (a trimmed install): the API works, `/` explains.
    return assets
  }
  for (const name of names) {
    const type = CONTENT_TYPES[path.extname(name)]
    if (type === undefined) continue
    const body = await readFile(path.join(dir, name))
    const packed = body.length >= MIN_GZIP_BYTES ? await gzipAsync(body) : undefined
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`
    assets.set(name, {
      type,
      body,
      gzipped: packed && packed.length < body.length ? packed : undefined,
      etag,
    })
  }
  return assets
}

function send(request: FastifyRequest, reply: FastifyReply, asset: Asset): FastifyReply {
  reply.headers(SECURITY_HEADERS)
  reply.header('Content-Type', asset.type)
  reply.header('Cache-Control', 'no-cache')
  reply.header('ETag', asset.etag)
  reply.header('Vary', 'Accept-Encoding')
  if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send()
  const acceptsGzip = /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''))
  if (asset.gzipped !== undefined && acceptsGzip) {
    reply.header('Content-Encoding', 'gzip')
    return reply.send(asset.gzipped)
  }
  return reply.send(asset.body)
}

/**
 * dashboardPlugin serves `index.html` at `/` and the other files of `dir` at `/ui/<name>`, from
 * memory (read once at start, gzip when it helps, ETag revalidation), each with the security
 * headers above. Unknown names are the API's 404. Register it at the root, after installSecurity
 * was given DASHBOARD_PATHS as static paths.
 */
export function dashboardPlugin(dir: string = DASHBOARD_DIR): FastifyPluginAsync {
  return async function dashboard(app) {
    const assets = await loadAssets(dir)
    app.get('/', { schema: { hide: true } }, async (request, reply) => {
      const page = assets.get('index.html')
      if (page === undefined)
        throw new errors.PTC_ERR_NOT_FOUND('GET', '/ (the dashboard is not installed)')
      return send(request, reply, page)
    })
    app.get<{ Params: { file: string } }>(
      '/ui/:file',
      { schema: { hide: true } },
      async (request, reply) => {
        const asset =
          request.params.file === 'index.html' ? undefined : assets.get(request.params.file)
        if (asset === undefined) throw new errors.PTC_ERR_NOT_FOUND('GET', request.url)
        return send(request, reply, asset)
      },
    )
  }
}
