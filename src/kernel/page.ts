/*
 * page.ts: physical page frames (uvm_page.c).
 *
 *   bytes   one ArrayBuffer; frame f holds [f*pageSize, (f+1)*pageSize)
 *
 *   per frame f (struct-of-arrays, like a struct vm_page[] indexed by f):
 *     flags[f]      PG_BUSY PG_WANTED PG_CLEAN PG_FAKE PG_ZERO PG_RELEASED
 *     pqflags[f]    PQ_FREE, the owner kind PQ_ANON | PQ_AOBJ (swap-backed),
 *                   and PQ_PRIVATE1..4: the replacement policy's own bits
 *                   (which of its queues the frame is on)
 *     owner[f]      the owner: an anon (> 0), or an object as minus its id
 *                   (< 0); 0: none. uanon(f) and uobject(f) read it as the
 *                   seed's two pointers (a page has one owner at a time)
 *     offset[f]     an object page's index in its object
 *     wireCount(f)  wire_count and loan_count, kept sparse (FrameCounts:
 *     loanCount(f)  the few frames wired or on loan)
 *     next/prev[f]  links of the one queue the frame is on (-1: end)
 *     attrs[f]      pmap's referenced/modified bits (PMAP_REFERENCED, PMAP_MODIFIED)
 *
 *   queues: the free queue is here; the pageable pages are on the
 *   replacement policy's queues (pdpolicy/: the uvmpdpol layer), reached
 *   through pageActivate, pageDeactivate and pageDequeue. A frame is on at
 *   most one queue. A wired page is on none (uvm_pagewire dequeues it), as
 *   is a busy page being set up.
 *
 * Invariants (auditPages, with the policy's own audit):
 *   - every frame on the free queue has PQ_FREE, no owner, no wiring, no loan
 *   - the free queue's links are consistent and its count matches
 *   - a frame off the free queue has an owner, or is a loaned page its
 *     owner let go (loanCount > 0)
 *   - a wired page is not on the policy's queues
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
/* bits the replacement policy owns (uvm_page.h's PQ_PRIVATE*) */
export const PQ_PRIVATE1 = 0x02;
export const PQ_PRIVATE2 = 0x04;
export const PQ_PRIVATE3 = 0x08;
export const PQ_PRIVATE4 = 0x40;
export const PQ_PRIVATE = PQ_PRIVATE1 | PQ_PRIVATE2 | PQ_PRIVATE3 | PQ_PRIVATE4;
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

/** The per-frame links every page queue threads through (pageq). */
export interface PageLinks {
  readonly next: Int32ArrayOf<Frame>;
  readonly prev: Int32ArrayOf<Frame>;
}

/**
 * A page queue (a TAILQ of vm_page through pageq): a doubly linked list
 * threaded through the frames' next/prev links, so a frame is on at most
 * one queue of the links it uses.
 */
export class PageQueue {
  head: Frame = NOPAGE;
  tail: Frame = NOPAGE;
  length = 0;

  constructor(
    private readonly links: PageLinks,
    readonly name: string,
  ) {}

  /** append: put pg at the tail. => pg is on no queue of these links. */
  append(pg: Frame): void {
    const { next, prev } = this.links;
    prev[pg] = this.tail;
    next[pg] = NOPAGE;
    if (this.tail < 0) this.head = pg;
    else next[this.tail] = pg;
    this.tail = pg;
    this.length++;
  }

  /** prepend: put pg at the head. => pg is on no queue of these links. */
  prepend(pg: Frame): void {
    const { next, prev } = this.links;
    next[pg] = this.head;
    prev[pg] = NOPAGE;
    if (this.head < 0) this.tail = pg;
    else prev[this.head] = pg;
    this.head = pg;
    this.length++;
  }

  /** remove: take pg out. => pg is on this queue. */
  remove(pg: Frame): void {
    const { next, prev } = this.links;
    const n = next[pg];
    const p = prev[pg];
    if (p < 0) this.head = n;
    else next[p] = n;
    if (n < 0) this.tail = p;
    else prev[n] = p;
    this.length--;
  }

  /** after: the frame following pg, or NOPAGE. */
  after(pg: Frame): Frame {
    return this.links.next[pg];
  }

  /**
   * audit: the links are consistent, every frame on the queue passes
   * `member`, none is on it twice (`seen` marks frames across queues) and
   * the length matches; throws KernelPanic naming the first broken one.
   */
  audit(seen: Uint8Array, member: (pg: Frame) => boolean): void {
    const { next, prev } = this.links;
    const bad = (what: string): never => {
      throw new KernelPanic(`audit: ${this.name} queue: ${what}`);
    };
    let n = 0;
    let last = NOPAGE;
    for (let pg = this.head; pg >= 0; pg = next[pg]) {
      if (prev[pg] !== last) bad(`page ${pg} has a bad back link`);
      if (!member(pg)) bad(`page ${pg} has the wrong pqflags`);
      if (seen[pg]) bad(`page ${pg} linked twice`);
      seen[pg] = 1;
      last = pg;
      if (++n > seen.length) bad('cycle');
    }
    if (this.tail !== last) bad('tail is wrong');
    if (this.length !== n) bad(`length ${this.length} but ${n} linked`);
  }
}

/**
 * A count per frame that is 0 for nearly all of them (wirings, loans),
 * kept as a map of the frames where it is not.
 */
export class FrameCounts {
  private readonly counts = new Map<number, number>();

  /** get: frame pg's count. */
  get(pg: Frame): number {
    return this.counts.size === 0 ? 0 : (this.counts.get(pg) ?? 0);
  }

  /** set: frame pg's count becomes n. */
  set(pg: Frame, n: number): void {
    if (n === 0) this.counts.delete(pg);
    else this.counts.set(pg, n);
  }

  /** add: frame pg's count changes by d. => the new count. */
  add(pg: Frame, d: number): number {
    const n = this.get(pg) + d;
    this.set(pg, n);
    return n;
  }

  /** frames: how many frames have a count. */
  get frames(): number {
    return this.counts.size;
  }

  /** total: the sum of all counts. */
  total(): number {
    let n = 0;
    for (const count of this.counts.values()) n += count;
    return n;
  }
}

/** Physical memory: frames, their metadata and the free queue. */
export class PhysMem implements PageLinks {
  readonly bytes: Uint8Array;
  readonly flags: Uint8Array;
  readonly pqflags: Uint8Array;
  readonly owner: Int32Array;
  readonly offset: Uint32Array;
  readonly next: Int32ArrayOf<Frame>;
  readonly prev: Int32ArrayOf<Frame>;
  readonly attrs: Uint8Array;
  readonly free: PageQueue;
  /** wire_count and loan_count, kept sparse: few frames are wired or lent */
  readonly wires = new FrameCounts();
  readonly loans = new FrameCounts();

  constructor(
    readonly npages: number,
    readonly pageSize: number,
  ) {
    this.bytes = new Uint8Array(new ArrayBuffer(npages * pageSize));
    this.flags = new Uint8Array(npages);
    this.pqflags = new Uint8Array(npages);
    this.owner = new Int32Array(npages);
    this.offset = new Uint32Array(npages);
    this.next = int32ArrayOf<Frame>(npages);
    this.prev = int32ArrayOf<Frame>(npages);
    this.attrs = new Uint8Array(npages);
    this.free = new PageQueue(this, 'free');
    /* a fresh ArrayBuffer is zero: every frame starts free and known-zero */
    for (let pg = 0; pg < npages; pg++) {
      this.flags[pg] = PG_ZERO;
      this.pqflags[pg] = PQ_FREE;
      this.free.append(pg as Frame);
    }
  }

  /** wireCount: the wirings of frame pg (wire_count). */
  wireCount(pg: Frame): number {
    return this.wires.get(pg);
  }

  /** setWireCount: frame pg has n wirings. */
  setWireCount(pg: Frame, n: number): void {
    this.wires.set(pg, n);
  }

  /** addWires: frame pg gains d wirings (d < 0: loses). => its wire count now. */
  addWires(pg: Frame, d: number): number {
    return this.wires.add(pg, d);
  }

  /** loanCount: the loans out on frame pg (loan_count). */
  loanCount(pg: Frame): number {
    return this.loans.get(pg);
  }

  /** setLoanCount: frame pg has n loans out. */
  setLoanCount(pg: Frame, n: number): void {
    this.loans.set(pg, n);
  }

  /** addLoans: frame pg gains d loans (d < 0: loses). => its loan count now. */
  addLoans(pg: Frame, d: number): number {
    return this.loans.add(pg, d);
  }

  /** uanon: the anon owning frame pg (pg->uanon), or NOANON. */
  uanon(pg: Frame): AnonId {
    const o = this.owner[pg];
    return (o > 0 ? o : NOANON) as AnonId;
  }

  /** uobject: the id of the object owning frame pg (pg->uobject), or 0. */
  uobject(pg: Frame): number {
    const o = this.owner[pg];
    return o < 0 ? -o : 0;
  }

  get freeCount(): number {
    return this.free.length;
  }

  /** view: the bytes of frame pg (a subarray; do not keep it on hot paths). */
  view(pg: Frame): Uint8Array {
    return this.bytes.subarray(pg * this.pageSize, (pg + 1) * this.pageSize);
  }
}

/**
 * pageKey: a number naming what frame pg holds, the same after pageout and
 * pagein: its anon id, or (negative) a hash of its object and offset.
 */
export function pageKey(pm: PhysMem, pg: Frame): number {
  const an = pm.uanon(pg);
  if (an !== 0) return an;
  return -1 - ((Math.imul(pm.uobject(pg), 0x9e3779b1) ^ pm.offset[pg]) >>> 0);
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
  const pg = pm.free.head;
  if (pg < 0) {
    uvm.exp.pgafail++;
    return NOPAGE;
  }
  pm.free.remove(pg);
  const wasZero = (pm.flags[pg] & PG_ZERO) !== 0;
  pm.flags[pg] = PG_BUSY | PG_CLEAN | PG_FAKE;
  pm.owner[pg] = anon !== NOANON ? anon : -uobj;
  pm.offset[pg] = off;
  pm.attrs[pg] = 0;
  pm.pqflags[pg] = anon !== 0 ? PQ_ANON : 0;
  uvm.exp.pageallocs++;
  uvm.hist?.emit({ type: 'page-alloc', frame: pg, anon, object: uobj });
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
  if (pm.wireCount(pg) > 0) {
    pm.setWireCount(pg, 0);
    uvm.exp.wired--;
  }
  uvm.pdpol.dequeue(pg);
  if (pm.loanCount(pg) > 0) {
    pm.owner[pg] = 0;
    pm.pqflags[pg] &= ~PQ_SWAPBACKED;
    pm.flags[pg] &= ~PG_BUSY;
    return;
  }
  pm.owner[pg] = 0;
  pm.offset[pg] = 0;
  pm.attrs[pg] = 0;
  pm.flags[pg] = 0;
  pm.pqflags[pg] = PQ_FREE;
  if (uvm.poisonFreed) pm.bytes.fill(0xa5, pg * pm.pageSize, (pg + 1) * pm.pageSize);
  /* at the head, as uvm_pagefree does: the next allocation reuses the
     frame freed last, still in the cache */
  pm.free.prepend(pg);
  uvm.exp.pagefrees++;
  uvm.hist?.emit({ type: 'page-free', frame: pg });
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
 * pageActivate: the page was used: tell the replacement policy
 * (uvm_pageactivate -> uvmpdpol_pageactivate).
 * => wired pages stay off the queues.
 */
export function pageActivate(uvm: Uvm, pg: Frame): void {
  if (uvm.pages.wireCount(pg) !== 0) return;
  uvm.pdpol.activate(pg);
  uvm.hist?.emit({ type: 'page-activate', frame: pg });
}

/**
 * pageDeactivate: the page is likely not needed soon (uvm_pagedeactivate
 * -> uvmpdpol_pagedeactivate); the policy makes it an early candidate.
 * => wired pages stay off the queues.
 */
export function pageDeactivate(uvm: Uvm, pg: Frame): void {
  if (uvm.pages.wireCount(pg) !== 0) return;
  uvm.pdpol.deactivate(pg);
  uvm.hist?.emit({ type: 'page-deactivate', frame: pg });
}

/**
 * pageDequeue: take a page off the policy's queues (uvm_pagedequeue).
 */
export function pageDequeue(uvm: Uvm, pg: Frame): void {
  uvm.pdpol.dequeue(pg);
}

/**
 * pageWire: add a wiring (uvm_pagewire); the first one takes it off the queues.
 * => the caller checked that the page has fewer than WIRE_MAX wirings.
 */
export function pageWire(uvm: Uvm, pg: Frame): void {
  const pm = uvm.pages;
  const n = pm.wireCount(pg);
  if (n >= WIRE_MAX) kpanic(`uvm_pagewire: page ${pg}: wire count overflow`);
  if (n === 0) {
    uvm.pdpol.dequeue(pg);
    uvm.exp.wired++;
  }
  pm.addWires(pg, 1);
}

/**
 * pageUnwire: drop a wiring (uvm_pageunwire); the last one re-activates it.
 */
export function pageUnwire(uvm: Uvm, pg: Frame): void {
  const pm = uvm.pages;
  if (pm.wireCount(pg) <= 0) kpanic(`uvm_pageunwire: page ${pg} not wired`);
  if (pm.addWires(pg, -1) === 0) {
    uvm.exp.wired--;
    uvm.pdpol.activate(pg);
  }
}

/**
 * auditPages: check the frame invariants listed at the top of this file.
 * => throws KernelPanic naming the first broken one.
 */
export function auditPages(uvm: Uvm): void {
  const pm = uvm.pages;
  const seen = new Uint8Array(pm.npages);
  pm.free.audit(seen, (pg) => pm.pqflags[pg] === PQ_FREE);
  let wired = 0;
  for (let frame = 0; frame < pm.npages; frame++) {
    const pg = frame as Frame;
    const free = (pm.pqflags[pg] & PQ_FREE) !== 0;
    if (free && !seen[pg]) fail(`page ${pg} claims the free queue but is not linked on it`);
    if (pm.wireCount(pg) > 0) {
      wired++;
      if (uvm.pdpol.isQueued(pg)) fail(`wired page ${pg} is on a queue`);
    }
    if (free) {
      if (pm.owner[pg] || pm.loanCount(pg) || pm.wireCount(pg))
        fail(`free page ${pg} has an owner, a loan or a wiring`);
      if (uvm.pdpol.isQueued(pg)) fail(`free page ${pg} is on the policy's queues`);
      continue;
    }
    if (pm.owner[pg] === 0 && pm.loanCount(pg) === 0)
      fail(`page ${pg} is neither free nor owned (leaked)`);
  }
  if (wired !== uvm.exp.wired) fail(`uvmexp.wired ${uvm.exp.wired} != ${wired} wired pages`);
  uvm.pdpol.audit();
}

function fail(what: string): never {
  throw new KernelPanic(`audit: pages: ${what}`);
}
