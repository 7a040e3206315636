/*
 * anon.ts: anonymous pages (uvm_anon.c, seed 000 uvm_anon.h).
 *
 * An anon is a handle (a positive integer; 0 is NULL) into a pool of
 * struct-of-arrays fields, like a struct vm_anon[]:
 *
 *   ref[an]     an_ref: references (one per amap slot that holds it).
 *               While the anon sits on a to-free list the same word is
 *               an_link, the next anon of that list (the seed's union).
 *   lockIx[an]  an_lock: the mutex of the amap(s) holding it, as an index
 *               into the pool's lock table (0: NULL, when free); lockOf(an)
 *   page[an]    an_page: the resident frame, or NOPAGE
 *   swslot[an]  an_swslot: the swap slot, or 0
 *
 * The three data states of the seed:
 *   [1] resident, no backing store     page != NOPAGE, swslot == 0
 *   [2] resident, backing store too    page != NOPAGE, swslot != 0
 *   [3] paged out                      page == NOPAGE, swslot != 0
 * and one of Linux's MADV_FREE: a page the pagedaemon discarded reads as
 * zeros: page == NOPAGE, swslot == 0, the anon in the pool's `lazyfree` set.
 * For pageout in [2], a page not modified since it was read can simply be
 * dropped; a modified one must be written first.
 *
 * Invariants (checked by amap's audit, which sees every reference):
 *   - ref equals the number of amap slots holding the anon
 *   - a live anon is in one of the three states above
 *   - page's owner is this anon (unless the page is on loan from an object)
 *   - lock is the lock of every amap holding it
 */
import {
  mutexEnter,
  mutexExit,
  mutexObjFree,
  mutexObjHold,
  mutexTryEnter,
  type VmMutex,
} from './lock.ts';
import {
  NOPAGE,
  PG_BUSY,
  PG_CLEAN,
  PG_FAKE,
  PG_RELEASED,
  PG_WANTED,
  PQ_ANON,
  pageActivate,
  pageAlloc,
  pageDeactivate,
  pageFree,
  UVM_PGA_ZERO,
} from './page.ts';
import {
  type AnonId,
  type Frame,
  type Int32ArrayOf,
  int32ArrayOf,
  kassert,
  kpanic,
  NOANON,
  NOSLOT,
  PROT_NONE,
  type SwapSlot,
} from './param.ts';
import { swapFree, swapGet } from './swap.ts';
import type { Uvm } from './uvm.ts';

/** The amap an anon lives in, as far as the anon layer needs to know. */
export interface AnonOwner {
  lock: VmMutex;
}

/** The pool of anons: struct-of-arrays indexed by anon handle. */
export class AnonPool {
  ref: Int32Array;
  page: Int32ArrayOf<Frame>;
  swslot: Int32ArrayOf<SwapSlot>;
  /**
   * the anons MADV_FREE'd (AN_LAZYFREE), which the pagedaemon discards
   * unless written again; one with neither page nor slot reads as zeros.
   * A set: few anons are, and it is the only flag an anon has.
   */
  readonly lazyfree = new Set<AnonId>();
  /** an_lock as an index into `locks` (0: NULL) */
  lockIx: Int32Array;
  /** the mutexes anons point at (by index; [0] is NULL) and how many anons point at each */
  readonly locks: (VmMutex | null)[] = [null];
  private readonly lockUsers: number[] = [0];
  private readonly freeLockIx: number[] = [];
  /** head of the free list (chained through `ref`, as an_link) */
  private freeHead = NOANON;
  private nextUnused = 1;
  /** live anons (allocated and not yet freed) */
  nlive = 0;

  constructor(capacity = 1024) {
    this.ref = new Int32Array(capacity);
    this.page = int32ArrayOf<Frame>(capacity).fill(NOPAGE);
    this.swslot = int32ArrayOf<SwapSlot>(capacity);
    this.lockIx = new Int32Array(capacity);
  }

  /** lockOf: an anon's an_lock (null when it has none). */
  lockOf(an: AnonId): VmMutex | null {
    return this.locks[this.lockIx[an]];
  }

  /**
   * setLock: point an anon at mutex m (null: at none). A mutex takes an
   * index when the first anon points at it and gives it back with the last.
   */
  setLock(an: AnonId, m: VmMutex | null): void {
    const old = this.lockIx[an];
    if (old !== 0 && --this.lockUsers[old] === 0) {
      this.locks[old]!.ix = 0;
      this.locks[old] = null;
      this.freeLockIx.push(old);
    }
    if (m === null) {
      this.lockIx[an] = 0;
      return;
    }
    if (m.ix === 0) {
      m.ix = this.freeLockIx.pop() ?? this.locks.length;
      this.locks[m.ix] = m;
      this.lockUsers[m.ix] = 0;
    }
    this.lockUsers[m.ix]++;
    this.lockIx[an] = m.ix;
  }

  get capacity(): number {
    return this.ref.length;
  }

  /** take: a free handle, growing the pool when needed. */
  take(): AnonId {
    if (this.freeHead !== NOANON) {
      const an = this.freeHead;
      this.freeHead = this.link(an);
      this.ref[an] = 0;
      return an;
    }
    if (this.nextUnused >= this.capacity) this.grow();
    return this.nextUnused++ as AnonId;
  }

  /** link: the next anon of the list `an` is on: its ref word as an_link (the seed's union). */
  link(an: AnonId): AnonId {
    return this.ref[an] as AnonId;
  }

  /** give: return a handle to the free list. */
  give(an: AnonId): void {
    this.ref[an] = this.freeHead;
    this.freeHead = an;
  }

  /** auditLocks: what is wrong with the lock table (each index's users and owner), or null. */
  auditLocks(): string | null {
    const users = new Array<number>(this.locks.length).fill(0);
    for (let an = 1; an < this.capacity; an++) users[this.lockIx[an]]++;
    for (let ix = 1; ix < this.locks.length; ix++) {
      const m = this.locks[ix];
      if (m === null ? users[ix] !== 0 : m.ix !== ix || users[ix] !== this.lockUsers[ix])
        return `lock index ${ix}: ${users[ix]} anons point at it, ${this.lockUsers[ix]} counted`;
    }
    return null;
  }

  /** freeMask: one byte per handle, 1 where the handle is not a live anon. */
  freeMask(): Uint8Array {
    const mask = new Uint8Array(this.capacity);
    mask[0] = 1;
    mask.fill(1, this.nextUnused);
    for (let f = this.freeHead; f !== NOANON; f = this.link(f)) mask[f] = 1;
    return mask;
  }

  /** grow: by half again (anons beyond the frames are the swapped-out ones) */
  private grow(): void {
    const cap = Math.ceil(this.capacity * 1.5);
    const ref = new Int32Array(cap);
    ref.set(this.ref);
    const page = int32ArrayOf<Frame>(cap).fill(NOPAGE);
    page.set(this.page);
    const swslot = int32ArrayOf<SwapSlot>(cap);
    swslot.set(this.swslot);
    const lockIx = new Int32Array(cap);
    lockIx.set(this.lockIx);
    this.ref = ref;
    this.page = page;
    this.swslot = swslot;
    this.lockIx = lockIx;
  }
}

/**
 * anonAlloc: allocate a new anon (uvm_analloc).
 * => the anon has one reference, no lock, no page, no swap slot.
 */
export function anonAlloc(uvm: Uvm): AnonId {
  const pool = uvm.anons;
  const an = pool.take();
  kassert(
    pool.lockIx[an] === 0 && pool.page[an] === NOPAGE && pool.swslot[an] === 0,
    'uvm_analloc: dirty anon',
  );
  pool.ref[an] = 1;
  pool.nlive++;
  uvm.exp.anonallocs++;
  uvm.hist?.emit({ type: 'anon-alloc', anon: an });
  return an;
}

/**
 * anonAllocPage: a new anon under `lock` with a frame of its own (`flags`
 * as pageAlloc's: UVM_PGA_ZERO for a zeroed frame); the frame is busy.
 * => 0, with nothing allocated, when no frame is free.
 */
export function anonAllocPage(uvm: Uvm, lock: VmMutex, flags: number): AnonId {
  const pool = uvm.anons;
  const an = anonAlloc(uvm);
  pool.setLock(an, lock);
  const pg = pageAlloc(uvm, 0, 0, an, flags);
  if (pg === NOPAGE) {
    pool.setLock(an, null);
    pool.ref[an] = 0;
    anonFree(uvm, an);
    return NOANON;
  }
  pool.page[an] = pg;
  return an;
}

/**
 * anonFree: free a single anon (uvm_anon_free).
 * => the anon must already be disposed: no references, lock, page or slot.
 */
export function anonFree(uvm: Uvm, an: AnonId): void {
  const pool = uvm.anons;
  if (pool.ref[an] !== 0) kpanic(`uvm_anon_free: anon ${an} still referenced`);
  if (pool.lockIx[an] !== 0) kpanic(`uvm_anon_free: anon ${an} still has a lock`);
  if (pool.page[an] !== NOPAGE) kpanic(`uvm_anon_free: anon ${an} still has a page`);
  if (pool.swslot[an] !== 0) kpanic(`uvm_anon_free: anon ${an} still has a swap slot`);
  pool.lazyfree.delete(an);
  uvm.pdpol.forget(an); /* its history goes (uvmpdpol_anfree): the id is reused */
  pool.give(an);
  pool.nlive--;
  uvm.exp.anonfrees++;
  uvm.hist?.emit({ type: 'anon-free', anon: an });
}

/**
 * anonDispose: free the resident page and swap slot of a dead anon
 * (uvm_anon_dispose).
 * => the anon is out of every amap; its lock is held.
 * => returns false if the page was busy: it is then marked PG_RELEASED and
 *    uvm_anon_release will finish the job when its owner un-busies it.
 */
function anonDispose(uvm: Uvm, an: AnonId): boolean {
  const pool = uvm.anons;
  const pm = uvm.pages;
  if (pool.lockOf(an)?.owned !== true) kpanic(`uvm_anon_dispose: anon ${an} not locked`);
  let pg = pool.page[an];
  if (pg !== NOPAGE && pm.loanCount(pg) > 0) pg = anonLockLoanPage(uvm, an);
  if (pg !== NOPAGE) {
    if (pm.uanon(pg) !== an) {
      /* the page is an object's or another anon's, on loan to us: end our loan */
      kassert(pm.loanCount(pg) > 0, 'uvm_anon_dispose: borrowed page without a loan');
      pm.addLoans(pg, -1);
      pool.page[an] = NOPAGE;
      if (pm.uobject(pg) !== 0) mutexExit(uvm.objectLock(pm.uobject(pg)));
    } else {
      kassert((pm.flags[pg] & PG_RELEASED) === 0, 'uvm_anon_dispose: page already released');
      uvm.pmap.pageProtect(pg, PROT_NONE);
      if (pm.flags[pg] & PG_BUSY) {
        pm.flags[pg] |= PG_RELEASED;
        mutexObjHold(pool.lockOf(an)!);
        return false;
      }
      pool.page[an] = NOPAGE;
      pageFree(uvm, pg);
    }
  }
  if (pg === NOPAGE && pool.swslot[an] > 0) uvm.exp.swpgonly--;
  anonDropswap(uvm, an);
  return true;
}

/**
 * anonFreelst: free a list of anons chained through an_link (uvm_anon_freelst).
 * => the amap is locked; we unlock it.
 * => anons whose page is busy are left for uvm_anon_release.
 */
export function anonFreelst(uvm: Uvm, amap: AnonOwner, head: AnonId): void {
  const pool = uvm.anons;
  kassert(amap.lock.owned, 'uvm_anon_freelst: amap not locked');
  const dead: AnonId[] = [];
  for (let an = head; an !== NOANON; ) {
    const next = pool.link(an);
    pool.ref[an] = 0;
    if (anonDispose(uvm, an)) dead.push(an);
    an = next;
  }
  mutexExit(amap.lock);
  for (const an of dead) {
    pool.setLock(an, null); /* anons point at their amap's lock; they hold no reference */
    anonFree(uvm, an);
  }
}

/**
 * anonLockLoanPage: lock the owner of a loaned resident page (uvm_anon_lockloanpg).
 * => the anon is locked.
 * => if the page belongs to an object, the object's lock is taken and left
 *    held for the caller; if the object let go of the page (no owner), the
 *    anon takes it over and the object's loan ends.
 * => returns the anon's resident page (NOPAGE if none).
 */
export function anonLockLoanPage(uvm: Uvm, an: AnonId): Frame {
  const pool = uvm.anons;
  const pm = uvm.pages;
  if (pool.lockOf(an)?.owned !== true) kpanic(`uvm_anon_lockloanpg: anon ${an} not locked`);
  const pg = pool.page[an];
  if (pg === NOPAGE || pm.loanCount(pg) === 0) return pg;
  if (pm.uobject(pg) !== 0) {
    /* one thread: the try cannot lose a race, so a held lock is our bug */
    kassert(mutexTryEnter(uvm.objectLock(pm.uobject(pg))), 'uvm_anon_lockloanpg: object lock held');
  } else if ((pm.pqflags[pg] & PQ_ANON) === 0) {
    pm.pqflags[pg] |= PQ_ANON;
    pm.owner[pg] = an;
    pm.addLoans(pg, -1);
  }
  return pg;
}

/**
 * anonDropswap: release the anon's swap slot (uvm_anon_dropswap).
 * => anon locked, or unreferenced.
 */
export function anonDropswap(uvm: Uvm, an: AnonId): void {
  const slot = uvm.anons.swslot[an];
  if (slot === 0) return;
  swapFree(uvm, slot, 1);
  uvm.anons.swslot[an] = NOSLOT;
}

/**
 * anonRelease: free an unreferenced anon whose page was busy when the anon
 * died (uvm_anon_release).
 * => anon locked, page PG_BUSY|PG_RELEASED, owned by the anon, no loans.
 * => unlocks and frees the anon, dropping the lock reference dispose took.
 */
export function anonRelease(uvm: Uvm, an: AnonId): void {
  const pool = uvm.anons;
  const pm = uvm.pages;
  const pg = pool.page[an];
  const lock = pool.lockOf(an);
  kassert(lock?.owned === true, 'uvm_anon_release: anon not locked');
  kassert(pg !== NOPAGE, 'uvm_anon_release: no page');
  kassert(
    (pm.flags[pg] & (PG_RELEASED | PG_BUSY)) === (PG_RELEASED | PG_BUSY),
    'uvm_anon_release: page not busy+released',
  );
  kassert(pm.uobject(pg) === 0 && pm.uanon(pg) === an, 'uvm_anon_release: page not ours');
  kassert(
    pm.loanCount(pg) === 0 && pool.ref[an] === 0,
    'uvm_anon_release: loaned page or live anon',
  );
  pool.page[an] = NOPAGE;
  pageFree(uvm, pg);
  const disposed = anonDispose(uvm, an);
  kassert(disposed, 'uvm_anon_release: dispose failed');
  mutexExit(lock);
  mutexObjFree(lock); /* the extra reference dispose took for the PG_RELEASED case */
  pool.setLock(an, null);
  anonFree(uvm, an);
}

/** Result of getting an anon's page: 0, or why it failed. */
export type AnonGetResult = 0 | 'ENOMEM' | 'EIO';

/**
 * anonGet: make an anon's data resident (the anon half of uvmfault_anonget).
 * => anon locked. A resident page is used as is. Otherwise a frame is
 *    allocated and filled from the swap slot.
 * => returns ENOMEM when no frame is free (the caller may reclaim and
 *    retry), EIO when the swap device fails the read (the slot is kept, so
 *    nothing is lost); either way the anon is unchanged.
 */
export function anonGet(uvm: Uvm, an: AnonId): AnonGetResult {
  const pool = uvm.anons;
  const pm = uvm.pages;
  if (pool.page[an] !== NOPAGE) return 0;
  if (pool.swslot[an] === 0) return anonZero(uvm, an);
  const pg = pageAlloc(uvm, 0, 0, an, 0);
  if (pg === NOPAGE) return 'ENOMEM';
  if (!swapGet(uvm, pool.swslot[an], pg)) {
    pageFree(uvm, pg);
    return 'EIO';
  }
  pool.page[an] = pg;
  pm.flags[pg] = (pm.flags[pg] & ~(PG_BUSY | PG_FAKE | PG_WANTED)) | PG_CLEAN;
  pageActivate(uvm, pg);
  uvm.exp.swpgonly--;
  uvm.exp.pageins++;
  uvm.hist?.emit({ type: 'pagein', frame: pg, anon: an, object: 0, slot: pool.swslot[an] });
  return 0;
}

/**
 * anonZero: a fresh zero page for an anon the pagedaemon discarded after
 * MADV_FREE (it has neither page nor slot).
 */
function anonZero(uvm: Uvm, an: AnonId): AnonGetResult {
  const pool = uvm.anons;
  kassert(pool.lazyfree.has(an), `uvmfault_anonget: anon ${an} has neither page nor slot`);
  const pg = pageAlloc(uvm, 0, 0, an, UVM_PGA_ZERO);
  if (pg === NOPAGE) return 'ENOMEM';
  pool.page[an] = pg;
  pool.lazyfree.delete(an);
  uvm.pages.flags[pg] &= ~(PG_BUSY | PG_FAKE);
  pageActivate(uvm, pg);
  return 0;
}

/**
 * anonPagein: bring an anon back from swap for good (uvm_anon_pagein),
 * as swapoff needs.
 * => takes the amap and the anon; anon's lock is the amap's, held.
 * => unlocks the anon. Returns true if it failed for lack of memory.
 * => on success the page is resident, dirty, its slot freed, and on the
 *    inactive queue (unless wired).
 */
export function anonPagein(uvm: Uvm, amap: AnonOwner, an: AnonId): boolean {
  const pool = uvm.anons;
  const pm = uvm.pages;
  const lock = pool.lockOf(an)!;
  kassert(lock.owned, 'uvm_anon_pagein: anon not locked');
  kassert(lock === amap.lock, 'uvm_anon_pagein: anon lock is not the amap lock');
  const r = anonGet(uvm, an);
  if (r !== 0) {
    mutexExit(lock);
    return r === 'ENOMEM';
  }
  const pg = pool.page[an];
  anonDropswap(uvm, an);
  pm.flags[pg] &= ~PG_CLEAN;
  if (pm.wireCount(pg) === 0) pageDeactivate(uvm, pg);
  mutexExit(lock);
  return false;
}

/**
 * anonLock / anonUnlock: take and drop an anon's lock (its amap's).
 */
export function anonLock(uvm: Uvm, an: AnonId): void {
  mutexEnter(uvm.anons.lockOf(an)!);
}
export function anonUnlock(uvm: Uvm, an: AnonId): void {
  mutexExit(uvm.anons.lockOf(an)!);
}
