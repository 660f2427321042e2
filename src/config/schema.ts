/** @module zod schemas for the whole config (edge, apps, routes), their inferred types, and defineConfig. */
import { z } from 'zod'
import { accessLogSchema, acmeSchema } from './acme-schema.ts'
import {
  DEFAULT_API_HOST,
  DEFAULT_API_PORT,
  DEFAULT_BACKEND_PROBE_INTERVAL_MS,
  DEFAULT_BIND,
  DEFAULT_ENV_FILES,
  DEFAULT_HEALTH_INTERVAL_MS,
  DEFAULT_HEALTH_TIMEOUT_MS,
  DEFAULT_HTTP_PORT,
  DEFAULT_HTTPS_PORT,
  DEFAULT_KILL_TIMEOUT_MS,
  DEFAULT_REQ_ACTIVE_LENGTH,
  DEFAULT_REQ_QUEUE_LENGTH,
  DEFAULT_START_TIMEOUT_MS,
} from './defaults.ts'
import { checkRoutePolicies, healthPolicyFields, routePolicyFields } from './policy-schema.ts'
// Issue 17 (route policies): the policy fields live in their own module.
import { parseAddressEntry } from './policy-values.ts'

/** Load-balancing strategies a route or app may name (the reference specification's names). */
export const STRATEGY_NAMES = [
  'ROUND_ROBIN',
  'WEIGHTED_ROUND_ROBIN',
  'LEAST_CONNECTIONS',
  'IP_HASH',
  'RANDOM',
  'LEAST_LATENCY',
] as const
export type StrategyName = (typeof STRATEGY_NAMES)[number]

/** Dev servers an app's `framework` option may name (their flags: src/supervisor/frameworks.ts). */
export const DEV_SERVER_NAMES = [
  'vite',
  'react-router',
  'remix',
  'vinxi',
  'astro',
  'angular',
  'rsbuild',
  'webpack',
  'webpack-dev-server',
  'storybook',
  'nuxt',
  'react-scripts',
] as const
export type DevServerName = (typeof DEV_SERVER_NAMES)[number]

const HOSTNAME_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/

/**
 * isValidHostname reports whether `name` is a lower-case DNS name, optionally with a wildcard
 * as the whole first label (`*.example.com`). A bare `*` or a wildcard elsewhere is invalid.
 */
export function isValidHostname(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false
  const labels = name.split('.')
  return labels.every(
    (label, i) => (i === 0 && label === '*' && labels.length > 1) || HOSTNAME_LABEL.test(label),
  )
}

const positiveInt = (what = 'a positive integer') =>
  z
    .number({ error: `expected ${what}` })
    .int({ error: `expected ${what}` })
    .positive({ error: `expected ${what}` })

const nonNegativeInt = (what: string) =>
  z
    .number({ error: `expected ${what}` })
    .int({ error: `expected ${what}` })
    .min(0, { error: `expected ${what}` })

/** A TCP port; 0 means "any free port" (the chosen one is printed and served at /api/v1/health). */
const listenPort = nonNegativeInt('a port number from 0 to 65535').max(65535, {
  error: 'expected a port number from 0 to 65535',
})

const upstreamPort = positiveInt('a port number from 1 to 65535').max(65535, {
  error: 'expected a port number from 1 to 65535',
})

/** A hostname as typed by a user: trimmed, lower-cased, trailing dot dropped, then checked. */
export const hostnameSchema = z
  .string({ error: 'expected a hostname string' })
  .transform((s) => s.trim().toLowerCase().replace(/\.$/, ''))
  .refine(isValidHostname, {
    error:
      'expected a DNS hostname such as "web.localhost" or "*.example.com" (a wildcard only as the whole first label)',
  })

const HEADER_NAME = /^[!#$%&'*+.^`|~0-9A-Za-z-]+$/
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/

/** Extra request headers a route injects; names are HTTP tokens, values free of CR, LF and NUL. */
export const headersSchema = z.record(
  z.string().regex(HEADER_NAME, { error: 'expected an HTTP header name (letters, digits, "-")' }),
  z
    .string()
    .regex(HEADER_VALUE, { error: 'expected a header value without CR, LF or control characters' }),
)

const strategySchema = z.enum(STRATEGY_NAMES, {
  error: `expected one of ${STRATEGY_NAMES.join(', ')}`,
})

/** How an instance's readiness is checked. Without `path` a TCP connect to its port is enough. */
export const healthSchema = z
  .object({
    path: z
      .string()
      .startsWith('/', { error: 'expected a path starting with "/"' })
      .optional()
      .describe('HTTP path that must answer 2xx/3xx; without it a TCP connect suffices.'),
    interval: positiveInt('a positive number of milliseconds')
      .default(DEFAULT_HEALTH_INTERVAL_MS)
      .describe('Milliseconds between probes of an instance in rotation. Default 5000.'),
    timeout: positiveInt('a positive number of milliseconds')
      .default(DEFAULT_HEALTH_TIMEOUT_MS)
      .describe('Milliseconds one probe may take. Default 2000.'),
    ...healthPolicyFields,
  })
  .strict()

const APP_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/

/** One supervised app: a command or node script run as one or more instances. */
export const appSchema = z
  .object({
    name: z
      .string({ error: 'expected an app name string' })
      .regex(APP_NAME, {
        error: 'expected a name of lower-case letters, digits, "-" or "_" (e.g. "web")',
      })
      .describe('Unique app name; also the default hostname `<name>.localhost`.'),
    command: z
      .string()
      .min(1, { error: 'expected a non-empty shell command' })
      .optional()
      .describe(
        'Shell command, run with /bin/sh -c, so `$PORT` expands. Exactly one of command or script.',
      ),
    script: z
      .string()
      .min(1, { error: 'expected a path to a node script' })
      .optional()
      .describe('Node script to run (relative to cwd). Exactly one of command or script.'),
    args: z.array(z.string()).default([]).describe('Arguments passed to `script`.'),
    cwd: z
      .string()
      .optional()
      .describe('Working directory, absolute or relative to the config file.'),
    env: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String))
      .default({})
      .describe(
        "Environment variables; they beat `.env` files and Portico's inherited environment. PORT, PORTICO_APP, PORTICO_INSTANCE and PORTICO_URL are always set.",
      ),
    hostnames: z
      .array(hostnameSchema)
      .optional()
      .describe('Hostnames routed to this app. Default `[<name>.localhost]`; `[]` for none.'),
    instances: positiveInt()
      .default(1)
      .describe('Number of instances, each on its own port. Default 1.'),
    health: healthSchema.optional().describe('Readiness and liveness probe.'),
    strategy: strategySchema
      .optional()
      .describe('Load-balancing strategy across instances. Default LEAST_CONNECTIONS.'),
    startTimeout: positiveInt('a positive number of milliseconds')
      .default(DEFAULT_START_TIMEOUT_MS)
      .describe('An instance not healthy this long after start is restarted. Default 30000.'),
    killTimeout: positiveInt('a positive number of milliseconds')
      .default(DEFAULT_KILL_TIMEOUT_MS)
      .describe('Grace between SIGTERM and SIGKILL on stop, in milliseconds. Default 12000.'),
    maxMemory: z
      .string()
      .regex(/^\d+[KMG]$/, { error: 'expected a size such as "300M" or "1G"' })
      .optional()
      .describe('Restart an instance whose memory exceeds this (pm2 max_memory_restart).'),
    // ── Dev servers and .env files (issue 15) ──
    framework: z
      .union([z.literal(false), z.enum(DEV_SERVER_NAMES)], {
        error: `expected false or one of ${DEV_SERVER_NAMES.join(', ')}`,
      })
      .optional()
      .describe(
        'Dev servers that ignore PORT (Vite, Astro, ng serve, …) found in `command` get `--port $PORT` and the like. `false` turns this off; a tool name forces its flags. Default: detect.',
      ),
    envFiles: z
      .array(z.string().min(1, { error: 'expected a file name such as ".env"' }))
      .default([...DEFAULT_ENV_FILES])
      .describe(
        'Files of KEY=value lines, relative to cwd, read at every start (a later file wins; `env` beats them; missing files are skipped). Default [".env", ".env.local"]; `[]` for none.',
      ),
  })
  .strict()
  .superRefine((app, ctx) => {
    if ((app.command === undefined) === (app.script === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['command'],
        message: 'expected exactly one of "command" (a shell command) or "script" (a node script)',
      })
    }
  })

/** A static upstream server of a route (reference spec). isDead and failureCount are runtime fields. */
export const backendSchema = z
  .object({
    id: z.string().min(1).optional().describe('Stable id; defaults to `hostname:port`.'),
    hostname: z.string().min(1, { error: 'expected a hostname or IP address' }),
    port: upstreamPort,
    weight: positiveInt()
      .default(1)
      .describe('Relative share for WEIGHTED_ROUND_ROBIN. Default 1.'),
    isDead: z.boolean().optional(),
    failureCount: z.number().int().min(0).optional(),
  })
  .strict()

/** A virtual host: vHost → an app's instances or a list of static backends (reference RouteConfig). */
export const routeSchema = z
  .object({
    vHost: hostnameSchema.describe('Host this route answers, exact or `*.example.com`.'),
    app: z
      .string()
      .regex(APP_NAME)
      .optional()
      .describe('Name of the app whose instances serve this route.'),
    backends: z
      .array(backendSchema)
      .optional()
      .describe('Static upstream servers, when no app is named.'),
    strategy: strategySchema
      .default('ROUND_ROBIN')
      .describe('Load-balancing strategy. Default ROUND_ROBIN.'),
    reqActiveLength: positiveInt()
      .default(DEFAULT_REQ_ACTIVE_LENGTH)
      .describe('Requests in flight before new ones queue. Default 64.'),
    reqQueueLength: nonNegativeInt('a non-negative integer')
      .default(DEFAULT_REQ_QUEUE_LENGTH)
      .describe('Requests that may wait; past that, 503. Default 256.'),
    headers: headersSchema.default({}).describe('Headers added to every request sent upstream.'),
    stripPrefix: z
      .string()
      .startsWith('/', { error: 'expected a path prefix starting with "/"' })
      .optional()
      .describe('Removed from the start of the path before forwarding (`/api/x` → `/x`).'),
    addPrefix: z
      .string()
      .startsWith('/', { error: 'expected a path prefix starting with "/"' })
      .optional()
      .describe('Prepended to the path before forwarding (after stripPrefix).'),
    healthCheck: z
      .object({
        path: z.string().startsWith('/', { error: 'expected a path starting with "/"' }).optional(),
        interval: positiveInt('a positive number of milliseconds').default(
          DEFAULT_BACKEND_PROBE_INTERVAL_MS,
        ),
        timeout: positiveInt('a positive number of milliseconds').default(
          DEFAULT_HEALTH_TIMEOUT_MS,
        ),
        ...healthPolicyFields,
      })
      .strict()
      .optional()
      .describe(
        'How an ejected static backend is re-probed: TCP or `path`, every `interval` ms (default 60000).',
      ),
    authProvider: z
      .string()
      .optional()
      .describe(
        'Forward auth: an http(s) URL asked about every request (2xx lets it through, any other answer is returned), or a module path, relative to the config file, whose default export decides: (request) => boolean | { allow, headers?, status? }.',
      ),
    // Issue 17: access lists, rate limit, auth, stickiness, slow start, breaker, retries.
    ...routePolicyFields,
    autoHttps: z
      .boolean()
      .default(true)
      .describe('Redirect plain HTTP to HTTPS (308). Default true.'),
    default: z
      .boolean()
      .default(false)
      .describe(
        'Serve hosts that match no route with this route (at most one route). Default false.',
      ),
    ssl: z
      .boolean()
      .optional()
      .describe('Reserved by the reference specification; TLS is always served.'),
  })
  .strict()
  .superRefine((route, ctx) => {
    if ((route.app === undefined) === (route.backends === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['app'],
        message: 'expected exactly one of "app" (an app name) or "backends" (a list of servers)',
      })
    }
    checkRoutePolicies(route, ctx)
  })

const portRangeSchema = z
  .string()
  .regex(/^\d+-\d+$/, { error: 'expected a port range such as "21000-21999"' })
  .transform((s) => {
    const [from, to] = s.split('-').map(Number) as [number, number]
    return { from, to }
  })
  .refine((r) => r.from >= 1024 && r.to <= 65535 && r.from <= r.to, {
    error: 'expected LO-HI with 1024 <= LO <= HI <= 65535',
  })

/** Days of metrics history kept by default. */
export const DEFAULT_HISTORY_RETENTION_DAYS = 7

/** `edge.history`: how long per-minute traffic and app events are kept, or `false` to keep none. */
export const historySchema = z.union(
  [
    z.literal(false),
    z
      .object({
        retentionDays: positiveInt('a whole number of days from 1 to 366')
          .max(366, { error: 'expected a whole number of days from 1 to 366' })
          .default(DEFAULT_HISTORY_RETENTION_DAYS)
          .describe('Days of history kept; older minutes and events are deleted. Default 7.'),
      })
      .strict(),
  ],
  { error: 'expected false or { retentionDays: N }' },
)

/** Listeners of the edge and the admin API. */
export const edgeSchema = z
  .object({
    bind: z
      .string()
      .default(DEFAULT_BIND)
      .describe('Address the HTTPS and HTTP listeners bind to.'),
    https: z
      .object({ port: listenPort.default(DEFAULT_HTTPS_PORT) })
      .strict()
      .default({ port: DEFAULT_HTTPS_PORT }),
    http: z
      .object({ port: listenPort.default(DEFAULT_HTTP_PORT), redirect: z.boolean().default(true) })
      .strict()
      .default({ port: DEFAULT_HTTP_PORT, redirect: true }),
    api: z
      .object({
        host: z.string().default(DEFAULT_API_HOST),
        port: listenPort.default(DEFAULT_API_PORT),
        token: z
          .string()
          .min(16, { error: 'expected a token of at least 16 characters' })
          .optional(),
      })
      .strict()
      .default({ host: DEFAULT_API_HOST, port: DEFAULT_API_PORT }),
    portRange: portRangeSchema
      .optional()
      .describe('Ports handed to instances, "LO-HI". Default 21000-21999.'),
    workers: z
      .union([z.literal('auto'), positiveInt('a positive integer or "auto"').max(64)])
      .optional()
      .describe(
        'Edge processes: 1 serves in the main process, N > 1 forks N workers, "auto" one per core. Default 1 with `dev`, "auto" with `start`.',
      ),
    trustedProxies: z
      .array(
        z.string().superRefine((entry, ctx) => {
          const range = parseAddressEntry(entry)
          if (typeof range === 'string') ctx.addIssue({ code: 'custom', message: range })
        }),
      )
      .default([])
      .describe(
        'Peers (addresses or CIDR ranges, IPv4 and IPv6) whose X-Forwarded-For is kept and appended to; from anyone else it is replaced.',
      ),
    // ── issue 16: automatic certificates and the access log file (src/config/acme-schema.ts) ──
    acme: acmeSchema
      .optional()
      .describe("Obtain and renew certificates with ACME (Let's Encrypt by default)."),
    accessLog: accessLogSchema
      .optional()
      .describe('Write the access log to a size-rotated file instead of stdout.'),
    // ── operator surfaces (dashboard, metrics history) ──
    history: historySchema
      .default({ retentionDays: DEFAULT_HISTORY_RETENTION_DAYS })
      .describe(
        'Metrics history in `<stateDir>/history.db`: `{ retentionDays }` (default 7), or `false` for none.',
      ),
  })
  .strict()

/** The whole config file: a default export of this shape. */
export const configSchema = z
  .object({
    edge: edgeSchema.default(edgeSchema.parse({})),
    apps: z.array(appSchema).default([]),
    routes: z.array(routeSchema).default([]),
  })
  .strict()
  .superRefine((config, ctx) => {
    const appNames = new Map<string, number>()
    config.apps.forEach((app, i) => {
      const first = appNames.get(app.name)
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['apps', i, 'name'],
          message: `duplicate app name, also apps[${first}]`,
        })
      } else appNames.set(app.name, i)
    })
    const hosts = new Map<string, string>()
    const claim = (host: string, path: (string | number)[], owner: string) => {
      const previous = hosts.get(host)
      if (previous !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path,
          message: `hostname "${host}" is already used by ${previous}`,
        })
      } else hosts.set(host, owner)
    }
    config.apps.forEach((app, i) => {
      const names = app.hostnames ?? [`${app.name}.localhost`]
      names.forEach((h, j) => {
        claim(h, ['apps', i, 'hostnames', j], `app "${app.name}"`)
      })
    })
    const defaults = config.routes.flatMap((route, i) => (route.default ? [i] : []))
    for (const i of defaults.slice(1)) {
      ctx.addIssue({
        code: 'custom',
        path: ['routes', i, 'default'],
        message: `only one route may be the default, also routes[${defaults[0]}]`,
      })
    }
    config.routes.forEach((route, i) => {
      claim(route.vHost, ['routes', i, 'vHost'], `routes[${i}]`)
      if (route.app !== undefined && !appNames.has(route.app)) {
        ctx.addIssue({
          code: 'custom',
          path: ['routes', i, 'app'],
          message: `no app named "${route.app}"`,
        })
      }
    })
  })

/** The config as written in a file (defaults optional). */
export type ConfigInput = z.input<typeof configSchema>
/** The validated config with every default applied. */
export type Config = z.output<typeof configSchema>
export type AppSpec = z.output<typeof appSchema>
export type AppInput = z.input<typeof appSchema>
export type RouteConfig = z.output<typeof routeSchema>
export type RouteInput = z.input<typeof routeSchema>
export type BackendConfig = z.output<typeof backendSchema>
export type HealthSpec = z.output<typeof healthSchema>

/**
 * defineConfig returns its argument unchanged; it exists only so editors type-check a config file.
 * A config needs no import at all: a plain default-exported object works the same.
 */
export function defineConfig(config: ConfigInput): ConfigInput {
  return config
}

/** appHostnames returns the hostnames an app answers: its own list, or `<name>.localhost`. */
export function appHostnames(app: Pick<AppSpec, 'name' | 'hostnames'>): string[] {
  return app.hostnames ?? [`${app.name}.localhost`]
}
