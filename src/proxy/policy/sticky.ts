/** @module stickyStrategy: keep a client on the target its cookie names, while that target is available. */
import type { Target } from '../../registry/target.ts'
import type { PickContext, Strategy } from '../balancer/strategy.ts'

/** A pick context that may carry the target id a client's sticky cookie names. */
export interface StickyPickContext extends PickContext {
  /** The stable target id read from a valid sticky cookie (StickyCookie.read), if any. */
  affinity?: string | undefined
}

/** The suffix a rolling reload's replacement instance carries until it takes over the id. */
const REPLACEMENT_SUFFIX = '.next'

/**
 * stableId returns the id a sticky cookie names for `targetId`: a reload's replacement
 * `web#0.next` is the same slot as `web#0` (it takes over that id once the old instance has
 * drained), so a client pinned to `web#0` follows its slot through a rolling reload.
 */
export function stableId(targetId: string): string {
  return targetId.endsWith(REPLACEMENT_SUFFIX)
    ? targetId.slice(0, -REPLACEMENT_SUFFIX.length)
    : targetId
}

/**
 * stickyStrategy wraps `inner`: when the context names an affinity, the available, non-excluded
 * target with that id is picked (else the slot's replacement `<id>.next`, during a reload);
 * otherwise, or when that target is gone, down or already tried by this request, `inner` picks
 * as it would. The loop then calls needsCookie to know whether to (re)write the cookie.
 */
export function stickyStrategy(inner: Strategy): Strategy {
  return {
    pick(available, ctx, exclude) {
      const affinity = (ctx as StickyPickContext).affinity
      if (affinity !== undefined) {
        const pinned = find(available, affinity, exclude)
        if (pinned !== undefined) return pinned
      }
      return inner.pick(available, ctx, exclude)
    },
  }
}

function find(
  available: readonly Target[],
  affinity: string,
  exclude: ReadonlySet<Target> | undefined,
): Target | undefined {
  let replacement: Target | undefined
  for (let i = 0; i < available.length; i++) {
    const target = available[i] as Target
    if (exclude?.has(target)) continue
    if (target.id === affinity) return target
    if (replacement === undefined && stableId(target.id) === affinity) replacement = target
  }
  return replacement
}

/**
 * needsCookie reports whether the response must set the sticky cookie: the client had none (or
 * an invalid one), or it named another slot than the target that served it (re-balanced).
 */
export function needsCookie(target: Target, affinity: string | undefined): boolean {
  return affinity === undefined || stableId(target.id) !== affinity
}
