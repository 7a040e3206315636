/*
 * map.ts: address maps (uvm_map.c, seed 001 vm_map.h).
 *
 * A map is a set of non-overlapping entries, each a range [start, end) with
 * what backs it: an aref into an amap (the anon layer) over an object and
 * offset (the object layer), or a submap. Entries are kept twice, as in
 * the seed: in a list sorted by address (prev/next, around a header whose
 * start/end are the map's min/max) and in a balanced tree (maptree.ts)
 * that also finds free space.
 *
 *   header <-> [0x10000-0x12000 rw- cow nc] <-> [0x20000-0x30000 r-x obj] <-> header
 *                 aref {amap, pageoff}            object, offset
 *
 *   hint        the last entry found or made: sequential lookups hit it
 *   firstFree   the entry before the first hole (kept exact, lazily)
 *   timestamp   bumped by every exclusive lock: a caller that drops the
 *               lock sees from it whether the map changed meanwhile
 *
 * Entry flags (eflags) are the seed's MAP_ENTRY_* bits: COW (private:
 * writes are copied) and NEEDS_COPY (the amap is not yet this entry's
 * own), STACK, NOFAULT, USER_WIRED, NOSYNC, NOCOREDUMP, KSTACK,
 * IN_TRANSITION and NEEDS_WAKEUP, and the behaviour (advice) bits.
 *
 * Invariants (auditMap):
 *   - entries page aligned, start < end, sorted, disjoint, inside [min, max)
 *   - the list and the tree hold the same entries in the same order
 *   - nentries and size match the entries
 *   - every aref window lies inside its live amap; submap entries have no
 *     amap and no object
 *   - no entry left IN_TRANSITION, the lock not left held
 */
import {
  AMAP_COPY_NOCHUNK,
  AMAP_COPY_NOMERGE,
  AMAP_EXTEND_BACKWARDS,
  AMAP_EXTEND_FORWARDS,
  AMAP_EXTEND_NOWAIT,
  AMAP_SHARED,
  type Amap,
  type AmapCopyMap,
  type AmapEntry,
  amapAlloc,
  amapCopy,
  amapCowNow,
  amapDropRef,
  amapExtend,
  amapLock,
  amapRef,
  amapRefs,
  amapShareProtect,
  amapSplitref,
  amapUnlock,
  amapUnref,
  ppGetreflen,
  type VmAref,
} from '../amap.ts';
import { Lockmgr } from '../lock.ts';
import { fitDown, fitUp, MapTree, type TreeEntry } from '../maptree.ts';
import { objectDetach, objectReference, type UvmObject } from '../object.ts';
import {
  type Errno,
  hex,
  KernelPanic,
  kassert,
  MAP_ENTRY_BEHAV_MASK,
  MAP_ENTRY_COW,
  MAP_ENTRY_IN_TRANSITION,
  MAP_ENTRY_KSTACK,
  MAP_ENTRY_NEEDS_COPY,
  MAP_ENTRY_NEEDS_WAKEUP,
  MAP_ENTRY_NOCOREDUMP,
  MAP_ENTRY_NOFAULT,
  MAP_ENTRY_NOSYNC,
  MAP_ENTRY_STACK,
  MAP_ENTRY_USER_WIRED,
  MAP_INHERIT_COPY,
  MAP_INHERIT_NONE,
  MAP_INHERIT_SHARE,
  PROT_ALL,
  PROT_READ,
  PROT_WRITE,
  vmerr,
} from '../param.ts';
import { type Pmap, type PmapOwner, VA_LIMIT } from '../pmap.ts';
import type { Uvm } from '../uvm.ts';

/* entry map types (vm_maptype_t) */
export const VM_MAPTYPE_NORMAL = 1;
export const VM_MAPTYPE_VPAGETABLE = 2;
export const VM_MAPTYPE_SUBMAP = 3;

/* map flags */
export const MAP_WIREFUTURE = 0x01;

/* vm_map_insert / vm_map_find "cow" flags (seed 001) */
export const MAP_COPY_ON_WRITE = 0x0002;
export const MAP_NOFAULT = 0x0004;
export const MAP_PREFAULT = 0x0008;
export const MAP_PREFAULT_PARTIAL = 0x0010;
export const MAP_DISABLE_SYNCER = 0x0020;
export const MAP_IS_STACK = 0x0040;
export const MAP_IS_KSTACK = 0x0080;
export const MAP_DISABLE_COREDUMP = 0x0100;
export const MAP_PREFAULT_MADVISE = 0x0200;
/* UVM_FLAG_OVERLAY: give the entry its amap now (shared anonymous memory) */
export const MAP_OVERLAY = 0x1000;

/* vm_fault flags (seed 001) */
export const VM_FAULT_NORMAL = 0x00;
export const VM_FAULT_CHANGE_WIRING = 0x01;
export const VM_FAULT_USER_WIRE = 0x02;
export const VM_FAULT_BURST = 0x04;
export const VM_FAULT_DIRTY = 0x08;
export const VM_FAULT_UNSWAP = 0x10;
export const VM_FAULT_WIRE_MASK = VM_FAULT_CHANGE_WIRING | VM_FAULT_USER_WIRE;

/* vm_map_clip_range flags (seed 001) */
export const MAP_CLIP_NO_HOLES = 0x0001;

/* DragonFly's growth step for stacks (SGROWSIZ) */
export const SGROWSIZ = 128 * 1024;

/** A map entry (struct vm_map_entry). */
/** What few entries need: a stack's room to grow, a special mapping's name. */
interface EntryAux {
  availSsize: number;
  name: string | null;
}

export class VmMapEntry implements TreeEntry, AmapEntry {
  prev: VmMapEntry = this;
  next: VmMapEntry = this;
  /** the tree leaf holding this entry (-1: not in a tree) */
  leaf = -1;
  /** aref.ar_amap: the anon layer, or null while the entry has none */
  amap: Amap | null = null;
  /** aref.ar_pageoff: the amap slot of the entry's first page */
  pageoff = 0;
  /** the union `object`: a vm_object, or the sub_map of a submap entry */
  private backing: UvmObject | VmMap | null = null;
  /** the union `aux` and the name: fields few entries use, kept apart */
  private rare: EntryAux | null = null;
  /** offset into the object, bytes */
  offset = 0;
  eflags = 0;
  maptype = VM_MAPTYPE_NORMAL;
  protection: number;
  maxProtection: number;
  inheritance = MAP_INHERIT_COPY;
  wiredCount = 0;

  constructor(
    public start: number,
    public end: number,
    prot = PROT_ALL,
    maxprot = PROT_ALL,
  ) {
    this.protection = prot;
    this.maxProtection = maxprot;
  }

  /** object.vm_object: the object layer (null: zero-fill) */
  get object(): UvmObject | null {
    return this.maptype === VM_MAPTYPE_SUBMAP ? null : (this.backing as UvmObject | null);
  }
  set object(o: UvmObject | null) {
    this.backing = o;
  }

  /** object.sub_map: set when maptype is VM_MAPTYPE_SUBMAP */
  get submap(): VmMap | null {
    return this.maptype === VM_MAPTYPE_SUBMAP ? (this.backing as VmMap | null) : null;
  }
  set submap(m: VmMap | null) {
    this.backing = m;
  }

  /** aux.avail_ssize: how much further a stack entry may grow down */
  get availSsize(): number {
    return this.rare?.availSsize ?? 0;
  }
  set availSsize(n: number) {
    if (this.rare !== null) this.rare.availSsize = n;
    else if (n !== 0) this.rare = { availSsize: n, name: null };
  }

  /** a special mapping's name ([vdso], [vvar], ...): shown in maps, never merged away */
  get name(): string | null {
    return this.rare?.name ?? null;
  }
  set name(s: string | null) {
    if (this.rare !== null) this.rare.name = s;
    else if (s !== null) this.rare = { availSsize: 0, name: s };
  }

  /**
   * aref: the entry's vm_aref. It is embedded, as in the C struct: the
   * entry is its own aref (no object of its own), and setting it copies.
   */
  get aref(): VmAref {
    return this;
  }
  set aref(a: VmAref) {
    this.amap = a.amap;
    this.pageoff = a.pageoff;
  }

  /** behavior: the advice bits (vm_map_entry_behavior). */
  behavior(): number {
    return this.eflags & MAP_ENTRY_BEHAV_MASK;
  }

  /** setBehavior: set the advice bits (vm_map_entry_set_behavior). */
  setBehavior(behavior: number): void {
    this.eflags = (this.eflags & ~MAP_ENTRY_BEHAV_MASK) | (behavior & MAP_ENTRY_BEHAV_MASK);
  }
}

/** What vm_map_insert sets on a new entry besides protection and flags. */
export interface EntryAttrs {
  /** MAP_INHERIT_SHARE, _COPY (the default) or _NONE */
  inherit?: number;
  /** behaviour bits (MAP_ENTRY_BEHAV_*) */
  advice?: number;
  /** a special mapping's name */
  name?: string | null;
}

/** A range to wire: [start, end), faulted in with `prot`. */
export interface WireRange {
  start: number;
  end: number;
  prot: number;
}

/** Hooks by which the layers above serve the map (the fault handler's wiring, prefault). */
export interface MapHooks {
  /** fault in and wire the ranges, all or nothing (uvm_fault_wire); returns 0 or an errno */
  wire(map: VmMap, ranges: readonly WireRange[]): 0 | Errno;
  /** unwire the pages of [start, end) (uvm_fault_unwire) */
  unwire(map: VmMap, start: number, end: number): void;
  /** hold the frames [start, end) maps, so they stay resident while unwired; returns them */
  hold(map: VmMap, start: number, end: number): number[];
  /** release frames hold() held */
  release(held: number[]): void;
  /** map already-resident pages of a new entry (pmap_object_init_pt) */
  prefault(map: VmMap, entry: VmMapEntry, partial: boolean): void;
}

const NO_HOOKS: MapHooks = {
  wire: () => 0,
  unwire: () => {},
  hold: () => [],
  release: () => {},
  prefault: () => {},
};

/** An address map (struct vm_map). */
export class VmMap implements AmapCopyMap, PmapOwner {
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
  private firstFreeCache: VmMapEntry | null = null;

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

  /** firstFree: the entry before the first hole from the map's bottom (first_free). */
  get firstFree(): VmMapEntry {
    if (this.firstFreeCache === null) this.firstFreeCache = computeFirstFree(this);
    return this.firstFreeCache;
  }

  /** changed: the entries changed; derived hints must be recomputed. */
  changed(): void {
    this.firstFreeCache = null;
    this.hintStart = 0;
    this.hintEnd = 0;
  }

  /* AmapCopyMap: amap_copy's chunking and merging */
  clipStart(entry: AmapEntry, va: number): void {
    vmMapClipStart(this, entry as VmMapEntry, va);
  }
  clipEnd(entry: AmapEntry, va: number): void {
    vmMapClipEnd(this, entry as VmMapEntry, va);
  }
  tryMergeCopying(entry: AmapEntry): boolean {
    return tryMergeCopying(this, entry as VmMapEntry);
  }
  absorbChunk(entry: AmapEntry, end: number): boolean {
    return absorbChunk(this, entry as VmMapEntry, end);
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

/*
 * ---- lookup ------------------------------------------------------------
 */

/**
 * vmMapLookupEntry: the entry containing addr, else the entry before addr,
 * else the header (vm_map_lookup_entry).
 * => tries the hint first (its range is cached in the map, so a miss costs
 *    no memory access), then the tree: O(log n), and no entry is touched
 *    but the one returned.
 * => use entryContains() to tell "found" from "the one before".
 */
export function vmMapLookupEntry(map: VmMap, addr: number): VmMapEntry {
  if (addr >= map.hintStart && addr < map.hintEnd) return map.hint;
  const tree = map.tree;
  const k = tree.floorSlot(addr);
  if (k < 0) return map.header;
  const e = tree.items[k] as VmMapEntry;
  if (addr < tree.ends[k]) setHint(map, e, tree.keys[k], tree.ends[k]);
  return e;
}

/** setHint: remember `e` (over [start, end)) as the last entry found or made. */
function setHint(map: VmMap, e: VmMapEntry, start = e.start, end = e.end): void {
  map.hint = e;
  map.hintStart = start;
  map.hintEnd = end;
}

/** entryContains: true when entry e (not the header) contains addr. */
export function entryContains(map: VmMap, e: VmMapEntry, addr: number): boolean {
  return e !== map.header && addr >= e.start && addr < e.end;
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

/**
 * vmMapLookup: the fault's way into the map (vm_map_lookup).
 * => finds the entry for va (descending into submaps), checks that the
 *    access `faultType` (PROT_* bits) is allowed, and clears needs-copy with
 *    amap_copy when writing (and, with `copyOnRead`, on a read of an entry
 *    without an object: UVM's fault does so, since zero fill needs an amap).
 *    A read of a needs-copy entry gets a protection without write.
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

/**
 * allows: protection `prot` permits access `faultType`. As on x86 (and so
 * in Linux), any access right implies reading.
 */
export function allows(prot: number, faultType: number): boolean {
  if (faultType === PROT_READ) return (prot & PROT_ALL) !== 0;
  return (prot & faultType) === faultType;
}

/** vmMapLookupDone: end a vmMapLookup (vm_map_lookup_done). */
export function vmMapLookupDone(map: VmMap): void {
  vmMapUnlockRead(map);
}

/*
 * ---- free space --------------------------------------------------------
 */

/**
 * vmMapHint: where an address-less mapping starts looking (vm_map_hint).
 * => the caller's address when given, else the map's mmap base (its top
 *    for a top-down map, its bottom otherwise).
 */
export function vmMapHint(map: VmMap, addr: number): number {
  if (addr !== 0) return addr;
  if (map.mmapBase !== 0) return map.mmapBase;
  return map.topdown ? map.maxOffset : map.minOffset;
}

/**
 * vmMapFindspace: find `length` free bytes, `align`-aligned (vm_map_findspace).
 * => bottom-up: the lowest fit at or above `start`; top-down: the highest
 *    fit ending at or below `start`, then bottom-up from the map's bottom.
 * => returns the address, or -1 when there is no room (a normal outcome).
 * => O(log n): the gap-augmented tree skips subtrees without a big enough hole.
 */
export function vmMapFindspace(
  map: VmMap,
  start: number,
  length: number,
  align: number,
  topdown = false,
): number {
  const a = Math.max(align, map.uvm.pageSize);
  if (topdown) {
    const r = lastFit(map, Math.min(start, map.maxOffset), length, a);
    if (r >= 0) return r;
    return firstFit(map, map.minOffset, length, a);
  }
  return firstFit(map, Math.max(start, map.minOffset), length, a);
}

function firstFit(map: VmMap, min: number, length: number, align: number): number {
  const first = map.header.next;
  const last = map.header.prev;
  if (first === map.header) return fitUp(map.minOffset, map.maxOffset, min, length, align);
  let r = fitUp(map.minOffset, first.start, min, length, align);
  if (r < 0) r = map.tree.firstFit(min, length, align);
  if (r < 0) r = fitUp(last.end, map.maxOffset, min, length, align);
  return r;
}

function lastFit(map: VmMap, max: number, length: number, align: number): number {
  const first = map.header.next;
  const last = map.header.prev;
  if (first === map.header) return fitDown(map.minOffset, map.maxOffset, max, length, align);
  let r = fitDown(last.end, map.maxOffset, max, length, align);
  if (r < 0) r = map.tree.lastFit(max, length, align);
  if (r < 0) r = fitDown(map.minOffset, first.start, max, length, align);
  return r;
}

function computeFirstFree(map: VmMap): VmMapEntry {
  const hole = firstFit(map, map.minOffset, map.uvm.pageSize, map.uvm.pageSize);
  if (hole < 0) return map.header.prev;
  if (hole === map.minOffset) return map.header;
  return vmMapLookupEntry(map, hole - 1);
}

/*
 * ---- linking -----------------------------------------------------------
 */

/** link: put `e` into the list after `after`, and into the tree. */
function link(map: VmMap, after: VmMapEntry, e: VmMapEntry): void {
  e.prev = after;
  e.next = after.next;
  after.next.prev = e;
  after.next = e;
  map.tree.insert(e);
  map.nentries++;
  map.size += e.end - e.start;
  map.changed();
}

/** unlink: take `e` out of the list and the tree. */
function unlink(map: VmMap, e: VmMapEntry): void {
  e.prev.next = e.next;
  e.next.prev = e.prev;
  map.tree.remove(e);
  map.nentries--;
  map.size -= e.end - e.start;
  if (map.hint === e) map.hint = e.prev;
  map.changed();
}

/** rekey: an entry's start or end changed in place; refresh the tree and the hints. */
function rekey(map: VmMap, e: VmMapEntry): void {
  map.tree.update(e);
  map.changed();
}

/** cloneEntry: a copy of e's fields (not its links). */
function cloneEntry(e: VmMapEntry): VmMapEntry {
  const n = new VmMapEntry(e.start, e.end, e.protection, e.maxProtection);
  n.availSsize = e.availSsize;
  n.aref = e;
  n.maptype = e.maptype;
  if (e.submap !== null) n.submap = e.submap;
  else n.object = e.object;
  n.offset = e.offset;
  n.eflags = e.eflags;
  n.inheritance = e.inheritance;
  n.wiredCount = e.wiredCount;
  n.name = e.name;
  return n;
}

/*
 * ---- insert ------------------------------------------------------------
 */

/** checkRange: [start, end) must be page aligned, non-empty and inside the map. */
function checkRange(map: VmMap, start: number, end: number, call: string): void {
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
  if (object !== null) objectReference(object);
  if (cow & MAP_OVERLAY) e.amap = amapAlloc(map.uvm, end - start);
  link(map, prev, e);
  setHint(map, e);
  if (cow & (MAP_PREFAULT | MAP_PREFAULT_PARTIAL | MAP_PREFAULT_MADVISE))
    map.hooks.prefault(map, e, (cow & MAP_PREFAULT_PARTIAL) !== 0);
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
}

/** takeReferences: a new entry copied from another references its object. */
function takeReferences(e: VmMapEntry): void {
  if (e.object !== null) objectReference(e.object);
}

/** clipRange: clip the entries at start and end; returns the first entry in range. */
function clipRange(map: VmMap, start: number, end: number): VmMapEntry {
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
 * ---- merging -----------------------------------------------------------
 *
 * One rule decides whether two neighbours can become one entry (canJoin),
 * one function joins them (join). vm_map_simplify_entry applies it to an
 * entry and its neighbours; amap_copy's merge (uvm_mapent_trymerge with
 * UVM_MERGE_COPYING) applies it to an entry that just lost needs-copy, which
 * survives; absorbChunk is the chunked amap_copy's fast path of the same join.
 */

/** How the anon layers of two neighbours become one. */
enum Anons {
  /** neither has an amap */
  NONE,
  /** both are adjacent windows of one amap: one reference goes */
  SAME,
  /** only the first has an amap, only it references: it grows forwards */
  EXTEND_FIRST,
  /** only the second has an amap, only it references: it grows backwards */
  EXTEND_SECOND,
}

/**
 * canJoin: can neighbours a and b (a just before b) become one entry?
 * => the same kind, protections, inheritance, name and object (contiguous
 *    offsets); neither wired nor in transition; the same flags, or flags
 *    that differ by needs-copy alone on a side with no amap whose
 *    neighbour has an amap only it uses (the join takes that amap, so
 *    needs no copy: UVM merges so under UVM_FLAG_OVERLAY and in amap_copy);
 *    and anon layers that can meet (see Anons).
 * => returns how the anon layers join, or null.
 */
function canJoin(map: VmMap, a: VmMapEntry, b: VmMapEntry): Anons | null {
  if (a.end !== b.start || !sameAttrs(a, b)) return null;
  const am = a.aref.amap;
  const bm = b.aref.amap;
  const flags = a.eflags ^ b.eflags;
  if (flags !== 0) {
    if (flags !== MAP_ENTRY_NEEDS_COPY) return null;
    const nc = a.eflags & MAP_ENTRY_NEEDS_COPY ? a : b;
    const owner = nc === a ? bm : am;
    if (nc.aref.amap !== null || owner === null || amapRefs(owner) !== 1) return null;
  }
  if (am === null && bm === null) return Anons.NONE;
  if (am !== null && am === bm)
    return a.aref.pageoff + (a.end - a.start) / map.uvm.pageSize === b.aref.pageoff
      ? Anons.SAME
      : null;
  if (bm === null && amapRefs(am!) === 1) return Anons.EXTEND_FIRST;
  if (am === null && amapRefs(bm!) === 1) return Anons.EXTEND_SECOND;
  return null;
}

/** sameAttrs: everything but the range, the flags and the anon layer lets a and b join. */
function sameAttrs(a: VmMapEntry, b: VmMapEntry): boolean {
  return (
    a.maptype === VM_MAPTYPE_NORMAL &&
    b.maptype === VM_MAPTYPE_NORMAL &&
    a.protection === b.protection &&
    a.maxProtection === b.maxProtection &&
    a.inheritance === b.inheritance &&
    a.wiredCount === 0 &&
    b.wiredCount === 0 &&
    ((a.eflags | b.eflags) & MAP_ENTRY_IN_TRANSITION) === 0 &&
    a.object === b.object &&
    a.name === b.name &&
    (a.object === null || a.offset + (a.end - a.start) === b.offset)
  );
}

/**
 * join: make neighbours a and b (a before b) one entry, as canJoin said
 * (`how`); `keep` (a or b) survives, the other leaves the map.
 * => returns the survivor, or null, changing nothing, when amap_extend
 *    refuses (E2BIG).
 */
function join(
  map: VmMap,
  a: VmMapEntry,
  b: VmMapEntry,
  how: Anons,
  keep: VmMapEntry,
): VmMapEntry | null {
  const uvm = map.uvm;
  const lazy = a.eflags !== b.eflags;
  let aref: VmAref = a.aref;
  if (how === Anons.SAME) amapDropRef(a.aref.amap!);
  else if (how === Anons.EXTEND_FIRST) {
    if (amapExtend(uvm, a, b.end - b.start, AMAP_EXTEND_FORWARDS | AMAP_EXTEND_NOWAIT) !== 0)
      return null;
  } else if (how === Anons.EXTEND_SECOND) {
    if (amapExtend(uvm, b, a.end - a.start, AMAP_EXTEND_BACKWARDS | AMAP_EXTEND_NOWAIT) !== 0)
      return null;
    aref = b.aref;
  }
  const { amap, pageoff } = aref;
  const gone = keep === a ? b : a;
  unlink(map, gone);
  keep.start = a.start;
  keep.end = b.end;
  keep.offset = a.offset;
  keep.amap = amap;
  keep.pageoff = pageoff;
  if (lazy) keep.eflags &= ~MAP_ENTRY_NEEDS_COPY; /* the amap is there now */
  keep.availSsize = Math.max(a.availSsize, b.availSsize);
  rekey(map, keep);
  map.size += gone.end - gone.start;
  if (gone.object !== null) objectDetach(uvm, gone.object);
  setHint(map, keep);
  return keep;
}

/**
 * vmMapSimplifyEntry: merge an entry with its neighbours where they can
 * join (vm_map_simplify_entry, under canJoin's rule).
 * => returns the entry that now covers `entry`'s range.
 */
export function vmMapSimplifyEntry(map: VmMap, entry: VmMapEntry): VmMapEntry {
  let e = entry;
  const prev = e.prev;
  if (prev !== map.header) {
    const how = canJoin(map, prev, e);
    if (how !== null) e = join(map, prev, e, how, prev) ?? e;
  }
  const next = e.next;
  if (next !== map.header) {
    const how = canJoin(map, e, next);
    if (how !== null) e = join(map, e, next, how, e) ?? e;
  }
  return e;
}

/**
 * tryMergeCopying: amap_copy's merge (uvm_mapent_trymerge with
 * UVM_MERGE_COPYING): the amap-less, needs-copy `entry` joins a neighbour
 * whose amap only it references; `entry` survives, needing no copy.
 * => returns true if it merged.
 */
function tryMergeCopying(map: VmMap, entry: VmMapEntry): boolean {
  if (entry.aref.amap !== null) return false;
  let merged: VmMapEntry | null = null;
  const next = entry.next;
  if (next !== map.header && canJoin(map, entry, next) === Anons.EXTEND_SECOND)
    merged = join(map, entry, next, Anons.EXTEND_SECOND, entry);
  const prev = entry.prev;
  if (merged === null && prev !== map.header && canJoin(map, prev, entry) === Anons.EXTEND_FIRST)
    merged = join(map, prev, entry, Anons.EXTEND_FIRST, entry);
  /* amap_copy's promise: no copy is needed now (the neighbour's amap, only ours, may be taken over) */
  if (merged !== null) merged.eflags &= ~MAP_ENTRY_NEEDS_COPY;
  return merged !== null;
}

/**
 * absorbChunk: what clipping entry at `end` and then tryMergeCopying the
 * front part into the previous entry would do, without making the front
 * part: prev's amap grows forwards, prev ends at `end`, entry starts there.
 * Sequential faults in a large entry take this path once a chunk.
 * => false, changing nothing, when prev cannot take it.
 */
function absorbChunk(map: VmMap, entry: VmMapEntry, end: number): boolean {
  const prev = entry.prev;
  if (prev === map.header || entry.aref.amap !== null) return false;
  if (canJoin(map, prev, entry) !== Anons.EXTEND_FIRST) return false;
  const size = end - entry.start;
  if (amapExtend(map.uvm, prev, size, AMAP_EXTEND_FORWARDS | AMAP_EXTEND_NOWAIT) !== 0)
    return false;
  prev.end = end;
  prev.eflags &= ~MAP_ENTRY_NEEDS_COPY; /* its amap is only its own: taken over */
  if (entry.object !== null) entry.offset += size;
  entry.start = end;
  map.tree.update(prev);
  map.tree.update(entry);
  map.changed();
  return true;
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

/*
 * ---- attributes --------------------------------------------------------
 */

/** pmapMask: what a COW entry's pages may be mapped with (UVM's MASK). */
function pmapMask(e: VmMapEntry): number {
  return e.eflags & MAP_ENTRY_COW ? ~PROT_WRITE : PROT_ALL;
}

/**
 * vmMapProtect: set the protection of [start, end) to `prot`, or with
 * setMax its maximum protection (vm_map_protect).
 * => the range must be mapped without holes (ENOMEM), hold no submap
 *    (EINVAL), and prot must not exceed any entry's maximum (EACCES).
 *    All checks come first: a failure changes nothing.
 * => lowering the maximum lowers the protection with it; translations are
 *    lowered at once (COW entries stay read-only in the pmap).
 */
export function vmMapProtect(
  map: VmMap,
  start: number,
  end: number,
  prot: number,
  setMax: boolean,
): void {
  checkRange(map, start, end, 'vm_map_protect');
  if (!Number.isInteger(prot) || (prot & ~PROT_ALL) !== 0)
    throw vmerr('EINVAL', 'vm_map_protect', 'prot', `${prot} is not a set of PROT_* bits`);
  vmMapLock(map);
  try {
    checkNoHoles(map, start, end, 'vm_map_protect');
    for (let e = vmMapLookupEntry(map, start); e !== map.header && e.start < end; e = e.next) {
      if (e.maptype === VM_MAPTYPE_SUBMAP)
        throw vmerr('EINVAL', 'vm_map_protect', 'addr', 'the range holds a submap');
      if (!setMax && (prot & e.maxProtection) !== prot)
        throw vmerr(
          'EACCES',
          'vm_map_protect',
          'prot',
          `${prot} exceeds the maximum ${e.maxProtection} at ${hex(e.start)}`,
        );
    }
    forEachClipped(map, start, end, (e) => {
      const old = e.protection;
      if (setMax) {
        e.maxProtection = prot;
        e.protection &= prot;
      } else e.protection = prot;
      if (e.protection !== old) map.pmap.protect(e.start, e.end, e.protection & pmapMask(e));
    });
  } finally {
    vmMapUnlock(map);
  }
}

/**
 * forEachClipped: clip to [start, end), apply `fn` to each entry inside,
 * then merge what can be merged.
 */
function forEachClipped(map: VmMap, start: number, end: number, fn: (e: VmMapEntry) => void): void {
  for (let e = clipRange(map, start, end); e !== map.header && e.start < end; e = e.next) fn(e);
  simplifyRange(map, start, end);
}

/**
 * simplifyRange: merge every entry touching [start, end] with its
 * neighbours, following the survivor of each merge so chains collapse.
 */
function simplifyRange(map: VmMap, start: number, end: number): void {
  let e = vmMapLookupEntry(map, start);
  if (e === map.header) e = e.next;
  while (e !== map.header && e.start <= end) e = vmMapSimplifyEntry(map, e).next;
}

/**
 * vmMapInherit: set the inheritance of [start, end) (vm_map_inherit).
 * => MAP_INHERIT_SHARE, _COPY or _NONE; EINVAL otherwise. Holes are skipped.
 */
export function vmMapInherit(map: VmMap, start: number, end: number, inherit: number): void {
  checkRange(map, start, end, 'vm_map_inherit');
  if (inherit !== MAP_INHERIT_SHARE && inherit !== MAP_INHERIT_COPY && inherit !== MAP_INHERIT_NONE)
    throw vmerr(
      'EINVAL',
      'vm_map_inherit',
      'inherit',
      `${inherit} is not MAP_INHERIT_SHARE, _COPY or _NONE`,
    );
  vmMapLock(map);
  try {
    forEachClipped(map, start, end, (e) => {
      e.inheritance = inherit;
    });
  } finally {
    vmMapUnlock(map);
  }
}

/**
 * vmMapMadvise: set the behaviour bits of [start, end) (vm_map_madvise's
 * MADV_NORMAL / _SEQUENTIAL / _RANDOM part; advice that acts on pages
 * lives with the address space).
 * => behav is MAP_ENTRY_BEHAV_NORMAL, _SEQUENTIAL or _RANDOM.
 */
export function vmMapMadvise(map: VmMap, start: number, end: number, behav: number): void {
  checkRange(map, start, end, 'vm_map_madvise');
  if ((behav & ~MAP_ENTRY_BEHAV_MASK) !== 0 || behav === MAP_ENTRY_BEHAV_MASK)
    throw vmerr('EINVAL', 'vm_map_madvise', 'behav', `${behav} is not a behaviour`);
  vmMapLock(map);
  try {
    forEachClipped(map, start, end, (e) => e.setBehavior(behav));
  } finally {
    vmMapUnlock(map);
  }
}

/**
 * vmMapCheckProtection: true if [start, end) is mapped without holes and
 * every entry allows `prot` (vm_map_check_protection).
 * => haveLock: the caller holds the map lock already.
 */
export function vmMapCheckProtection(
  map: VmMap,
  start: number,
  end: number,
  prot: number,
  haveLock: boolean,
): boolean {
  if (!haveLock) vmMapLockRead(map);
  try {
    let e = vmMapLookupEntry(map, start);
    if (!entryContains(map, e, start)) return false;
    for (;;) {
      if ((e.protection & prot) !== prot) return false;
      if (e.end >= end) return true;
      if (e.next === map.header || e.next.start !== e.end) return false;
      e = e.next;
    }
  } finally {
    if (!haveLock) vmMapUnlockRead(map);
  }
}

/*
 * ---- wiring ------------------------------------------------------------
 */

/**
 * vmMapUserWire: mlock's wiring of [start, end): each entry gets
 * USER_WIRED and one more wiring (once), and its pages are faulted in and
 * wired.
 * => the range must be mapped without holes (ENOMEM). If faulting fails,
 *    everything this call did is undone and the errno is thrown.
 * => `keepIfUnfaulted` (mremap growing locked memory, as Linux's
 *    mm_populate there): the range stays locked even when its pages
 *    cannot all be faulted in now; a later fault in it wires its page.
 */
export function vmMapUserWire(map: VmMap, start: number, end: number, keepIfUnfaulted = false) {
  wireRange(map, start, end, true, 'mlock', keepIfUnfaulted);
}

/**
 * wireRange: wire [start, end) (mapped without holes: ENOMEM otherwise),
 * a user (mlock) or kernel wiring, naming `call` in errors.
 */
function wireRange(
  map: VmMap,
  start: number,
  end: number,
  user: boolean,
  call: string,
  keepIfUnfaulted: boolean,
): void {
  checkRange(map, start, end, call);
  vmMapLock(map);
  let wiring: VmMapEntry[];
  try {
    checkNoHoles(map, start, end, call);
    wiring = beginWiring(map, start, end, user);
  } finally {
    vmMapUnlock(map);
  }
  finishWiring(map, wiring, user, keepIfUnfaulted ? null : call);
}

/**
 * unwireRange: drop one wiring (the user's: only USER_WIRED entries) of
 * each wired entry of [start, end) (mapped without holes: ENOMEM
 * otherwise); the last wiring unwires an entry's pages.
 */
function unwireRange(map: VmMap, start: number, end: number, user: boolean, call: string) {
  checkRange(map, start, end, call);
  vmMapLock(map);
  try {
    checkNoHoles(map, start, end, call);
    forEachClipped(map, start, end, (e) => {
      if (user ? e.eflags & MAP_ENTRY_USER_WIRED : e.wiredCount > 0) unwireEntry(map, e, user);
    });
  } finally {
    vmMapUnlock(map);
  }
}

/**
 * vmMapUserWireAll: mlockall(MCL_CURRENT)'s wiring of every entry of the
 * map (uvm_map_pageable_all), all or nothing: on a failure the entries
 * this call wired are unwired again and those locked before stay locked.
 */
export function vmMapUserWireAll(map: VmMap): void {
  vmMapLock(map);
  const wiring: VmMapEntry[] = [];
  try {
    for (let e = map.header.next; e !== map.header; e = e.next)
      wiring.push(...beginWiring(map, e.start, e.end, true));
  } finally {
    vmMapUnlock(map);
  }
  finishWiring(map, wiring, true, 'mlockall');
}

/**
 * vmMapUserUnwire: munlock's unwiring of [start, end): each USER_WIRED
 * entry loses the user's wiring; the last wiring unwires its pages.
 * => the range must be mapped without holes (ENOMEM).
 */
export function vmMapUserUnwire(map: VmMap, start: number, end: number): void {
  unwireRange(map, start, end, true, 'munlock');
}

/**
 * vmMapUnwire: the seed's interface to user wiring (vm_map_unwire):
 * newPageable true unwires (vmMapUserUnwire), false wires (vmMapUserWire).
 */
export function vmMapUnwire(map: VmMap, start: number, end: number, newPageable: boolean): void {
  if (newPageable) vmMapUserUnwire(map, start, end);
  else vmMapUserWire(map, start, end);
}

/**
 * beginWiring: the locked half of wiring [start, end) (uvm_map_pageable):
 * give needs-copy entries their amap first (so the faults cannot clip
 * them), then count a wiring on each entry and mark it in transition.
 * => returns the entries whose pages must be faulted in (the first wiring).
 */
function beginWiring(map: VmMap, start: number, end: number, user: boolean): VmMapEntry[] {
  const out: VmMapEntry[] = [];
  for (let e = clipRange(map, start, end); e !== map.header && e.start < end; e = e.next) {
    if (user && e.eflags & MAP_ENTRY_USER_WIRED) continue;
    if (e.eflags & MAP_ENTRY_NEEDS_COPY && (e.maxProtection & PROT_WRITE || e.object === null))
      amapCopy(map.uvm, map, e, AMAP_COPY_NOCHUNK | AMAP_COPY_NOMERGE, 0, 0);
    if (user) e.eflags |= MAP_ENTRY_USER_WIRED;
    e.wiredCount++;
    if (e.wiredCount === 1) {
      e.eflags |= MAP_ENTRY_IN_TRANSITION;
      out.push(e);
    }
  }
  return out;
}

/**
 * finishWiring: the unlocked half: fault in and wire the pages of each
 * entry, all or nothing (the faults take the map's read lock themselves),
 * then clear the transitions.
 * => on a failure every entry of this call is unwired again and the
 *    errno thrown naming `call`; with `call` null the wirings stay (the
 *    pages will be wired as they fault).
 */
function finishWiring(map: VmMap, entries: VmMapEntry[], user: boolean, call: string | null) {
  let failed: 0 | Errno = 0;
  if (call === null) wireEachPage(map, entries);
  else if (entries.length > 0) failed = map.hooks.wire(map, entries.map(wireRangeOf));
  vmMapLock(map);
  try {
    for (const e of entries) e.eflags &= ~MAP_ENTRY_IN_TRANSITION;
    if (failed === 0 || call === null) return;
    for (const e of entries) {
      if (user) e.eflags &= ~MAP_ENTRY_USER_WIRED;
      e.wiredCount--;
    }
    const range = `${hex(entries[0].start)}-${hex(entries[entries.length - 1].end)}`;
    throw vmerr(failed, call, 'addr', `faulting in ${range} failed`);
  } finally {
    vmMapUnlock(map);
  }
}

/** unwireEntry: drop one wiring (the user's, if `user`); the last one unwires the pages. */
function unwireEntry(map: VmMap, e: VmMapEntry, user: boolean): void {
  if (user) e.eflags &= ~MAP_ENTRY_USER_WIRED;
  e.wiredCount--;
  if (e.wiredCount === 0) map.hooks.unwire(map, e.start, e.end);
}

/**
 * vmMapKernelWire: the kernel's wiring of [start, end) (vm_map_wire with
 * a wiring flag): like mlock's without USER_WIRED, and counted per call.
 * => errors as vmMapUserWire (then nothing stays wired).
 */
export function vmMapKernelWire(map: VmMap, start: number, end: number): void {
  wireRange(map, start, end, false, 'vm_map_wire', false);
}

/**
 * vmMapKernelUnwire: drop one kernel wiring of each wired entry of
 * [start, end); the last wiring unwires its pages.
 */
export function vmMapKernelUnwire(map: VmMap, start: number, end: number): void {
  unwireRange(map, start, end, false, 'vm_map_wire');
}

/**
 * vmMapWire: the seed's interface to kernel wiring (vm_map_wire): with a
 * VM_FAULT_WIRE_MASK bit in flags it wires (vmMapKernelWire), without one
 * it unwires (vmMapKernelUnwire).
 */
export function vmMapWire(map: VmMap, start: number, end: number, flags: number): void {
  if (flags & VM_FAULT_WIRE_MASK) vmMapKernelWire(map, start, end);
  else vmMapKernelUnwire(map, start, end);
}

/**
 * vmMapFaultWired: fault in and wire the pages of the wired entries of
 * [start, end) (after a move gave them new addresses); map unlocked.
 * => pages that cannot be faulted in (locked memory grown past the end of
 *    its object) stay unwired, as before the move.
 */
export function vmMapFaultWired(map: VmMap, start: number, end: number): void {
  let e = vmMapLookupEntry(map, start);
  if (!entryContains(map, e, start)) e = e.next;
  const wired: VmMapEntry[] = [];
  for (; e !== map.header && e.start < end; e = e.next) if (e.wiredCount > 0) wired.push(e);
  wireEachPage(map, wired);
}

/**
 * wireEachPage: wire each page of the entries that can be faulted in,
 * skipping those that cannot (as Linux's mm_populate ignores its errors);
 * a later fault in a wired entry wires its page.
 */
function wireEachPage(map: VmMap, entries: VmMapEntry[]): void {
  const ps = map.uvm.pageSize;
  for (const e of entries)
    for (let va = e.start; va < e.end; va += ps)
      map.hooks.wire(map, [{ start: va, end: va + ps, prot: e.protection }]);
}

/** wireRangeOf: an entry's range, to be faulted in with its protection. */
function wireRangeOf(e: VmMapEntry): WireRange {
  return { start: e.start, end: e.end, prot: e.protection };
}

/**
 * vmMapSetWiredQuick: mark [addr, addr+size) wired without faulting
 * (vm_map_set_wired_quick), for memory the caller fills and wires itself.
 */
export function vmMapSetWiredQuick(map: VmMap, addr: number, size: number): void {
  checkRange(map, addr, addr + size, 'vm_map_set_wired_quick');
  vmMapLock(map);
  try {
    checkNoHoles(map, addr, addr + size, 'vm_map_set_wired_quick');
    const first = clipRange(map, addr, addr + size);
    for (let e = first; e !== map.header && e.start < addr + size; e = e.next) e.wiredCount = 1;
  } finally {
    vmMapUnlock(map);
  }
}

/**
 * vmMapTransitionWait: wait for an entry in transition to settle
 * (vm_map_transition_wait): drop the lock, sleep, relock.
 * => one thread runs: the only one who could finish a transition is the
 *    caller, so waiting on one would never end; that is a KernelPanic.
 *    With none in transition it relocks (bumping the timestamp).
 */
export function vmMapTransitionWait(map: VmMap): void {
  for (let e = map.header.next; e !== map.header; e = e.next) {
    if (e.eflags & MAP_ENTRY_IN_TRANSITION) {
      e.eflags |= MAP_ENTRY_NEEDS_WAKEUP;
      throw new KernelPanic('vm_map_transition_wait: would sleep forever (one thread)');
    }
  }
  vmMapUnlock(map);
  vmMapLock(map);
}

/*
 * ---- submaps and stacks -------------------------------------------------
 */

/**
 * vmMapSubmap: make [start, end) of `map` refer to `submap` (vm_map_submap).
 * => the range must be exactly one plain entry: no amap, no object, not
 *    copy-on-write, not wired. EINVAL otherwise.
 */
export function vmMapSubmap(map: VmMap, start: number, end: number, submap: VmMap): void {
  checkRange(map, start, end, 'vm_map_submap');
  if (submap === map)
    throw vmerr('EINVAL', 'vm_map_submap', 'submap', 'a map cannot be its own submap');
  vmMapLock(map);
  try {
    const e = vmMapLookupEntry(map, start);
    const plain =
      entryContains(map, e, start) && e.end >= end && e.aref.amap === null && e.object === null;
    if (!plain || e.eflags & MAP_ENTRY_COW || e.wiredCount > 0)
      throw vmerr('EINVAL', 'vm_map_submap', 'start', 'the range is not one plain entry');
    const first = clipRange(map, start, end);
    first.maptype = VM_MAPTYPE_SUBMAP;
    first.submap = submap;
    submap.submapRefs++;
  } finally {
    vmMapUnlock(map);
  }
}

/**
 * vmMapStack: make a growable stack at the top of [addrbos, addrbos+maxSsize)
 * (vm_map_stack).
 * => the whole range must be free (ENOMEM otherwise); an entry of
 *    min(maxSsize, SGROWSIZ) bytes is mapped at its top with MAP_ENTRY_STACK
 *    and may grow down by availSsize = the rest.
 */
export function vmMapStack(
  map: VmMap,
  addrbos: number,
  maxSsize: number,
  prot: number,
  maxprot: number,
  cow: number,
): VmMapEntry {
  const top = addrbos + maxSsize;
  checkRange(map, addrbos, top, 'vm_map_stack');
  const init = Math.min(maxSsize, SGROWSIZ);
  const below = vmMapLookupEntry(map, addrbos);
  if (entryContains(map, below, addrbos) || (below.next !== map.header && below.next.start < top))
    throw vmerr('ENOMEM', 'vm_map_stack', 'addrbos', `[${hex(addrbos)}, ${hex(top)}) is not free`);
  const e = vmMapInsert(map, null, 0, top - init, top, prot, maxprot, cow | MAP_IS_STACK);
  e.availSsize = maxSsize - init;
  return e;
}

/**
 * vmMapGrowstack: grow the stack entry above addr down to cover it
 * (vm_map_growstack).
 * => 0 if addr is now mapped (or already was); ENOMEM when addr is not just
 *    below a stack entry, lies beyond what the stack may still grow
 *    (availSsize: the stack limit), or would bring the stack within
 *    stackGuard bytes of the mapping below.
 */
export function vmMapGrowstack(map: VmMap, addr: number): 0 | 'ENOMEM' {
  const prev = vmMapLookupEntry(map, addr);
  if (entryContains(map, prev, addr)) return 0;
  if (!vmMapCanGrowstack(map, addr)) return 'ENOMEM';
  const stack = prev.next;
  const newStart = Math.floor(addr / map.uvm.pageSize) * map.uvm.pageSize;
  const avail = stack.availSsize - (stack.start - newStart);
  const piece = vmMapInsert(
    map,
    null,
    0,
    newStart,
    stack.start,
    stack.protection,
    stack.maxProtection,
    (stack.eflags & MAP_ENTRY_COW ? MAP_COPY_ON_WRITE : 0) | MAP_IS_STACK,
    { inherit: stack.inheritance, advice: stack.behavior() },
  );
  piece.availSsize = avail;
  return 0;
}

/**
 * vmMapCanGrowstack: unmapped addr lies just below a stack entry that may
 * grow down over it (the conditions of vmMapGrowstack), changing nothing.
 */
export function vmMapCanGrowstack(map: VmMap, addr: number): boolean {
  const prev = vmMapLookupEntry(map, addr);
  if (entryContains(map, prev, addr)) return false;
  const stack = prev.next;
  if (stack === map.header || !(stack.eflags & MAP_ENTRY_STACK)) return false;
  const newStart = Math.floor(addr / map.uvm.pageSize) * map.uvm.pageSize;
  if (stack.start - newStart > stack.availSsize) return false;
  const floor = prev === map.header ? map.minOffset : prev.end + map.stackGuard;
  return newStart >= floor;
}

/*
 * ---- moving ------------------------------------------------------------
 */

/**
 * vmMapMove: move the entries of [start, end) to begin at `to` (what
 * uvm_map_extract + unmap do for mremap), keeping their anon and object
 * backing; the old translations go. Wired entries stay wired: the caller
 * faults their pages in at `to` (vmMapFaultWired) once the map is unlocked;
 * until then their frames are held (pushed on `held`, for hooks.release),
 * so nothing can page them out and the re-wiring cannot fail.
 * => [start, end) is mapped without holes; [to, to + (end - start)) is
 *    free and inside the map (the caller checked both).
 * => returns the first entry at the new place.
 */
export function vmMapMove(
  map: VmMap,
  start: number,
  end: number,
  to: number,
  held: number[],
): VmMapEntry {
  const moved: VmMapEntry[] = [];
  for (let e = clipRange(map, start, end); e !== map.header && e.start < end; e = e.next)
    moved.push(e);
  for (const e of moved) {
    if (e.wiredCount > 0) {
      held.push(...map.hooks.hold(map, e.start, e.end));
      map.hooks.unwire(map, e.start, e.end);
    }
    map.pmap.remove(e.start, e.end);
  }
  for (const e of moved) unlink(map, e);
  const delta = to - start;
  for (const e of moved) {
    e.start += delta;
    e.end += delta;
    link(map, vmMapLookupEntry(map, e.start), e);
  }
  simplifyRange(map, to, to + (end - start));
  return vmMapLookupEntry(map, to);
}

/*
 * ---- fork ---------------------------------------------------------------
 */

/**
 * vmMapFork: fill the empty map `child` from `parent`, entry by entry, by
 * inheritance (uvmspace_fork: uvm_mapent_forkshared / _forkcopy).
 * => NONE: left out. SHARE: both map the same amap (the parent's
 *    needs-copy is cleared first, so there is one amap to share; it is
 *    marked AMAP_SHARED) and the same object.
 * => COPY: the child's entry is copy-on-write and needs a copy; it shares
 *    the parent's amap read-only until a write. The parent's entry becomes
 *    needs-copy too and its translations are write-protected, unless it is
 *    wired: then amap_cow_now copies every shared page for the child now,
 *    so the parent never faults.
 * => COPY of shared memory (a shared mapping, or an AMAP_SHARED amap): the
 *    child's amap is copied at once and the pages lose write permission in
 *    every space that maps them (amap_share_protect); the parent stays
 *    sharing, and a later write by any sharer copies the page into the
 *    shared amap (amap_add with replace), leaving the child its snapshot.
 *    UVM marks the parent needs-copy here, which would make its next write
 *    leave the sharing.
 * => returns 0, or ENOMEM when amap_cow_now runs out of frames (the caller
 *    destroys the child; the parent is as it was, bar needs-copy flags).
 * => both maps are locked by the caller.
 */
export function vmMapFork(parent: VmMap, child: VmMap): 0 | 'ENOMEM' {
  for (let e = parent.header.next; e !== parent.header; e = e.next)
    if (e.maptype === VM_MAPTYPE_SUBMAP)
      throw vmerr('EINVAL', 'fork', 'map', 'cannot fork a map holding a submap');
  for (let e = parent.header.next; e !== parent.header; e = e.next) {
    if (e.inheritance === MAP_INHERIT_NONE) continue;
    if (e.inheritance === MAP_INHERIT_SHARE) forkShared(parent, child, e);
    else if (forkCopy(parent, child, e) !== 0) return 'ENOMEM';
  }
  return 0;
}

/** cloneForChild: the child's copy of a parent entry, appended to the child (uvm_mapent_clone). */
function cloneForChild(parent: VmMap, child: VmMap, e: VmMapEntry, amapFlags: number): VmMapEntry {
  const n = cloneEntry(e);
  n.wiredCount = 0;
  n.eflags &= ~(MAP_ENTRY_USER_WIRED | MAP_ENTRY_IN_TRANSITION | MAP_ENTRY_NEEDS_WAKEUP);
  const amap = n.aref.amap;
  if (amap !== null)
    amapRef(parent.uvm, amap, n.aref.pageoff, (n.end - n.start) / parent.uvm.pageSize, amapFlags);
  takeReferences(n);
  link(child, child.header.prev, n);
  return n;
}

/** forkShared: uvm_mapent_forkshared: the parent's needs-copy is resolved first, so both share one amap. */
function forkShared(parent: VmMap, child: VmMap, e: VmMapEntry): void {
  if (e.eflags & MAP_ENTRY_NEEDS_COPY) amapCopy(parent.uvm, parent, e, AMAP_COPY_NOCHUNK, 0, 0);
  cloneForChild(parent, child, e, AMAP_SHARED);
}

/**
 * forkCopy: uvm_mapent_forkcopy: the child's entry is copy-on-write.
 * => shared memory, or a wired parent entry: the child's amap is copied now;
 *    a wired parent's pages are copied for the child too (amap_cow_now).
 * => shared memory: the anons the child's copy holds stay in the amap
 *    every sharer writes, so no sharer may write them in place any more:
 *    their translations lose write permission everywhere (only that: a
 *    wired one stays mapped, locked memory stays locked).
 * => otherwise both sides become needs-copy, the parent write-protected.
 */
function forkCopy(parent: VmMap, child: VmMap, e: VmMapEntry): 0 | 'ENOMEM' {
  const n = cloneForChild(parent, child, e, 0);
  n.eflags |= MAP_ENTRY_COW | MAP_ENTRY_NEEDS_COPY;
  const amap = e.aref.amap;
  if (amap === null) return 0;
  const sharedMemory = (amap.flags & AMAP_SHARED) !== 0 || (e.eflags & MAP_ENTRY_COW) === 0;
  const wired = e.wiredCount > 0;
  if (sharedMemory || wired) amapCopy(child.uvm, child, n, AMAP_COPY_NOCHUNK, 0, 0);
  if (wired && amapCowNow(child.uvm, n) !== 0) return 'ENOMEM';
  if (sharedMemory) {
    amapLock(amap);
    amapShareProtect(parent.uvm, e, PROT_ALL & ~PROT_WRITE);
    amapUnlock(amap);
  } else if (!wired && !(e.eflags & MAP_ENTRY_NEEDS_COPY)) {
    if (e.maxProtection & PROT_WRITE)
      parent.pmap.protect(e.start, e.end, e.protection & ~PROT_WRITE);
    e.eflags |= MAP_ENTRY_NEEDS_COPY;
  }
  return 0;
}

/*
 * ---- audit -------------------------------------------------------------
 */

/**
 * auditMap: check the invariants listed at the top of this file.
 */
export function auditMap(map: VmMap): void {
  const ps = map.uvm.pageSize;
  map.tree.audit();
  if (map.lock.held) fail(map, 'lock left held');
  let n = 0;
  let size = 0;
  let prevEnd = map.minOffset;
  const inOrder = [];
  for (let e = map.header.next; e !== map.header; e = e.next) {
    if (e.next.prev !== e) fail(map, `bad list link at ${hex(e.start)}`);
    if (e.start % ps || e.end % ps || e.start >= e.end)
      fail(map, `bad range ${hex(e.start)}-${hex(e.end)}`);
    if (e.start < prevEnd) fail(map, `entries overlap or are unsorted at ${hex(e.start)}`);
    if (e.end > map.maxOffset) fail(map, `entry ${hex(e.start)} ends past the map`);
    if (e.eflags & MAP_ENTRY_IN_TRANSITION) fail(map, `entry ${hex(e.start)} left in transition`);
    auditEntryBacking(map, e);
    prevEnd = e.end;
    n++;
    size += e.end - e.start;
    inOrder.push(e);
  }
  if (n !== map.nentries) fail(map, `nentries ${map.nentries} but ${n} entries`);
  if (size !== map.size) fail(map, `size ${map.size} but entries cover ${size}`);
  if (map.tree.size !== n) fail(map, `tree holds ${map.tree.size} of ${n} entries`);
  for (const e of inOrder)
    if (map.tree.floor(e.start) !== e) fail(map, `tree does not find ${hex(e.start)}`);
  if (map.hint !== map.header && map.hint.leaf === -1) fail(map, 'hint is not in the map');
}

/**
 * auditAmapRefs: across every map of the kernel, each amap's am_ref equals
 * the entries referencing it, and its ppref counts the entries covering
 * each page.
 * => strict: every amap must be referenced by some entry (no orphans).
 */
export function auditAmapRefs(uvm: Uvm, strict: boolean): void {
  const users = new Map<Amap, VmMapEntry[]>();
  for (const map of uvm.maps) {
    for (let e = map.header.next; e !== map.header; e = e.next) {
      const amap = e.aref.amap;
      if (amap === null) continue;
      const list = users.get(amap);
      if (list) list.push(e);
      else users.set(amap, [e]);
    }
  }
  for (const amap of uvm.amaps) {
    const list = users.get(amap) ?? [];
    if (list.length === 0 && !strict) continue;
    if (amap.ref !== list.length)
      throw new KernelPanic(
        `audit: amap ${amap.id}: am_ref ${amap.ref} but ${list.length} entries`,
      );
    if (amap.ppref instanceof Int32Array) auditCoverage(uvm, amap, list);
  }
}

function auditCoverage(uvm: Uvm, amap: Amap, list: VmMapEntry[]): void {
  const cover = new Int32Array(amap.nslot);
  for (const e of list) {
    const n = (e.end - e.start) / uvm.pageSize;
    for (let i = 0; i < n; i++) cover[e.aref.pageoff + i]++;
  }
  for (let lcv = 0; lcv < amap.nslot; ) {
    const { ref, len } = ppGetreflen(amap.ppref as Int32Array, lcv);
    for (let s = lcv; s < lcv + len; s++)
      if (cover[s] !== ref)
        throw new KernelPanic(
          `audit: amap ${amap.id}: ppref ${ref} at slot ${s}, ${cover[s]} entries`,
        );
    lcv += len;
  }
}

function auditEntryBacking(map: VmMap, e: VmMapEntry): void {
  const amap = e.aref.amap;
  if (e.maptype === VM_MAPTYPE_SUBMAP) {
    if (amap !== null || e.object !== null || e.submap === null)
      fail(map, `submap entry ${hex(e.start)} has backing`);
    return;
  }
  if (amap === null) return;
  if (!map.uvm.amaps.has(amap)) fail(map, `entry ${hex(e.start)} references a dead amap`);
  const pages = (e.end - e.start) / map.uvm.pageSize;
  if (e.aref.pageoff < 0 || e.aref.pageoff + pages > amap.nslot)
    fail(map, `entry ${hex(e.start)}: aref window beyond the amap's ${amap.nslot} slots`);
}

function fail(map: VmMap, what: string): never {
  throw new KernelPanic(`audit: map [${hex(map.minOffset)}, ${hex(map.maxOffset)}): ${what}`);
}
