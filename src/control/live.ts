/** @module Composition helper: metrics history, the live sample, instance CPU/memory and config status over the live parts. */
import path from 'node:path'
import type { HistoryService } from '../api/history.ts'
import { TrafficAggregator } from '../history/aggregate.ts'
import type { BucketSummary } from '../history/bucket.ts'
import { History } from '../history/history.ts'
import { ConfigStatus } from '../observe/config-status.ts'
import type { EventBus } from '../observe/events.ts'
import type { Logger } from '../observe/log.ts'
import {
  type IntervalTraffic,
  type LiveInstance,
  type LiveRoute,
  type LiveSample,
  Sampler,
} from '../observe/sampler.ts'
import type { Route } from '../proxy/route.ts'
import type { RouteTable } from '../proxy/router.ts'
import type { TargetState } from '../registry/target.ts'
import type { AppStatus, InstanceStatus } from '../supervisor/supervisor.ts'
import { type ResourceUsage, UsageSampler } from '../supervisor/usage.ts'
import { routeList } from './stats.ts'

/** The history database's file name inside the state dir. */
export const HISTORY_FILE = 'history.db'

/** How history is kept: its retention, or false when `edge.history` is false. */
export type HistorySetting = { retentionMs: number } | false

/** What createLive reads. */
export interface LiveDeps {
  stateDir: string
  configPath: string
  history: HistorySetting
  events: EventBus
  log: Logger
  table: () => RouteTable<Route>
  apps: () => AppStatus[]
  /** An instance's state as the edge sees it (services.ts liveState). */
  stateOf: (app: string, instance: InstanceStatus) => TargetState
  /** Sampling interval of `stats:sampled`, in milliseconds (default 2 s). */
  sampleIntervalMs?: number
}

const NO_TRAFFIC: IntervalTraffic = {
  requestsPerSecond: 0,
  errorRate: 0,
  latencyMs: { p50: 0, p99: 0 },
}

function traffic(summary: BucketSummary | undefined, intervalMs: number): IntervalTraffic {
  if (summary === undefined || summary.requests === 0) return NO_TRAFFIC
  return {
    requestsPerSecond: Math.round((summary.requests / intervalMs) * 1_000_000) / 1000,
    errorRate: Math.round((summary.errors / summary.requests) * 10_000) / 10_000,
    latencyMs: { p50: summary.latencyMs.p50, p99: summary.latencyMs.p99 },
  }
}

function liveRoute(
  route: Route,
  summary: BucketSummary | undefined,
  intervalMs: number,
): LiveRoute {
  return {
    vHost: route.vHost,
    app: route.app ?? null,
    ...traffic(summary, intervalMs),
    active: route.admission.active,
    queued: route.admission.queued,
    targets: route.upstream.targets().map((t) => ({
      id: t.id,
      address: t.address(),
      state: t.state,
      available: t.isAvailable(),
      inFlight: t.inFlight,
      fails: t.fails,
    })),
  }
}

function liveInstances(deps: LiveDeps, usage: UsageSampler, atMs: number): LiveInstance[] {
  return deps.apps().flatMap((app) =>
    app.instances.map((inst) => {
      const used: ResourceUsage | undefined = usage.usage(inst.pid)
      return {
        app: app.name,
        id: inst.id,
        pid: inst.pid,
        port: inst.port,
        state: deps.stateOf(app.name, inst),
        restarts: inst.restarts,
        uptimeMs: inst.startedAt === null ? null : atMs - inst.startedAt,
        cpuPercent: used?.cpuPercent ?? null,
        memoryBytes: used?.memoryBytes ?? null,
      }
    }),
  )
}

/** The operator-surface parts a running Portico holds. */
export interface Live {
  /** The history service for the API, undefined when history is off. */
  history: HistoryService | undefined
  configStatus: ConfigStatus
  /** CPU and memory per instance pid (for the app views). */
  usage: UsageSampler
  /** close stops sampling and writes what the history buffered (call on shutdown). */
  close: () => Promise<void>
}

/**
 * createLive opens the metrics history (`<stateDir>/history.db`, unless off), keeps the config
 * status and starts the live sampler: every 2 s it reads each instance's CPU and memory and emits
 * `stats:sampled` with the traffic of the interval per route, targets and instances. Create it
 * before the edge starts so the first requests count.
 */
export function createLive(deps: LiveDeps): Live {
  const history =
    deps.history === false
      ? undefined
      : History.open({
          file: path.join(deps.stateDir, HISTORY_FILE),
          events: deps.events,
          log: deps.log.child({ component: 'history' }),
          retentionMs: deps.history.retentionMs,
        })
  // Without history the live sample still needs interval counts: an aggregator that keeps no minutes.
  const standalone = history ? undefined : new TrafficAggregator({ maxPendingRows: 0 })
  const stopStandalone = standalone
    ? deps.events.on('request:completed', (event) => standalone.record(event))
    : () => undefined
  const aggregator = history?.aggregator ?? (standalone as TrafficAggregator)
  const usage = new UsageSampler()
  const configStatus = new ConfigStatus({ events: deps.events, file: deps.configPath })
  const sampler = new Sampler({
    events: deps.events,
    ...(deps.sampleIntervalMs === undefined ? {} : { intervalMs: deps.sampleIntervalMs }),
    onError: (error) => deps.log.warn({ err: error }, 'live sample failed'),
    collect: async (atMs, intervalMs): Promise<LiveSample> => {
      const pids = deps.apps().flatMap((app) => app.instances.flatMap((i) => i.pid ?? []))
      await usage.sample(pids)
      const interval = aggregator.takeInterval()
      return {
        atMs,
        intervalMs,
        total: traffic(interval.total.get('*'), intervalMs),
        routes: routeList(deps.table()).map((r) =>
          liveRoute(r, interval.route.get(r.vHost), intervalMs),
        ),
        instances: liveInstances(deps, usage, atMs),
      }
    },
  })
  sampler.start()
  return {
    history,
    configStatus,
    usage,
    close: async () => {
      sampler.close()
      stopStandalone()
      configStatus.close()
      await history?.close()
    },
  }
}
