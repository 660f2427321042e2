/** @module GET /events: the event bus as a WebSocket stream of JSON frames, by type and app. */
import type { FastifyPluginAsync } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import type { WebSocket } from 'ws'
import { z } from 'zod'
import type { EventBus, EventMap, EventName } from '../observe/events.ts'

/** Every event name a client may ask for with `?types=`. */
export const EVENT_NAMES = [
  'request:completed',
  'instance:state-changed',
  'instance:log',
  'target:down',
  'target:up',
  'config:applied',
  'route:changed',
  'cert:issued',
  'cert:failed',
  'stats:sampled',
  'app:changed',
  'config:failed',
] as const satisfies readonly EventName[]

/** What a client gets without `?types=`: everything but the per-request firehose and the periodic sample. */
export const DEFAULT_EVENT_TYPES: readonly EventName[] = EVENT_NAMES.filter(
  (name) => name !== 'request:completed' && name !== 'stats:sampled',
)

/** Concurrent event clients allowed; the next one is closed with 1013 (try again later). */
export const DEFAULT_MAX_EVENT_CLIENTS = 100
/** Bytes a client may leave unread before it is dropped with 1013 rather than buffered further. */
export const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024
/** How often each client is pinged; a client that missed the previous pong is terminated. */
export const DEFAULT_PING_INTERVAL_MS = 30_000

/** WebSocket close code 1013 "Try Again Later" (RFC 6455 §7.4, IANA registry). */
const CLOSE_TRY_AGAIN_LATER = 1013
const OPEN = 1

/** Limits of the event stream; the defaults suit production, tests shrink them. */
export interface EventStreamOptions {
  maxClients?: number
  maxBufferedBytes?: number
  pingIntervalMs?: number
  /** Clock for the frames' `at` field (epoch milliseconds). */
  now?: () => number
}

/** One frame as sent: the event name, when it was forwarded (ISO 8601) and its payload. */
export interface EventFrame<K extends EventName = EventName> {
  type: K
  at: string
  data: EventMap[K]
}

const typesList = z
  .string()
  .max(512)
  .refine((s) => parseTypes(s).length > 0 && parseTypes(s).every(isEventName), {
    error: `types must be a comma-separated list of: ${EVENT_NAMES.join(', ')}`,
  })
const eventsQuery = z.object({
  types: typesList
    .optional()
    .describe('Comma-separated event names; default: all but request:completed and stats:sampled.'),
  app: z
    .string()
    .min(1)
    .max(64)
    .optional()
    .describe('Only events of this app (events without an app pass).'),
})

function isEventName(name: string): name is EventName {
  return (EVENT_NAMES as readonly string[]).includes(name)
}

function parseTypes(list: string): string[] {
  return list
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0)
}

/** matchesApp keeps an event whose payload has no `app` field or whose `app` equals the filter. */
export function matchesApp(data: object, app: string | undefined): boolean {
  if (app === undefined || !('app' in data)) return true
  return data.app === app
}

/** A connected client: its socket and how to stop its subscriptions (idempotent). */
interface Client {
  socket: WebSocket
  alive: boolean
  stop: () => void
}

interface Limits {
  maxClients: number
  maxBufferedBytes: number
  pingIntervalMs: number
  now: () => number
}

function resolveLimits(options: EventStreamOptions): Limits {
  return {
    maxClients: options.maxClients ?? DEFAULT_MAX_EVENT_CLIENTS,
    maxBufferedBytes: options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES,
    pingIntervalMs: options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS,
    now: options.now ?? Date.now,
  }
}

/**
 * sendFrame sends one frame unless the client is too far behind: past `maxBufferedBytes` unread
 * it closes the socket with 1013 and stops the client, so memory per client stays bounded.
 */
function sendFrame(client: Client, frame: EventFrame, limits: Limits): void {
  const { socket } = client
  if (socket.readyState !== OPEN) return
  if (socket.bufferedAmount > limits.maxBufferedBytes) {
    client.stop()
    socket.close(CLOSE_TRY_AGAIN_LATER, 'client too slow: events dropped')
    return
  }
  socket.send(JSON.stringify(frame))
}

/** subscribe connects one client to the bus; returns the unsubscribe-all function. */
function subscribe(
  events: EventBus,
  client: Client,
  filter: { types: readonly EventName[]; app: string | undefined },
  limits: Limits,
): () => void {
  const stops = filter.types.map((type) =>
    events.on(type, (data: EventMap[typeof type]) => {
      if (!matchesApp(data, filter.app)) return
      sendFrame(client, { type, at: new Date(limits.now()).toISOString(), data }, limits)
    }),
  )
  return () => {
    for (const stop of stops.splice(0)) stop()
  }
}

/** heartbeat pings every client; one that did not answer the previous ping is terminated. */
function heartbeat(clients: Set<Client>): void {
  for (const client of clients) {
    if (!client.alive) {
      client.stop()
      client.socket.terminate()
      continue
    }
    client.alive = false
    client.socket.ping()
  }
}

/** What every connection of one plugin instance shares. */
interface Stream {
  events: EventBus
  clients: Set<Client>
  limits: Limits
}

/** acceptClient subscribes a new socket (or closes it with 1013 past `maxClients`). */
function acceptClient(
  stream: Stream,
  socket: WebSocket,
  query: { types?: string | undefined; app?: string | undefined },
): void {
  if (stream.clients.size >= stream.limits.maxClients) {
    socket.close(CLOSE_TRY_AGAIN_LATER, 'too many event clients')
    return
  }
  const filter = {
    types:
      query.types === undefined ? DEFAULT_EVENT_TYPES : parseTypes(query.types).filter(isEventName),
    app: query.app,
  }
  const client: Client = { socket, alive: true, stop: () => undefined }
  const unsubscribe = subscribe(stream.events, client, filter, stream.limits)
  client.stop = () => {
    unsubscribe()
    stream.clients.delete(client)
  }
  stream.clients.add(client)
  socket.on('pong', () => {
    client.alive = true
  })
  socket.on('close', () => client.stop())
}

/**
 * eventsPlugin serves `GET /events` as a WebSocket (register @fastify/websocket first, and the
 * plugin under the API prefix). Each subscribed event is one JSON text frame `{ type, at, data }`.
 * `?types=a,b` picks event names (validated; default all but `request:completed` and `stats:sampled`), `?app=name`
 * keeps events whose data has `app === name` (events without `app` pass). The server ignores
 * what clients send. A client with more than `maxBufferedBytes` unread is closed with 1013; past
 * `maxClients` concurrent clients a new one is closed with 1013. Closing unsubscribes; clients
 * that miss a pong are terminated.
 */
export function eventsPlugin(
  events: EventBus,
  options: EventStreamOptions = {},
): FastifyPluginAsync {
  const limits = resolveLimits(options)
  return async function eventStream(app) {
    const stream: Stream = { events, clients: new Set(), limits }
    const timer = setInterval(() => heartbeat(stream.clients), limits.pingIntervalMs)
    timer.unref()
    app.addHook('onClose', async () => clearInterval(timer))
    app
      .withTypeProvider<ZodTypeProvider>()
      .get(
        '/events',
        { websocket: true, schema: { querystring: eventsQuery } },
        (socket, request) => acceptClient(stream, socket, request.query),
      )
  }
}
