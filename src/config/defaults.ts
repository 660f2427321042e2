/** @module Every configurable default, as a named constant with its unit. */

/** HTTPS edge port in dev (`PORTICO_HTTPS_PORT`). */
export const DEFAULT_HTTPS_PORT = 8443
/** Plain-HTTP listener port; it redirects known hosts to HTTPS (`PORTICO_HTTP_PORT`). */
export const DEFAULT_HTTP_PORT = 8880
/** Admin API port, always bound to 127.0.0.1 unless configured otherwise (`PORTICO_API_PORT`). */
export const DEFAULT_API_PORT = 8844
/** Address the edge listeners bind to (`PORTICO_BIND`). Loopback by default: opt in to exposure. */
export const DEFAULT_BIND = '127.0.0.1'
/** Address the admin API binds to. */
export const DEFAULT_API_HOST = '127.0.0.1'
/** Instance port range, inclusive (`PORTICO_PORT_RANGE`). Below Linux's ephemeral range (32768-60999), so outgoing connections and `listen(0)` never take an instance's port. */
export const DEFAULT_PORT_RANGE = { from: 21000, to: 21999 } as const

/** How often an instance's health is probed once it is in rotation, in milliseconds. */
export const DEFAULT_HEALTH_INTERVAL_MS = 5_000
/** How often an ejected static backend is re-probed, in milliseconds (reference spec: 60 s). */
export const DEFAULT_BACKEND_PROBE_INTERVAL_MS = 60_000
/** How long one health probe may take before it counts as failed, in milliseconds. */
export const DEFAULT_HEALTH_TIMEOUT_MS = 2_000
/** How often a starting instance is probed until it first answers, in milliseconds. */
export const STARTUP_PROBE_INTERVAL_MS = 100
/** An instance that is not healthy this long after it started is restarted, in milliseconds. */
export const DEFAULT_START_TIMEOUT_MS = 30_000
/** Grace between SIGTERM and SIGKILL when an instance stops, in milliseconds (pm2 `kill_timeout`). */
export const DEFAULT_KILL_TIMEOUT_MS = 12_000

/** Requests in flight per route before new ones queue (reference spec `reqActiveLength`). */
export const DEFAULT_REQ_ACTIVE_LENGTH = 64
/** Requests allowed to wait per route before 503 (reference spec `reqQueueLength`). */
export const DEFAULT_REQ_QUEUE_LENGTH = 256
/** How long a request may wait in a route queue before 503, in milliseconds. */
export const DEFAULT_QUEUE_TIMEOUT_MS = 5_000

/** Upstream TCP connect timeout, in milliseconds (Caddy `dial_timeout`). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 3_000
/** Time to wait for upstream response headers before 504, in milliseconds (nginx `proxy_read_timeout`). */
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 60_000

/** Client request headers must arrive within this, in milliseconds (slowloris guard). */
export const CLIENT_HEADERS_TIMEOUT_MS = 10_000
/** A whole client request, body included, must arrive within this, in milliseconds. */
export const CLIENT_REQUEST_TIMEOUT_MS = 60_000
/** Idle client keep-alive connections close after this, in milliseconds. */
export const CLIENT_KEEP_ALIVE_TIMEOUT_MS = 30_000
/** How often Node checks the two timeouts above, in milliseconds (its default 30 s makes them late). */
export const CONNECTIONS_CHECKING_INTERVAL_MS = 1_000
/**
 * A client that takes none of a response for this long is cut off, in milliseconds (nginx
 * `send_timeout`): a slow reader cannot hold its slot and the upstream connection for ever.
 */
export const CLIENT_SEND_TIMEOUT_MS = 60_000
/**
 * Request bodies up to this size are read completely before the request takes a route slot, in
 * bytes (nginx buffers request bodies for the same reason): a slow upload of a small body holds
 * memory, never the route's capacity.
 */
export const BODY_PREREAD_MAX_BYTES = 64 * 1024
/** Memory one edge process may spend on bodies read before admission, in bytes. */
export const BODY_PREREAD_BUDGET_BYTES = 32 * 1024 * 1024
/**
 * Slowest upload accepted while a request holds a slot, in bytes per second averaged since it
 * was admitted, after a grace period (Apache mod_reqtimeout's MinRate idea).
 */
export const MIN_UPLOAD_BYTES_PER_S = 1024
/** The grace period before the minimum upload rate applies, in milliseconds. */
export const UPLOAD_GRACE_MS = 10_000
/** TLS handshakes must finish within this, in milliseconds (Node's default is 120 s). */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000
/** Largest request head accepted, in bytes; larger gets 431. */
export const MAX_HEADER_BYTES = 16 * 1024
/** Most request headers accepted; more gets 431. */
export const MAX_HEADER_COUNT = 100

/** Open client connections per listener before new ones are refused (Envoy's edge example). */
export const MAX_CONNECTIONS = 10_000

/** How long a graceful shutdown waits for in-flight proxy requests, in milliseconds. */
export const SHUTDOWN_DRAIN_MS = 10_000

/** User certificates expiring within this many days are warned about and flagged in the API. */
export const CERT_EXPIRY_WARNING_DAYS = 14

/** Leaf certificates for dev hostnames are valid this many days. */
export const DEV_LEAF_VALIDITY_DAYS = 365
/** The dev CA is valid this many years. */
export const DEV_CA_VALIDITY_YEARS = 10

/** An app's `.env` files, relative to its cwd, read at every start; a later file beats an earlier one. */
export const DEFAULT_ENV_FILES: readonly string[] = ['.env', '.env.local']
// ── Automatic certificates (ACME) and the access log file (issue 16) ─────────────────────────

/** Let's Encrypt's production ACME directory (RFC 8555), the default `edge.acme.directory`. */
export const LETS_ENCRYPT_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory'
/** Let's Encrypt's staging directory (`edge.acme.staging: true`): untrusted, generous limits. */
export const LETS_ENCRYPT_STAGING_DIRECTORY =
  'https://acme-staging-v02.api.letsencrypt.org/directory'
/** Renew when this share of a certificate's lifetime is left: at two thirds of it (Caddy's 1/3). */
export const ACME_RENEWAL_WINDOW_RATIO = 1 / 3
/**
 * How long a TLS handshake for a name whose first certificate is being obtained waits for it
 * before the fallback certificate is served, in milliseconds. Kept below
 * TLS_HANDSHAKE_TIMEOUT_MS, which Node counts from the ClientHello and would cut the wait.
 */
export const ACME_HANDSHAKE_WAIT_MS = 8_000
/** First retry after a failed order, in milliseconds; doubled per failure in a row (jittered). */
export const ACME_RETRY_BASE_MS = 60_000
/** Longest pause between two attempts for one name, in milliseconds (6 h). */
export const ACME_RETRY_MAX_MS = 6 * 60 * 60_000
/** Shortest pause after a rate-limit error that carries no Retry-After, in milliseconds (1 h). */
export const ACME_RATE_LIMIT_PAUSE_MS = 60 * 60_000
/** A certificate obtained by this process is not renewed again within this, in milliseconds. */
export const ACME_MIN_RENEWAL_SPACING_MS = 60 * 60_000
/** Orders one Portico runs at once; more wait their turn. */
export const ACME_MAX_CONCURRENT_ORDERS = 4

/** Size at which the access log file is rotated (`edge.accessLog.maxBytes`), in bytes. */
export const ACCESS_LOG_MAX_BYTES = 10 * 1024 * 1024
/** Access log files kept, the live one included (`edge.accessLog.keep`). */
export const ACCESS_LOG_FILES_KEPT = 5
