/*
 * entry.ts: the map entry (struct vm_map_entry) and the map's constants:
 * entry map types, vm_map_insert's "cow" flags, vm_fault flags, and the
 * hooks by which the layers above serve the map.
 *
 * Entry flags (eflags) are the seed's MAP_ENTRY_* bits (param.ts): COW
 * (private: writes are copied) and NEEDS_COPY (the amap is not yet this
 * entry's own), STACK, NOFAULT, USER_WIRED, NOSYNC, NOCOREDUMP, KSTACK,
 * IN_TRANSITION and NEEDS_WAKEUP, and the behaviour (advice) bits.
 */
import type { Amap, AmapEntry, VmAref } from '../amap.ts';
import type { TreeEntry } from '../maptree.ts';
import type { UvmObject } from '../object.ts';
import {
  type Errno,
  type Frame,
  MAP_ENTRY_BEHAV_MASK,
  MAP_INHERIT_COPY,
  PROT_ALL,
} from '../param.ts';

import type { VmMap } from './map.ts';

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

/** What few entries need: a stack's room to grow, a special mapping's name. */
interface EntryAux {
  availSsize: number;
  name: string | null;
}

/** A map entry (struct vm_map_entry). */
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

  /** aux.master_pde: a VM_MAPTYPE_VPAGETABLE entry's virtual page table root (the union with availSsize) */
  get masterPde(): number {
    return this.availSsize;
  }
  set masterPde(vpte: number) {
    this.availSsize = vpte;
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
  /** VM_MAPTYPE_NORMAL (the default) or VM_MAPTYPE_VPAGETABLE */
  maptype?: number;
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
  hold(map: VmMap, start: number, end: number): Frame[];
  /** release frames hold() held */
  release(held: Frame[]): void;
  /** map already-resident pages of [start, end) of an entry (pmap_object_init_pt); limit: MAP_PREFAULT_* */
  prefault(map: VmMap, entry: VmMapEntry, start: number, end: number, limit: number): void;
}
