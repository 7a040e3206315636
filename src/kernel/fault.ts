/*
 * fault.ts: the page fault handler (uvm_fault.c), in NetBSD 6's phases.
 *
 *   uvmFault(map, va, access)
 *     loop:
 *       faultCheck     look up the entry (vm_map_lookup), check protection,
 *                      clear needs-copy (amap_copy), pick the fault-ahead
 *                      window by advice, read the window's anons
 *       upper layer    an anon covers va: page it in if needed; a write to
 *                      an anon others share copies it (COW promote); map
 *                      resident anon neighbours read-only as fault-ahead
 *       lower layer    no anon: the object's page (pgo_get), mapped
 *                      read-only in a private entry; or, on a write to a
 *                      private entry or with no object, promote: a new
 *                      anon, copied from the object page or zero-filled
 *       vpagetable     a VPAGETABLE entry: its virtual page table's walk
 *                      names the object page (vpagetable.ts)
 *       RESTART        after a clip/merge or a wait for memory: look again
 *
 *   flags (seed 001's VM_FAULT_*): WIRE_MASK (CHANGE_WIRING, USER_WIRE)
 *   wires; BURST allows fault-ahead (a user-mode fault, as DragonFly's
 *   trap passes it); DIRTY marks the page modified; UNSWAP drops its swap
 *   copy.
 *
 *   fault-ahead (uvmadvice): NORMAL 3 behind, 4 ahead; RANDOM none;
 *   SEQUENTIAL 8 behind, 7 ahead (UvmConfig.faultAhead changes them).
 *   Only pages already resident are mapped.
 *
 *   wiring: uvmFaultWire faults every page of a range in with the entry's
 *   protection and wires it (mlock); uvmFaultUnwire undoes it.
 *
 * The context is one object per kernel, reused: a fault allocates no
 * closures and no arrays.
 */
import { amapAdd, amapLock, amapLookups, amapSlotMoved, amapUnlock } from './amap.ts';
import { anonAllocPage, anonDropswap, anonGet } from './anon.ts';
import type { UvmHist } from './hist.ts';
import { loanProt, uvmLoanBreakObject, uvmLoanFaultAnon } from './loan.ts';
import {
  type MapLookup,
  newMapLookup,
  VM_FAULT_BURST,
  VM_FAULT_CHANGE_WIRING,
  VM_FAULT_DIRTY,
  VM_FAULT_NORMAL,
  VM_FAULT_UNSWAP,
  VM_FAULT_WIRE_MASK,
  VM_MAPTYPE_VPAGETABLE,
  type VmMap,
  type VmMapEntry,
  vmMapLookup,
  vmMapLookupDone,
  type WireRange,
} from './map/index.ts';
import {
  NOPAGE,
  PG_BUSY,
  PG_CLEAN,
  PG_FAKE,
  PMAP_MODIFIED,
  pageActivate,
  pageCopy,
  pageUnwire,
  pageWire,
  UVM_PGA_ZERO,
  WIRE_MAX,
} from './page.ts';
import {
  type AnonId,
  type Frame,
  int32ArrayOf,
  kpanic,
  MAP_ENTRY_BEHAV_MASK,
  MAP_ENTRY_BEHAV_RANDOM,
  MAP_ENTRY_BEHAV_SEQUENTIAL,
  MAP_ENTRY_COW,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  truncPage,
} from './param.ts';
import { PMAP_WIRED, PTE_R, PTE_W, PTE_WIRED, PTE_X, pteFrame } from './pmap.ts';
import type { Uvm } from './uvm.ts';
import { vpagetableWalk } from './vpagetable.ts';

/** What a fault reports: 0, or why it failed. */
export type FaultResult = 0 | 'EFAULT' | 'EACCES' | 'ENOMEM' | 'EIO' | 'SIGBUS' | 'EAGAIN';

const RESTART = 'restart';
const MAXWIN = 16;
/*
 * A fault that waited for memory this many times without finishing reports
 * ENOMEM: each wait freed frames, yet something took them first. (The
 * fault's own source page is held while it waits, so that is not it.)
 */
const MAX_NORAM_WAITS = 8;

const NO_AHEAD = [0, 0] as const;

/** uvmadvice: [pages behind, pages ahead] of the fault, by behaviour (tunable). */
function advice(uvm: Uvm, entry: VmMapEntry): readonly [number, number] {
  const b = entry.eflags & MAP_ENTRY_BEHAV_MASK;
  if (b === MAP_ENTRY_BEHAV_RANDOM) return NO_AHEAD;
  if (b === MAP_ENTRY_BEHAV_SEQUENTIAL) return uvm.tun.aheadSequential;
  return uvm.tun.aheadNormal;
}

/** The state of one fault (struct uvm_faultctx + uvm_faultinfo). */
class FaultCtx {
  readonly lk: MapLookup = newMapLookup();
  va = 0;
  accessType = 0;
  enterProt = 0;
  wirePaging = false;
  /** the VM_FAULT_* flags of this fault */
  flags = 0;
  cowNow = false;
  /** waits for memory in this fault */
  noramWaits = 0;
  startva = 0;
  npages = 0;
  centeridx = 0;
  readonly anons = int32ArrayOf<AnonId>(MAXWIN);
}

/** the fault context, reused by every fault of every kernel: faults never nest */
const faultCtx = new FaultCtx();

/**
 * uvmFault: resolve a fault at va for `accessType` (PROT_* bits) in `map`
 * (uvm_fault).
 * => returns 0 with va mapped for the access; EFAULT when nothing is
 *    mapped there; EACCES when the protection forbids the access; ENOMEM
 *    when no frame can be had even after reclaiming; EIO when the swap
 *    device or file fails; SIGBUS for a file page beyond its end.
 * => on failure nothing is changed but the statistics.
 * => flags, VM_FAULT_*: CHANGE_WIRING or USER_WIRE: fault with the entry's
 *    full protection and wire the page; BURST: map resident neighbours too
 *    (fault-ahead by advice; never when wiring); DIRTY: the page is marked
 *    modified; UNSWAP: an anon page's swap copy is freed (it is dirty then).
 */
export function uvmFault(
  uvm: Uvm,
  map: VmMap,
  va: number,
  accessType: number,
  flags = VM_FAULT_NORMAL,
): FaultResult {
  const r = faultRun(uvm, map, va, accessType, flags);
  /* the context outlives the fault: it must not keep this kernel alive */
  faultCtx.lk.map = null as unknown as VmMap;
  faultCtx.lk.entry = null as unknown as VmMapEntry;
  return r;
}

/** faultRun: uvmFault's body, in the shared fault context. */
function faultRun(
  uvm: Uvm,
  map: VmMap,
  va: number,
  accessType: number,
  flags: number,
): FaultResult {
  const flt = faultCtx;
  uvm.exp.faults++;
  if (uvm.reclaim !== null && uvm.pages.freeCount < uvm.freemin) uvm.reclaim();
  flt.va = truncPage(va, uvm.pageSize);
  flt.noramWaits = 0;
  flt.flags = flags;
  uvm.hist?.emit({
    type: 'fault',
    pmap: map.pmap.id,
    va: flt.va,
    access: accessType,
    wire: (flags & VM_FAULT_WIRE_MASK) !== 0,
  });
  for (;;) {
    flt.wirePaging = (flags & VM_FAULT_WIRE_MASK) !== 0;
    flt.accessType = accessType;
    const r = faultCheck(uvm, map, flt);
    if (r === RESTART) continue;
    if (r !== 0) return uvm.hist === null ? r : faultDone(uvm.hist, flt.va, r);
    const amap = flt.lk.entry.aref.amap;
    const shadowed = amap !== null && flt.anons[flt.centeridx] !== 0;
    let res: FaultResult | typeof RESTART;
    if (flt.lk.entry.maptype === VM_MAPTYPE_VPAGETABLE) res = faultVpagetable(uvm, flt);
    else res = shadowed ? faultUpper(uvm, flt) : faultLower(uvm, flt);
    if (res !== RESTART) return uvm.hist === null ? res : faultDone(uvm.hist, flt.va, res);
  }
}

/** faultDone: the fault ends with r: tell the event stream => r. */
function faultDone(hist: UvmHist, va: number, r: FaultResult): FaultResult {
  hist.emit({ type: 'fault-done', va, result: r === 0 ? 'ok' : r });
  return r;
}

/**
 * faultCheck: look up the entry, check protection, resolve needs-copy,
 * pick the window and read its anons.
 * => on 0 the map is read-locked (released by the phases), and the amap, if
 *    any, is locked.
 */
function faultCheck(uvm: Uvm, map: VmMap, flt: FaultCtx): FaultResult | typeof RESTART {
  const lk = flt.lk;
  const r = vmMapLookup(map, flt.va, flt.accessType, lk, true);
  if (r !== 0) {
    if (r === 'EACCES') uvm.exp.fltprot++;
    return r;
  }
  const entry = lk.entry;
  flt.enterProt = lk.prot;
  if (flt.wirePaging) flt.accessType = flt.enterProt;
  if (lk.wired) flt.wirePaging = true;
  flt.cowNow = (flt.accessType & PROT_WRITE) !== 0;
  const amap = entry.aref.amap;
  if (amap === null && entry.object === null) {
    vmMapLookupDone(lk);
    return 'EFAULT';
  }
  const ps = uvm.pageSize;
  const burst = (flt.flags & VM_FAULT_BURST) !== 0 && !flt.wirePaging;
  const window = burst ? advice(uvm, entry) : NO_AHEAD;
  flt.startva = Math.max(entry.start, flt.va - window[0] * ps);
  const endva = Math.min(entry.end, flt.va + (window[1] + 1) * ps);
  flt.npages = (endva - flt.startva) / ps;
  flt.centeridx = (flt.va - flt.startva) / ps;
  if (amap !== null) {
    amapLock(amap);
    amapLookups(uvm, entry.aref, flt.startva - entry.start, flt.anons, flt.npages);
  } else {
    flt.anons.fill(0, 0, flt.npages);
  }
  return 0;
}

/** unlockAll: drop the amap and map locks a fault holds. */
function unlockAll(flt: FaultCtx): void {
  const amap = flt.lk.entry.aref.amap;
  if (amap?.lock.owned) amapUnlock(amap);
  vmMapLookupDone(flt.lk);
}

/**
 * outOfMemory: give up the locks, try to reclaim; RESTART if that helped,
 * else ENOMEM, or EIO when pageouts failed on I/O errors.
 * => `hold`: the page the fault copies from (or NOPAGE): it is kept busy
 *    while the pagedaemon runs, so the daemon cannot take the very page the
 *    restarted fault would then have to bring back (a livelock).
 */
function outOfMemory(uvm: Uvm, flt: FaultCtx, hold = NOPAGE): 'ENOMEM' | 'EIO' | typeof RESTART {
  unlockAll(flt);
  uvm.exp.fltnoram++;
  if (++flt.noramWaits > MAX_NORAM_WAITS) return 'ENOMEM';
  const errs = uvm.exp.swapioerrs + uvm.exp.vnodeioerrs;
  const pm = uvm.pages;
  const held = hold !== NOPAGE && (pm.flags[hold] & PG_BUSY) === 0;
  if (held) pm.flags[hold] |= PG_BUSY;
  const freed = uvm.waitForMemory();
  if (held) pm.flags[hold] &= ~PG_BUSY;
  if (freed) return RESTART;
  return uvm.exp.swapioerrs + uvm.exp.vnodeioerrs > errs ? 'EIO' : 'ENOMEM';
}

/**
 * wireFull: this fault would wire pg (a wiring fault, or a fault in a wired
 * entry) and pg already has WIRE_MAX wirings.
 */
function wireFull(uvm: Uvm, flt: FaultCtx, pg: Frame): boolean {
  if (!flt.wirePaging || uvm.pages.wireCount(pg) < WIRE_MAX) return false;
  const old = flt.lk.map.pmap.lookup(flt.va);
  return !(old & PTE_WIRED && pteFrame(old) === pg);
}

/**
 * enterPage: map frame pg at the faulting address (pmap_enter), then wire
 * it (wiring fault, or a fault in a wired entry) or activate it. A wired
 * translation it replaces (copy-on-write in a wired entry) gives up its
 * page's wiring.
 */
function enterPage(uvm: Uvm, flt: FaultCtx, pg: Frame, prot: number): void {
  const pm = uvm.pages;
  if (pm.owner[pg] === 0) kpanic(`uvm_fault: entering ownerless page ${pg}`);
  if (pm.flags[pg] & PG_BUSY) kpanic(`uvm_fault: entering busy page ${pg}`);
  const pmap = flt.lk.map.pmap;
  const old = pmap.lookup(flt.va);
  const oldWired = (old & PTE_WIRED) !== 0;
  pmap.enter(flt.va, pg, prot, flt.wirePaging ? PMAP_WIRED : 0);
  if (oldWired && pteFrame(old) !== pg) pageUnwire(uvm, pteFrame(old));
  if (!flt.wirePaging) pageActivate(uvm, pg);
  else if (!(oldWired && pteFrame(old) === pg)) pageWire(uvm, pg);
  if (flt.flags & (VM_FAULT_DIRTY | VM_FAULT_UNSWAP)) dirtyPage(uvm, flt, pg);
}

/**
 * dirtyPage: VM_FAULT_DIRTY marks pg modified; VM_FAULT_UNSWAP frees the
 * swap copy of an anon's page, which is then the only copy (dirty).
 */
function dirtyPage(uvm: Uvm, flt: FaultCtx, pg: Frame): void {
  const pm = uvm.pages;
  if (flt.flags & VM_FAULT_DIRTY) pm.attrs[pg] |= PMAP_MODIFIED;
  const an = pm.uanon(pg);
  if (flt.flags & VM_FAULT_UNSWAP && an !== 0 && uvm.anons.swslot[an] !== 0) {
    anonDropswap(uvm, an);
    pm.flags[pg] &= ~PG_CLEAN;
  }
}

/**
 * upperNeighbours: fault-ahead in the anon layer: map the resident,
 * unbusy anons of the window that are not mapped yet; read-only where
 * shared (uvm_fault_upper_neighbor).
 */
function upperNeighbours(uvm: Uvm, flt: FaultCtx): void {
  const ps = uvm.pageSize;
  const pmap = flt.lk.map.pmap;
  const pool = uvm.anons;
  for (let i = 0; i < flt.npages; i++) {
    const an = flt.anons[i];
    if (i === flt.centeridx || an === 0) continue;
    const pg = pool.page[an];
    if (pg === NOPAGE || uvm.pages.flags[pg] & PG_BUSY) continue;
    const va = flt.startva + i * ps;
    if (pmap.lookup(va) !== 0) continue;
    const prot = pool.ref[an] > 1 ? flt.enterProt & ~PROT_WRITE : flt.enterProt;
    pmap.enter(va, pg, loanProt(uvm, pg, prot), 0);
    uvm.exp.fltnamap++;
  }
}

/**
 * faultUpper: the anon layer (uvm_fault_upper).
 */
function faultUpper(uvm: Uvm, flt: FaultCtx): FaultResult | typeof RESTART {
  const pool = uvm.anons;
  const entry = flt.lk.entry;
  const amap = entry.aref.amap!;
  upperNeighbours(uvm, flt);
  let an = flt.anons[flt.centeridx];
  if (pool.lockOf(an) !== amap.lock)
    kpanic(`uvm_fault_upper: anon ${an} not under its amap's lock`);
  const wasOut = pool.page[an] === NOPAGE;
  const got = anonGet(uvm, an);
  if (got === 'ENOMEM') return outOfMemory(uvm, flt);
  if (got === 'EIO') {
    unlockAll(flt);
    return 'EIO';
  }
  if (wasOut) uvm.exp.fltanget++;
  /* a loaned page is never wired (a loan break would leave the wiring behind): wiring copies
     it; a shared anon's by promotion, never into a needs-copy amap (others still share it) */
  const wireLoaned = flt.wirePaging && uvm.pages.loanCount(pool.page[an]) > 0;
  if (wireLoaned && !flt.lk.needsCopy) flt.cowNow = true;
  let pg = uvmLoanFaultAnon(uvm, an, (flt.cowNow || wireLoaned) && pool.ref[an] === 1);
  if (pg === NOPAGE) return outOfMemory(uvm, flt, pool.page[an]);
  const pm = uvm.pages;
  if (pm.uanon(pg) !== an && pm.loanCount(pg) === 0)
    kpanic(`uvm_fault_upper: anon ${an}'s page ${pg} is not its own`);
  if (flt.cowNow && pool.ref[an] > 1) {
    const nanon = anonAllocPage(uvm, amap.lock, 0);
    if (nanon === 0) return outOfMemory(uvm, flt, pg);
    const npg = pool.page[nanon];
    pageCopy(uvm, pg, npg);
    uvm.pages.flags[npg] &= ~(PG_BUSY | PG_FAKE);
    amapAdd(uvm, entry.aref, flt.va - entry.start, nanon, true);
    pool.ref[an]--;
    an = nanon;
    pg = npg;
    uvm.exp.flt_acow++;
    uvm.hist?.emit({ type: 'fault-path', va: flt.va, path: 'cow-promote', anon: an, frame: pg });
  } else {
    if (wireFull(uvm, flt, pg)) {
      unlockAll(flt);
      return 'EAGAIN';
    }
    if (pool.ref[an] > 1) flt.enterProt &= ~PROT_WRITE;
    flt.enterProt = loanProt(uvm, pg, flt.enterProt);
    uvm.exp.flt_anon++;
    uvm.hist?.emit({ type: 'fault-path', va: flt.va, path: 'upper', anon: an, frame: pg });
  }
  enterPage(uvm, flt, pg, flt.enterProt);
  if (flt.wirePaging) anonDropswap(uvm, an);
  unlockAll(flt);
  return 0;
}

/**
 * lowerNeighbours: fault-ahead in the object layer: map resident object
 * pages of the window that no anon shadows, read-only in a private entry.
 */
function lowerNeighbours(uvm: Uvm, flt: FaultCtx): void {
  const entry = flt.lk.entry;
  const obj = entry.object;
  if (obj === null) return;
  const ps = uvm.pageSize;
  const pmap = flt.lk.map.pmap;
  const prot = entry.eflags & MAP_ENTRY_COW ? flt.enterProt & ~PROT_WRITE : flt.enterProt;
  const base = (entry.offset + (flt.startva - entry.start)) / ps;
  for (let i = 0; i < flt.npages; i++) {
    if (i === flt.centeridx || flt.anons[i] !== 0) continue;
    const pg = obj.pages.get(base + i);
    if (pg === undefined || uvm.pages.flags[pg] & PG_BUSY) continue;
    const va = flt.startva + i * ps;
    if (pmap.lookup(va) !== 0) continue;
    pmap.enter(va, pg, loanProt(uvm, pg, prot), 0);
    uvm.exp.fltnomap++;
  }
}

/**
 * faultLower: the object layer, or zero fill (uvm_fault_lower).
 */
function faultLower(uvm: Uvm, flt: FaultCtx): FaultResult | typeof RESTART {
  const entry = flt.lk.entry;
  const obj = entry.object;
  const promote = obj === null || (flt.cowNow && (entry.eflags & MAP_ENTRY_COW) !== 0);
  lowerNeighbours(uvm, flt);
  let src: Frame = NOPAGE;
  if (obj !== null) {
    const got = obj.pgoGet((entry.offset + (flt.va - entry.start)) / uvm.pageSize);
    if (got === 'ENOMEM') return outOfMemory(uvm, flt);
    if (typeof got === 'string') {
      unlockAll(flt);
      return got;
    }
    src = got;
  }
  if (!promote && (flt.cowNow || flt.wirePaging) && uvm.pages.loanCount(src) > 0) {
    const idx = (entry.offset + (flt.va - entry.start)) / uvm.pageSize;
    src = uvmLoanBreakObject(uvm, obj!, idx);
    if (src === NOPAGE) return outOfMemory(uvm, flt);
  }
  if (!promote) {
    if (wireFull(uvm, flt, src)) {
      unlockAll(flt);
      return 'EAGAIN';
    }
    const prot = entry.eflags & MAP_ENTRY_COW ? flt.enterProt & ~PROT_WRITE : flt.enterProt;
    enterPage(uvm, flt, src, loanProt(uvm, src, prot));
    uvm.exp.flt_obj++;
    uvm.hist?.emit({ type: 'fault-path', va: flt.va, path: 'lower', anon: 0, frame: src });
    unlockAll(flt);
    return 0;
  }
  return lowerPromote(uvm, flt, src);
}

/**
 * faultVpagetable: a VPAGETABLE entry: the walk of its virtual page table
 * names the backing object's page, mapped with what the walk allows
 * (DragonFly's vm_fault_vpagetable, then vm_fault_object); a wiring
 * fault walks for no access, as DragonFly's vm_fault_wire.
 */
function faultVpagetable(uvm: Uvm, flt: FaultCtx): FaultResult | typeof RESTART {
  const wiring = (flt.flags & VM_FAULT_WIRE_MASK) !== 0;
  const walk = vpagetableWalk(uvm, flt.lk.entry, flt.va, wiring ? PROT_NONE : flt.accessType);
  if (walk === 'ENOMEM') return outOfMemory(uvm, flt);
  if (typeof walk === 'string' || wireFull(uvm, flt, walk.pg)) {
    unlockAll(flt);
    return typeof walk === 'string' ? walk : 'EAGAIN';
  }
  let pg = walk.pg;
  if ((flt.cowNow || flt.wirePaging) && uvm.pages.loanCount(pg) > 0) {
    pg = uvmLoanBreakObject(uvm, flt.lk.entry.object!, uvm.pages.offset[pg]);
    if (pg === NOPAGE) return outOfMemory(uvm, flt);
  }
  enterPage(uvm, flt, pg, loanProt(uvm, pg, flt.enterProt & walk.prot));
  uvm.exp.flt_obj++;
  uvm.hist?.emit({ type: 'fault-path', va: flt.va, path: 'lower', anon: 0, frame: pg });
  unlockAll(flt);
  return 0;
}

/**
 * lowerPromote: a new anon for va, copied from the object page `src` or
 * zero-filled (uvm_fault_lower_promote).
 */
function lowerPromote(uvm: Uvm, flt: FaultCtx, src: Frame): FaultResult | typeof RESTART {
  const pool = uvm.anons;
  const entry = flt.lk.entry;
  const amap = entry.aref.amap;
  if (amap === null) kpanic(`uvm_fault_lower_promote: entry at ${entry.start} has no amap`);
  const an = anonAllocPage(uvm, amap.lock, src === NOPAGE ? UVM_PGA_ZERO : 0);
  if (an === 0) return outOfMemory(uvm, flt, src);
  const pg = pool.page[an];
  if (src !== NOPAGE) {
    pageCopy(uvm, src, pg);
    uvm.exp.flt_prcopy++;
  } else uvm.exp.flt_przero++;
  uvm.hist?.emit({
    type: 'fault-path',
    va: flt.va,
    path: src === NOPAGE ? 'zero-fill' : 'copy-promote',
    anon: an,
    frame: pg,
  });
  uvm.pages.flags[pg] &= ~(PG_BUSY | PG_FAKE);
  amapAdd(uvm, entry.aref, flt.va - entry.start, an, false);
  /* promoted into a shared amap: other sharers must stop seeing the object page */
  if (src !== NOPAGE)
    amapSlotMoved(uvm, amap, entry.aref.pageoff + (flt.va - entry.start) / uvm.pageSize, src, pg);
  enterPage(uvm, flt, pg, flt.enterProt);
  unlockAll(flt);
  return 0;
}

/**
 * uvmFaultWire: fault in and wire every page of the ranges, each with its
 * protection (uvm_fault_wire), all or nothing.
 * => first every page is faulted in for reading and held (uvmVslock),
 *    and the frames the wiring faults will copy into (a writable private
 *    page gets its own copy) are reserved; so the wiring faults cannot
 *    fail, and a failure before them leaves nothing another access could
 *    see. PROT_NONE ranges are wired without faulting (nothing is mapped).
 * => 0, or the error of the fault that failed, with nothing wired.
 */
export function uvmFaultWire(uvm: Uvm, map: VmMap, ranges: readonly WireRange[]): FaultResult {
  const held: Frame[] = [];
  let copies = 0;
  let r: FaultResult = 0;
  for (const w of ranges) {
    if (w.prot === PROT_NONE) continue;
    r = uvmVslock(uvm, map, w.start, w.end, held);
    if (r !== 0) break;
    if (w.prot & PROT_WRITE) copies += unwritable(uvm, map, w.start, w.end);
  }
  if (r === 0 && !uvmReserve(uvm, copies)) r = 'ENOMEM';
  for (let i = 0; r === 0 && i < ranges.length; i++) r = wireRange(uvm, map, ranges[i]);
  /* faults in entries already marked wired wire too, reads included: unwire every range */
  if (r !== 0) for (const w of ranges) uvmFaultUnwire(uvm, map, w.start, w.end);
  uvmVsunlock(uvm, held);
  return r;
}

/** wireRange: the wiring faults of one range; on a failure its pages are unwired again. */
function wireRange(uvm: Uvm, map: VmMap, w: WireRange): FaultResult {
  if (w.prot === PROT_NONE) return 0;
  for (let va = w.start; va < w.end; va += uvm.pageSize) {
    const r = uvmFault(uvm, map, va, w.prot, VM_FAULT_CHANGE_WIRING);
    if (r !== 0) {
      uvmFaultUnwire(uvm, map, w.start, va);
      return r;
    }
  }
  return 0;
}

/** unwritable: pages of [start, end) whose translation does not allow writing yet. */
function unwritable(uvm: Uvm, map: VmMap, start: number, end: number): number {
  let n = 0;
  for (let va = start; va < end; va += uvm.pageSize) if (!(map.pmap.lookup(va) & PTE_W)) n++;
  return n;
}

/**
 * uvmVslock: fault every page of [start, end) in for reading and hold its
 * frame (uvm_vslock, which wires user memory for physio): a hold is a
 * wiring of the frame, so no later fault's pageout can take it. A read
 * fault takes no private copy of anything.
 * => 0, the frames pushed on `held`; or the error of the fault that
 *    failed (EAGAIN for a frame wired too often), with nothing more held.
 */
export function uvmVslock(
  uvm: Uvm,
  map: VmMap,
  start: number,
  end: number,
  held: Frame[],
): FaultResult {
  const from = held.length;
  for (let va = start; va < end; va += uvm.pageSize) {
    let pte = map.pmap.lookup(va);
    if (!(pte & (PTE_R | PTE_W | PTE_X))) {
      const r = uvmFault(uvm, map, va, PROT_READ);
      if (r !== 0) {
        uvmVsunlock(uvm, held, from);
        return r;
      }
      pte = map.pmap.lookup(va);
    }
    const pg = pteFrame(pte);
    if (!uvmHold(uvm, pg)) {
      uvmVsunlock(uvm, held, from);
      return 'EAGAIN';
    }
    held.push(pg);
  }
  return 0;
}

/**
 * uvmHold: hold frame pg (a wiring) for the time of an access.
 * => false, holding nothing, when pg is wired so often that the hold and
 *    a wiring fault's own wiring would not both fit (WIRE_MAX).
 */
export function uvmHold(uvm: Uvm, pg: Frame): boolean {
  if (uvm.pages.wireCount(pg) >= WIRE_MAX - 1) return false;
  pageWire(uvm, pg);
  return true;
}

/** uvmVsunlock: drop the holds held[from..] (uvm_vsunlock). */
export function uvmVsunlock(uvm: Uvm, held: Frame[], from = 0): void {
  for (let i = from; i < held.length; i++) pageUnwire(uvm, held[i]);
  held.length = from;
}

/**
 * uvmHoldMapped: hold the frames the translations of [start, end) map,
 * without faulting (a wired range about to move: its pages must stay
 * resident while unwired). Release with uvmVsunlock.
 */
export function uvmHoldMapped(uvm: Uvm, map: VmMap, start: number, end: number, held: Frame[]) {
  map.pmap.forRange(start, end, (t, i) => {
    const pg = pteFrame(t.pte[i]);
    pageWire(uvm, pg);
    held.push(pg);
  });
}

/**
 * uvmReserve: wait (running the pagedaemon) until n frames are free, so
 * that the next n page allocations cannot fail.
 * => false when the pagedaemon cannot free enough.
 */
export function uvmReserve(uvm: Uvm, n: number): boolean {
  while (uvm.pages.freeCount < n) if (!uvm.waitForMemory()) return false;
  return true;
}

/**
 * uvmFaultUnwire: unwire the pages of [start, end) (uvm_fault_unwire).
 */
export function uvmFaultUnwire(uvm: Uvm, map: VmMap, start: number, end: number): void {
  const pmap = map.pmap;
  for (let va = start; va < end; va += uvm.pageSize) {
    const pte = pmap.lookup(va);
    if ((pte & PTE_WIRED) === 0) continue;
    pmap.unwire(va);
    pageUnwire(uvm, pteFrame(pte));
  }
}
