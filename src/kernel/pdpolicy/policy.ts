/*
 * policy.ts: the seam between the pagedaemon's mechanism and a page
 * replacement policy (uvm_pdpolicy.h: the uvmpdpol_* calls).
 *
 *   mechanism (pdaemon.ts)               policy (one module per policy)
 *   ------------------------------------ ---------------------------------
 *   a fault maps a page       activate   the page was used
 *   madvise, anon deactivate  deactivate the page is a candidate soon
 *   free, wire                dequeue    the page leaves the queues
 *   the daemon runs           tune, scanInit, selectVictim*, balance
 *   it takes, saves and frees the victim; one it could not free goes
 *   back through activate
 *   an anon dies              forget     drop its history (uvmpdpol_anfree)
 *
 * A policy keeps its queues in the frames' own links (PageQueue over the
 * host's next/prev) and marks membership with the PQ_PRIVATE bits of
 * pqflags. It sees the hardware only through its host: the referenced
 * bits (the pmap's) and a key naming what a frame holds, so the same
 * policy runs in the kernel and in pdsim on a trace.
 */
import type { Frame, Int32ArrayOf } from '../param.ts';

/** The pagedaemon counters a policy moves (uvmexp's names). */
export interface PdCounters {
  /** pages examined by the scan */
  pdscans: number;
  /** referenced pages the scan sent back to active */
  pdreact: number;
  /** pages moved from active to inactive */
  pddeact: number;
}

/** What a policy may use of the machine: frames, their links and bits. */
export interface PdPolicyHost {
  /** the number of frames */
  readonly npages: number;
  /** per-frame flags; a policy writes only the PQ_PRIVATE bits */
  readonly pqflags: Uint8Array;
  /** per-frame links, the policy's while the frame is off the free queue */
  readonly next: Int32ArrayOf<Frame>;
  readonly prev: Int32ArrayOf<Frame>;
  readonly exp: PdCounters;
  /** pmap_is_referenced */
  isReferenced(pg: Frame): boolean;
  /** pmap_clear_reference: clear the bit; returns its old value */
  clearReference(pg: Frame): boolean;
  /**
   * pageKey: a number naming what pg holds (its anon, or its object and
   * offset), the same after a pageout and the pagein: lets a policy
   * remember pages it evicted.
   */
  pageKey(pg: Frame): number;
  /** the daemon's free target (uvmexp.freetarg) */
  freetarg(): number;
}

/** Queue sizes a policy reports (uvmpdpol_estimatepageable). */
export interface PdQueueCounts {
  /** pages the policy holds as in use (clock: active; clockpro: hot) */
  active: number;
  /** pages it holds as candidates (clock: inactive; clockpro: cold) */
  inactive: number;
  /** more of its own (non-resident history, ...), by name */
  [more: string]: number;
}

/** A page replacement policy (the uvmpdpol interface). */
export interface PdPolicy {
  /** the name it is chosen by */
  readonly name: string;
  /** uvmpdpol_pageactivate: pg was used (or is new): queue it as such */
  activate(pg: Frame): void;
  /** uvmpdpol_pagedeactivate: pg is a candidate for reclaim */
  deactivate(pg: Frame): void;
  /** uvmpdpol_pagedequeue: pg leaves the policy's queues (freed, wired) */
  dequeue(pg: Frame): void;
  /** uvmpdpol_pageisqueued_p */
  isQueued(pg: Frame): boolean;
  /** uvmpdpol_anfree: the contents named `key` are gone for good */
  forget(key: number): void;
  /** uvmpdpol_tune: recompute targets from the queues' sizes */
  tune(): void;
  /** uvmpdpol_needsscan_p: the policy wants a scan even with frames free */
  needsScan(): boolean;
  /** uvmpdpol_scaninit: a scan begins */
  scanInit(): void;
  /**
   * uvmpdpol_selectvictim: the next page to reclaim, or NOPAGE when the
   * scan is over. The mechanism frees it, or (busy, loaned, nowhere to
   * save it) leaves it: then it calls activate if it must stay.
   */
  selectVictim(): Frame;
  /** uvmpdpol_balancequeue: after a scan, move pages between queues */
  balance(): void;
  /** uvmpdpol_estimatepageable */
  counts(): PdQueueCounts;
  /**
   * pageState: the policy's word for queued page pg, for pictures of
   * memory: 'active' or 'inactive' (clock), 'hot', 'cold', 'test', 'new'
   * (clockpro); the first two words mean in use and candidate to any reader.
   */
  pageState(pg: Frame): string;
  /** hand: the page the next scan looks at first (its hand), or NOPAGE */
  hand(): Frame;
  /** check the policy's own invariants; throws KernelPanic */
  audit(): void;
}

/** A policy's tunables, by name (e.g. clock's inactivepct). */
export type PdParams = Readonly<Record<string, number>>;

/** How a policy is made: from its host and tunables. */
export type PdPolicyFactory = (host: PdPolicyHost, params: PdParams) => PdPolicy;
