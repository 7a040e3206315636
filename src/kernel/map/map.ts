/*
 * map.ts: address maps (uvm_map.c, seed 001 vm_map.h): the map, its
 * locks, the fault's way in (vm_map_lookup), insert, clip and delete.
 *
 * A map is a set of non-overlapping entries, each a range [start, end) with
 * what backs it: an aref into an amap (the anon layer) over an object and
 * offset (the object layer), or a submap. Entries are kept twice, as in
 * the seed: in a list sorted by address (prev/next, around a header whose
 * start/end are the map's min/max) and in a balanced tree (maptree.ts)
 * that also finds free space (lookup.ts).
 *
 *   header <-> [0x10000-0x12000 rw- cow nc] <-> [0x20000-0x30000 r-x obj] <-> header
 *                 aref {amap, pageoff}            object, offset
 *
 *   hint        the last entry found or made: sequential lookups hit it
 *   (no first_free: the gap tree finds the first hole in O(log n), the
 *   search first_free shortcuts in a list)
 *   timestamp   bumped by every exclusive lock: a caller that drops the
 *               lock sees from it whether the map changed meanwhile
 *
 * The invariants are audit.ts's.
 */
import { type AmapCopyMap, amapAlloc, amapCopy, amapSplitref, amapUnref } from '../amap.ts';
import { Lockmgr } from '../lock.ts';
import { MapTree } from '../maptree.ts';
import { objectDetach, objectReference, type UvmObject } from '../object.ts';
import {
  hex,
  kassert,
  kpanic,
  MAP_ENTRY_BEHAV_MASK,
  MAP_ENTRY_COW,
  MAP_ENTRY_IN_TRANSITION,
  MAP_ENTRY_KSTACK,
  MAP_ENTRY_NEEDS_COPY,
  MAP_ENTRY_NOCOREDUMP,
  MAP_ENTRY_NOFAULT,
  MAP_ENTRY_NOSYNC,
  MAP_ENTRY_STACK,
  MAP_INHERIT_COPY,
  PROT_ALL,
  PROT_READ,
  PROT_WRITE,
  vmerr,
} from '../param.ts';
import { type Pmap, type PmapOwner, VA_LIMIT } from '../pmap.ts';
import type { Uvm } from '../uvm.ts';

import {
  type EntryAttrs,
  MAP_CLIP_NO_HOLES,
  MAP_COPY_ON_WRITE,
  MAP_DISABLE_COREDUMP,
  MAP_DISABLE_SYNCER,
  MAP_IS_KSTACK,
  MAP_IS_STACK,
  MAP_NOFAULT,
  MAP_OVERLAY,
  MAP_PREFAULT,
  MAP_PREFAULT_MADVISE,
  MAP_PREFAULT_PARTIAL,
  type MapHooks,
  VM_MAPTYPE_NORMAL,
  VM_MAPTYPE_SUBMAP,
  VmMapEntry,
} from './entry.ts';
import {
  cloneEntry,
  entryContains,
  link,
  rekey,
  setHint,
  unlink,
  vmMapFindspace,
  vmMapHint,
  vmMapLookupEntry,
} from './lookup.ts';
import { absorbChunk, tryMergeCopying, vmMapSimplifyEntry } from './merge.ts';

const NO_HOOKS: MapHooks = {
  wire: () => 0,
  unwire: () => {},
  hold: () => [],
  release: () => {},
  prefault: () => {},
};

/** An address map (struct vm_map). */
export class VmMap implements AmapCopyMap<VmMapEntry>, PmapOwner {
  readonly header: VmMapEntry;
  readonly tree = new MapTree();
  readonly lock = new Lockmgr();
  nentries = 0;
  size = 0;
  systemMap = false;
  hint: VmMapEntry;
  /** the hint's range, cached so that a hint miss touches no entry */
  hintStart = 0;
  hintEnd = 0;
  timestamp = 0;
  flags = 0;
  presidentCache = 0;
  presidentTicks = -1;
  /** where an address-less mapping starts looking (vm_map_hint); 0: the bottom */
  mmapBase = 0;
  /** allocate from the top down (as Linux places mmap) */
  topdown = false;
  /** the gap kept free below a growing stack (Linux's stack_guard_gap) */
  stackGuard = 256 * 4096;
  hooks: MapHooks = NO_HOOKS;
  /** entries of other maps that use this one as their submap */
  submapRefs = 0;

  constructor(
    readonly uvm: Uvm,
    readonly pmap: Pmap,
    min: number,
    max: number,
  ) {
    this.header = new VmMapEntry(min, max, 0, 0);
    this.hint = this.header;
  }

  get minOffset(): number {
    return this.header.start;
  }
  get maxOffset(): number {
    return this.header.end;
  }

  /** changed: the entries changed; derived hints must be recomputed. */
  changed(): void {
    this.hintStart = 0;
    this.hintEnd = 0;
  }

  /* AmapCopyMap: amap_copy's chunking and merging */
  clipStart(entry: VmMapEntry, va: number): void {
    vmMapClipStart(this, entry, va);
  }
  clipEnd(entry: VmMapEntry, va: number): void {
    vmMapClipEnd(this, entry, va);
  }
  tryMergeCopying(entry: VmMapEntry): boolean {
    return tryMergeCopying(this, entry);
  }
  absorbChunk(entry: VmMapEntry, end: number): boolean {
    return absorbChunk(this, entry, end);
  }

  /* PmapOwner: does the translation at va go through this amap slot? */
  mapsSlot(va: number, amap: object, slot: number): boolean {
    const e = vmMapLookupEntry(this, va);
    if (!entryContains(this, e, va)) return false;
    if (e.submap !== null) return e.submap.mapsSlot(va, amap, slot);
    return e.amap === amap && e.pageoff + (va - e.start) / this.uvm.pageSize === slot;
  }
}

/*
 * ---- creation and locks ------------------------------------------------
 */

/**
 * vmMapCreate: a new, empty map over [min, max) (vm_map_create / vm_map_init).
 * => min < max, both page aligned.
 */
export function vmMapCreate(uvm: Uvm, pmap: Pmap, min: number, max: number): VmMap {
  const ps = uvm.pageSize;
  if (!(Number.isSafeInteger(min) && min >= 0 && min % ps === 0))
    throw vmerr('EINVAL', 'vm_map_create', 'min', `${hex(min)} is not a page-aligned address`);
  if (!(Number.isSafeInteger(max) && max > min && max % ps === 0 && max <= VA_LIMIT))
    throw vmerr(
      'EINVAL',
      'vm_map_create',
      'max',
      `${hex(max)} is not a page-aligned address above min, at most ${hex(VA_LIMIT)}`,
    );
  const map = new VmMap(uvm, pmap, min, max);
  if (pmap.owner === null) pmap.owner = map; /* a submap shares its parent's pmap */
  uvm.maps.add(map);
  return map;
}

/** vmMapLock: exclusive lock; bumps the timestamp (vm_map_lock). */
export function vmMapLock(map: VmMap): void {
  map.lock.lockExclusive();
  map.timestamp++;
}

/** vmMapUnlock: release an exclusive lock (vm_map_unlock). */
export function vmMapUnlock(map: VmMap): void {
  map.lock.release();
}

/** vmMapLockRead: shared lock (vm_map_lock_read). */
export function vmMapLockRead(map: VmMap): void {
  map.lock.lockShared();
}

/** vmMapUnlockRead: release a shared lock (vm_map_unlock_read). */
export function vmMapUnlockRead(map: VmMap): void {
  map.lock.release();
}

/** vmMapLockReadTry: shared lock if free of writers; false otherwise (vm_map_lock_read_try). */
export function vmMapLockReadTry(map: VmMap): boolean {
  return map.lock.tryShared();
}

/**
 * vmMapLockReadTo: shared lock with a time limit (vm_map_lock_read_to).
 * => 0 on success; EBUSY when held exclusively (nobody could release it
 *    before the limit, since one thread runs).
 */
export function vmMapLockReadTo(map: VmMap): 0 | 'EBUSY' {
  return map.lock.tryShared() ? 0 : 'EBUSY';
}

/**
 * vmMapLockUpgrade: shared -> exclusive (vm_map_lock_upgrade).
 * => 0 on success (timestamp bumped); EBUSY if other readers hold it, and
 *    then the caller's shared hold is gone: it must relock and look again.
 */
export function vmMapLockUpgrade(map: VmMap): 0 | 'EBUSY' {
  if (!map.lock.upgrade()) return 'EBUSY';
  map.timestamp++;
  return 0;
}

/** vmMapLockDowngrade: exclusive -> shared (vm_map_lock_downgrade). */
export function vmMapLockDowngrade(map: VmMap): void {
  map.lock.downgrade();
}

/** What the fault handler learns from vmMapLookup. */
export interface MapLookup {
  map: VmMap;
  entry: VmMapEntry;
  /** protection the fault may map the page with */
  prot: number;
  wired: boolean;
  /** the entry still needs a copy (a read fault left it so) */
  needsCopy: boolean;
  timestamp: number;
}

/** newMapLookup: a lookup for vmMapLookup to fill (no map yet). */
export function newMapLookup(): MapLookup {
  return {
    map: null as unknown as VmMap,
    entry: null as unknown as VmMapEntry,
    prot: 0,
    wired: false,
    needsCopy: false,
    timestamp: 0,
  };
}

/**
 * vmMapLookup: the fault's way into the map (vm_map_lookup).
 * => finds the entry for va (descending into submaps), checks that the
 *    access `faultType` (PROT_* bits) is allowed, and clears needs-copy with
 *    amap_copy when writing (and, with `copyOnRead`, on a read of an entry
 *    without an object: UVM's fault does so, since zero fill needs an amap).
 *    A read of a needs-copy entry gets a protection without write.
 * => a MAP_ENTRY_NOFAULT entry, or the guard page at the bottom of a
 *    MAP_ENTRY_KSTACK entry, is EFAULT before anything is created (where
 *    DragonFly's vm_fault panics: its such entries are the kernel's, ours
 *    a program can reach).
 * => on success returns 0 with `out` filled and the map read-locked (release
 *    with vmMapLookupDone); otherwise 'EFAULT' (no entry: SIGSEGV) or
 *    'EACCES' (protection), with nothing locked or changed.
 */
export function vmMapLookup(
  map: VmMap,
  va: number,
  faultType: number,
  out: MapLookup,
  copyOnRead = false,
): 0 | 'EFAULT' | 'EACCES' {
  for (;;) {
    vmMapLockRead(map);
    const entry = vmMapLookupEntry(map, va);
    if (!entryContains(map, entry, va)) {
      vmMapUnlockRead(map);
      return 'EFAULT';
    }
    if (entry.maptype === VM_MAPTYPE_SUBMAP) {
      vmMapUnlockRead(map);
      map = entry.submap!;
      continue;
    }
    if (noFault(map, entry, va)) {
      vmMapUnlockRead(map);
      return 'EFAULT';
    }
    if (!allows(entry.protection, faultType)) {
      vmMapUnlockRead(map);
      return 'EACCES';
    }
    if (
      entry.eflags & MAP_ENTRY_NEEDS_COPY &&
      (faultType & PROT_WRITE || (copyOnRead && entry.object === null))
    ) {
      if (vmMapLockUpgrade(map) !== 0) continue;
      amapCopy(map.uvm, map, entry, 0, va, va + map.uvm.pageSize);
      vmMapLockDowngrade(map);
      vmMapUnlockRead(map);
      continue; /* the entry may have been clipped or merged: look again */
    }
    out.map = map;
    out.entry = entry;
    out.needsCopy = (entry.eflags & MAP_ENTRY_NEEDS_COPY) !== 0;
    out.prot = out.needsCopy ? entry.protection & ~PROT_WRITE : entry.protection;
    out.wired = entry.wiredCount > 0;
    out.timestamp = map.timestamp;
    return 0;
  }
}

/** noFault: va may not be faulted in: a NOFAULT entry, or a kernel stack's guard page. */
function noFault(map: VmMap, entry: VmMapEntry, va: number): boolean {
  if (entry.eflags & MAP_ENTRY_NOFAULT) return true;
  return (entry.eflags & MAP_ENTRY_KSTACK) !== 0 && va < entry.start + map.uvm.pageSize;
}

/**
 * allows: protection `prot` permits access `faultType`. As on x86 (and so
 * in Linux), any access right implies reading.
 */
export function allows(prot: number, faultType: number): boolean {
  if (faultType === PROT_READ) return (prot & PROT_ALL) !== 0;
  return (prot & faultType) === faultType;
}

/**
 * vmMapLookupDone: end a vmMapLookup (vm_map_lookup_done).
 * => the map's timestamp is the one the lookup saw: nothing can take the
 *    exclusive lock while the lookup holds the read lock, so a change is
 *    a KernelPanic (where UVM relocks, it compares the same two numbers).
 */
export function vmMapLookupDone(lk: MapLookup): void {
  if (lk.map.timestamp !== lk.timestamp)
    kpanic(
      `vm_map_lookup_done: the map changed under its read lock (${lk.timestamp} -> ${lk.map.timestamp})`,
    );
  vmMapUnlockRead(lk.map);
}

/*
 * ---- insert ------------------------------------------------------------
 */

/** checkRange: [start, end) must be page aligned, non-empty and inside the map. */
export function checkRange(map: VmMap, start: number, end: number, call: string): void {
  const ps = map.uvm.pageSize;
  if (!Number.isSafeInteger(start) || start % ps !== 0)
    throw vmerr('EINVAL', call, 'start', `${hex(start)} is not page aligned`);
  if (!Number.isSafeInteger(end) || end % ps !== 0)
    throw vmerr('EINVAL', call, 'end', `${hex(end)} is not page aligned`);
  if (end <= start)
    throw vmerr(
      'EINVAL',
      call,
      'end',
      `${hex(end)} is not above start ${hex(start)} (empty or wrapping)`,
    );
  if (start < map.minOffset || end > map.maxOffset)
    throw vmerr(
      'ENOMEM',
      call,
      'start',
      `[${hex(start)}, ${hex(end)}) is outside the map [${hex(map.minOffset)}, ${hex(map.maxOffset)})`,
    );
}

/**
 * vmMapInsert: map [start, end) of `object` from `offset` (vm_map_insert).
 * => the range must be free: EEXIST otherwise; EINVAL if unaligned or
 *    empty; ENOMEM outside the map. Nothing changes on failure.
 * => `cow` takes the seed's MAP_* flags: MAP_COPY_ON_WRITE makes the entry
 *    private (COW, NEEDS_COPY); MAP_NOFAULT, MAP_DISABLE_SYNCER,
 *    MAP_DISABLE_COREDUMP, MAP_IS_STACK, MAP_IS_KSTACK set their entry
 *    flags; MAP_PREFAULT* map resident pages at once; MAP_OVERLAY gives it
 *    an amap now.
 * => `attrs` gives the entry's inheritance (default MAP_INHERIT_COPY), its
 *    advice (behaviour bits) and the name of a special mapping ([vdso],
 *    ...; Linux's special mappings: never merged with differently named
 *    neighbours). They are set before merging, so a merge never joins
 *    entries that differ in them (as UVM_MAPFLAG carries them into uvm_map).
 * => the entry merges with compatible neighbours; returns the entry that
 *    covers the range afterwards.
 */
export function vmMapInsert(
  map: VmMap,
  object: UvmObject | null,
  offset: number,
  start: number,
  end: number,
  prot: number,
  maxprot: number,
  cow: number,
  attrs: EntryAttrs = {},
): VmMapEntry {
  checkRange(map, start, end, 'vm_map_insert');
  if ((prot & maxprot) !== prot)
    throw vmerr(
      'EACCES',
      'vm_map_insert',
      'prot',
      `protection ${prot} exceeds the maximum ${maxprot}`,
    );
  if (cow & MAP_NOFAULT && object !== null)
    throw vmerr('EINVAL', 'vm_map_insert', 'cow', 'MAP_NOFAULT needs an entry without an object');
  const prev = vmMapLookupEntry(map, start);
  if (entryContains(map, prev, start) || (prev.next !== map.header && prev.next.start < end))
    throw vmerr(
      'EEXIST',
      'vm_map_insert',
      'start',
      `[${hex(start)}, ${hex(end)}) overlaps a mapping`,
    );
  const e = new VmMapEntry(start, end, prot, maxprot);
  e.eflags = insertFlags(cow) | ((attrs.advice ?? 0) & MAP_ENTRY_BEHAV_MASK);
  e.inheritance = attrs.inherit ?? MAP_INHERIT_COPY;
  e.object = object;
  e.offset = offset;
  e.name = attrs.name ?? null;
  e.maptype = attrs.maptype ?? VM_MAPTYPE_NORMAL;
  if (object !== null) objectReference(object);
  if (cow & MAP_OVERLAY) e.amap = amapAlloc(map.uvm, end - start);
  link(map, prev, e);
  setHint(map, e);
  map.uvm.hist?.emit({ type: 'map-insert', pmap: map.pmap.id, start, end });
  if (cow & (MAP_PREFAULT | MAP_PREFAULT_PARTIAL | MAP_PREFAULT_MADVISE))
    map.hooks.prefault(map, e, start, end, cow);
  return vmMapSimplifyEntry(map, e);
}

/** insertFlags: the entry flags a vm_map_insert "cow" argument asks for. */
function insertFlags(cow: number): number {
  let f = 0;
  if (cow & MAP_COPY_ON_WRITE) f |= MAP_ENTRY_COW | MAP_ENTRY_NEEDS_COPY;
  if (cow & MAP_NOFAULT) f |= MAP_ENTRY_NOFAULT;
  if (cow & MAP_DISABLE_SYNCER) f |= MAP_ENTRY_NOSYNC;
  if (cow & MAP_DISABLE_COREDUMP) f |= MAP_ENTRY_NOCOREDUMP;
  if (cow & MAP_IS_STACK) f |= MAP_ENTRY_STACK;
  if (cow & MAP_IS_KSTACK) f |= MAP_ENTRY_KSTACK;
  return f;
}

/**
 * vmMapEntryAllocateObject: give an entry its amap now, if it has none
 * (vm_map_entry_allocate_object; in UVM the anon layer is the amap).
 */
export function vmMapEntryAllocateObject(map: VmMap, entry: VmMapEntry): void {
  if (entry.aref.amap !== null) return;
  entry.amap = amapAlloc(map.uvm, entry.end - entry.start);
  entry.pageoff = 0;
}

/**
 * vmMapFind: find space and insert (vm_map_find).
 * => fitit: look for room from `addr` (a hint); otherwise map at `addr`
 *    exactly. ENOMEM when there is no room.
 * => returns the start address of the new mapping.
 */
export function vmMapFind(
  map: VmMap,
  object: UvmObject | null,
  offset: number,
  addr: number,
  length: number,
  align: number,
  fitit: boolean,
  prot: number,
  maxprot: number,
  cow: number,
): number {
  const ps = map.uvm.pageSize;
  if (!Number.isSafeInteger(length) || length <= 0 || length % ps !== 0)
    throw vmerr(
      'EINVAL',
      'vm_map_find',
      'length',
      `${length} is not a positive multiple of the page size`,
    );
  let start = addr;
  if (fitit) {
    start = vmMapFindspace(map, vmMapHint(map, addr), length, align, map.topdown);
    if (start < 0) throw vmerr('ENOMEM', 'vm_map_find', 'length', `no room for ${length} bytes`);
  }
  vmMapInsert(map, object, offset, start, start + length, prot, maxprot, cow);
  return start;
}

/*
 * ---- clipping ----------------------------------------------------------
 */

/**
 * vmMapClipStart: split entry so that it starts at va (vm_map_clip_start).
 * => the part before va becomes a new entry; the amap reference is split
 *    (amap_splitref) and object offsets follow. Nothing happens unless
 *    entry.start < va < entry.end.
 */
export function vmMapClipStart(map: VmMap, entry: VmMapEntry, va: number): void {
  if (va <= entry.start || va >= entry.end) return;
  const front = cloneEntry(entry);
  front.end = va;
  const adj = va - entry.start;
  if (entry.aref.amap !== null) amapSplitref(map.uvm, front.aref, entry.aref, adj);
  entry.offset += adj;
  entry.start = va;
  rekey(map, entry);
  map.size -= adj;
  takeReferences(front);
  link(map, entry.prev, front);
  map.uvm.hist?.emit({
    type: 'map-clip',
    pmap: map.pmap.id,
    start: front.start,
    end: entry.end,
    at: va,
  });
}

/**
 * vmMapClipEnd: split entry so that it ends at va (vm_map_clip_end).
 */
export function vmMapClipEnd(map: VmMap, entry: VmMapEntry, va: number): void {
  if (va <= entry.start || va >= entry.end) return;
  const back = cloneEntry(entry);
  back.start = va;
  const adj = va - entry.start;
  back.offset += adj;
  if (entry.aref.amap !== null) amapSplitref(map.uvm, entry.aref, back.aref, adj);
  map.size -= entry.end - va;
  entry.end = va;
  rekey(map, entry);
  takeReferences(back);
  link(map, entry, back);
  map.uvm.hist?.emit({
    type: 'map-clip',
    pmap: map.pmap.id,
    start: entry.start,
    end: back.end,
    at: va,
  });
}

/** takeReferences: a new entry copied from another references its object. */
export function takeReferences(e: VmMapEntry): void {
  if (e.object !== null) objectReference(e.object);
}

/** clipRange: clip the entries at start and end; returns the first entry in range. */
export function clipRange(map: VmMap, start: number, end: number): VmMapEntry {
  let e = vmMapLookupEntry(map, start);
  if (entryContains(map, e, start)) vmMapClipStart(map, e, start);
  else e = e.next;
  for (let x = e; x !== map.header && x.start < end; x = x.next) vmMapClipEnd(map, x, end);
  return e;
}

/**
 * vmMapClipRange: clip the entries at start and end, and return the first
 * entry inside [start, end) (vm_map_clip_range).
 * => MAP_CLIP_NO_HOLES: ENOMEM, changing nothing, unless the range is
 *    mapped without holes.
 * => the map is locked by the caller.
 */
export function vmMapClipRange(map: VmMap, start: number, end: number, flags: number): VmMapEntry {
  checkRange(map, start, end, 'vm_map_clip_range');
  if (flags & MAP_CLIP_NO_HOLES) checkNoHoles(map, start, end, 'vm_map_clip_range');
  return clipRange(map, start, end);
}

/**
 * checkNoHoles: throw ENOMEM (naming `call`) unless [start, end) is mapped
 * without a hole.
 * => the map is locked (or, in one thread, quiet).
 */
export function checkNoHoles(map: VmMap, start: number, end: number, call: string): void {
  let e = vmMapLookupEntry(map, start);
  if (!entryContains(map, e, start))
    throw vmerr('ENOMEM', call, 'addr', `${hex(start)} is not mapped`);
  while (e.end < end) {
    if (e.next === map.header || e.next.start !== e.end)
      throw vmerr(
        'ENOMEM',
        call,
        'len',
        `[${hex(start)}, ${hex(end)}) has a hole at ${hex(e.end)}`,
      );
    e = e.next;
  }
}

/*
 * ---- delete ------------------------------------------------------------
 */

/**
 * vmMapDelete: unmap [start, end) (vm_map_delete); the map is locked.
 * => entries are clipped to the range, their translations removed, their
 *    wiring dropped, and their references released: a partial amap
 *    reference drops only its pages (ppref), an object its reference.
 * => unmapping a hole is not an error.
 */
export function vmMapDelete(map: VmMap, start: number, end: number): void {
  const first = map.header.next;
  if (first !== map.header && start <= first.start && end >= map.header.prev.end) {
    deleteAll(map);
    return;
  }
  let e = clipRange(map, start, end);
  while (e !== map.header && e.start < end) {
    const next = e.next;
    unlink(map, e);
    dropEntry(map, e);
    e = next;
  }
}

/** deleteAll: vm_map_delete of every entry: the tree is emptied at once. */
function deleteAll(map: VmMap): void {
  const h = map.header;
  map.tree.clear();
  for (let e = h.next; e !== h; ) {
    const next = e.next;
    e.prev = e.next = e;
    dropEntry(map, e);
    e = next;
  }
  h.next = h.prev = h;
  map.nentries = 0;
  map.size = 0;
  map.hint = h;
  map.changed();
}

/** dropEntry: unwire, unmap and release an entry already out of the map. */
function dropEntry(map: VmMap, e: VmMapEntry): void {
  kassert((e.eflags & MAP_ENTRY_IN_TRANSITION) === 0, 'vm_map_delete: entry in transition');
  if (e.wiredCount > 0) {
    map.hooks.unwire(map, e.start, e.end);
    e.wiredCount = 0;
  }
  map.pmap.remove(e.start, e.end);
  map.uvm.hist?.emit({ type: 'map-delete', pmap: map.pmap.id, start: e.start, end: e.end });
  releaseEntry(map, e);
}

/** releaseEntry: drop what a removed entry referenced. */
function releaseEntry(map: VmMap, e: VmMapEntry): void {
  const amap = e.aref.amap;
  if (amap !== null)
    amapUnref(map.uvm, amap, e.aref.pageoff, (e.end - e.start) / map.uvm.pageSize, false);
  if (e.object !== null) objectDetach(map.uvm, e.object);
  if (e.submap !== null) vmMapDeallocate(e.submap);
  e.amap = null;
  e.pageoff = 0;
  e.object = null;
  e.submap = null;
}

/**
 * vmMapRemove: validate, lock, delete, unlock (vm_map_remove).
 */
export function vmMapRemove(map: VmMap, start: number, end: number): void {
  checkRange(map, start, end, 'vm_map_remove');
  vmMapLock(map);
  try {
    vmMapDelete(map, start, end);
  } finally {
    vmMapUnlock(map);
  }
}

/**
 * vmMapDeallocate: drop a reference to a map used as a submap; the last
 * one empties it and forgets it.
 */
export function vmMapDeallocate(map: VmMap): void {
  if (--map.submapRefs > 0) return;
  vmMapLock(map);
  vmMapDelete(map, map.minOffset, map.maxOffset);
  vmMapUnlock(map);
  map.uvm.maps.delete(map);
}
