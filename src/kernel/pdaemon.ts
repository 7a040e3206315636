/*
 * pdaemon.ts: the pagedaemon (uvm_pdaemon.c with uvm_pdpolicy_clock.c):
 * keeps enough frames free by taking pages nobody has used lately.
 *
 *   targets   freemin   below it the daemon runs (1/64 of memory, >= 4)
 *             freetarg  it runs until this many are free (freemin * 4/3)
 *             inactarg  a third of the pages on the queues kept inactive
 *
 *   one run:
 *     balance  walk the active queue: a referenced page gets its bit
 *              cleared (through the pmap) and a second chance at the tail;
 *              an unreferenced one moves to the inactive queue
 *     scan     walk the inactive queue: a referenced page goes back to
 *              active; the others are taken:
 *                clean (a copy is in swap or the file)   freed at once
 *                clean anon after MADV_FREE, held once   discarded (zeros)
 *                dirty anon                              written to swap
 *                dirty object page                       its pager saves it
 *                                                        (aobj: swap; file:
 *                                                        written back)
 *              a page with nowhere to go (swap full) or whose write failed
 *              (EIO) stays, dirty and resident: no data is lost
 *
 * Wired pages are never on the queues, so never taken. The kernel runs the
 * daemon where no lock is held: when a fault starts with fewer than
 * freemin frames free, when an allocation fails (uvm_wait), and on demand.
 */
import { AN_LAZYFREE, anonDropswap } from './anon.ts';
import { mutexEnter, mutexExit } from './lock.ts';
import {
  NOPAGE,
  PG_BUSY,
  PG_CLEAN,
  PQ_ACTIVE,
  PQ_INACTIVE,
  pageActivate,
  pageDeactivate,
  pageFree,
} from './page.ts';
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

/** The daemon's thresholds, from the size of memory. */
export function pdTargets(uvm: Uvm): { freemin: number; freetarg: number; inactarg: number } {
  const pm = uvm.pages;
  const freemin = uvm.freemin;
  const freetarg = Math.floor((freemin * 4) / 3) + 1;
  const inactarg = Math.max(
    Math.floor((pm.activeCount + pm.inactiveCount) / 3),
    freetarg - pm.freeCount,
  );
  return { freemin, freetarg, inactarg };
}

/**
 * uvmPageout: one run of the pagedaemon (uvm_pageout's loop body): reclaim
 * until freetarg frames are free, or nothing more can be taken.
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
  uvm.exp.pdwoke++;
  for (let pass = 0; pass < 4; pass++) {
    const t = pdTargets(uvm);
    const goal = Math.max(t.freetarg, want);
    if (uvm.pages.freeCount >= goal) break;
    uvm.exp.pdrevs++;
    balanceQueues(uvm, t.inactarg, r);
    const before = r.freed;
    scanInactive(uvm, goal - uvm.pages.freeCount, r);
    if (r.freed === before && pass > 0) break;
  }
  return r;
}

/**
 * balanceQueues: move unreferenced active pages to the inactive queue
 * until it holds `inactarg`; referenced ones lose their bit and go round
 * again (uvmpdpol_balancequeue).
 */
function balanceQueues(uvm: Uvm, inactarg: number, r: PdaemonReport): void {
  const pm = uvm.pages;
  let budget = pm.activeCount;
  while (pm.inactiveCount < inactarg && budget-- > 0) {
    const pg = pm.queueHead(PQ_ACTIVE);
    if (pg < 0) break;
    if (uvm.pmap.clearReference(pg)) {
      pageActivate(uvm, pg);
      continue;
    }
    pageDeactivate(uvm, pg);
    uvm.exp.pddeact++;
    r.deactivated++;
  }
}

/**
 * scanInactive: walk the inactive queue once, reclaiming up to `want`
 * frames (uvmpd_scan_queue).
 */
function scanInactive(uvm: Uvm, want: number, r: PdaemonReport): void {
  const pm = uvm.pages;
  let budget = pm.inactiveCount;
  let pg = pm.queueHead(PQ_INACTIVE);
  while (pg >= 0 && budget-- > 0 && r.freed < want) {
    const next = pm.next[pg];
    r.scanned++;
    uvm.exp.pdscans++;
    if (uvm.pmap.isReferenced(pg)) {
      uvm.pmap.clearReference(pg);
      pageActivate(uvm, pg);
      uvm.exp.pdreact++;
      r.reactivated++;
    } else if ((pm.flags[pg] & PG_BUSY) === 0 && pm.loanCount[pg] === 0) {
      const res = pm.uanon[pg] !== 0 ? reclaimAnon(uvm, pg, r) : reclaimObject(uvm, pg);
      count(uvm, res, r);
      if (res !== 'freed') pageActivate(uvm, pg);
    }
    pg = next;
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
  const an = uvm.pages.uanon[pg];
  const lock = pool.lock[an]!;
  mutexEnter(lock);
  try {
    const dirty = (uvm.pages.flags[pg] & PG_CLEAN) === 0 || uvm.pmap.isModified(pg);
    const slot = pool.swslot[an];
    if (!dirty && slot !== 0 && swapSlotLive(uvm, slot)) {
      dropPage(uvm, an, pg);
      uvm.exp.swpgonly++;
      return 'freed';
    }
    if (!dirty && pool.flags[an] & AN_LAZYFREE && pool.ref[an] === 1) {
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
  pool.flags[an] &= ~AN_LAZYFREE;
  dropPage(uvm, an, pg);
  uvm.exp.swpgonly++;
  uvm.exp.pageouts++;
  uvm.exp.pdpageouts++;
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
  const obj = uvm.objects.get(uvm.pages.uobject[pg])!;
  mutexEnter(obj.vmobjlock);
  try {
    return obj.pageout(uvm.pages.offset[pg], pg);
  } finally {
    mutexExit(obj.vmobjlock);
  }
}
