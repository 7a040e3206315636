/*
 * clockpro.ts: CLOCK-Pro (Song Jiang, Feng Chen and Xiaodong Zhang,
 * "CLOCK-Pro: an effective improvement of the CLOCK replacement", USENIX
 * 2005) as NetBSD's uvm_pdpolicy_clockpro.c builds it.
 *
 * A page is hot (it was used again soon after it came: it stays) or cold
 * (a candidate). A cold page is in its test period after it comes in or
 * is used: used again during the test it turns hot and the cold target
 * grows; the test ends unused and the target shrinks. An evicted cold page
 * in its test leaves its identity (host.pageKey) in the non-resident
 * history; a page that comes back while it is there starts hot.
 *
 * The paper's one circular list is NetBSD's queues; its "list head" is
 * the tail of newq, where every page the hands pass goes round again:
 *
 *   newq   pages just queued; the reference of the fault that queued them
 *          is cleared when they move on to coldq (newqmax pages: a quarter
 *          of the cold target)
 *   coldq  HANDcold works at its head: a hot page goes on to hotq; a cold
 *          page (its pmap referenced bit moved to the policy):
 *            referenced, in test   turns hot (target + 1)
 *            referenced            its test begins
 *            not referenced        the victim
 *   hotq   hot pages only; HANDhot works at its head while fewer than
 *          coldtarget pages are cold: a page not referenced turns cold.
 *          An empty hotq is taken over: the hot hand walks coldq from its
 *          head, ending the tests of the cold pages it passes (they wait
 *          on listq, first for the cold hand), to the first hot page
 *   listq  cold pages the hot hand passed
 *
 * History (HANDtest): keys in a hash of buckets, each a ring of keys with
 * its own clock; each step of the hot hand moves a global clock so that
 * one turn of the hot hand over hotq expires every entry. An entry that
 * expires, or is overwritten in a full bucket, is a test that ended
 * unused (target - 1). forget drops one (uvmpdpol_anfree).
 *
 * Tunables: coldtargetpct (10, CLOCKPRO_COLDPCT): the cold target in
 * percent of the queued pages, before the tests move it; adaptive (1): the
 * tests move it, as in the paper, within 1 .. 90% of the queued pages (0:
 * fixed, as NetBSD's kernel is built).
 *
 * Simplified from NetBSD (see docs/architecture.md, Where we differ):
 * the history holds keys, not 32-bit hashes, and at most one per frame
 * (the paper's bound; NetBSD's hash holds two per frame); newq has no
 * 1 MiB floor (CLOCKPRO_NEWQMIN, larger than a small memory); the adaptive
 * target is the percentage plus the tests' sum, clamped; a page goes to
 * the history when the mechanism frees the victim, not when it is chosen;
 * no speculative (read-ahead) pages: deactivate queues an unqueued page
 * cold, outside any test; balance does not free hot pages' swap slots.
 */
import {
  NOPAGE,
  PageQueue,
  PQ_PRIVATE,
  PQ_PRIVATE1,
  PQ_PRIVATE2,
  PQ_PRIVATE3,
  PQ_PRIVATE4,
} from '../page.ts';
import { type Frame, KernelPanic } from '../param.ts';
import type { PdParams, PdPolicy, PdPolicyHost, PdQueueCounts } from './policy.ts';
import { auditQueues, tunable } from './tunables.ts';

/** pqflags: which of clockpro's queues a page is on */
export const PQ_NEWQ = PQ_PRIVATE1;
export const PQ_COLDQ = PQ_PRIVATE2;
export const PQ_HOTQ = PQ_PRIVATE3;
export const PQ_LISTQ = PQ_PRIVATE4;

/* a queued page's state (ClockProPolicy's st[pg]) */
const HOT = 1;
const TEST = 2;
/** the pmap's referenced bit, moved here (PQ_REFERENCED) */
const REF = 4;
/** queued by a fault whose reference does not count (PQ_INITIALREF) */
const INITREF = 8;

/** keys per bucket of the history */
const BUCKETSIZE = 14;
/** the adaptive cold target's ceiling, in percent (CLOCKPRO_COLDPCTMAX) */
const COLDPCTMAX = 90;

/**
 * The non-resident history (nonresident_*): keys of evicted pages (0:
 * none) in buckets of a ring each, at most one key per frame.
 */
export class NonResident {
  private readonly keys: Float64Array;
  private readonly cycle: Float64Array;
  private readonly cur: Uint8Array;
  private readonly bsize: number;
  /** the clock every bucket catches up with (cycle_target) */
  private target = 0;
  private frac = 0;

  /** => `ended` is called for each entry that expires or is overwritten. */
  constructor(
    frames: number,
    private readonly ended: () => void,
  ) {
    this.bsize = Math.min(BUCKETSIZE, frames);
    const nbuckets = Math.max(1, Math.floor(frames / this.bsize));
    this.keys = new Float64Array(nbuckets * this.bsize);
    this.cycle = new Float64Array(nbuckets);
    this.cur = new Uint8Array(nbuckets);
  }

  /** record: remember `key` (nonresident_pagerecord). */
  record(key: number): void {
    const b = this.bucket(key);
    const at = b * this.bsize + this.cur[b];
    if (this.keys[at] !== 0) this.ended();
    this.keys[at] = key;
    this.cur[b] = (this.cur[b] + 1) % this.bsize;
  }

  /** lookupRemove: drop `key`; true if it was there (nonresident_lookupremove). */
  lookupRemove(key: number): boolean {
    const b = this.bucket(key);
    for (let at = b * this.bsize; at < (b + 1) * this.bsize; at++)
      if (this.keys[at] === key) {
        this.keys[at] = 0;
        return true;
      }
    return false;
  }

  /** tick: the hot hand moved over one of `hotqlen` hot pages. */
  tick(hotqlen: number): void {
    this.frac += this.bsize;
    while (this.frac >= hotqlen) {
      this.target++;
      this.frac -= hotqlen;
    }
  }

  /** size: the keys held. */
  size(): number {
    let n = 0;
    for (const key of this.keys) if (key !== 0) n++;
    return n;
  }

  /** capacity: the most keys it holds (at most the frames). */
  get capacity(): number {
    return this.keys.length;
  }

  /** bucket: the bucket of `key`, its ring brought up to the clock. */
  private bucket(key: number): number {
    const b = (Math.imul(key | 0, 0x9e3779b1) >>> 0) % this.cycle.length;
    this.rotate(b);
    return b;
  }

  /** rotate: expire the entries bucket b's clock passes (nonresident_rotate). */
  private rotate(b: number): void {
    let todo = this.target - this.cycle[b];
    if (todo >= 2 * this.bsize) todo = (todo % this.bsize) + this.bsize;
    for (let cur = this.cur[b]; todo > 0; todo--) {
      const at = b * this.bsize + cur;
      if (this.keys[at] !== 0) this.ended();
      this.keys[at] = 0;
      cur = (cur + 1) % this.bsize;
      this.cur[b] = cur;
    }
    this.cycle[b] = this.target;
  }
}

/** The CLOCK-Pro policy. */
export class ClockProPolicy implements PdPolicy {
  readonly name = 'clockpro';
  readonly newq: PageQueue;
  readonly coldq: PageQueue;
  readonly hotq: PageQueue;
  readonly listq: PageQueue;
  readonly history: NonResident;
  /** the cold pages wanted, set by tune */
  coldtarget = 1;
  /** per frame: HOT, TEST, REF, INITREF of a queued page */
  private readonly st: Uint8Array;
  /** queued pages, and the cold ones among them (s_npages, s_ncold) */
  private npages = 0;
  private ncold = 0;
  /** the tests' sum: +1 for a test passed, -1 for one ended unused (coldadj) */
  private coldadj = 0;
  private newqmax = 1;
  private nscanned = 0;
  /** the page selectVictim last offered, until it is freed or kept */
  private victim: Frame = NOPAGE;
  private readonly pct: number;
  private readonly adaptive: boolean;

  constructor(
    private readonly host: PdPolicyHost,
    params: PdParams,
  ) {
    const t = tunable('clockpro', params, {
      coldtargetpct: [10, 1, COLDPCTMAX],
      adaptive: [1, 0, 1],
    });
    this.pct = t.coldtargetpct;
    this.adaptive = t.adaptive === 1;
    this.st = new Uint8Array(host.npages);
    this.history = new NonResident(host.npages, () => this.adjust(-1));
    this.newq = new PageQueue(host, 'clockpro new');
    this.coldq = new PageQueue(host, 'clockpro cold');
    this.hotq = new PageQueue(host, 'clockpro hot');
    this.listq = new PageQueue(host, 'clockpro list');
  }

  /*
   * activate: a page not queued comes in (hot if the history knows it);
   * a queued one is marked referenced.
   */
  activate(pg: Frame): void {
    if (pg === this.victim) this.victim = NOPAGE;
    if (!this.isQueued(pg)) {
      this.st[pg] = INITREF;
      this.enqueue(pg, true);
    }
    this.st[pg] |= REF;
  }

  /* deactivate: the page's references so far do not count. */
  deactivate(pg: Frame): void {
    if (!this.isQueued(pg)) this.enqueue(pg, false);
    this.host.clearReference(pg);
    this.st[pg] &= ~REF;
  }

  /* dequeue: the page leaves; the victim's key goes to the history if in test. */
  dequeue(pg: Frame): void {
    const q = this.queueOf(pg);
    if (q === null) return;
    q.remove(pg);
    if ((this.st[pg] & HOT) === 0) this.ncold--;
    this.npages--;
    if (pg === this.victim) {
      if (this.st[pg] & TEST) this.history.record(this.host.pageKey(pg));
      this.victim = NOPAGE;
    }
    this.st[pg] = 0;
    this.host.pqflags[pg] &= ~PQ_PRIVATE;
  }

  isQueued(pg: Frame): boolean {
    return (this.host.pqflags[pg] & PQ_PRIVATE) !== 0;
  }

  forget(key: number): void {
    this.history.lookupRemove(key);
  }

  /* tune: the cold target (clamped when adaptive) and newq's length. */
  tune(): void {
    const base = Math.floor((this.npages * this.pct) / 100);
    if (this.adaptive) {
      const max = Math.max(1, Math.floor((this.npages * COLDPCTMAX) / 100));
      this.coldadj = Math.min(Math.max(this.coldadj, 1 - base), max - base);
      this.coldtarget = base + this.coldadj;
    } else this.coldtarget = Math.max(1, base);
    this.newqmax = Math.max(1, Math.floor(this.coldtarget / 4));
  }

  needsScan(): boolean {
    return this.ncold < this.coldtarget;
  }

  scanInit(): void {
    this.nscanned = 0;
    this.victim = NOPAGE;
  }

  /* selectVictim: the cold hand's next victim; a scan offers at most npages + 1. */
  selectVictim(): Frame {
    if (this.nscanned > this.npages) return NOPAGE;
    this.nscanned++;
    this.victim = this.coldHand();
    return this.victim;
  }

  /* balance: the scan is over (no swap shortage is passed to drop slots for). */
  balance(): void {
    this.victim = NOPAGE;
  }

  pageState(pg: Frame): string {
    if (this.st[pg] & HOT) return 'hot';
    if (this.host.pqflags[pg] & PQ_NEWQ) return 'new';
    return this.st[pg] & TEST ? 'test' : 'cold';
  }

  /* hand: where HANDcold looks next (listq first, then coldq) */
  hand(): Frame {
    return this.listq.length > 0 ? this.listq.head : this.coldq.head;
  }

  counts(): PdQueueCounts {
    return {
      active: this.npages - this.ncold,
      inactive: this.ncold,
      nonresident: this.history.size(),
      coldtarget: this.coldtarget,
    };
  }

  audit(): void {
    const f = this.host.pqflags;
    const on = (bit: number) => (pg: Frame) => (f[pg] & PQ_PRIVATE) === bit;
    auditQueues(this.host, [
      [this.newq, on(PQ_NEWQ)],
      [this.coldq, (pg) => on(PQ_COLDQ)(pg) && (this.st[pg] & INITREF) === 0],
      [this.hotq, (pg) => on(PQ_HOTQ)(pg) && (this.st[pg] & (HOT | TEST | INITREF)) === HOT],
      [this.listq, (pg) => on(PQ_LISTQ)(pg) && (this.st[pg] & (HOT | TEST | INITREF)) === 0],
    ]);
    this.auditCounts();
  }

  /** auditCounts: npages, ncold and the history agree with the frames. */
  private auditCounts(): void {
    let queued = 0;
    let cold = 0;
    for (let pg = 0 as Frame; pg < this.host.npages; pg++) {
      if (this.isQueued(pg)) {
        queued++;
        if ((this.st[pg] & HOT) === 0) cold++;
      } else if (this.st[pg] !== 0) bad(`page ${pg} has state ${this.st[pg]} but is not queued`);
    }
    if (queued !== this.npages) bad(`npages ${this.npages} but ${queued} queued`);
    if (cold !== this.ncold) bad(`ncold ${this.ncold} but ${cold} cold pages`);
    if (this.history.size() > this.host.npages)
      bad(`history holds ${this.history.size()} keys for ${this.host.npages} frames`);
  }

  /** enqueue: pg comes in at newq's tail (clockpro_pageenqueue). */
  private enqueue(pg: Frame, test: boolean): void {
    this.npages++;
    if (test && this.history.lookupRemove(this.host.pageKey(pg))) {
      this.st[pg] |= HOT;
      this.adjust(1);
    } else {
      if (test) this.st[pg] |= TEST;
      this.ncold++;
    }
    this.toNewq(pg);
  }

  /** toNewq: pg (on no queue) to the list head, newq's tail. */
  private toNewq(pg: Frame): void {
    this.put(pg, this.newq, PQ_NEWQ);
    this.rotateNewq(this.newqmax);
  }

  /** rotateNewq: newq's oldest pages on to coldq until it holds `len`. */
  private rotateNewq(len: number): void {
    while (this.newq.length > len) {
      const pg = this.newq.head;
      this.newq.remove(pg);
      if (this.st[pg] & INITREF) {
        this.host.clearReference(pg);
        this.st[pg] &= ~(REF | INITREF);
      }
      this.put(pg, this.coldq, PQ_COLDQ);
    }
  }

  /** coldHead: the head of coldq, moving one page from newq if it is empty. */
  private coldHead(): Frame {
    if (this.coldq.length === 0) this.rotateNewq(Math.max(this.newq.length - 1, 0));
    return this.coldq.head;
  }

  /** coldHand: HANDcold's next victim, or NOPAGE (handcold_advance). */
  private coldHand(): Frame {
    const h = this.host;
    for (;;) {
      this.rotateNewq(this.newqmax);
      this.hotHand();
      const pg = this.listq.length > 0 ? this.listq.head : this.coldHead();
      if (pg === NOPAGE) return NOPAGE;
      h.exp.pdscans++;
      if (this.st[pg] & HOT) {
        this.move(pg, this.hotq, PQ_HOTQ);
        continue;
      }
      const victim = this.coldTest(pg);
      this.move(pg, this.newq, PQ_NEWQ);
      this.rotateNewq(this.newqmax);
      if (victim) {
        this.hotHand();
        return pg;
      }
      h.exp.pdreact++;
    }
  }

  /** coldTest: the cold hand at cold page pg: true if it is the victim. */
  private coldTest(pg: Frame): boolean {
    if (this.host.clearReference(pg)) this.st[pg] |= REF;
    const s = this.st[pg];
    if ((s & REF) === 0) return true;
    if (s & TEST) {
      this.ncold--;
      this.adjust(1);
      this.st[pg] = HOT;
    } else this.st[pg] = TEST;
    return false;
  }

  /** hotHand: HANDhot turns pages cold until coldtarget are (handhot_advance). */
  private hotHand(): void {
    const h = this.host;
    this.tune();
    while (this.ncold < this.coldtarget) {
      const pg = this.hotq.length > 0 ? this.hotq.head : this.takeover();
      if (pg === NOPAGE) return;
      this.history.tick(this.hotq.length);
      if (h.clearReference(pg) || (this.st[pg] & REF) !== 0) this.st[pg] = HOT;
      else {
        this.st[pg] = 0;
        this.ncold++;
        h.exp.pddeact++;
      }
      this.move(pg, this.newq, PQ_NEWQ);
      this.rotateNewq(this.newqmax);
    }
  }

  /**
   * takeover: hotq is empty: walk coldq to its first hot page, ending the
   * tests of the cold pages passed (to listq); that page goes to hotq.
   * => the page, or NOPAGE when there is no hot page.
   */
  private takeover(): Frame {
    for (let pg = this.coldHead(); pg !== NOPAGE; pg = this.coldHead()) {
      if (this.st[pg] & HOT) {
        this.move(pg, this.hotq, PQ_HOTQ);
        return pg;
      }
      if (this.st[pg] & TEST) this.adjust(-1);
      this.st[pg] &= ~TEST;
      this.move(pg, this.listq, PQ_LISTQ);
    }
    return NOPAGE;
  }

  /** adjust: a test passed (+1) or ended unused (-1): the adaptive target moves. */
  private adjust(d: number): void {
    if (this.adaptive) this.coldadj += d;
  }

  /** queueOf: the queue pg is on, or null. */
  private queueOf(pg: Frame): PageQueue | null {
    switch (this.host.pqflags[pg] & PQ_PRIVATE) {
      case PQ_NEWQ:
        return this.newq;
      case PQ_COLDQ:
        return this.coldq;
      case PQ_HOTQ:
        return this.hotq;
      case PQ_LISTQ:
        return this.listq;
      default:
        return null;
    }
  }

  /** move: pg from its queue to the tail of q (its pqflags bit `bit`). */
  private move(pg: Frame, q: PageQueue, bit: number): void {
    this.queueOf(pg)!.remove(pg);
    this.put(pg, q, bit);
  }

  /** put: pg, on no queue, to the tail of q. */
  private put(pg: Frame, q: PageQueue, bit: number): void {
    q.append(pg);
    this.host.pqflags[pg] = (this.host.pqflags[pg] & ~PQ_PRIVATE) | bit;
  }
}

function bad(what: string): never {
  throw new KernelPanic(`audit: policy clockpro: ${what}`);
}

/** clockpro: make the CLOCK-Pro policy (uvmpdpol_init). */
export function clockproPolicy(host: PdPolicyHost, params: PdParams): PdPolicy {
  return new ClockProPolicy(host, params);
}
