/** @module accessListPolicy: `allow`/`deny` address lists → 403, checked first and synchronously. */
import { errors } from '../../errors.ts'
import { compileAddressMatcher } from './address-matcher.ts'
import { CONTINUE, type Policy, reject } from './policy.ts'

/** A route's access lists as the config gives them (addresses and CIDR ranges). */
export interface AccessListOptions {
  vHost: string
  allow?: readonly string[] | undefined
  deny?: readonly string[] | undefined
}

/**
 * accessListPolicy refuses (403 PTC_ERR_ACCESS_DENIED) a client address that matches `deny`,
 * or, when `allow` is non-empty, one that matches nothing in it. Deny wins over allow, so
 * `allow: ['10.0.0.0/8'], deny: ['10.0.0.66']` lets every 10.x in but one. Returns undefined
 * when both lists are empty (the route then has no access list at all). Always synchronous.
 */
export function accessListPolicy(options: AccessListOptions): Policy | undefined {
  const allow = compileAddressMatcher(options.allow ?? [])
  const deny = compileAddressMatcher(options.deny ?? [])
  if (allow.size === 0 && deny.size === 0) return undefined
  // One error object for the route: its message names the route, never the client.
  const denied = reject(new errors.PTC_ERR_ACCESS_DENIED(options.vHost))
  return {
    name: 'access-list',
    check(request) {
      const address = request.clientAddress
      if (deny.size > 0 && deny.has(address)) return denied
      if (allow.size > 0 && !allow.has(address)) return denied
      return CONTINUE
    },
  }
}
