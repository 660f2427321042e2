/** @module runPolicies: a route's policies in their fixed order, synchronous until one must wait. */
import {
  CONTINUE,
  type HeaderEdits,
  isPromise,
  mergeEdits,
  type Policy,
  type RequestView,
  type Verdict,
} from './policy.ts'

/**
 * The fixed order policies run in (access list → rate limit → auth → auth provider): the cheapest
 * and least trusting checks first, so a refused address never costs a token and a throttled
 * client never costs a password hash. Admission and balancing come after all of them.
 */
export const POLICY_ORDER = ['access-list', 'rate-limit', 'auth', 'auth-provider'] as const
export type PolicyName = (typeof POLICY_ORDER)[number]

/**
 * runPolicies runs `policies` in order and returns the first verdict that is not `continue`, or
 * `continue` with the edits of every policy merged. While each policy answers synchronously the
 * whole run is synchronous and allocates nothing beyond merged edits: a route without policies
 * should not call it at all (an empty list returns CONTINUE at once). From the first policy that
 * returns a promise on, the rest run after it settles.
 */
export function runPolicies(
  policies: readonly Policy[],
  request: RequestView,
): Verdict | Promise<Verdict> {
  let edits: HeaderEdits | undefined
  for (let i = 0; i < policies.length; i++) {
    const verdict = (policies[i] as Policy).check(request)
    if (isPromise(verdict)) return finish(policies, request, i, verdict, edits)
    if (verdict.kind !== 'continue') return verdict
    if (verdict.edits !== undefined) edits = merged(edits, verdict.edits)
  }
  return edits === undefined ? CONTINUE : { kind: 'continue', edits }
}

async function finish(
  policies: readonly Policy[],
  request: RequestView,
  index: number,
  pending: Promise<Verdict>,
  editsSoFar: HeaderEdits | undefined,
): Promise<Verdict> {
  let edits = editsSoFar
  let verdict = await pending
  for (let i = index; ; ) {
    if (verdict.kind !== 'continue') return verdict
    if (verdict.edits !== undefined) edits = merged(edits, verdict.edits)
    if (++i >= policies.length) break
    verdict = await (policies[i] as Policy).check(request)
  }
  return edits === undefined ? CONTINUE : { kind: 'continue', edits }
}

function merged(edits: HeaderEdits | undefined, next: HeaderEdits): HeaderEdits {
  return edits === undefined ? next : mergeEdits(edits, next)
}
