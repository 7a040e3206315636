/*
 * wire.ts: wiring (uvm_map_pageable): mlock's user wiring, the kernel's
 * counted wiring, mlockall's wiring of the whole map, and the seed's
 * vm_map_wire / vm_map_unwire over them. The locked half clips, resolves
 * needs-copy and marks entries in transition; the unlocked half faults
 * the pages in through the hooks, all or nothing.
 */
import { AMAP_COPY_NOCHUNK, AMAP_COPY_NOMERGE, amapCopy } from '../amap.ts';
import {
  type Errno,
  hex,
  KernelPanic,
  MAP_ENTRY_IN_TRANSITION,
  MAP_ENTRY_NEEDS_COPY,
  MAP_ENTRY_NEEDS_WAKEUP,
  MAP_ENTRY_USER_WIRED,
  PROT_WRITE,
  vmerr,
} from '../param.ts';

import { forEachClipped } from './attrs.ts';
import { VM_FAULT_WIRE_MASK, type VmMapEntry, type WireRange } from './entry.ts';
import { entryContains, vmMapLookupEntry } from './lookup.ts';
import { checkNoHoles, checkRange, clipRange, type VmMap, vmMapLock, vmMapUnlock } from './map.ts';

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
