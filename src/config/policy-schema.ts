/**
 * @module zod schemas of the route policies (issue 17): access lists, rate limits, auth, forward
 * auth, stickiness, slow start, circuit breaker, retries, and the health fields. New fields are
 * optional without zod defaults (buildPolicies applies them), so configs and API answers that do
 * not use them read exactly as before.
 */
import { z } from 'zod'
import {
  parseAddressEntry,
  parsePasswordHash,
  parseRate,
  parseStatusEntry,
  parseTokenHash,
} from './policy-values.ts'

const DURATION = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }

/** parseDuration reads `"500ms"`, `"30s"`, `"5m"`, `"1h"` into milliseconds, or undefined. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text)
  if (match === null) return undefined
  return Math.round(Number(match[1]) * (UNIT_MS[match[2] as string] as number))
}

/** A duration: a positive number of milliseconds, or a string such as "30s". Output: ms. */
export const durationSchema = z
  .union([z.number(), z.string()], {
    error: 'expected a duration: milliseconds, or a string such as "500ms", "30s", "5m"',
  })
  .transform((value, ctx) => {
    const ms = typeof value === 'number' ? value : parseDuration(value)
    if (ms === undefined || !Number.isInteger(ms) || ms <= 0) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a duration: positive whole milliseconds, or a string such as "500ms", "30s", "5m", got ${JSON.stringify(value)}`,
      })
      return z.NEVER
    }
    return ms
  })

/** A string the given parser accepts; its message becomes the issue. */
function parsed(parse: (text: string) => unknown) {
  return z.string({ error: 'expected a string' }).superRefine((text, ctx) => {
    const result = parse(text)
    if (typeof result === 'string') ctx.addIssue({ code: 'custom', message: result })
  })
}

/** Addresses and CIDR ranges, IPv4 and IPv6. */
export const addressListSchema = z.array(parsed(parseAddressEntry))

const HEADER_NAME = /^[!#$%&'*+.^`|~0-9A-Za-z-]+$/
/** Headers Portico sets or strips itself: a policy may not copy or set them. */
const RESERVED_HEADER =
  /^(host|x-forwarded-.*|x-real-ip|x-request-id|forwarded|connection|keep-alive|te|trailer|transfer-encoding|upgrade|proxy-.*|content-length)$/i

const copiedHeaderSchema = z
  .string()
  .regex(HEADER_NAME, { error: 'expected an HTTP header name (letters, digits, "-")' })
  .refine((name) => !RESERVED_HEADER.test(name), {
    error: 'Portico sets this header itself (or it is hop-by-hop); pick another name',
  })

const positiveInt = (what: string) =>
  z
    .number({ error: `expected ${what}` })
    .int({ error: `expected ${what}` })
    .positive({ error: `expected ${what}` })

/** `rateLimit`: a token bucket per client key. */
export const rateLimitSchema = z
  .object({
    rate: parsed(parseRate).describe(
      'Requests allowed per second, minute or hour: "100/s", "6000/m", "20000/h".',
    ),
    burst: positiveInt('a positive number of requests')
      .optional()
      .describe("Bucket size: requests a client may send at once. Default: the rate's count."),
    key: z
      .union([
        z.literal('ip'),
        z.string().regex(/^header:[!#$%&'*+.^`|~0-9A-Za-z-]+$/, {
          error: 'expected "ip" or "header:<name>" (e.g. "header:X-Api-Key")',
        }),
      ])
      .optional()
      .describe(
        'Who shares a bucket: "ip" (the client address, default) or "header:<name>" (its value, hashed; requests without it count by address).',
      ),
    maxKeys: positiveInt('a positive number of keys')
      .optional()
      .describe('Keys remembered; the least recently used is forgotten past it. Default 10000.'),
  })
  .strict()

/** `auth`: Basic and Bearer credentials checked at the edge. */
export const authSchema = z
  .object({
    basic: z
      .object({
        users: z
          .record(
            z.string().regex(/^[^:\s]{1,64}$/, {
              error: 'expected a user name without ":" or spaces',
            }),
            parsed(parsePasswordHash),
          )
          .refine((users) => Object.keys(users).length > 0, {
            error: 'expected at least one user',
          }),
      })
      .strict()
      .optional()
      .describe(
        'User name → password hash: PHC scrypt (`portico hash-password`) or htpasswd bcrypt `$2y$`.',
      ),
    bearer: z
      .object({
        tokens: z
          .array(parsed(parseTokenHash))
          .min(1, { error: 'expected at least one token hash' }),
      })
      .strict()
      .optional()
      .describe('Accepted tokens as "sha256:<hex>" of the token (`printf %s TOKEN | sha256sum`).'),
    realm: z
      .string()
      .regex(/^[\x20\x21\x23-\x5b\x5d-\x7e]{1,100}$/, {
        error: 'expected a realm of printable characters without quotes or backslashes',
      })
      .optional()
      .describe("Realm in the WWW-Authenticate challenge. Default: the route's vHost."),
    cacheTtl: durationSchema
      .optional()
      .describe('How long a decision is remembered per credential (an HMAC of it). Default 5s.'),
    stripAuthorization: z
      .boolean()
      .optional()
      .describe(
        'Remove the Authorization header before the request reaches the app. Default false.',
      ),
  })
  .strict()

/** `sticky`: a signed cookie pins a client to its target. */
export const stickySchema = z
  .object({
    cookie: z
      .string()
      .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/, {
        error: 'expected a cookie name (letters, digits, "-", "_")',
      })
      .describe('Cookie name.'),
    ttl: durationSchema
      .optional()
      .describe('Cookie lifetime (Max-Age and a signed expiry). Default: a session cookie.'),
  })
  .strict()

/** `circuitBreaker`: stop sending to an upstream that fails most requests. */
export const circuitBreakerSchema = z
  .object({
    errorRatio: z
      .number({ error: 'expected a share between 0 and 1' })
      .gt(0, { error: 'expected a share between 0 and 1' })
      .lte(1, { error: 'expected a share between 0 and 1' })
      .optional()
      .describe('Failed share of requests that opens the breaker. Default 0.5.'),
    window: durationSchema.optional().describe('Window the ratio is measured over. Default 10s.'),
    minRequests: positiveInt('a positive number of requests')
      .optional()
      .describe('Requests the window must hold before it can open. Default 20.'),
    cooldown: durationSchema
      .optional()
      .describe('How long it stays open (503 at once). Default 10s.'),
    trialRequests: positiveInt('a positive number of requests')
      .optional()
      .describe('Trial requests while half-open; that many successes close it. Default 3.'),
  })
  .strict()

const statusListSchema = z.array(
  z.union([z.number(), z.string()]).superRefine((entry, ctx) => {
    const range = parseStatusEntry(entry)
    if (typeof range === 'string') ctx.addIssue({ code: 'custom', message: range })
  }),
)

/** The health fields shared by app `health` and route `healthCheck` (issue 17). */
export const healthPolicyFields = {
  fall: positiveInt('a positive number of probes')
    .optional()
    .describe('Failed probes in a row that take a target out of rotation. Default 2.'),
  rise: positiveInt('a positive number of probes')
    .optional()
    .describe('Passing probes in a row that bring it back. Default 2.'),
  unhealthyStatus: statusListSchema
    .optional()
    .describe(
      'Upstream statuses (or classes like "5xx") counted as passive failures. Default [502, 503, 504].',
    ),
  unhealthyLatency: durationSchema
    .optional()
    .describe('Responses slower than this count as passive failures. Default: never.'),
}

/** `authProvider` value: an http(s) URL, or a module path relative to the config file. */
export type AuthProviderRef = { kind: 'url'; url: string } | { kind: 'module'; path: string }

const MODULE_EXTENSION = /\.(ts|mts|cts|js|mjs|cjs)$/

/** authProviderRef tells a URL from a module path, or says what to write. */
export function authProviderRef(value: string): AuthProviderRef | string {
  if (/^https?:\/\//i.test(value)) {
    try {
      return { kind: 'url', url: new URL(value).href }
    } catch {
      return `expected a valid URL, got "${value}"`
    }
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(value) && !/^[a-z]:[\\/]/i.test(value)) {
    return `expected an http(s):// URL or a module path, got "${value}"`
  }
  if (!MODULE_EXTENSION.test(value)) {
    return `expected a module path ending in .ts, .js or .mjs (relative to the config file), got "${value}"`
  }
  return { kind: 'module', path: value }
}

/** Route fields of issue 17, spread into routeSchema's object. */
export const routePolicyFields = {
  allow: addressListSchema
    .optional()
    .describe(
      'Only these client addresses or CIDR ranges get in (403 otherwise). Default: everyone.',
    ),
  deny: addressListSchema
    .optional()
    .describe('These client addresses or CIDR ranges get 403; deny wins over allow.'),
  rateLimit: rateLimitSchema.optional().describe('Token bucket per client: 429 past it.'),
  auth: authSchema.optional().describe('Basic and/or Bearer authentication (401 without it).'),
  authResponseHeaders: z
    .array(copiedHeaderSchema)
    .optional()
    .describe(
      'Headers copied from a 2xx forward-auth answer to the upstream request (e.g. ["X-User"]).',
    ),
  authTimeout: durationSchema
    .optional()
    .describe('Time the auth server or hook has to decide; past it, 503. Default 5s.'),
  sticky: stickySchema.optional().describe('Pin each client to a target with a signed cookie.'),
  slowStart: durationSchema
    .optional()
    .describe('A target joining rotation ramps up to its full share over this time. Default: off.'),
  circuitBreaker: circuitBreakerSchema
    .optional()
    .describe('Answer 503 at once while most requests fail, then try again.'),
  retries: z
    .number({ error: 'expected a number of retries from 0 to 10' })
    .int({ error: 'expected a number of retries from 0 to 10' })
    .min(0, { error: 'expected a number of retries from 0 to 10' })
    .max(10, { error: 'expected a number of retries from 0 to 10' })
    .optional()
    .describe(
      'Most retries of a request on other targets. Default: 2 after a refused connect, 1 after a reset.',
    ),
  retryOn: z
    .array(
      z
        .number({ error: 'expected a status code from 400 to 599' })
        .int({ error: 'expected a status code from 400 to 599' })
        .min(400, { error: 'expected a status code from 400 to 599' })
        .max(599, { error: 'expected a status code from 400 to 599' }),
    )
    .optional()
    .describe(
      'Statuses on which an idempotent request without a body is retried on another target.',
    ),
  tryDuration: durationSchema
    .optional()
    .describe(
      'No retry starts once this much time has passed since the request arrived. Default: no limit.',
    ),
}

/** Cross-field rules of the policy fields, for routeSchema's superRefine. */
export function checkRoutePolicies(
  route: {
    auth?: z.output<typeof authSchema> | undefined
    authProvider?: string | undefined
    authResponseHeaders?: string[] | undefined
  },
  ctx: z.RefinementCtx,
): void {
  const provider =
    route.authProvider === undefined ? undefined : authProviderRef(route.authProvider)
  if (typeof provider === 'string') {
    ctx.addIssue({ code: 'custom', path: ['authProvider'], message: provider })
  }
  if (route.auth && !route.auth.basic && !route.auth.bearer && route.authProvider === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['auth'],
      message: 'expected "basic" or "bearer" (or an authProvider on the route)',
    })
  }
  if (
    route.authResponseHeaders?.length &&
    (typeof provider !== 'object' || provider.kind !== 'url')
  ) {
    ctx.addIssue({
      code: 'custom',
      path: ['authResponseHeaders'],
      message:
        'authResponseHeaders applies to an authProvider URL only (a hook sets headers itself)',
    })
  }
}
