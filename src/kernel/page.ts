/*
 * page.ts: physical page frames (uvm_page.c).
 *
 *   bytes   one ArrayBuffer; frame f holds [f*pageSize, (f+1)*pageSize)
 *
 *   per frame f (struct-of-arrays, like a struct vm_page[] indexed by f):
 *     flags[f]      PG_BUSY PG_WANTED PG_CLEAN PG_FAKE PG_ZERO PG_RELEASED
 *     pqflags[f]    queue membership PQ_FREE | PQ_ACTIVE | PQ_INACTIVE,
 *                   and the owner kind PQ_ANON | PQ_AOBJ (swap-backed)
 *     uanon[f]      owning anon (0: none)
 *     uobject[f]    owning object id (0: none), offset[f] its page index
 *     wireCount[f]  loanCount[f]
 *     next/prev[f]  links of the one queue the frame is on (-1: end)
 *     attrs[f]      pmap's referenced/modified bits (PMAP_REFERENCED, PMAP_MODIFIED)
 *
 *   queues: FREE, ACTIVE, INACTIVE; a frame is on at most one. A wired
 *   page is on none (uvm_pagewire dequeues it), as is a busy page being
 *   set up.
 *
 * Invariants (auditPages):
 *   - every frame on the free queue has PQ_FREE, no owner, no wiring, no loan
 *   - each queue's links are consistent and its count matches
 *   - a frame off the free queue has exactly one owner, or is a loaned
 *     page its owner let go (loanCount > 0)
 *   - uvmexp.wired equals the number of frames with wireCount > 0
 *
 * Running out of frames is not an error: pageAlloc returns NOPAGE.
 */
import {
  type AnonId,
  type Frame,
  type Int32ArrayOf,
  int32ArrayOf,
  KernelPanic,
  kassert,
  kpanic,
  NOANON,
} from './param.ts';
import type { Uvm } from './uvm.ts';

export const NOPAGE = -1 as Frame;

/* page flags (pg->flags) */
export const PG_BUSY = 0x01;
export const PG_WANTED = 0x02;
export const PG_CLEAN = 0x04;
export const PG_FAKE = 0x08;
export const PG_ZERO = 0x10;
export const PG_RELEASED = 0x20;

/* queue flags (pg->pqflags) */
export const PQ_FREE = 0x01;
export const PQ_ACTIVE = 0x02;
export const PQ_INACTIVE = 0x04;
export const PQ_QUEUES = PQ_FREE | PQ_ACTIVE | PQ_INACTIVE;
export const PQ_ANON = 0x10;
export const PQ_AOBJ = 0x20;
export const PQ_SWAPBACKED = PQ_ANON | PQ_AOBJ;

/* pmap attributes kept per frame */
export const PMAP_REFERENCED = 0x01;
export const PMAP_MODIFIED = 0x02;

/** the most wirings a frame can hold (its wire count is 16 bits, as in NetBSD) */
export const WIRE_MAX = 0xffff;

/* uvm_pagealloc flags */
export const UVM_PGA_ZERO = 0x01;

const Q_FREE = 0;
const Q_ACTIVE = 1;
const Q_INACTIVE = 2;
const QUEUE_OF_FLAG: Record<number, number> = {
  [PQ_FREE]: Q_FREE,
  [PQ_ACTIVE]: Q_ACTIVE,
  [PQ_INACTIVE]: Q_INACTIVE,
};
const FLAG_OF_QUEUE = [PQ_FREE, PQ_ACTIVE, PQ_INACTIVE];

/** Physical memory: frames and their metadata. */
export class PhysMem {
  readonly bytes: Uint8Array;
  readonly flags: Uint8Array;
  readonly pqflags: Uint8Array;
  readonly uanon: Int32ArrayOf<AnonId>;
  readonly uobject: Int32Array;
  readonly offset: Uint32Array;
  readonly wireCount: Uint16Array;
  readonly loanCount: Uint16Array;
  readonly next: Int32ArrayOf<Frame>;
  readonly prev: Int32ArrayOf<Frame>;
  readonly attrs: Uint8Array;
  /* queue heads, tails and lengths, indexed by Q_* */
  readonly qhead = int32ArrayOf<Frame>(3).fill(NOPAGE);
  readonly qtail = int32ArrayOf<Frame>(3).fill(NOPAGE);
  readonly qlen = new Int32Array(3);

  constructor(
    readonly npages: number,
    readonly pageSize: number,
  ) {
    this.bytes = new Uint8Array(new ArrayBuffer(npages * pageSize));
    this.flags = new Uint8Array(npages);
    this.pqflags = new Uint8Array(npages);
    this.uanon = int32ArrayOf<AnonId>(npages);
    this.uobject = new Int32Array(npages);
    this.offset = new Uint32Array(npages);
    this.wireCount = new Uint16Array(npages);
    this.loanCount = new Uint16Array(npages);
    this.next = int32ArrayOf<Frame>(npages);
    this.prev = int32ArrayOf<Frame>(npages);
    this.attrs = new Uint8Array(npages);
    /* a fresh ArrayBuffer is zero: every frame starts free and known-zero */
    for (let pg = 0; pg < npages; pg++) {
      this.flags[pg] = PG_ZERO;
      this.enqueue(pg as Frame, Q_FREE);
    }
  }

  get freeCount(): number {
    return this.qlen[Q_FREE];
  }
  get activeCount(): number {
    return this.qlen[Q_ACTIVE];
  }
  get inactiveCount(): number {
    return this.qlen[Q_INACTIVE];
  }

  /** view: the bytes of frame pg (a subarray; do not keep it on hot paths). */
  view(pg: Frame): Uint8Array {
    return this.bytes.subarray(pg * this.pageSize, (pg + 1) * this.pageSize);
  }

  /** queueHead: first frame of the queue holding pq (PQ_FREE/ACTIVE/INACTIVE), or -1. */
  queueHead(pq: number): Frame {
    return this.qhead[QUEUE_OF_FLAG[pq]];
  }

  enqueue(pg: Frame, q: number): void {
    const tail = this.qtail[q];
    this.prev[pg] = tail;
    this.next[pg] = NOPAGE;
    if (tail < 0) this.qhead[q] = pg;
    else this.next[tail] = pg;
    this.qtail[q] = pg;
    this.qlen[q]++;
    this.pqflags[pg] = (this.pqflags[pg] & ~PQ_QUEUES) | FLAG_OF_QUEUE[q];
  }

  dequeue(pg: Frame): void {
    const pq = this.pqflags[pg] & PQ_QUEUES;
    if (pq === 0) return;
    const q = QUEUE_OF_FLAG[pq];
    const n = this.next[pg];
    const p = this.prev[pg];
    if (p < 0) this.qhead[q] = n;
    else this.next[p] = n;
    if (n < 0) this.qtail[q] = p;
    else this.prev[n] = p;
    this.qlen[q]--;
    this.pqflags[pg] &= ~PQ_QUEUES;
  }
}

/**
 * pageAlloc: allocate a frame (uvm_pagealloc).
 * => owner is `anon` (an anon id) or object `uobj` at page index `off`.
 * => the page comes back PG_BUSY|PG_CLEAN|PG_FAKE, on no queue, unwired.
 * => UVM_PGA_ZERO: it comes back zeroed and dirty (no backing store holds
 *    its zeros); a frame still known to be zero is not zeroed again.
 * => returns NOPAGE, changing nothing, when no frame is free.
 */
export function pageAlloc(uvm: Uvm, uobj: number, off: number, anon: AnonId, flags: number): Frame {
  const pm = uvm.pages;
  kassert((uobj === 0) !== (anon === 0), 'uvm_pagealloc: exactly one owner');
  const pg = pm.qhead[Q_FREE];
  if (pg < 0) {
    uvm.exp.pgafail++;
    return NOPAGE;
  }
  pm.dequeue(pg);
  const wasZero = (pm.flags[pg] & PG_ZERO) !== 0;
  pm.flags[pg] = PG_BUSY | PG_CLEAN | PG_FAKE;
  pm.uanon[pg] = anon;
  pm.uobject[pg] = uobj;
  pm.offset[pg] = off;
  pm.attrs[pg] = 0;
  pm.pqflags[pg] = anon !== 0 ? PQ_ANON : 0;
  uvm.exp.pageallocs++;
  if (flags & UVM_PGA_ZERO) {
    pm.flags[pg] &= ~PG_CLEAN;
    if (wasZero) uvm.exp.pga_zerohit++;
    else {
      uvm.exp.pga_zeromiss++;
      pageZero(uvm, pg);
    }
  }
  return pg;
}

/**
 * pageFree: return a frame to the free queue (uvm_pagefree).
 * => the page must have no mappings (the pmap's pv list is empty).
 * => a loaned page is not freed: its owner just lets go of it; the
 *    borrower frees it when the last loan ends.
 */
export function pageFree(uvm: Uvm, pg: Frame): void {
  const pm = uvm.pages;
  if ((pm.pqflags[pg] & PQ_FREE) !== 0) kpanic(`uvm_pagefree: page ${pg} already free`);
  if (uvm.pmap.pageMappings(pg) !== 0) kpanic(`uvm_pagefree: page ${pg} still mapped`);
  if (pm.wireCount[pg] > 0) {
    pm.wireCount[pg] = 0;
    uvm.exp.wired--;
  }
  pm.dequeue(pg);
  if (pm.loanCount[pg] > 0) {
    pm.uanon[pg] = NOANON;
    pm.uobject[pg] = 0;
    pm.pqflags[pg] &= ~PQ_SWAPBACKED;
    pm.flags[pg] &= ~PG_BUSY;
    return;
  }
  pm.uanon[pg] = NOANON;
  pm.uobject[pg] = 0;
  pm.offset[pg] = 0;
  pm.attrs[pg] = 0;
  pm.flags[pg] = 0;
  pm.pqflags[pg] = 0;
  if (uvm.poisonFreed) pm.bytes.fill(0xa5, pg * pm.pageSize, (pg + 1) * pm.pageSize);
  pm.enqueue(pg, Q_FREE);
  uvm.exp.pagefrees++;
}

/**
 * pageZero: fill a frame with zeros (uvm_pagezero).
 */
export function pageZero(uvm: Uvm, pg: Frame): void {
  const pm = uvm.pages;
  pm.bytes.fill(0, pg * pm.pageSize, (pg + 1) * pm.pageSize);
  pm.flags[pg] &= ~PG_CLEAN;
  uvm.exp.zeroes++;
}

/**
 * pageCopy: copy frame src to frame dst (uvm_pagecopy).
 */
export function pageCopy(uvm: Uvm, src: Frame, dst: Frame): void {
  const pm = uvm.pages;
  const ps = pm.pageSize;
  pm.bytes.copyWithin(dst * ps, src * ps, (src + 1) * ps);
  pm.flags[dst] &= ~PG_CLEAN;
  uvm.exp.pagecopies++;
}

/**
 * pageActivate: put a page at the tail of the active queue (uvm_pageactivate).
 * => wired pages stay off the queues.
 */
export function pageActivate(uvm: Uvm, pg: Frame): void {
  const pm = uvm.pages;
  pm.dequeue(pg);
  if (pm.wireCount[pg] === 0) pm.enqueue(pg, Q_ACTIVE);
}

/**
 * pageDeactivate: put a page at the tail of the inactive queue
 * (uvm_pagedeactivate), clearing its referenced bit so the clock can see
 * whether it is used again.
 */
export function pageDeactivate(uvm: Uvm, pg: Frame): void {
  const pm = uvm.pages;
  if (pm.wireCount[pg] > 0) return;
  uvm.pmap.clearReference(pg);
  pm.dequeue(pg);
  pm.enqueue(pg, Q_INACTIVE);
}

/**
 * pageDequeue: take a page off whatever queue it is on (uvm_pagedequeue).
 */
export function pageDequeue(uvm: Uvm, pg: Frame): void {
  uvm.pages.dequeue(pg);
}

/**
 * pageWire: add a wiring (uvm_pagewire); the first one takes it off the queues.
 * => the caller checked that the page has fewer than WIRE_MAX wirings.
 */
export function pageWire(uvm: Uvm, pg: Frame): void {
  const pm = uvm.pages;
  if (pm.wireCount[pg] >= WIRE_MAX) kpanic(`uvm_pagewire: page ${pg}: wire count overflow`);
  if (pm.wireCount[pg] === 0) {
    pm.dequeue(pg);
    uvm.exp.wired++;
  }
  pm.wireCount[pg]++;
}

/**
 * pageUnwire: drop a wiring (uvm_pageunwire); the last one re-activates it.
 */
export function pageUnwire(uvm: Uvm, pg: Frame): void {
  const pm = uvm.pages;
  if (pm.wireCount[pg] <= 0) kpanic(`uvm_pageunwire: page ${pg} not wired`);
  pm.wireCount[pg]--;
  if (pm.wireCount[pg] === 0) {
    uvm.exp.wired--;
    pm.enqueue(pg, Q_ACTIVE);
  }
}

/**
 * auditPages: check the frame invariants listed at the top of this file.
 * => throws KernelPanic naming the first broken one.
 */
export function auditPages(uvm: Uvm): void {
  const pm = uvm.pages;
  const seen = new Uint8Array(pm.npages);
  for (let q = 0; q < 3; q++) auditQueue(pm, q, seen);
  let wired = 0;
  for (let pg = 0; pg < pm.npages; pg++) {
    const onq = pm.pqflags[pg] & PQ_QUEUES;
    if (onq !== 0 && !seen[pg]) fail(`page ${pg} claims queue ${onq} but is not linked on it`);
    if (pm.wireCount[pg] > 0) {
      wired++;
      if (onq !== 0) fail(`wired page ${pg} is on a queue`);
    }
    if (onq === PQ_FREE) {
      if (pm.uanon[pg] || pm.uobject[pg] || pm.loanCount[pg] || pm.wireCount[pg])
        fail(`free page ${pg} has an owner, a loan or a wiring`);
      continue;
    }
    const owners = (pm.uanon[pg] ? 1 : 0) + (pm.uobject[pg] ? 1 : 0);
    if (owners === 0 && pm.loanCount[pg] === 0)
      fail(`page ${pg} is neither free nor owned (leaked)`);
    if (owners === 2 && pm.loanCount[pg] === 0) fail(`page ${pg} has two owners and no loan`);
  }
  if (wired !== uvm.exp.wired) fail(`uvmexp.wired ${uvm.exp.wired} != ${wired} wired pages`);
}

function auditQueue(pm: PhysMem, q: number, seen: Uint8Array): void {
  let n = 0;
  let prev = -1;
  for (let pg = pm.qhead[q]; pg >= 0; pg = pm.next[pg]) {
    if (pm.prev[pg] !== prev) fail(`queue ${q}: page ${pg} has a bad back link`);
    if ((pm.pqflags[pg] & PQ_QUEUES) !== FLAG_OF_QUEUE[q])
      fail(`queue ${q}: page ${pg} has the wrong pqflags`);
    if (seen[pg]) fail(`queue ${q}: page ${pg} linked twice`);
    seen[pg] = 1;
    prev = pg;
    if (++n > pm.npages) fail(`queue ${q}: cycle`);
  }
  if (pm.qtail[q] !== prev) fail(`queue ${q}: tail is wrong`);
  if (pm.qlen[q] !== n) fail(`queue ${q}: length ${pm.qlen[q]} but ${n} linked`);
}

function fail(what: string): never {
  throw new KernelPanic(`audit: pages: ${what}`);
}
