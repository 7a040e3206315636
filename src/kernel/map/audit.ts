/*
 * audit.ts: the map's invariants (auditMap):
 *   - entries page aligned, start < end, sorted, disjoint, inside [min, max)
 *   - the list and the tree hold the same entries in the same order
 *   - nentries and size match the entries
 *   - every aref window lies inside its live amap; submap entries have no
 *     amap and no object
 *   - no entry left IN_TRANSITION, the lock not left held
 * and across maps (auditAmapRefs): each amap's references and per-page
 * counts equal the entries using it.
 */
import { type Amap, ppGetreflen } from '../amap.ts';
import { hex, KernelPanic, MAP_ENTRY_IN_TRANSITION } from '../param.ts';
import type { Uvm } from '../uvm.ts';

import { VM_MAPTYPE_SUBMAP, type VmMapEntry } from './entry.ts';
import type { VmMap } from './map.ts';

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
