/*
 * fork.ts: a child map by inheritance (uvmspace_fork: uvm_mapent_forkshared,
 * uvm_mapent_forkcopy).
 */
import {
  AMAP_COPY_NOCHUNK,
  AMAP_SHARED,
  amapCopy,
  amapCowNow,
  amapLock,
  amapRef,
  amapShareProtect,
  amapUnlock,
} from '../amap.ts';
import { NOPAGE } from '../page.ts';
import {
  kpanic,
  MAP_ENTRY_COW,
  MAP_ENTRY_IN_TRANSITION,
  MAP_ENTRY_NEEDS_COPY,
  MAP_ENTRY_NEEDS_WAKEUP,
  MAP_ENTRY_USER_WIRED,
  MAP_INHERIT_COPY,
  MAP_INHERIT_NONE,
  MAP_INHERIT_SHARE,
  PROT_ALL,
  PROT_WRITE,
  vmerr,
} from '../param.ts';

import { VM_MAPTYPE_SUBMAP, type VmMapEntry } from './entry.ts';
import { cloneEntry, link } from './lookup.ts';
import { takeReferences, type VmMap } from './map.ts';

/**
 * vmMapForkCheck: what a fork of `parent` could fail on, checked before
 * anything changes (uvmspace_fork panics on a submap; amap_cow_now sleeps).
 * => EINVAL if the map holds a submap (a submap cannot be forked).
 * => returns the frames vmMapFork's amap_cow_now will take: the resident,
 *    wired, unloaned anon pages of the wired entries the child copies.
 * => the parent is locked by the caller.
 */
export function vmMapForkCheck(parent: VmMap): number {
  let frames = 0;
  for (let e = parent.header.next; e !== parent.header; e = e.next) {
    if (e.maptype === VM_MAPTYPE_SUBMAP)
      throw vmerr('EINVAL', 'fork', 'map', 'cannot fork a map holding a submap');
    if (e.inheritance === MAP_INHERIT_COPY && e.wiredCount > 0) frames += cowNowFrames(parent, e);
  }
  return frames;
}

/** cowNowFrames: the pages amap_cow_now would copy for a child of wired entry `e`. */
function cowNowFrames(parent: VmMap, e: VmMapEntry): number {
  const amap = e.aref.amap;
  if (amap === null) return 0;
  const uvm = parent.uvm;
  const pm = uvm.pages;
  const first = e.aref.pageoff;
  const last = first + (e.end - e.start) / uvm.pageSize;
  let n = 0;
  for (let lcv = 0; lcv < amap.nused; lcv++) {
    const slot = amap.slots[lcv];
    if (slot < first || slot >= last) continue;
    const pg = uvm.anons.page[amap.anon[slot]];
    if (pg !== NOPAGE && pm.wireCount(pg) > 0 && pm.loanCount(pg) === 0) n++;
  }
  return n;
}

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
 * => cannot fail: the caller ran vmMapForkCheck and reserved the frames it
 *    counted, with both maps locked since.
 */
export function vmMapFork(parent: VmMap, child: VmMap): void {
  for (let e = parent.header.next; e !== parent.header; e = e.next) {
    if (e.inheritance === MAP_INHERIT_NONE) continue;
    if (e.inheritance === MAP_INHERIT_SHARE) forkShared(parent, child, e);
    else forkCopy(parent, child, e);
  }
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
function forkCopy(parent: VmMap, child: VmMap, e: VmMapEntry): void {
  const n = cloneForChild(parent, child, e, 0);
  n.eflags |= MAP_ENTRY_COW | MAP_ENTRY_NEEDS_COPY;
  const amap = e.aref.amap;
  if (amap === null) return;
  const sharedMemory = (amap.flags & AMAP_SHARED) !== 0 || (e.eflags & MAP_ENTRY_COW) === 0;
  const wired = e.wiredCount > 0;
  if (sharedMemory || wired) amapCopy(child.uvm, child, n, AMAP_COPY_NOCHUNK, 0, 0);
  if (wired && amapCowNow(child.uvm, n) !== 0)
    kpanic('fork: amap_cow_now short of reserved frames');
  if (sharedMemory) {
    amapLock(amap);
    amapShareProtect(parent.uvm, e, PROT_ALL & ~PROT_WRITE);
    amapUnlock(amap);
  } else if (!wired && !(e.eflags & MAP_ENTRY_NEEDS_COPY)) {
    if (e.maxProtection & PROT_WRITE)
      parent.pmap.protect(e.start, e.end, e.protection & ~PROT_WRITE);
    e.eflags |= MAP_ENTRY_NEEDS_COPY;
  }
}
