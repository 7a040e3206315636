/*
 * prefault.ts: mapping a file's resident pages without faults
 * (DragonFly's pmap_object_init_pt, which vm_map_insert calls for
 * MAP_PREFAULT / MAP_PREFAULT_PARTIAL and vm_map_madvise for
 * MADV_WILLNEED with MAP_PREFAULT_MADVISE).
 *
 *   vmMapPrefault(map, entry, start, end, limit)
 *     only a readable entry of a file (a vnode), as DragonFly; never one
 *       a virtual page table governs (its pages are not offset-linear);
 *     PARTIAL: nothing when both the range and the file's resident pages
 *       pass MAX_INIT_PT (96) pages;
 *     MADVISE: stops once the free frames fall below freemin
 *       (v_free_reserved);
 *     each resident, unbusy page no anon shadows and no translation maps
 *     yet is entered read-only (pmap_enter_quick): a write still faults,
 *     so copy-on-write and the modified bit stay exact.
 */
import { amapLock, amapLookup, amapUnlock } from './amap.ts';
import {
  MAP_PREFAULT_MADVISE,
  MAP_PREFAULT_PARTIAL,
  VM_MAPTYPE_NORMAL,
  type VmMap,
  type VmMapEntry,
} from './map/index.ts';
import { PG_BUSY } from './page.ts';
import { PROT_NONE, PROT_READ, PROT_WRITE } from './param.ts';
import { Vnode } from './vnode.ts';

/** DragonFly's MAX_INIT_PT: the most pages a partial prefault maps */
export const MAX_INIT_PT = 96;

/**
 * vmMapPrefault: map the resident pages of [start, end) of `entry`'s file
 * read-only (pmap_object_init_pt); `limit` holds the MAP_PREFAULT_* flags.
 * => the map is locked by the caller; nothing is allocated, no page is
 *    read: a page not resident faults later as usual.
 * => returns the number of pages it mapped.
 */
export function vmMapPrefault(
  map: VmMap,
  entry: VmMapEntry,
  start: number,
  end: number,
  limit: number,
): number {
  const obj = entry.object;
  if (entry.protection === PROT_NONE || !(obj instanceof Vnode)) return 0;
  if (entry.maptype !== VM_MAPTYPE_NORMAL) return 0;
  const uvm = map.uvm;
  const ps = uvm.pageSize;
  const psize = (end - start) / ps;
  if (limit & MAP_PREFAULT_PARTIAL && psize > MAX_INIT_PT && obj.pages.size > MAX_INIT_PT) return 0;
  const prot = (entry.protection | PROT_READ) & ~PROT_WRITE;
  const amap = entry.aref.amap;
  if (amap !== null) amapLock(amap);
  let n = 0;
  for (let va = start; va < end; va += ps) {
    if (limit & MAP_PREFAULT_MADVISE && uvm.pages.freeCount < uvm.freemin) break;
    const pg = obj.pages.get((entry.offset + (va - entry.start)) / ps);
    if (pg === undefined || uvm.pages.flags[pg] & PG_BUSY || map.pmap.lookup(va) !== 0) continue;
    if (amap !== null && amapLookup(uvm, entry.aref, va - entry.start) !== 0) continue;
    map.pmap.enter(va, pg, prot, 0);
    n++;
  }
  if (amap !== null) amapUnlock(amap);
  return n;
}
