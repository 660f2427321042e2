/** @module Every PTC_ERR_* code: its message template and HTTP status, in one catalogue. */

/** Base class of every error Portico throws on purpose. `code` is stable and documented in docs/errors.md. */
export class PorticoError extends Error {
  readonly code: string
  readonly statusCode: number
  readonly details: unknown

  constructor(
    code: string,
    message: string,
    statusCode: number,
    options?: { cause?: unknown; details?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'PorticoError'
    this.code = code
    this.statusCode = statusCode
    this.details = options?.details
  }
}

/** A concrete error class made by defineError: `new E(...templateArgs, { cause, details })`. */
export interface PorticoErrorClass {
  new (...args: (string | number | ErrorOptions)[]): PorticoError
  readonly code: string
  readonly statusCode: number
}

interface ErrorOptions {
  cause?: unknown
  details?: unknown
}

function isOptions(v: unknown): v is ErrorOptions {
  return typeof v === 'object' && v !== null
}

/**
 * defineError returns a subclass of PorticoError whose message is `template` with each `%s`
 * replaced by the next constructor argument; a trailing object argument carries cause and details.
 */
export function defineError(code: string, template: string, statusCode: number): PorticoErrorClass {
  const E = class extends PorticoError {
    static readonly code = code
    static readonly statusCode = statusCode
    constructor(...args: (string | number | ErrorOptions)[]) {
      const last = args.at(-1)
      const options = isOptions(last) ? last : undefined
      const values = (options ? args.slice(0, -1) : args).map(String)
      let i = 0
      super(
        code,
        template.replace(/%s/g, () => values[i++] ?? ''),
        statusCode,
        options,
      )
    }
  }
  Object.defineProperty(E, 'name', { value: code })
  return E
}

/** The catalogue. Keys equal codes; retired codes are listed in docs/errors.md and MUST NOT be reused. */
export const errors = {
  /** CONFIG */
  PTC_ERR_CONFIG_INVALID: defineError('PTC_ERR_CONFIG_INVALID', 'invalid config %s:\n%s', 500),
  PTC_ERR_CONFIG_LOAD: defineError('PTC_ERR_CONFIG_LOAD', 'cannot load config %s: %s', 500),
  PTC_ERR_CONFIG_NOT_FOUND: defineError(
    'PTC_ERR_CONFIG_NOT_FOUND',
    'config file not found: %s',
    500,
  ),

  /** ROUTE (edge) */
  PTC_ERR_ROUTE_NOT_FOUND: defineError(
    'PTC_ERR_ROUTE_NOT_FOUND',
    'no site is configured for host "%s"',
    404,
  ),
  PTC_ERR_HOST_MALFORMED: defineError('PTC_ERR_HOST_MALFORMED', 'malformed Host header', 400),
  PTC_ERR_HEADERS_TOO_LARGE: defineError(
    'PTC_ERR_HEADERS_TOO_LARGE',
    'too many request headers',
    431,
  ),
  PTC_ERR_UPGRADE_UNSUPPORTED: defineError(
    'PTC_ERR_UPGRADE_UNSUPPORTED',
    'only WebSocket upgrades are supported',
    400,
  ),

  /** UPSTREAM (edge) */
  PTC_ERR_NO_TARGET: defineError(
    'PTC_ERR_NO_TARGET',
    'no healthy instance is available for "%s"',
    503,
  ),
  PTC_ERR_QUEUE_FULL: defineError(
    'PTC_ERR_QUEUE_FULL',
    'too many requests are waiting for "%s"',
    503,
  ),
  PTC_ERR_QUEUE_TIMEOUT: defineError(
    'PTC_ERR_QUEUE_TIMEOUT',
    'timed out waiting for an instance of "%s"',
    503,
  ),
  PTC_ERR_UPSTREAM_FAILED: defineError(
    'PTC_ERR_UPSTREAM_FAILED',
    'the upstream for "%s" failed to answer',
    502,
  ),
  PTC_ERR_UPSTREAM_TIMEOUT: defineError(
    'PTC_ERR_UPSTREAM_TIMEOUT',
    'the upstream for "%s" did not answer in time',
    504,
  ),

  /** TLS */
  PTC_ERR_CERT_INVALID: defineError(
    'PTC_ERR_CERT_INVALID',
    'invalid certificate for "%s": %s',
    400,
  ),

  /** TLS: automatic certificates and start-up checks (issue 16) */
  PTC_ERR_ACME_ORDER_FAILED: defineError(
    'PTC_ERR_ACME_ORDER_FAILED',
    'could not obtain a certificate for "%s": %s',
    502,
  ),
  PTC_ERR_CERT_REFUSED: defineError(
    'PTC_ERR_CERT_REFUSED',
    'refusing to start, certificates would fail:\n%s',
    500,
  ),

  /** SUPERVISOR */
  PTC_ERR_APP_NOT_FOUND: defineError('PTC_ERR_APP_NOT_FOUND', 'no app named "%s"', 404),
  PTC_ERR_APP_EXISTS: defineError('PTC_ERR_APP_EXISTS', 'an app named "%s" already exists', 409),
  PTC_ERR_APP_CRASH_LOOP: defineError('PTC_ERR_APP_CRASH_LOOP', 'app "%s" keeps crashing: %s', 500),
  PTC_ERR_APP_START_FAILED: defineError(
    'PTC_ERR_APP_START_FAILED',
    'cannot start app "%s": %s',
    500,
  ),
  PTC_ERR_PORT_RANGE_EXHAUSTED: defineError(
    'PTC_ERR_PORT_RANGE_EXHAUSTED',
    'no free port left in %s',
    503,
  ),

  /** API */
  PTC_ERR_STATE_CONFLICT: defineError(
    'PTC_ERR_STATE_CONFLICT',
    'the change conflicts with the current configuration: %s',
    409,
  ),
  PTC_ERR_ROUTE_EXISTS: defineError('PTC_ERR_ROUTE_EXISTS', 'a route for "%s" already exists', 409),
  PTC_ERR_BACKEND_NOT_FOUND: defineError(
    'PTC_ERR_BACKEND_NOT_FOUND',
    'route "%s" has no backend "%s"',
    404,
  ),
  PTC_ERR_VALIDATION: defineError('PTC_ERR_VALIDATION', 'invalid request: %s', 400),
  PTC_ERR_NOT_FOUND: defineError('PTC_ERR_NOT_FOUND', 'no such endpoint: %s %s', 404),
  PTC_ERR_HOST_FORBIDDEN: defineError(
    'PTC_ERR_HOST_FORBIDDEN',
    'host "%s" is not allowed to reach the admin API',
    403,
  ),
  PTC_ERR_UNAUTHORIZED: defineError(
    'PTC_ERR_UNAUTHORIZED',
    'a valid bearer token is required',
    401,
  ),
  PTC_ERR_CROSS_SITE_FORBIDDEN: defineError(
    'PTC_ERR_CROSS_SITE_FORBIDDEN',
    'cross-site request refused: %s',
    403,
  ),
  PTC_ERR_NO_CORS_REFUSED: defineError(
    'PTC_ERR_NO_CORS_REFUSED',
    'no-cors requests are refused (Sec-Fetch-Mode: no-cors)',
    400,
  ),
  PTC_ERR_UNSUPPORTED_MEDIA_TYPE: defineError(
    'PTC_ERR_UNSUPPORTED_MEDIA_TYPE',
    'a request body must be sent as Content-Type: application/json (got %s)',
    415,
  ),
  PTC_ERR_BODY_TOO_LARGE: defineError(
    'PTC_ERR_BODY_TOO_LARGE',
    'the request body is larger than %s bytes',
    413,
  ),
  PTC_ERR_BAD_JSON: defineError('PTC_ERR_BAD_JSON', 'the request body is not valid JSON: %s', 400),
  PTC_ERR_BAD_REQUEST: defineError('PTC_ERR_BAD_REQUEST', 'bad request: %s', 400),
  PTC_ERR_API_UPGRADE_REFUSED: defineError(
    'PTC_ERR_API_UPGRADE_REFUSED',
    'the admin API accepts WebSocket upgrades only at %s',
    400,
  ),
  PTC_ERR_API_UNSAFE_BIND: defineError(
    'PTC_ERR_API_UNSAFE_BIND',
    'refusing to serve the admin API on "%s" without a token: set PORTICO_API_TOKEN or bind 127.0.0.1',
    500,
  ),
  PTC_ERR_API_CLOSING: defineError('PTC_ERR_API_CLOSING', 'the admin API is shutting down', 503),
  PTC_ERR_CONFIG_REJECTED: defineError(
    'PTC_ERR_CONFIG_REJECTED',
    'the config file was not applied (nothing changed):\n%s',
    400,
  ),
  PTC_ERR_UNIT_INSTALL: defineError(
    'PTC_ERR_UNIT_INSTALL',
    'cannot write the systemd unit to %s: %s',
    500,
  ),
  PTC_ERR_INTERNAL: defineError('PTC_ERR_INTERNAL', 'internal error', 500),

  /** DEV EXPERIENCE (issue 15): listeners, instances on the wrong port, portico init */
  PTC_ERR_PORT_DENIED: defineError('PTC_ERR_PORT_DENIED', 'cannot listen on %s (%s): %s', 500),
  PTC_ERR_PORT_IN_USE: defineError('PTC_ERR_PORT_IN_USE', 'cannot listen on %s (%s): %s', 500),
  PTC_ERR_APP_WRONG_PORT: defineError('PTC_ERR_APP_WRONG_PORT', '%s', 500),
  PTC_ERR_CONFIG_EXISTS: defineError(
    'PTC_ERR_CONFIG_EXISTS',
    '%s already exists; portico init never overwrites a config (move it away to start afresh)',
    500,
  ),
  /** OPERATOR SURFACES (dashboard, history) */
  PTC_ERR_HISTORY_DISABLED: defineError(
    'PTC_ERR_HISTORY_DISABLED',
    'metrics history is turned off (edge.history: false)',
    404,
  ),
  /** POLICY (edge, issue 17): route policies that answer before admission */
  PTC_ERR_ACCESS_DENIED: defineError(
    'PTC_ERR_ACCESS_DENIED',
    'access to "%s" is not allowed from this address',
    403,
  ),
  PTC_ERR_RATE_LIMITED: defineError(
    'PTC_ERR_RATE_LIMITED',
    'too many requests for "%s"; retry after the time in Retry-After',
    429,
  ),
  PTC_ERR_AUTH_REQUIRED: defineError(
    'PTC_ERR_AUTH_REQUIRED',
    'valid credentials are required for "%s"',
    401,
  ),
  PTC_ERR_AUTH_DENIED: defineError('PTC_ERR_AUTH_DENIED', 'access to "%s" was refused', 403),
  PTC_ERR_AUTH_UNAVAILABLE: defineError(
    'PTC_ERR_AUTH_UNAVAILABLE',
    'authentication for "%s" is unavailable: %s',
    503,
  ),
  PTC_ERR_CIRCUIT_OPEN: defineError(
    'PTC_ERR_CIRCUIT_OPEN',
    'the upstream for "%s" is failing; requests are paused for a moment',
    503,
  ),
} as const satisfies Record<string, PorticoErrorClass>

export type ErrorCode = keyof typeof errors
