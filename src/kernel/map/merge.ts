/*
 * merge.ts: when two neighbouring entries become one (vm_map_simplify_entry,
 * uvm_mapent_trymerge).
 *
 * One rule decides whether two neighbours can become one entry (canJoin),
 * one function joins them (join). vm_map_simplify_entry applies it to an
 * entry and its neighbours; amap_copy's merge (uvm_mapent_trymerge with
 * UVM_MERGE_COPYING) applies it to an entry that just lost needs-copy, which
 * survives; absorbChunk is the chunked amap_copy's fast path of the same join.
 */
import {
  AMAP_EXTEND_BACKWARDS,
  AMAP_EXTEND_FORWARDS,
  AMAP_EXTEND_NOWAIT,
  amapDropRef,
  amapExtend,
  amapRefs,
  type VmAref,
} from '../amap.ts';
import { objectDetach } from '../object.ts';
import { MAP_ENTRY_IN_TRANSITION, MAP_ENTRY_NEEDS_COPY } from '../param.ts';

import { VM_MAPTYPE_NORMAL, type VmMapEntry } from './entry.ts';
import { rekey, setHint, unlink } from './lookup.ts';
import type { VmMap } from './map.ts';

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
  uvm.hist?.emit({ type: 'map-merge', pmap: map.pmap.id, start: keep.start, end: keep.end });
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
export function tryMergeCopying(map: VmMap, entry: VmMapEntry): boolean {
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
export function absorbChunk(map: VmMap, entry: VmMapEntry, end: number): boolean {
  const prev = entry.prev;
  if (prev === map.header || entry.aref.amap !== null) return false;
  if (canJoin(map, prev, entry) !== Anons.EXTEND_FIRST) return false;
  const size = end - entry.start;
  if (amapExtend(map.uvm, prev, size, AMAP_EXTEND_FORWARDS | AMAP_EXTEND_NOWAIT) !== 0)
    return false;
  prev.end = end;
  prev.eflags &= ~MAP_ENTRY_NEEDS_COPY; /* its amap is only its own: taken over */
  map.uvm.hist?.emit({ type: 'map-merge', pmap: map.pmap.id, start: prev.start, end });
  if (entry.object !== null) entry.offset += size;
  entry.start = end;
  map.tree.update(prev);
  map.tree.update(entry);
  map.changed();
  return true;
}
