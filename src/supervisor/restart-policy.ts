/** @module Restart policy: which exits are unstable, and when a run of them is a crash loop (pure, tested). */

/**
 * When an instance that keeps failing is given up (state `crashed`) instead of restarted again.
 * pm2 does the restarting (with its exponential backoff: 100 ms, ×1.5 each time, capped at
 * 15 s); this policy only decides when to stop it. pm2's own limit (`max_restarts` within
 * `min_uptime × max_restarts` of the first start, which its backoff breaks: the process is then
 * reported `waiting restart` forever) is switched off.
 */
export interface RestartPolicy {
  /** A process that became ready and lived at least this long ended a streak, in milliseconds. */
  minUptimeMs: number
  /** The streak of unstable exits may reach this length; one more is a crash loop. */
  maxUnstableRestarts: number
  /** Unstable exits older than this no longer count, in milliseconds. */
  windowMs: number
}

/**
 * The defaults: 10 unstable restarts in a row within 10 minutes. With pm2's backoff an app that
 * dies at once is given up after about 12 s (delays 100 ms … 3.8 s); one that never becomes
 * ready within a 30 s startTimeout after 5 minutes.
 */
export const DEFAULT_RESTART_POLICY: Readonly<RestartPolicy> = {
  minUptimeMs: 1_000,
  maxUnstableRestarts: 10,
  windowMs: 10 * 60_000,
}

/** What is known about one run of an instance's process once it has ended. */
export interface RunEnd {
  /** When it ended (exited, or was found not ready in time), epoch milliseconds. */
  atMs: number
  /** How long it ran, in milliseconds; null when it never came online. */
  uptimeMs: number | null
  /** Whether its readiness probe passed (it was put into rotation). */
  becameReady: boolean
}

/**
 * isUnstable reports whether a run ended badly enough to count towards a crash loop: it never
 * became ready, or it ended less than `minUptimeMs` after it started.
 */
export function isUnstable(run: RunEnd, policy: RestartPolicy): boolean {
  return !run.becameReady || run.uptimeMs === null || run.uptimeMs < policy.minUptimeMs
}

/**
 * nextStreak returns the streak after `run`: the end times of the unstable runs in a row, oldest
 * first, without those older than `windowMs` before `run`. A stable run empties it. The input is
 * not changed.
 */
export function nextStreak(
  streak: readonly number[],
  run: RunEnd,
  policy: RestartPolicy,
): number[] {
  if (!isUnstable(run, policy)) return []
  return [...streak.filter((atMs) => run.atMs - atMs < policy.windowMs), run.atMs]
}

/** isCrashLoop reports whether a streak is longer than the policy allows: stop restarting. */
export function isCrashLoop(streak: readonly number[], policy: RestartPolicy): boolean {
  return streak.length > policy.maxUnstableRestarts
}
