/**
 * @module Admission: per-route in-flight limit plus a bounded FIFO queue with timeout and abort,
 * shared fairly between clients so that one client cannot hold a route's capacity.
 */

/**
 * Share of a route's slots, and of its queue, that one client keeps while other clients want
 * them (docs/decisions.md, "One client cannot hold a route"). A client alone may use everything.
 */
export const CLIENT_SHARE = 0.5

/** Why a request was not admitted. */
export type Rejection = 'full' | 'timeout' | 'no-target' | 'closed'

/**
 * Who asks for a slot: the client key (an address, see `clientKey`) and whether the request will
 * stream its body while it holds the slot (an upload too large to read before admission).
 */
export interface Claimant {
  readonly client: string
  readonly upload: boolean
}

/** Options of an Admission; see the route options `reqActiveLength`, `reqQueueLength`. */
export interface AdmissionOptions {
  maxActive: number
  maxQueue: number
  queueTimeoutMs: number
  /**
   * canServe reports whether a granted request would find a target now; queued requests wait
   * while it is false (an instance is starting), as if no slot were free.
   */
  canServe: () => boolean
  /** mayServeSoon reports whether waiting makes sense (some target is starting). */
  mayServeSoon: () => boolean
  /** The client share (default CLIENT_SHARE; 1 turns fairness off). */
  clientShare?: number
}

interface Waiter {
  grant: (rejection: Rejection | undefined) => void
  timer: NodeJS.Timeout
  done: boolean
  claimant: Claimant | undefined
}

/** What one client holds: slots, slots held by streaming uploads, and queue places. */
interface ClientLoad {
  active: number
  uploads: number
  queued: number
}

function shareOf(limit: number, share: number): number {
  return share >= 1 ? limit : Math.max(1, Math.ceil(limit * share))
}

/**
 * Admission decides when a request may be forwarded. At most `maxActive` requests hold a slot;
 * up to `maxQueue` more wait in FIFO order for a slot *and* an available target, each for at most
 * `queueTimeoutMs`. Past that, or when nothing is starting that could serve them, they are
 * rejected at once. Every granted slot must be given back with `release()` exactly once, with
 * the same claimant. Call `wake()` whenever target availability changes (the upstream's
 * onChange does).
 *
 * Fairness between clients (requests that name a Claimant): a client alone may use every slot
 * and queue place, but when a slot frees up, waiters of clients holding less than their share
 * go first, and when the queue is full, a newcomer under its share takes the place of the newest
 * waiter of the client holding the most places beyond its share. Streaming uploads are the one
 * strict limit: one client's uploads hold at most its share of the slots, because a slow upload
 * holds its slot for as long as the client likes (the upload rate bounds each, not their number).
 */
export class Admission {
  #options: AdmissionOptions
  #active = 0
  #queue: (Waiter | undefined)[] = []
  #head = 0
  #queued = 0
  #closed = false
  #clients = new Map<string, ClientLoad>()
  readonly #activeShare: number
  readonly #queueShare: number

  constructor(options: AdmissionOptions) {
    this.#options = options
    const share = options.clientShare ?? CLIENT_SHARE
    this.#activeShare = shareOf(options.maxActive, share)
    this.#queueShare = shareOf(options.maxQueue, share)
  }

  /** Requests holding a slot. */
  get active(): number {
    return this.#active
  }

  /** Requests waiting in the queue. */
  get queued(): number {
    return this.#queued
  }

  /** The slot and queue limits enforced (a worker's share of the route's, with edge workers). */
  get limits(): { maxActive: number; maxQueue: number } {
    return { maxActive: this.#options.maxActive, maxQueue: this.#options.maxQueue }
  }

  /** The slots and queue places one client keeps while others want them. */
  get clientLimits(): { maxActive: number; maxQueue: number } {
    return { maxActive: this.#activeShare, maxQueue: this.#queueShare }
  }

  /** clients is how many distinct clients hold a slot or a queue place now. */
  get clients(): number {
    return this.#clients.size
  }

  /**
   * tryAcquire takes a slot at once if one is free, nobody is queued, a target can serve and
   * (for an upload) the client has upload slots left; it is the allocation-free fast path of the
   * request loop. Returns whether it took a slot.
   */
  tryAcquire(claimant?: Claimant): boolean {
    if (
      this.#closed ||
      this.#queued > 0 ||
      this.#active >= this.#options.maxActive ||
      !this.#mayUpload(claimant) ||
      !this.#options.canServe()
    ) {
      return false
    }
    this.#take(claimant)
    return true
  }

  /**
   * acquire resolves to undefined when the request holds a slot, or to the reason it will not
   * get one. `signal` aborts the wait (the client went away): the waiter leaves the queue and
   * the promise resolves to 'closed'. The fast path (slot free, target available) is synchronous
   * in effect: it returns an already-resolved promise.
   */
  acquire(
    signal?: AbortSignal,
    claimant?: Claimant,
  ): Promise<Rejection | undefined> | Rejection | undefined {
    if (this.#closed) return 'closed'
    if (this.tryAcquire(claimant)) return undefined
    if (!this.#options.canServe() && !this.#options.mayServeSoon()) return 'no-target'
    if (this.#queued >= this.#options.maxQueue && !this.#makeRoomFor(claimant)) return 'full'
    const waiting = this.#enqueue(signal, claimant)
    // The waiters ahead may all be held back (uploads at their share): this one may pass them.
    if (this.#active < this.#options.maxActive) this.wake()
    return waiting
  }

  /** release gives a slot back (with the claimant it was taken with) and lets the next waiter in. */
  release(claimant?: Claimant): void {
    this.#active--
    if (claimant !== undefined) {
      const load = this.#clients.get(claimant.client)
      if (load !== undefined) {
        load.active--
        if (claimant.upload) load.uploads--
        this.#forgetIfIdle(claimant.client, load)
      }
    }
    this.wake()
  }

  /** wake grants waiting requests while slots and targets allow, or rejects them if hopeless. */
  wake(): void {
    while (this.#queued > 0) {
      if (this.#active >= this.#options.maxActive) return
      if (!this.#options.canServe()) {
        if (this.#options.mayServeSoon()) return
        this.#rejectAll('no-target')
        return
      }
      const waiter = this.#next()
      if (waiter === undefined) return
      this.#take(waiter.claimant)
      this.#finish(waiter, undefined)
    }
  }

  /** close rejects every waiter and all later requests (shutdown). */
  close(): void {
    this.#closed = true
    this.#rejectAll('closed')
  }

  #load(client: string): ClientLoad {
    let load = this.#clients.get(client)
    if (load === undefined) {
      load = { active: 0, uploads: 0, queued: 0 }
      this.#clients.set(client, load)
    }
    return load
  }

  #forgetIfIdle(client: string, load: ClientLoad): void {
    if (load.active <= 0 && load.queued <= 0) this.#clients.delete(client)
  }

  #mayUpload(claimant: Claimant | undefined): boolean {
    if (claimant === undefined || !claimant.upload) return true
    return (this.#clients.get(claimant.client)?.uploads ?? 0) < this.#activeShare
  }

  #underShare(claimant: Claimant | undefined): boolean {
    if (claimant === undefined) return true
    return (this.#clients.get(claimant.client)?.active ?? 0) < this.#activeShare
  }

  #take(claimant: Claimant | undefined): void {
    this.#active++
    if (claimant === undefined) return
    const load = this.#load(claimant.client)
    load.active++
    if (claimant.upload) load.uploads++
  }

  #enqueue(
    signal: AbortSignal | undefined,
    claimant: Claimant | undefined,
  ): Promise<Rejection | undefined> {
    return new Promise((resolve) => {
      const waiter: Waiter = {
        grant: resolve,
        done: false,
        claimant,
        timer: setTimeout(() => this.#leave(waiter, 'timeout'), this.#options.queueTimeoutMs),
      }
      this.#queue.push(waiter)
      this.#queued++
      if (claimant !== undefined) this.#load(claimant.client).queued++
      signal?.addEventListener('abort', () => this.#leave(waiter, 'closed'), { once: true })
    })
  }

  /**
   * #makeRoomFor frees a place in a full queue for a client under its queue share by refusing
   * the newest waiter of the client with the most places, if that client is beyond its share.
   */
  #makeRoomFor(claimant: Claimant | undefined): boolean {
    if (claimant === undefined) return false
    if ((this.#clients.get(claimant.client)?.queued ?? 0) >= this.#queueShare) return false
    let hog: string | undefined
    let most = this.#queueShare
    for (const [client, load] of this.#clients) {
      if (load.queued > most) {
        hog = client
        most = load.queued
      }
    }
    if (hog === undefined) return false
    for (let i = this.#queue.length - 1; i >= this.#head; i--) {
      const waiter = this.#queue[i]
      if (waiter?.claimant?.client !== hog) continue
      this.#leave(waiter, 'full')
      return true
    }
    return false
  }

  #leave(waiter: Waiter, rejection: Rejection): void {
    if (waiter.done) return
    const index = this.#queue.indexOf(waiter, this.#head)
    if (index !== -1) this.#queue[index] = undefined
    this.#dequeued(waiter)
    this.#finish(waiter, rejection)
  }

  /** #dequeued updates the counts for a waiter that left the queue (granted or not). */
  #dequeued(waiter: Waiter): void {
    this.#queued--
    if (waiter.claimant === undefined) return
    const { client } = waiter.claimant
    const load = this.#clients.get(client)
    if (load === undefined) return
    load.queued--
    this.#forgetIfIdle(client, load)
  }

  /**
   * #next takes the waiter to admit: the first one whose client is under its share, else the
   * first one allowed at all (a client alone uses every slot). A waiter passed over keeps its
   * place. The scans are bounded by the queue limit.
   */
  #next(): Waiter | undefined {
    const index =
      this.#find((w) => this.#underShare(w.claimant) && this.#mayUpload(w.claimant)) ??
      this.#find((w) => this.#mayUpload(w.claimant))
    if (index === undefined) return undefined
    const waiter = this.#queue[index] as Waiter
    this.#queue[index] = undefined
    this.#dequeued(waiter)
    this.#compact()
    return waiter
  }

  #find(eligible: (waiter: Waiter) => boolean): number | undefined {
    for (let i = this.#head; i < this.#queue.length; i++) {
      const waiter = this.#queue[i]
      if (waiter !== undefined && eligible(waiter)) return i
    }
    return undefined
  }

  #compact(): void {
    while (this.#head < this.#queue.length && this.#queue[this.#head] === undefined) this.#head++
    // Drop consumed slots once they dominate, so the array never grows past ~2× the queue bound.
    if (this.#head > 64 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
  }

  #rejectAll(rejection: Rejection): void {
    for (let i = this.#head; i < this.#queue.length; i++) {
      const waiter = this.#queue[i]
      if (waiter === undefined) continue
      this.#queue[i] = undefined
      this.#dequeued(waiter)
      this.#finish(waiter, rejection)
    }
    this.#compact()
  }

  #finish(waiter: Waiter, rejection: Rejection | undefined): void {
    waiter.done = true
    clearTimeout(waiter.timer)
    waiter.grant(rejection)
  }
}
