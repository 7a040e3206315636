/*
 * lookup.ts: finding entries (vm_map_lookup_entry, with the hint), finding
 * free space (vm_map_findspace over the gap-augmented tree), and keeping
 * the entry list and the tree in step (link, unlink, rekey): what every
 * other room of the map builds on.
 */
import { fitDown, fitUp } from '../maptree.ts';

import { VmMapEntry } from './entry.ts';
import type { VmMap } from './map.ts';

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
export function setHint(map: VmMap, e: VmMapEntry, start = e.start, end = e.end): void {
  map.hint = e;
  map.hintStart = start;
  map.hintEnd = end;
}

/** entryContains: true when entry e (not the header) contains addr. */
export function entryContains(map: VmMap, e: VmMapEntry, addr: number): boolean {
  return e !== map.header && addr >= e.start && addr < e.end;
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

/*
 * ---- linking -----------------------------------------------------------
 */

/** link: put `e` into the list after `after`, and into the tree. */
export function link(map: VmMap, after: VmMapEntry, e: VmMapEntry): void {
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
export function unlink(map: VmMap, e: VmMapEntry): void {
  e.prev.next = e.next;
  e.next.prev = e.prev;
  map.tree.remove(e);
  map.nentries--;
  map.size -= e.end - e.start;
  if (map.hint === e) map.hint = e.prev;
  map.changed();
}

/** rekey: an entry's start or end changed in place; refresh the tree and the hints. */
export function rekey(map: VmMap, e: VmMapEntry): void {
  map.tree.update(e);
  map.changed();
}

/** cloneEntry: a copy of e's fields (not its links). */
export function cloneEntry(e: VmMapEntry): VmMapEntry {
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
