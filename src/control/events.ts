/** @module transitionEvents: target state changes in the registry as events on the bus. */
import type { EventBus } from '../observe/events.ts'
import { appOfUpstream } from '../registry/registry.ts'
import type { TransitionListener } from '../registry/upstream.ts'

/**
 * transitionEvents returns the registry's transition listener: `instance:state-changed` for app
 * instances (with the instance's pid, read through `pidOf` from the supervisor's records), and
 * `target:down` / `target:up` when any target leaves or joins rotation. Only changes are emitted.
 */
export function transitionEvents(
  events: EventBus,
  pidOf: (app: string, instance: string) => number | null,
): TransitionListener {
  return (upstream, target, from, to) => {
    const app = appOfUpstream(upstream.name)
    if (app !== undefined) {
      events.emit('instance:state-changed', {
        app,
        instance: target.id,
        from,
        to,
        pid: pidOf(app, target.id),
      })
    }
    if (from === 'healthy' && to !== 'healthy')
      events.emit('target:down', { upstream: upstream.name, target: target.id, reason: to })
    if (to === 'healthy') events.emit('target:up', { upstream: upstream.name, target: target.id })
  }
}
