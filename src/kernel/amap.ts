/*
 * amap.ts: anonymous memory maps (uvm_amap.c, seed 002).
 *
 * An amap is an array of slots, one per page, each holding an anon or
 * nothing. Map entries reference a window of it through a vm_aref
 * { amap, pageoff }.
 *
 *            slot:   0     1     2     3     4     5   ...  nslot ... maxslot
 *   anon[]        [  .  | a7  |  .  | a2  | a9  |  .  ]      (0 = no anon)
 *   slots[]       [  1  ,  3  ,  4  ]                        the used slots,
 *                  \--- nused = 3 ---/                       in no order
 *   bckptr[]      [  ?  |  0  |  ?  |  1  |  2  |  ?  ]      slots[bckptr[s]] == s
 *   ppref[]       run-length per-page reference counts (optional, see below)
 *
 *   ref     references to the amap (one per aref; a split entry holds two)
 *   flags   AMAP_SHARED (share-inherited: COW must not write into it in
 *           place), AMAP_SWAPOFF (swapoff is paging it in)
 *   lock    the mutex shared by the amap and all its anons (an_lock)
 *
 * ppref ("per-page reference"): once some aref covers only part of the
 * amap, each page's count of arefs covering it is kept, run-length encoded:
 *   a run of length 1 and count r is stored as r+1;
 *   a longer run as -(r+1) followed by its length.
 * When a page's count reaches zero its anon is freed (amap_wiperange).
 *
 * Invariants (auditAmaps):
 *   - nused == the number of non-empty slots below nslot; none above it
 *   - slots[0..nused) are distinct, anon[slots[i]] != 0, bckptr[slots[i]] == i
 *   - ppref runs tile [0, nslot) exactly, each count in [0, ref], and a
 *     page with count 0 holds no anon
 *   - every anon's an_ref equals the number of slots (in all amaps) holding
 *     it, its lock is the amap's, and it has a page or a swap slot (or
 *     was discarded after MADV_FREE)
 *   - every live anon is held by some amap (no leaks); no lock left held
 */
import { type AnonOwner, anonAllocPage, anonFreelst, anonPagein } from './anon.ts';
import {
  mutexEnter,
  mutexExit,
  mutexObjAlloc,
  mutexObjFree,
  mutexObjHold,
  type VmMutex,
} from './lock.ts';
import {
  NOPAGE,
  PG_BUSY,
  PG_FAKE,
  PG_RELEASED,
  pageActivate,
  pageCopy,
  pageUnwire,
  pageWire,
} from './page.ts';
import {
  type AnonId,
  type Frame,
  type Int32ArrayOf,
  int32ArrayOf,
  KernelPanic,
  kassert,
  kpanic,
  MAP_ENTRY_NEEDS_COPY,
  NOANON,
  vmerr,
} from './param.ts';
import type { Uvm } from './uvm.ts';

/* amap flags (am_flags), amap_ref flags */
export const AMAP_SHARED = 0x1;
export const AMAP_REFALL = 0x2;
export const AMAP_SWAPOFF = 0x4;

/* amap_copy flags */
export const AMAP_COPY_NOWAIT = 0x02;
export const AMAP_COPY_NOCHUNK = 0x04;
export const AMAP_COPY_NOMERGE = 0x08;

/* amap_extend flags */
export const AMAP_EXTEND_BACKWARDS = 0x00;
export const AMAP_EXTEND_FORWARDS = 0x01;
export const AMAP_EXTEND_NOWAIT = 0x02;

/* kmem allocation granule: amap arrays are rounded up to it */
const KMEM_ALIGN = 8;
const SIZEOF_INT = 4;

/** am_ppref when ppref was tried and given up on for this amap. */
export const PPREF_NONE = 'none';
export type Ppref = Int32Array | null | typeof PPREF_NONE;

/**
 * am_slots and am_bckptr hold slot numbers below am_maxslot: 16 bits wide
 * while an amap has at most 2^16 slots (nearly all do: chunking keeps
 * private amaps at UVM_AMAP_LARGE), 32 bits beyond. The seed's are ints.
 */
export type SlotArray = Uint16Array | Int32Array;

/** slotArray: room for n slot numbers, as narrow as they allow. */
function slotArray(n: number): SlotArray {
  return n <= 0x10000 ? new Uint16Array(n) : new Int32Array(n);
}

/** An anonymous memory map (struct vm_amap). */
export class Amap implements AnonOwner {
  /** am_lock: null only between amap_alloc1 and the caller setting it */
  lock: VmMutex;
  ref = 1;
  flags = 0;
  nused = 0;
  ppref: Ppref = null;
  slots: SlotArray;
  bckptr: SlotArray;
  anon: Int32ArrayOf<AnonId>;

  constructor(
    readonly id: number,
    public maxslot: number,
    public nslot: number,
  ) {
    this.slots = slotArray(maxslot);
    this.bckptr = slotArray(maxslot);
    this.anon = int32ArrayOf<AnonId>(maxslot);
    this.lock = null as unknown as VmMutex;
  }
}

/** The anon-layer reference a map entry holds (struct vm_aref). */
export interface VmAref {
  /** ar_pageoff: the slot the entry's first page uses */
  pageoff: number;
  /** ar_amap: the amap, or null while the entry has none */
  amap: Amap | null;
}

/** What amap operations need of a map entry. */
export interface AmapEntry {
  start: number;
  end: number;
  aref: VmAref;
  eflags: number;
}

/** The map operations amap_copy's chunking and merging use, on the map's own entries E. */
export interface AmapCopyMap<E extends AmapEntry> {
  clipStart(entry: E, va: number): void;
  clipEnd(entry: E, va: number): void;
  /** uvm_mapent_trymerge(map, entry, UVM_MERGE_COPYING): true if merged */
  tryMergeCopying(entry: E): boolean;
  /** clipEnd(entry, end) then that merge into the previous entry, in one step */
  absorbChunk(entry: E, end: number): boolean;
}

/*
 * ---- helpers -----------------------------------------------------------
 */

/** amapLock / amapUnlock / amapRefs: the amap_lock family. */
export function amapLock(amap: Amap): void {
  mutexEnter(amap.lock);
}
export function amapUnlock(amap: Amap): void {
  mutexExit(amap.lock);
}
export function amapRefs(amap: Amap): number {
  return amap.ref;
}

/**
 * roundupSlots: round a slot count up to the kmem granule (amap_roundup_slots).
 */
export function roundupSlots(slots: number): number {
  const bytes = slots * SIZEOF_INT;
  return (Math.ceil(bytes / KMEM_ALIGN) * KMEM_ALIGN) / SIZEOF_INT;
}

/** b2slot: bytes to slots (AMAP_B2SLOT); throws EINVAL unless page aligned. */
function b2slot(uvm: Uvm, bytes: number, call: string, arg: string): number {
  /* one division: a whole, non-negative quotient is a page multiple */
  const slots = bytes / uvm.pageSize;
  if (!Number.isInteger(slots) || slots < 0)
    throw vmerr(
      'EINVAL',
      call,
      arg,
      `${bytes} is not a non-negative multiple of the page size ${uvm.pageSize}`,
    );
  return slots;
}

/** slotOf: the amap slot of byte `offset` into aref's window; EINVAL if outside. */
function slotOf(uvm: Uvm, aref: VmAref, offset: number, npages: number, call: string): number {
  const amap = aref.amap;
  if (amap === null) throw vmerr('EINVAL', call, 'aref', 'the aref has no amap');
  const slot = b2slot(uvm, offset, call, 'offset') + aref.pageoff;
  if (!Number.isInteger(npages) || npages < 1 || slot + npages > amap.nslot)
    throw vmerr(
      'EINVAL',
      call,
      'offset',
      `slots ${slot}..${slot + npages - 1} are outside the amap's ${amap.nslot}`,
    );
  return slot;
}

/** checkRange: slots [off, off+len) must lie inside the amap; EINVAL if not. */
function checkRange(amap: Amap, off: number, len: number, call: string): void {
  if (!Number.isInteger(off) || off < 0)
    throw vmerr('EINVAL', call, 'offset', `${off} is not a slot number`);
  if (!Number.isInteger(len) || len < 0)
    throw vmerr('EINVAL', call, 'len', `${len} is not a slot count`);
  if (off + len > amap.nslot)
    throw vmerr(
      'EINVAL',
      call,
      'len',
      `slots ${off}..${off + len - 1} are outside the amap's ${amap.nslot}`,
    );
}

/** removeSlot: take slot out of the used list, keeping it dense. */
function removeSlot(amap: Amap, slot: number): void {
  amap.anon[slot] = NOANON;
  const ptr = amap.bckptr[slot];
  const last = amap.nused - 1;
  if (ptr !== last) {
    amap.slots[ptr] = amap.slots[last];
    amap.bckptr[amap.slots[ptr]] = ptr;
  }
  amap.nused--;
}

/** insertSlot: put anon in an empty slot and on the used list. */
function insertSlot(amap: Amap, slot: number, anon: AnonId): void {
  amap.anon[slot] = anon;
  amap.bckptr[slot] = amap.nused;
  amap.slots[amap.nused] = slot;
  amap.nused++;
}

/*
 * ---- allocation --------------------------------------------------------
 */

/**
 * alloc1: allocate an amap without a lock and off the list (amap_alloc1).
 * => one reference, nslot = slots, room for slots + padslots (rounded up).
 */
function alloc1(uvm: Uvm, slots: number, padslots: number): Amap {
  uvm.exp.amapallocs++;
  uvm.hist?.emit({ type: 'amap-alloc', amap: uvm.nextAmapId, slots });
  return new Amap(uvm.nextAmapId++, roundupSlots(slots + padslots), slots);
}

/**
 * amapAlloc: allocate an amap to manage `sz` bytes of anonymous memory,
 * with room to grow by `padsz` more (amap_alloc).
 * => sz > 0 and padsz >= 0 are multiples of the page size.
 * => the new amap has one reference, its own lock, and is on the amap list.
 */
export function amapAlloc(uvm: Uvm, sz: number, padsz = 0): Amap {
  const slots = b2slot(uvm, sz, 'amap_alloc', 'sz');
  const padslots = b2slot(uvm, padsz, 'amap_alloc', 'padsz');
  if (slots === 0) throw vmerr('EINVAL', 'amap_alloc', 'sz', 'an amap needs at least one slot');
  const amap = alloc1(uvm, slots, padslots);
  amap.lock = mutexObjAlloc();
  uvm.amaps.add(amap);
  return amap;
}

/**
 * amapFree: free an amap (amap_free).
 * => no references, no anons, not being swapped off, unlocked.
 */
export function amapFree(uvm: Uvm, amap: Amap): void {
  kassert(amap.ref === 0 && amap.nused === 0, 'amap_free: amap still referenced or in use');
  kassert((amap.flags & AMAP_SWAPOFF) === 0, 'amap_free: amap being swapped off');
  if (amap.lock !== null) {
    kassert(!amap.lock.owned, 'amap_free: amap locked');
    mutexObjFree(amap.lock);
  }
  uvm.exp.amapfrees++;
  uvm.hist?.emit({ type: 'amap-free', amap: amap.id });
}

/*
 * ---- extend ------------------------------------------------------------
 */

/** Result of amap_extend: 0, or the errno it reports. */
export type ExtendResult = 0 | 'E2BIG' | 'ENOMEM';

/**
 * amapExtend: grow an entry's amap to cover `addsize` more bytes after
 * (AMAP_EXTEND_FORWARDS) or before (AMAP_EXTEND_BACKWARDS) it (amap_extend).
 * => the amap must have exactly one reference; we lock it.
 * => case 1: the slots already exist (only ppref changes);
 *    case 2: they fit in the padding (nslot grows; backwards slides the
 *            anons up to the top of the array);
 *    case 3: new, larger arrays; refused with E2BIG at UVM_AMAP_LARGE (uvm.tun.amapLarge) slots.
 * => the entry's start/end are the caller's to change; we move pageoff.
 */
export function amapExtend(
  uvm: Uvm,
  entry: AmapEntry,
  addsize: number,
  flags: number,
): ExtendResult {
  const amap = entry.aref.amap;
  if (amap === null) throw vmerr('EINVAL', 'amap_extend', 'entry', 'the entry has no amap');
  const slotadd = b2slot(uvm, addsize, 'amap_extend', 'addsize');
  const slotmapped = b2slot(uvm, entry.end - entry.start, 'amap_extend', 'entry');
  if (amap.ref !== 1)
    throw vmerr('EINVAL', 'amap_extend', 'entry', `the amap is shared (${amap.ref} references)`);
  const forwards = (flags & AMAP_EXTEND_FORWARDS) !== 0;
  const slotoff = entry.aref.pageoff;
  amapLock(amap);
  uvm.exp.amapextends++;
  uvm.hist?.emit({ type: 'amap-extend', amap: amap.id, slots: slotadd, forwards });
  wipeOutsideWindow(uvm, amap, slotoff, slotoff + slotmapped);
  if (forwards && amap.nslot >= slotoff + slotmapped + slotadd) {
    /* case 1f */
    anonFreelst(uvm, amap, ppAdjrefIfAny(uvm, amap, slotoff + slotmapped, slotadd, 1));
    return 0;
  }
  if (!forwards && slotadd <= slotoff) {
    /* case 1b */
    entry.aref.pageoff = slotoff - slotadd;
    anonFreelst(uvm, amap, ppAdjrefIfAny(uvm, amap, slotoff - slotadd, slotadd, 1));
    return 0;
  }
  const slotneed = forwards ? slotoff + slotmapped + slotadd : slotadd + slotmapped;
  if (amap.maxslot >= slotneed) {
    if (forwards) extendCase2Forwards(uvm, amap, slotoff + slotmapped, slotneed);
    else extendCase2Backwards(amap, entry, slotoff, slotmapped, slotadd);
    return 0;
  }
  amapUnlock(amap);
  if (slotneed >= uvm.tun.amapLarge) return 'E2BIG';
  amapLock(amap);
  extendCase3(uvm, amap, entry, slotmapped, slotadd, slotneed, forwards);
  return 0;
}

/**
 * wipeOutsideWindow: free anons in slots outside [lo, hi) of an amap whose
 * only reference is that window.
 * => amap locked; stays locked.
 * => with ppref these slots are already empty (their count is zero). Without
 *    it (PPREF_NONE) a partial unmap leaves them behind, and UVM's extend
 *    would then expose them (forwards) or mis-slide them (backwards); no
 *    aref can reach them, so they are garbage and go now.
 */
function wipeOutsideWindow(uvm: Uvm, amap: Amap, lo: number, hi: number): void {
  let tofree = NOANON;
  if (lo > 0) tofree = amapWiperange(uvm, amap, 0, lo, tofree);
  if (hi < amap.nslot) tofree = amapWiperange(uvm, amap, hi, amap.nslot - hi, tofree);
  if (tofree === NOANON) return;
  anonFreelst(uvm, amap, tofree);
  amapLock(amap);
}

/** ppAdjrefIfAny: adjust ppref when the amap keeps one; returns the to-free list. */
function ppAdjrefIfAny(
  uvm: Uvm,
  amap: Amap,
  curslot: number,
  slotlen: number,
  adj: number,
): AnonId {
  if (amap.ppref instanceof Int32Array) return ppAdjref(uvm, amap, curslot, slotlen, adj, NOANON);
  return NOANON;
}

/** extendCase2Forwards: use the padding after nslot (amap_extend case 2f). */
function extendCase2Forwards(uvm: Uvm, amap: Amap, mappedEnd: number, slotneed: number): void {
  let tofree = NOANON;
  if (amap.ppref instanceof Int32Array) {
    if (mappedEnd < amap.nslot)
      tofree = ppAdjref(uvm, amap, mappedEnd, amap.nslot - mappedEnd, 1, tofree);
    ppSetreflen(amap.ppref, amap.nslot, 1, slotneed - amap.nslot);
  }
  amap.nslot = slotneed;
  anonFreelst(uvm, amap, tofree);
}

/** extendCase2Backwards: slide everything to the top of the arrays (case 2b). */
function extendCase2Backwards(
  amap: Amap,
  entry: AmapEntry,
  slotoff: number,
  slotmapped: number,
  slotadd: number,
) {
  const slotspace = amap.maxslot - slotmapped;
  if (amap.ppref instanceof Int32Array) {
    amap.ppref.copyWithin(slotspace, slotoff, slotoff + slotmapped);
    ppSetreflen(amap.ppref, 0, 0, slotspace - slotadd);
    ppSetreflen(amap.ppref, slotspace - slotadd, 1, slotadd);
  }
  amap.anon.copyWithin(slotspace, slotoff, slotoff + slotmapped);
  amap.anon.fill(0, slotoff, slotspace);
  amap.bckptr.copyWithin(slotspace, slotoff, slotoff + slotmapped);
  for (let i = 0; i < amap.nused; i++) amap.slots[i] += slotspace - slotoff;
  amap.nslot = amap.maxslot;
  entry.aref.pageoff = slotspace - slotadd;
  amapUnlock(amap);
}

/** extendCase3: move to larger arrays (amap_extend case 3). */
function extendCase3(
  uvm: Uvm,
  amap: Amap,
  entry: AmapEntry,
  slotmapped: number,
  slotadd: number,
  slotneed: number,
  forwards: boolean,
): void {
  const slotoff = entry.aref.pageoff;
  const slotalloc = Math.max(roundupSlots(slotneed), Math.min(uvm.tun.amapLarge, 2 * amap.maxslot));
  const slotspace = forwards ? 0 : slotalloc - slotmapped;
  const newsl = slotArray(slotalloc);
  const newbck = slotArray(slotalloc);
  const newover = int32ArrayOf<AnonId>(slotalloc);
  if (forwards) {
    newsl.set(amap.slots.subarray(0, amap.nused));
    newover.set(amap.anon.subarray(0, amap.nslot));
    newbck.set(amap.bckptr.subarray(0, amap.nslot));
  } else {
    for (let i = 0; i < amap.nused; i++) newsl[i] = amap.slots[i] + slotspace - slotoff;
    newover.set(amap.anon.subarray(slotoff, slotoff + slotmapped), slotspace);
    newbck.set(amap.bckptr.subarray(slotoff, slotoff + slotmapped), slotspace);
  }
  amap.slots = newsl;
  amap.anon = newover;
  amap.bckptr = newbck;
  let tofree = NOANON;
  const oldppref = amap.ppref;
  if (oldppref instanceof Int32Array) {
    const newppref = new Int32Array(slotalloc);
    if (forwards) newppref.set(oldppref.subarray(0, amap.nslot));
    else newppref.set(oldppref.subarray(slotoff, slotoff + slotmapped), slotspace);
    amap.ppref = newppref;
    if (forwards && slotoff + slotmapped < amap.nslot)
      tofree = ppAdjref(
        uvm,
        amap,
        slotoff + slotmapped,
        amap.nslot - (slotoff + slotmapped),
        1,
        tofree,
      );
    if (forwards) ppSetreflen(newppref, amap.nslot, 1, slotneed - amap.nslot);
    else {
      ppSetreflen(newppref, 0, 0, slotalloc - slotneed);
      ppSetreflen(newppref, slotalloc - slotneed, 1, slotneed - slotmapped);
    }
  }
  if (forwards) amap.nslot = slotneed;
  else {
    entry.aref.pageoff = slotspace - slotadd;
    amap.nslot = slotalloc;
  }
  amap.maxslot = slotalloc;
  anonFreelst(uvm, amap, tofree);
}

/*
 * ---- protection, wipeout -----------------------------------------------
 */

/**
 * amapShareProtect: lower the protection of every resident page the entry
 * covers in a shared amap, through pmap_page_protect (amap_share_protect).
 * => amap locked by the caller.
 * => walks am_anon when the entry covers fewer slots than are in use,
 *    am_slots otherwise.
 */
export function amapShareProtect(uvm: Uvm, entry: AmapEntry, prot: number): void {
  const amap = entry.aref.amap;
  if (amap === null) throw vmerr('EINVAL', 'amap_share_protect', 'entry', 'the entry has no amap');
  kassert(amap.lock.owned, 'amap_share_protect: amap not locked');
  const slots = b2slot(uvm, entry.end - entry.start, 'amap_share_protect', 'entry');
  const start = entry.aref.pageoff;
  const stop = start + slots;
  const page = uvm.anons.page;
  if (slots < amap.nused) {
    for (let lcv = start; lcv < stop; lcv++) {
      const an = amap.anon[lcv];
      if (an !== 0 && page[an] !== NOPAGE) uvm.pmap.pageProtect(page[an], prot);
    }
    return;
  }
  for (let lcv = 0; lcv < amap.nused; lcv++) {
    const slot = amap.slots[lcv];
    if (slot < start || slot >= stop) continue;
    const an = amap.anon[slot];
    if (page[an] !== NOPAGE) uvm.pmap.pageProtect(page[an], prot);
  }
}

/**
 * amapWipeout: drop every anon of an unreferenced amap and free it (amap_wipeout).
 * => amap locked, ref == 0. If swapoff is paging it in, swapoff finishes the job.
 */
export function amapWipeout(uvm: Uvm, amap: Amap): void {
  kassert(amap.lock.owned, 'amap_wipeout: amap not locked');
  kassert(amap.ref === 0, 'amap_wipeout: amap still referenced');
  if (amap.flags & AMAP_SWAPOFF) {
    amapUnlock(amap);
    return;
  }
  uvm.amaps.delete(amap);
  const ref = uvm.anons.ref;
  let tofree = NOANON;
  for (let lcv = 0; lcv < amap.nused; lcv++) {
    const an = amap.anon[amap.slots[lcv]];
    kassert(an !== 0 && ref[an] !== 0, 'amap_wipeout: bad anon');
    if (--ref[an] === 0) {
      ref[an] = tofree;
      tofree = an;
    }
    amap.anon[amap.slots[lcv]] = NOANON;
  }
  amap.nused = 0;
  anonFreelst(uvm, amap, tofree);
  amapFree(uvm, amap);
}

/*
 * ---- copy --------------------------------------------------------------
 */

/**
 * amapCopy: clear an entry's needs-copy by giving it an amap of its own
 * (amap_copy).
 * => an entry without an amap gets a blank one; when chunking is allowed
 *    (no AMAP_COPY_NOCHUNK) and the entry spans UVM_AMAP_LARGE (amapLarge) pages or
 *    more, it is first clipped to the UVM_AMAP_CHUNK-aligned (amapChunk) range around
 *    [startva, endva), and may instead merge into a neighbour's amap
 *    (unless AMAP_COPY_NOMERGE). Both need `map`; with none, no chunking.
 * => an amap only this entry references is simply taken over.
 * => otherwise the entry's window is copied into a new amap whose anons
 *    gain a reference (copy-on-write happens later, at fault time).
 */
export function amapCopy<E extends AmapEntry>(
  uvm: Uvm,
  map: AmapCopyMap<E> | null,
  entry: E,
  flags: number,
  startva: number,
  endva: number,
): void {
  if (entry.aref.amap === null) {
    copyBlank(uvm, map, entry, flags, startva, endva);
    return;
  }
  if (entry.aref.amap.ref === 1) {
    entry.eflags &= ~MAP_ENTRY_NEEDS_COPY;
    uvm.exp.amaptakeover++;
    uvm.hist?.emit({ type: 'amap-takeover', amap: entry.aref.amap.id });
    return;
  }
  copyReal(uvm, entry);
}

/** copyBlank: give an amap-less entry a new amap, chunking or merging first. */
function copyBlank<E extends AmapEntry>(
  uvm: Uvm,
  map: AmapCopyMap<E> | null,
  entry: E,
  flags: number,
  startva: number,
  endva: number,
) {
  const canchunk = (flags & AMAP_COPY_NOCHUNK) === 0;
  if (map !== null && canchunk && (entry.end - entry.start) / uvm.pageSize >= uvm.tun.amapLarge) {
    const chunksize = uvm.tun.amapChunk * uvm.pageSize;
    const s = Math.floor(startva / chunksize) * chunksize;
    const e = Math.ceil(endva / chunksize) * chunksize;
    if (s > entry.start) map.clipStart(entry, s);
    if (e >= s && e < entry.end) {
      if ((flags & AMAP_COPY_NOMERGE) === 0 && map.absorbChunk(entry, e)) return;
      map.clipEnd(entry, e);
    }
  }
  if (map !== null && (flags & AMAP_COPY_NOMERGE) === 0 && map.tryMergeCopying(entry)) return;
  entry.aref.pageoff = 0;
  entry.aref.amap = amapAlloc(uvm, entry.end - entry.start, 0);
  entry.eflags &= ~MAP_ENTRY_NEEDS_COPY;
}

/** copyReal: copy the entry's window of a shared amap into a new amap. */
function copyReal(uvm: Uvm, entry: AmapEntry): void {
  const srcamap = entry.aref.amap!;
  const slots = b2slot(uvm, entry.end - entry.start, 'amap_copy', 'entry');
  const amap = alloc1(uvm, slots, 0);
  amapLock(srcamap);
  const ref = uvm.anons.ref;
  const off = entry.aref.pageoff;
  for (let lcv = 0; lcv < slots; lcv++) {
    const an = srcamap.anon[off + lcv];
    if (an === 0) continue;
    kassert(uvm.anons.lockOf(an) === srcamap.lock, 'amap_copy: anon lock is not the amap lock');
    ref[an]++;
    insertSlot(amap, lcv, an);
  }
  amapDropRef(srcamap);
  const tofree = ppAdjrefIfAny(uvm, srcamap, off, slots, -1);
  if (amap.nused !== 0) {
    amap.lock = srcamap.lock;
    mutexObjHold(amap.lock);
  }
  anonFreelst(uvm, srcamap, tofree);
  if (amap.nused === 0) amap.lock = mutexObjAlloc();
  uvm.amaps.add(amap);
  entry.aref.pageoff = 0;
  entry.aref.amap = amap;
  entry.eflags &= ~MAP_ENTRY_NEEDS_COPY;
  uvm.exp.amapcopies++;
  uvm.hist?.emit({ type: 'amap-copy', amap: amap.id, from: srcamap.id, slots });
}

/**
 * amapCowNow: resolve every copy-on-write of a fork child's entry now
 * (amap_cow_now), for a parent entry that is wired.
 * => every anon still shared (an_ref > 1) is replaced in the entry's amap
 *    by a copy; loaned pages (already read-only everywhere) are skipped.
 * => the parent's pages are wired, hence resident; a page that is not
 *    (a PROT_NONE range was wired without faulting) has no translation
 *    anywhere and stays shared: its first access will fault and copy.
 * => returns 0, or ENOMEM when frames run out and none can be reclaimed
 *    (UVM sleeps here and cannot fail; failing lets fork fail cleanly:
 *    the caller frees the child, so the parent is untouched).
 */
export function amapCowNow(uvm: Uvm, entry: AmapEntry): 0 | 'ENOMEM' {
  const amap = entry.aref.amap;
  if (amap === null) return 0;
  const pool = uvm.anons;
  const pm = uvm.pages;
  amapLock(amap);
  for (let lcv = 0; lcv < amap.nused; lcv++) {
    const slot = amap.slots[lcv];
    const an = amap.anon[slot];
    kassert(pool.lockOf(an) === amap.lock, 'amap_cow_now: anon lock is not the amap lock');
    if (pool.ref[an] === 1) continue;
    const pg = pool.page[an];
    /* not wired (never faulted in: mlock of PROT_NONE memory): no translation
       maps it, so any later access faults and copies it then */
    if (pg === NOPAGE || pm.wireCount(pg) === 0) continue;
    if (pm.loanCount(pg) !== 0) continue;
    kassert((pm.flags[pg] & PG_BUSY) === 0, 'amap_cow_now: busy page (nothing runs concurrently)');
    const nanon = anonAllocPage(uvm, amap.lock, 0);
    if (nanon === 0) {
      amapUnlock(amap);
      if (!uvm.waitForMemory()) return 'ENOMEM';
      return amapCowNow(uvm, entry);
    }
    const npg = pool.page[nanon];
    pageCopy(uvm, pg, npg);
    pool.ref[an]--;
    amap.anon[slot] = nanon;
    pageActivate(uvm, npg);
    pm.flags[npg] &= ~(PG_BUSY | PG_FAKE);
    uvm.exp.amapcownow++;
  }
  amapUnlock(amap);
  return 0;
}

/*
 * ---- splitref and ppref ------------------------------------------------
 */

/**
 * amapSplitref: split one aref into two at byte `offset` (amap_splitref),
 * as clipping a map entry does.
 * => splitref.amap == origref.amap; splitref gets the slots from offset on.
 * => establishes ppref first, since the two halves now cover parts.
 */
export function amapSplitref(uvm: Uvm, origref: VmAref, splitref: VmAref, offset: number): void {
  const amap = origref.amap;
  if (amap === null || splitref.amap !== amap)
    throw vmerr('EINVAL', 'amap_splitref', 'splitref', 'both arefs must share one amap');
  const leftslots = b2slot(uvm, offset, 'amap_splitref', 'offset');
  if (leftslots === 0)
    throw vmerr('EINVAL', 'amap_splitref', 'offset', 'cannot split at the first slot');
  if (amap.nslot - origref.pageoff - leftslots <= 0)
    throw vmerr(
      'EINVAL',
      'amap_splitref',
      'offset',
      `slot ${origref.pageoff + leftslots} is past the amap's end`,
    );
  amapLock(amap);
  if (amap.ppref === null) ppEstablish(uvm, amap, origref.pageoff);
  amap.ref++;
  splitref.pageoff = origref.pageoff + leftslots;
  uvm.hist?.emit({ type: 'amap-splitref', amap: amap.id, slot: splitref.pageoff });
  amapUnlock(amap);
}

/**
 * ppGetreflen: the reference count and run length at slot `offset` (pp_getreflen).
 */
export function ppGetreflen(ppref: Int32Array, offset: number): { ref: number; len: number } {
  const v = ppref[offset];
  if (v > 0) return { ref: v - 1, len: 1 };
  return { ref: -v - 1, len: ppref[offset + 1] };
}

/**
 * ppSetreflen: store a run of `len` slots with count `ref` at `offset` (pp_setreflen).
 */
export function ppSetreflen(ppref: Int32Array, offset: number, ref: number, len: number): void {
  if (len === 0) return;
  if (len === 1) {
    ppref[offset] = ref + 1;
  } else {
    ppref[offset] = (ref + 1) * -1;
    ppref[offset + 1] = len;
  }
}

/**
 * ppEstablish: start keeping per-page reference counts (amap_pp_establish).
 * => amap locked. Slots below `offset` get count 0, the rest am_ref.
 * => when ppref is turned off in the kernel's config, marks PPREF_NONE.
 */
export function ppEstablish(uvm: Uvm, amap: Amap, offset: number): void {
  kassert(amap.lock.owned, 'amap_pp_establish: amap not locked');
  if (!uvm.pprefEnabled) {
    amap.ppref = PPREF_NONE;
    return;
  }
  const ppref = new Int32Array(amap.maxslot);
  ppSetreflen(ppref, 0, 0, offset);
  ppSetreflen(ppref, offset, amap.ref, amap.nslot - offset);
  amap.ppref = ppref;
  uvm.exp.pprefestablished++;
}

/**
 * ppAdjref: add `adjval` to the count of slots [curslot, curslot+slotlen)
 * (amap_pp_adjref), splitting runs at both ends and merging the first
 * changed run with the unchanged one before it when their counts agree.
 * => amap locked, ppref kept. Pages whose count reaches zero are wiped
 *    (amap_wiperange); their dead anons are pushed on the to-free list
 *    `tofree`, whose new head is returned.
 */
export function ppAdjref(
  uvm: Uvm,
  amap: Amap,
  curslot: number,
  slotlen: number,
  adjval: number,
  tofree: AnonId,
): AnonId {
  kassert(amap.lock.owned, 'amap_pp_adjref: amap not locked');
  const ppref = amap.ppref;
  kassert(ppref instanceof Int32Array, 'amap_pp_adjref: no ppref');
  const stopslot = curslot + slotlen;
  let lcv = 0;
  let prevlcv = 0;
  let len = 0;
  for (; lcv < curslot; lcv += len) {
    const r = ppGetreflen(ppref, lcv);
    len = r.len;
    if (lcv + len > curslot) {
      ppSetreflen(ppref, lcv, r.ref, curslot - lcv);
      ppSetreflen(ppref, curslot, r.ref, len - (curslot - lcv));
      len = curslot - lcv;
    }
    prevlcv = lcv;
  }
  let prevref = -1;
  let prevlen = 0;
  if (lcv !== 0) ({ ref: prevref, len: prevlen } = ppGetreflen(ppref, prevlcv));
  kassert(lcv === curslot, 'amap_pp_adjref: walked past curslot');
  for (; lcv < stopslot; lcv += len) {
    const r = ppGetreflen(ppref, lcv);
    let ref = r.ref;
    len = r.len;
    if (lcv + len > stopslot) {
      ppSetreflen(ppref, lcv, ref, stopslot - lcv);
      ppSetreflen(ppref, stopslot, ref, len - (stopslot - lcv));
      len = stopslot - lcv;
    }
    ref += adjval;
    if (ref < 0 || ref > amap.ref) kpanic(`amap_pp_adjref: count ${ref} out of [0, ${amap.ref}]`);
    /* as in UVM, only the first changed run can merge with the one before */
    if (lcv === prevlcv + prevlen && ref === prevref)
      ppSetreflen(ppref, prevlcv, ref, prevlen + len);
    else ppSetreflen(ppref, lcv, ref, len);
    if (ref === 0) tofree = amapWiperange(uvm, amap, lcv, len, tofree);
  }
  return tofree;
}

/**
 * amapWiperange: remove the anons of slots [slotoff, slotoff+slots) from
 * the amap, which stays (amap_wiperange).
 * => amap locked. Walks am_anon when the range is smaller than am_nused,
 *    am_slots otherwise. Anons losing their last reference are pushed on
 *    the to-free list `tofree`; returns its new head.
 */
export function amapWiperange(
  uvm: Uvm,
  amap: Amap,
  slotoff: number,
  slots: number,
  tofree: AnonId,
): AnonId {
  kassert(amap.lock.owned, 'amap_wiperange: amap not locked');
  const ref = uvm.anons.ref;
  const drop = (slot: number) => {
    const an = amap.anon[slot];
    kassert(uvm.anons.lockOf(an) === amap.lock, 'amap_wiperange: anon lock is not the amap lock');
    removeSlot(amap, slot);
    if (--ref[an] === 0) {
      ref[an] = tofree;
      tofree = an;
    }
  };
  if (slots < amap.nused) {
    for (let slot = slotoff; slot < slotoff + slots; slot++) if (amap.anon[slot] !== 0) drop(slot);
  } else {
    const slotend = slotoff + slots;
    for (let lcv = 0; lcv < amap.nused; ) {
      const slot = amap.slots[lcv];
      if (slot < slotoff || slot >= slotend) lcv++;
      else drop(slot); /* the last used slot moved into lcv: look at it next */
    }
  }
  return tofree;
}

/*
 * ---- swapoff -----------------------------------------------------------
 */

/**
 * amapSwapOff: page in every anon whose swap slot is in [startslot, endslot)
 * and drop the slot (amap_swap_off).
 * => returns true if it had to stop for lack of memory (the anons done so
 *    far stay done).
 */
export function amapSwapOff(uvm: Uvm, startslot: number, endslot: number): boolean {
  for (const am of uvm.amaps) {
    amapLock(am);
    const r = swapOffOne(uvm, am, startslot, endslot);
    if (r === 'gone') continue;
    amapUnlock(am);
    if (r === 'failed') return true;
  }
  return false;
}

/**
 * swapOffOne: amap_swap_off's work on one locked amap.
 * => out of frames, it lets the pagedaemon run (the amap unlocked, since
 *    the daemon may need its lock) and tries again; 'failed' when nothing
 *    more can be freed or the device fails.
 */
function swapOffOne(
  uvm: Uvm,
  am: Amap,
  startslot: number,
  endslot: number,
): 'done' | 'failed' | 'gone' {
  const pool = uvm.anons;
  for (let i = 0; i < am.nused; i++) {
    const an = am.anon[am.slots[i]];
    kassert(pool.lockOf(an) === am.lock, 'amap_swap_off: anon lock is not the amap lock');
    const swslot = pool.swslot[an];
    if (swslot < startslot || endslot <= swslot) continue;
    am.flags |= AMAP_SWAPOFF;
    const retry = anonPagein(uvm, am, an) && uvm.waitForMemory();
    amapLock(am);
    am.flags &= ~AMAP_SWAPOFF;
    if (am.ref === 0) {
      amapWipeout(uvm, am);
      return 'gone';
    }
    if (!retry && pool.page[an] === NOPAGE) return 'failed'; /* no memory, or the device failed */
    i = -1; /* rescan: the slots may have moved */
  }
  return 'done';
}

/*
 * ---- lookup, add, unadd ------------------------------------------------
 */

/**
 * amapLookup: the anon at byte `offset` into the aref's window, or 0 (amap_lookup).
 * => amap locked by the caller.
 */
export function amapLookup(uvm: Uvm, aref: VmAref, offset: number): AnonId {
  const slot = slotOf(uvm, aref, offset, 1, 'amap_lookup');
  const amap = aref.amap!;
  kassert(amap.lock.owned, 'amap_lookup: amap not locked');
  const an = amap.anon[slot];
  kassert(an === 0 || uvm.anons.ref[an] !== 0, 'amap_lookup: anon with no references');
  return an;
}

/**
 * amapLookups: copy the anons of `npages` slots from byte `offset` into
 * `anons` (amap_lookups).
 * => amap locked by the caller.
 */
export function amapLookups(
  uvm: Uvm,
  aref: VmAref,
  offset: number,
  anons: Int32Array,
  npages: number,
): void {
  const slot = slotOf(uvm, aref, offset, npages, 'amap_lookups');
  if (anons.length < npages)
    throw vmerr('EINVAL', 'amap_lookups', 'anons', `room for ${anons.length} of ${npages}`);
  const amap = aref.amap!;
  if (!amap.lock.owned) kpanic('amap_lookups: amap not locked');
  const ref = uvm.anons.ref;
  for (let i = 0; i < npages; i++) {
    const an = amap.anon[slot + i];
    if (an !== 0 && ref[an] === 0) kpanic(`amap_lookups: anon ${an} with no references`);
    anons[i] = an;
  }
}

/**
 * amapAdd: put `anon` at byte `offset` into the aref's window (amap_add).
 * => amap locked; the anon's lock must be the amap's.
 * => replace: the slot holds an anon already, which is replaced; in a
 *    shared amap the old page is unmapped everywhere (pmap_page_protect),
 *    since other maps may have it mapped (wired mappings move to the new
 *    page instead). Else the slot must be empty.
 */
export function amapAdd(
  uvm: Uvm,
  aref: VmAref,
  offset: number,
  anon: AnonId,
  replace: boolean,
): void {
  const slot = slotOf(uvm, aref, offset, 1, 'amap_add');
  const amap = aref.amap!;
  kassert(amap.lock.owned, 'amap_add: amap not locked');
  if (uvm.anons.lockOf(anon) !== amap.lock)
    throw vmerr('EINVAL', 'amap_add', 'anon', `anon ${anon} does not carry the amap's lock`);
  const old = amap.anon[slot];
  if (replace && old === 0)
    throw vmerr('EINVAL', 'amap_add', 'offset', `slot ${slot} is empty: nothing to replace`);
  if (!replace && old !== 0)
    throw vmerr('EEXIST', 'amap_add', 'offset', `slot ${slot} already holds anon ${old}`);
  if (replace) {
    const opg = uvm.anons.page[old];
    if (opg !== NOPAGE) amapSlotMoved(uvm, amap, slot, opg, uvm.anons.page[anon]);
    amap.anon[slot] = anon;
  } else {
    insertSlot(amap, slot, anon);
  }
}

/**
 * amapSlotMoved: the page at `slot` changed from opg to npg (a copy-on-write
 * replaced the anon, or a fault promoted the object page opg into a new
 * anon). In a shared amap other spaces may map opg through the same slot:
 * those mappings leave it (wired ones move to npg with their wiring, so the
 * lock keeps covering that address; UVM leaves this an XXX).
 * => amap locked; nothing to do unless AMAP_SHARED.
 */
export function amapSlotMoved(uvm: Uvm, amap: Amap, slot: number, opg: Frame, npg: Frame): void {
  if ((amap.flags & AMAP_SHARED) === 0) return;
  const moved = uvm.pmap.pageLeaveSlot(opg, npg, amap, slot);
  for (let i = 0; i < moved; i++) {
    pageUnwire(uvm, opg);
    pageWire(uvm, npg);
  }
}

/**
 * amapUnadd: empty the slot at byte `offset` (amap_unadd).
 * => amap locked; the anon's reference is the caller's to drop.
 */
export function amapUnadd(uvm: Uvm, aref: VmAref, offset: number): void {
  const slot = slotOf(uvm, aref, offset, 1, 'amap_unadd');
  const amap = aref.amap!;
  kassert(amap.lock.owned, 'amap_unadd: amap not locked');
  if (amap.anon[slot] === 0) throw vmerr('EINVAL', 'amap_unadd', 'offset', `slot ${slot} is empty`);
  removeSlot(amap, slot);
}

/*
 * ---- references --------------------------------------------------------
 */

/**
 * adjrefAnons: change am_ref by refv for slots [offset, offset+len), or
 * the whole amap (amap_adjref_anons).
 * => amap locked; we unlock it. Establishes ppref first when the change
 *    covers part of the amap, so the counts start from the old am_ref.
 */
function adjrefAnons(
  uvm: Uvm,
  amap: Amap,
  offset: number,
  len: number,
  refv: number,
  all: boolean,
): void {
  if (amap.ppref === null && !all && len !== amap.nslot) ppEstablish(uvm, amap, offset);
  amap.ref += refv;
  let tofree = NOANON;
  if (amap.ppref instanceof Int32Array) {
    tofree = all
      ? ppAdjref(uvm, amap, 0, amap.nslot, refv, tofree)
      : ppAdjref(uvm, amap, offset, len, refv, tofree);
  }
  anonFreelst(uvm, amap, tofree);
}

/**
 * amapRef: gain a reference to slots [offset, offset+len) (amap_ref), as
 * fork does for the child's entry.
 * => AMAP_SHARED marks the amap shared; AMAP_REFALL references it all.
 * => while the amap keeps no ppref, every reference to it covers
 *    [offset, nslot) (UVM establishes ppref at the first partial
 *    reference, from the caller's offset, on that assumption).
 */
export function amapRef(uvm: Uvm, amap: Amap, offset: number, len: number, flags: number): void {
  if (!(flags & AMAP_REFALL)) checkRange(amap, offset, len, 'amap_ref');
  amapLock(amap);
  if (flags & AMAP_SHARED) amap.flags |= AMAP_SHARED;
  adjrefAnons(uvm, amap, offset, len, 1, (flags & AMAP_REFALL) !== 0);
}

/**
 * amapDropRef: one reference fewer that is not the last: two entries'
 * adjacent windows became one (a merge), or an entry left for a copy of
 * its window (amap_copy). The page counts are the caller's.
 * => AMAP_SHARED goes with the last sharer but one.
 */
export function amapDropRef(amap: Amap): void {
  if (amap.ref <= 1) kpanic(`amap ${amap.id}: dropping its last reference`);
  amap.ref--;
  if (amap.ref === 1) amap.flags &= ~AMAP_SHARED;
}

/**
 * amapUnref: drop a reference to slots [offset, offset+len), or to the
 * whole amap when `all` (amap_unref).
 * => the pmap must no longer map the pages through this reference.
 * => the same assumption as amapRef while no ppref is kept.
 * => the last reference wipes the amap out; else the shared flag goes
 *    when one reference is left, and pages nobody references are freed.
 */
export function amapUnref(uvm: Uvm, amap: Amap, offset: number, len: number, all: boolean): void {
  if (amap.ref <= 0) throw vmerr('EINVAL', 'amap_unref', 'amap', 'the amap has no references');
  if (!all) checkRange(amap, offset, len, 'amap_unref');
  amapLock(amap);
  if (amap.ref === 1) {
    amap.ref = 0;
    amapWipeout(uvm, amap);
    return;
  }
  if (amap.ref === 2 && amap.flags & AMAP_SHARED) amap.flags &= ~AMAP_SHARED;
  adjrefAnons(uvm, amap, offset, len, -1, all);
}

/*
 * ---- audit -------------------------------------------------------------
 */

/**
 * auditAmaps: check the invariants at the top of this file over every amap
 * and every anon.
 * => throws KernelPanic naming the first one broken.
 */
export function auditAmaps(uvm: Uvm): void {
  const held = new Map<number, number>();
  for (const amap of uvm.amaps) {
    auditOneAmap(uvm, amap);
    for (let i = 0; i < amap.nused; i++) {
      const an = amap.anon[amap.slots[i]];
      held.set(an, (held.get(an) ?? 0) + 1);
    }
  }
  auditAnons(uvm, held);
}

function auditOneAmap(uvm: Uvm, amap: Amap): void {
  const where = `amap ${amap.id}`;
  if (amap.ref <= 0) fail(`${where}: on the list with ${amap.ref} references`);
  if (amap.lock === null || amap.lock.owned) fail(`${where}: lock missing or left held`);
  if (amap.nslot > amap.maxslot) fail(`${where}: nslot ${amap.nslot} > maxslot ${amap.maxslot}`);
  if (
    amap.anon.length !== amap.maxslot ||
    amap.slots.length !== amap.maxslot ||
    amap.bckptr.length !== amap.maxslot
  )
    fail(`${where}: arrays are not maxslot long`);
  let used = 0;
  for (let s = 0; s < amap.maxslot; s++) {
    if (amap.anon[s] === 0) continue;
    if (s >= amap.nslot) fail(`${where}: anon in slot ${s} beyond nslot`);
    used++;
    const b = amap.bckptr[s];
    if (b < 0 || b >= amap.nused || amap.slots[b] !== s)
      fail(`${where}: slot ${s} has a bad back pointer`);
    if (uvm.anons.lockOf(amap.anon[s]) !== amap.lock)
      fail(`${where}: anon ${amap.anon[s]} has another lock`);
  }
  if (used !== amap.nused) fail(`${where}: nused ${amap.nused} but ${used} slots hold anons`);
  if (amap.ppref instanceof Int32Array) auditPpref(amap, amap.ppref, where);
}

function auditPpref(amap: Amap, ppref: Int32Array, where: string): void {
  let lcv = 0;
  while (lcv < amap.nslot) {
    const { ref, len } = ppGetreflen(ppref, lcv);
    if (len < 1 || lcv + len > amap.nslot) fail(`${where}: ppref run at ${lcv} has length ${len}`);
    if (ref < 0 || ref > amap.ref)
      fail(`${where}: ppref count ${ref} at ${lcv} outside [0, ${amap.ref}]`);
    if (ref === 0)
      for (let s = lcv; s < lcv + len; s++)
        if (amap.anon[s] !== 0) fail(`${where}: slot ${s} has count 0 but an anon`);
    lcv += len;
  }
}

function auditAnons(uvm: Uvm, held: Map<number, number>): void {
  const pool = uvm.anons;
  const pm = uvm.pages;
  const free = pool.freeMask();
  for (const [an, n] of held) {
    if (free[an]) fail(`anon ${an} is free but held by an amap`);
    if (pool.ref[an] !== n) fail(`anon ${an}: an_ref ${pool.ref[an]} but ${n} slots hold it`);
    const pg = pool.page[an];
    if (pg === NOPAGE && pool.swslot[an] === 0 && !pool.lazyfree.has(an as AnonId))
      fail(`anon ${an}: neither resident nor in swap`);
    if (pg !== NOPAGE && pm.uanon(pg) !== an && pm.loanCount(pg) === 0)
      fail(`anon ${an}: page ${pg} is not its own`);
  }
  for (const an of pool.lazyfree)
    if (free[an] || pool.swslot[an] !== 0) fail(`lazy-free anon ${an} is free or has a swap slot`);
  let releasing = 0;
  for (let an = 1; an < pool.capacity; an++) {
    const pg = pool.page[an];
    if (
      !free[an] &&
      pool.lockIx[an] !== 0 &&
      !held.has(an) &&
      pg !== NOPAGE &&
      pm.flags[pg] & PG_RELEASED
    )
      releasing++;
  }
  if (pool.nlive !== held.size + releasing)
    fail(`${pool.nlive} live anons but ${held.size} are held by amaps (leak)`);
  const bad = pool.auditLocks();
  if (bad !== null) fail(bad);
}

function fail(what: string): never {
  throw new KernelPanic(`audit: amap: ${what}`);
}
