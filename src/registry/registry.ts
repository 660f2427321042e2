/** @module Registry: name → Upstream, the live healthy-instance registry shared by supervisor and proxy. */
import { type AvailabilityListener, type TransitionListener, Upstream } from './upstream.ts'

const APP_PREFIX = 'app:'

/** upstreamNameForApp returns the registry key of an app's instances. */
export function upstreamNameForApp(app: string): string {
  return `${APP_PREFIX}${app}`
}

/** appOfUpstream returns the app an upstream name belongs to, or undefined for a route's. */
export function appOfUpstream(name: string): string | undefined {
  return name.startsWith(APP_PREFIX) ? name.slice(APP_PREFIX.length) : undefined
}

/** upstreamNameForRoute returns the registry key of a route's static backends. */
export function upstreamNameForRoute(vHost: string): string {
  return `route:${vHost}`
}

/**
 * Registry holds every Upstream by name. Upstreams outlive route-table swaps, so target state
 * (health, in-flight counts) survives a config reload (Caddy's global `hosts` pool).
 */
export class Registry {
  #upstreams = new Map<string, Upstream>()
  #onTransition: TransitionListener | undefined
  #onChange: AvailabilityListener | undefined

  /**
   * `onTransition` hears every target state change in every upstream (events, logs); `onChange`
   * hears every change of any upstream's target set (edge workers mirror the registry with it).
   */
  constructor(onTransition?: TransitionListener, onChange?: AvailabilityListener) {
    this.#onTransition = onTransition
    this.#onChange = onChange
  }

  /** upstream returns the upstream with that name, creating it empty on first use. */
  upstream(name: string): Upstream {
    let upstream = this.#upstreams.get(name)
    if (!upstream) {
      upstream = new Upstream(name, this.#onTransition, this.#onChange)
      this.#upstreams.set(name, upstream)
    }
    return upstream
  }

  get(name: string): Upstream | undefined {
    return this.#upstreams.get(name)
  }

  delete(name: string): boolean {
    return this.#upstreams.delete(name)
  }

  names(): string[] {
    return [...this.#upstreams.keys()]
  }
}
