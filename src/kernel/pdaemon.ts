/*
 * pdaemon.ts: the pagedaemon's mechanism (uvm_pdaemon.c): keeps enough
 * frames free by taking the pages the replacement policy (pdpolicy/)
 * offers.
 *
 *   targets   freemin   below it the daemon runs (1/64 of memory, >= 4)
 *             freetarg  it runs until this many are free (freemin * 4/3)
 *
 *   one run, up to four passes while fewer than freetarg are free:
 *     scan     the policy offers victims (uvmpdpol_selectvictim); each is
 *              taken:
 *                clean (a copy is in swap or the file)   freed at once
 *                clean anon after MADV_FREE, held once   discarded (zeros)
 *                dirty anon                              written to swap
 *                dirty object page                       its pager saves it
 *                                                        (aobj: swap; file:
 *                                                        written back)
 *              a page with nowhere to go (swap full) or whose write failed
 *              (EIO) stays, dirty and resident, and is activated again: no
 *              data is lost; a busy or loaned page is passed over
 *     balance  the policy moves pages between its queues
 *              (uvmpdpol_balancequeue)
 *
 * Wired pages are never on the queues, so never taken. The kernel runs the
 * daemon where no lock is held: when a fault starts with fewer than
 * freemin frames free, when an allocation fails (uvm_wait), and on demand.
 */
import { anonDropswap } from './anon.ts';
import type { HistEvent } from './hist.ts';
import { mutexEnter, mutexExit } from './lock.ts';
import { NOPAGE, PG_BUSY, PG_CLEAN, pageActivate, pageFree } from './page.ts';
import { type AnonId, type Frame, PROT_NONE } from './param.ts';
import { swapAlloc, swapFree, swapPut, swapSlotLive } from './swap.ts';
import type { Uvm } from './uvm.ts';

/** What one run of the pagedaemon did. */
export interface PdaemonReport {
  scanned: number;
  deactivated: number;
  reactivated: number;
  freed: number;
  pagedOut: number;
  discarded: number;
  /** dirty pages that stayed because swap was full */
  noSwap: number;
  /** pages whose write failed; they stay dirty and resident */
  ioErrors: number;
}

/** The daemon's thresholds (uvmexp.freemin, uvmexp.freetarg). */
export function pdTargets(uvm: Uvm): { freemin: number; freetarg: number } {
  return { freemin: uvm.freemin, freetarg: uvm.freetarg };
}

/**
 * uvmPageout: one run of the pagedaemon (uvm_pageout's loop body, with
 * uvmpd_scan): reclaim until freetarg frames are free, or nothing more can
 * be taken.
 * => `want`: at least this many frames free (a caller short of memory).
 */
export function uvmPageout(uvm: Uvm, want = 0): PdaemonReport {
  const r: PdaemonReport = {
    scanned: 0,
    deactivated: 0,
    reactivated: 0,
    freed: 0,
    pagedOut: 0,
    discarded: 0,
    noSwap: 0,
    ioErrors: 0,
  };
  const exp = uvm.exp;
  const start = { scans: exp.pdscans, react: exp.pdreact, deact: exp.pddeact };
  exp.pdwoke++;
  for (let pass = 0; pass < 4; pass++) {
    uvm.pdpol.tune();
    const goal = Math.max(uvm.freetarg, want);
    if (uvm.pages.freeCount >= goal) break;
    exp.pdrevs++;
    const before = r.freed;
    scanQueue(uvm, goal, r);
    uvm.pdpol.balance();
    if (r.freed === before && pass > 0) break;
  }
  r.scanned = exp.pdscans - start.scans;
  r.reactivated = exp.pdreact - start.react;
  r.deactivated = exp.pddeact - start.deact;
  uvm.hist?.emit(scanEvent(uvm, want, r));
  return r;
}

/** scanEvent: a run of the daemon as an event: the free frames after it, its goal, what it did. */
function scanEvent(uvm: Uvm, want: number, r: PdaemonReport): HistEvent {
  const target = Math.max(uvm.freetarg, want);
  return {
    type: 'pdaemon-scan',
    free: uvm.pages.freeCount,
    target,
    scanned: r.scanned,
    freed: r.freed,
  };
}

/**
 * scanQueue: take the policy's victims until `goal` frames are free or it
 * offers no more (uvmpd_scan_queue).
 */
function scanQueue(uvm: Uvm, goal: number, r: PdaemonReport): void {
  const pm = uvm.pages;
  uvm.pdpol.scanInit();
  for (let budget = pm.npages; budget > 0 && pm.freeCount < goal; budget--) {
    const pg = uvm.pdpol.selectVictim();
    if (pg === NOPAGE) break;
    if ((pm.flags[pg] & PG_BUSY) !== 0 || pm.loanCount(pg) !== 0) continue;
    const res = pm.uanon(pg) !== 0 ? reclaimAnon(uvm, pg, r) : reclaimObject(uvm, pg);
    count(uvm, res, r);
    if (res !== 'freed') pageActivate(uvm, pg);
  }
}

type Outcome = 'freed' | 'kept' | 'EIO';

function count(uvm: Uvm, res: Outcome, r: PdaemonReport): void {
  if (res === 'freed') {
    r.freed++;
    uvm.exp.pdfreed++;
  } else if (res === 'EIO') r.ioErrors++;
  else {
    r.noSwap++;
    uvm.exp.pdnoswap++;
  }
}

/** reclaimAnon: take an anon's page: free, discard, or write it to swap first. */
function reclaimAnon(uvm: Uvm, pg: Frame, r: PdaemonReport): Outcome {
  const pool = uvm.anons;
  const an = uvm.pages.uanon(pg);
  const lock = pool.lockOf(an)!;
  mutexEnter(lock);
  try {
    const dirty = (uvm.pages.flags[pg] & PG_CLEAN) === 0 || uvm.pmap.isModified(pg);
    const slot = pool.swslot[an];
    if (!dirty && slot !== 0 && swapSlotLive(uvm, slot)) {
      dropPage(uvm, an, pg);
      uvm.exp.swpgonly++;
      return 'freed';
    }
    if (!dirty && pool.lazyfree.has(an) && pool.ref[an] === 1) {
      dropPage(uvm, an, pg);
      uvm.exp.pdlazyfreed++;
      r.discarded++;
      return 'freed';
    }
    return swapOutAnon(uvm, an, pg, r);
  } finally {
    mutexExit(lock);
  }
}

/**
 * swapOutAnon: write an anon page to a swap slot, then free it: its own
 * slot, or a fresh one when it has none or its slot's device is being
 * swapped off (the old slot goes once the new copy is written).
 */
function swapOutAnon(uvm: Uvm, an: AnonId, pg: Frame, r: PdaemonReport): Outcome {
  const pool = uvm.anons;
  let slot = pool.swslot[an];
  const fresh = slot === 0 || !swapSlotLive(uvm, slot);
  if (fresh) slot = swapAlloc(uvm);
  if (slot === 0) return 'kept';
  uvm.pages.flags[pg] |= PG_BUSY;
  const ok = swapPut(uvm, slot, pg);
  uvm.pages.flags[pg] &= ~PG_BUSY;
  if (!ok) {
    if (fresh) swapFree(uvm, slot);
    return 'EIO';
  }
  if (fresh) anonDropswap(uvm, an);
  pool.swslot[an] = slot;
  pool.lazyfree.delete(an);
  dropPage(uvm, an, pg);
  uvm.exp.swpgonly++;
  uvm.exp.pageouts++;
  uvm.exp.pdpageouts++;
  uvm.hist?.emit({ type: 'pageout', frame: pg, anon: an, object: 0, slot });
  r.pagedOut++;
  return 'freed';
}

/** dropPage: unmap an anon's page everywhere and free the frame. */
function dropPage(uvm: Uvm, an: AnonId, pg: Frame): void {
  uvm.pmap.pageProtect(pg, PROT_NONE);
  uvm.anons.page[an] = NOPAGE;
  pageFree(uvm, pg);
}

/** reclaimObject: an object page: its pager saves it if need be, then frees it. */
function reclaimObject(uvm: Uvm, pg: Frame): Outcome {
  const obj = uvm.objects.get(uvm.pages.uobject(pg))!;
  mutexEnter(obj.vmobjlock);
  try {
    return obj.pageout(uvm.pages.offset[pg], pg);
  } finally {
    mutexExit(obj.vmobjlock);
  }
}
