/*
 * loan.ts: page loanout (uvm_loan.c): a resident page lent, read-only,
 * without a copy, while its owner keeps it.
 *
 *   loanCount[pg]   loan_count: the loans out on frame pg
 *
 *   lenders                      borrowers
 *     an anon's page (A->K)        the kernel (a pipe's buffer): it holds
 *     an object's page (O->K)      the frame; uvmUnloan ends the loan
 *     a kernel-held page (K->A)    an anon: page[an] is the frame, whose
 *                                  uanon is another anon or none, or whose
 *                                  uobject is set (O->A)
 *
 *   a loaned page is read-only everywhere: uvmLoanPage lowers every
 *   mapping, and the fault maps it without write. A loan breaks:
 *     write fault    the writer gets a copy (uvmLoanBreakAnon,
 *                    uvmLoanBreakObject): the borrowers keep the old frame,
 *                    which has no owner then
 *     free           the owner's pageFree leaves the frame to the
 *                    borrowers; the last uvmUnloan (or a borrowing anon's
 *                    dispose) frees it; an anon borrowing an ownerless
 *                    frame takes it over (uvm_anon_lockloanpg)
 *     pageout        the pagedaemon passes over loaned pages: the
 *                    borrower's bytes stay put
 *
 * Invariants (auditLoans):
 *   - loanCount equals the kernel's loans plus the anons borrowing the frame
 *   - no translation maps a loaned frame writable (the system's audit of
 *     translations checks it)
 *   - a frame with no owner is loaned (or free)
 */
import { AMAP_SHARED, amapAdd, amapLock, amapLookup, amapUnlock } from './amap.ts';
import { anonAlloc, anonFreelst, anonLockLoanPage } from './anon.ts';
import type { VmMutex } from './lock.ts';
import {
  type MapLookup,
  newMapLookup,
  type VmMap,
  vmMapLookup,
  vmMapLookupDone,
} from './map/index.ts';
import type { UvmObject } from './object.ts';
import {
  NOPAGE,
  PG_BUSY,
  PG_FAKE,
  PQ_SWAPBACKED,
  pageActivate,
  pageAlloc,
  pageCopy,
  pageDequeue,
  pageFree,
} from './page.ts';
import {
  type AnonId,
  type Frame,
  KernelPanic,
  MAP_ENTRY_COW,
  NOANON,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from './param.ts';
import type { Uvm } from './uvm.ts';

/**
 * uvmLoanPage: lend resident frame pg to the kernel (uvm_loanpage).
 * => pg is not wired: a loaned page never is (breaking the loan removes
 *    its translations, which would leave a wiring behind); the fault
 *    copies a loaned page it would wire.
 * => every mapping of pg loses write (pmap_page_protect), loan_count++.
 */
export function uvmLoanPage(uvm: Uvm, pg: Frame): void {
  if (uvm.pages.wireCount(pg) > 0) throw new KernelPanic(`uvm_loanpage: page ${pg} is wired`);
  uvm.pmap.pageProtect(pg, PROT_READ);
  uvm.pages.addLoans(pg, 1);
}

/**
 * uvmLoanuobjpages: lend pages [idx, idx+n) of object `obj` to the kernel
 * (uvm_loanuobjpages, O->K), bringing them in.
 * => the frames, or the pager's error (EBUSY for a wired page) with
 *    nothing lent.
 */
export function uvmLoanuobjpages(
  uvm: Uvm,
  obj: UvmObject,
  idx: number,
  n: number,
): Frame[] | 'ENOMEM' | 'EIO' | 'SIGBUS' | 'EBUSY' {
  const out: Frame[] = [];
  for (let i = 0; i < n; i++) {
    const got = obj.pgoGet(idx + i);
    const pg = typeof got === 'number' && uvm.pages.wireCount(got) > 0 ? 'EBUSY' : got;
    if (typeof pg === 'string') {
      uvmUnloan(uvm, out);
      return pg;
    }
    uvmLoanPage(uvm, pg);
    out.push(pg);
  }
  return out;
}

/**
 * uvmUnloan: end the kernel's loans of `frames` (uvm_unloan).
 * => a frame whose owner let go of it is freed with its last loan.
 */
export function uvmUnloan(uvm: Uvm, frames: readonly Frame[]): void {
  const pm = uvm.pages;
  for (const pg of frames) {
    if (pm.loanCount(pg) === 0) throw new KernelPanic(`uvm_unloan: page ${pg} is not on loan`);
    if (pm.addLoans(pg, -1) === 0 && pm.owner[pg] === 0) pageFree(uvm, pg);
  }
}

/**
 * uvmLoanToAnon: the kernel's loan of pg passes to a new anon under
 * `lock` (K->A, or O->A for an object's page): the anon borrows the frame;
 * a frame nobody owns any more it takes over (uvm_anon_lockloanpg).
 * => the anon, with one reference; loan_count is unchanged by the hand-over.
 */
export function uvmLoanToAnon(uvm: Uvm, lock: VmMutex, pg: Frame): AnonId {
  const an = anonAlloc(uvm);
  uvm.anons.setLock(an, lock);
  uvm.anons.page[an] = pg;
  if (uvm.pages.owner[pg] === 0) {
    anonLockLoanPage(uvm, an);
    pageActivate(uvm, pg);
  }
  return an;
}

/**
 * uvmLoanToMap: hand the kernel's loan of pg to the page of `map` at va,
 * as DragonFly's vm_uiomove gives a read its pages: a new anon borrowing
 * pg takes va's amap slot (an anon there before loses that reference), and
 * va's translation goes; the next access maps pg read-only, a write copies.
 * => false, changing nothing, where the page must be copied into instead
 *    (uvmLoanToMapAllowed says which).
 */
export function uvmLoanToMap(uvm: Uvm, map: VmMap, va: number, pg: Frame): boolean {
  const lk = newMapLookup();
  if (!loanTarget(uvm, map, va, lk)) return false;
  const entry = lk.entry;
  const amap = entry.aref.amap!;
  const off = va - entry.start;
  amapLock(amap);
  const old = amapLookup(uvm, entry.aref, off);
  lk.map.pmap.remove(va, va + uvm.pageSize);
  amapAdd(uvm, entry.aref, off, uvmLoanToAnon(uvm, amap.lock, pg), old !== NOANON);
  if (old !== NOANON && --uvm.anons.ref[old] === 0) anonFreelst(uvm, amap, old);
  else amapUnlock(amap);
  vmMapLookupDone(lk);
  return true;
}

/**
 * uvmLoanToMapAllowed: would uvmLoanToMap hand a loan to the page at va?
 * Not to a shared object mapping (the bytes belong to the object), a
 * shared amap (other spaces map the slot, perhaps wired: only a copy keeps
 * their translations), a wired or unwritable entry, one with no amap, or a
 * page past the end of the entry's object (a write there is SIGBUS).
 * => the lookup may resolve needs-copy, as a write fault would; nothing
 *    else changes.
 */
export function uvmLoanToMapAllowed(uvm: Uvm, map: VmMap, va: number): boolean {
  const lk = newMapLookup();
  if (!loanTarget(uvm, map, va, lk)) return false;
  vmMapLookupDone(lk);
  return true;
}

/** loanTarget: the lookup for uvmLoanToMap => true, map read-locked; false, nothing held. */
function loanTarget(uvm: Uvm, map: VmMap, va: number, lk: MapLookup): boolean {
  if (vmMapLookup(map, va, PROT_WRITE, lk) !== 0) return false;
  const entry = lk.entry;
  const amap = entry.aref.amap;
  const obj = entry.object;
  const objectShared = obj !== null && (entry.eflags & MAP_ENTRY_COW) === 0;
  const pastEnd = obj !== null && (entry.offset + va - entry.start) / uvm.pageSize >= obj.pageCount;
  const refused = amap === null || amap.flags & AMAP_SHARED || objectShared || pastEnd;
  if (refused || lk.wired || lk.needsCopy) {
    vmMapLookupDone(lk);
    return false;
  }
  return true;
}

/**
 * uvmLoanFaultAnon: the anon layer of a fault meets anon `an`'s page
 * (uvmfault_anonget's loan handling, uvm_fault_upper_loan).
 * => anon locked. A frame nobody owns is taken over; with `breakLoan` (a
 *    write to an anon no other slot holds) a loaned frame is replaced by a
 *    copy (uvmLoanBreakAnon).
 * => the anon's frame, or NOPAGE when no frame is free for the copy.
 */
export function uvmLoanFaultAnon(uvm: Uvm, an: AnonId, breakLoan: boolean): Frame {
  const pm = uvm.pages;
  let pg = uvm.anons.page[an];
  if (pm.loanCount(pg) === 0) return pg;
  if (pm.uobject(pg) === 0) pg = anonLockLoanPage(uvm, an);
  if (!breakLoan || pm.loanCount(pg) === 0) return pg;
  return uvmLoanBreakAnon(uvm, an);
}

/**
 * uvmLoanBreakAnon: give anon `an` a copy of its loaned frame
 * (uvm_loanbreak_anon).
 * => anon locked. The old frame leaves every pmap; if it was the anon's own
 *    it stays, ownerless, with its borrowers; if the anon borrowed it, the
 *    anon's loan ends (an ownerless frame is freed with its last loan).
 * => the new frame (dirty, active), or NOPAGE (nothing changed) when no
 *    frame is free.
 */
export function uvmLoanBreakAnon(uvm: Uvm, an: AnonId): Frame {
  const pm = uvm.pages;
  const old = uvm.anons.page[an];
  const npg = pageAlloc(uvm, 0, 0, an, 0);
  if (npg === NOPAGE) return NOPAGE;
  pageCopy(uvm, old, npg);
  uvm.pmap.pageProtect(old, PROT_NONE);
  uvm.anons.page[an] = npg;
  if (pm.uanon(old) === an) disown(uvm, old);
  else uvmUnloan(uvm, [old]);
  finishCopy(uvm, npg);
  return npg;
}

/**
 * uvmLoanBreakObject: give object `obj` a copy of its loaned page `idx`
 * (uvm_loanbreak): a write through a shared mapping.
 * => object locked. The old frame leaves every pmap and stays, ownerless,
 *    with its borrowers.
 * => the new frame, or NOPAGE (nothing changed) when no frame is free.
 */
export function uvmLoanBreakObject(uvm: Uvm, obj: UvmObject, idx: number): Frame {
  const old = obj.pages.get(idx)!;
  const npg = pageAlloc(uvm, obj.id, idx, NOANON, 0);
  if (npg === NOPAGE) return NOPAGE;
  pageCopy(uvm, old, npg);
  uvm.pmap.pageProtect(old, PROT_NONE);
  obj.pages.set(idx, npg);
  disown(uvm, old);
  finishCopy(uvm, npg);
  return npg;
}

/**
 * loanProt: the protection a fault may map frame pg with.
 * => `prot` without PROT_WRITE while pg is on loan.
 */
export function loanProt(uvm: Uvm, pg: Frame, prot: number): number {
  return uvm.pages.loanCount(pg) > 0 ? prot & ~PROT_WRITE : prot;
}

/** disown: the owner lets go of loaned frame pg; its borrowers keep it. */
function disown(uvm: Uvm, pg: Frame): void {
  const pm = uvm.pages;
  pageDequeue(uvm, pg);
  pm.owner[pg] = 0;
  pm.pqflags[pg] &= ~PQ_SWAPBACKED;
}

/** finishCopy: the copy of a broken loan is ready: unbusy, active. */
function finishCopy(uvm: Uvm, npg: Frame): void {
  uvm.pages.flags[npg] &= ~(PG_BUSY | PG_FAKE);
  pageActivate(uvm, npg);
}

/**
 * auditLoans: check the invariants at the top of this file.
 * => `kernel[pg]`: the loans of pg the kernel holds (the pipes' buffers).
 * => throws KernelPanic naming the first broken one.
 */
export function auditLoans(uvm: Uvm, kernel: Int32Array): void {
  const pm = uvm.pages;
  const pool = uvm.anons;
  const held = Int32Array.from(kernel);
  const free = pool.freeMask();
  for (let an = 1; an < pool.capacity; an++) {
    const pg = pool.page[an];
    if (!free[an] && pg !== NOPAGE && pm.uanon(pg) !== an) held[pg]++;
  }
  for (let pg = 0 as Frame; pg < pm.npages; pg++) {
    if (held[pg] !== pm.loanCount(pg))
      fail(`page ${pg}: loan_count ${pm.loanCount(pg)}, ${held[pg]} loans held`);
  }
}

function fail(what: string): never {
  throw new KernelPanic(`audit: loans: ${what}`);
}
