/*
 * stack.ts: submaps (vm_map_submap), growable stacks (vm_map_stack,
 * vm_map_growstack) and moving entries to another address (mremap).
 */
import { type Frame, hex, MAP_ENTRY_COW, MAP_ENTRY_STACK, truncPage, vmerr } from '../param.ts';

import { simplifyRange } from './attrs.ts';
import {
  MAP_COPY_ON_WRITE,
  MAP_IS_STACK,
  SGROWSIZ,
  VM_MAPTYPE_SUBMAP,
  type VmMapEntry,
} from './entry.ts';
import { entryContains, link, unlink, vmMapLookupEntry } from './lookup.ts';
import { checkRange, clipRange, type VmMap, vmMapInsert, vmMapLock, vmMapUnlock } from './map.ts';

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

/** How stacks grow: to the faulting page (Linux), or by SGROWSIZ steps (DragonFly). */
export type StackGrowth = 'page' | 'sgrowsiz';

/** The process whose stack grows (the seed's p): its vmspace's stack fields. */
export interface StackAccount {
  /** vm_ssize: pages of the main stack */
  ssize: number;
  /** vm_maxsaddr .. vm_minsaddr: where the main stack may grow */
  maxsaddr: number;
  minsaddr: number;
  /** RLIMIT_STACK, bytes */
  stackLimit: number;
  stackGrowth: StackGrowth;
}

/**
 * vmMapGrowstack: grow the stack entry above addr down to cover it
 * (vm_map_growstack, for process `acct`: null for a map of no process).
 * => 0 if addr is now mapped (or already was); ENOMEM, nothing changed,
 *    when addr is not just below a stack entry, lies beyond what the stack
 *    may still grow (availSsize), would bring the stack within stackGuard
 *    bytes of the mapping below, or, in the main stack (addr in
 *    [vm_maxsaddr, vm_minsaddr)), would take vm_ssize pages plus the growth
 *    past the stack rlimit.
 * => acct.stackGrowth 'page' (and a null acct) grows to addr's page, as
 *    Linux; 'sgrowsiz' rounds the growth up to SGROWSIZ, as DragonFly, cut
 *    back to availSsize, the rlimit and the guard gap.
 * => a main stack's growth adds its pages to vm_ssize.
 */
export function vmMapGrowstack(
  map: VmMap,
  addr: number,
  acct: StackAccount | null = null,
): 0 | 'ENOMEM' {
  const prev = vmMapLookupEntry(map, addr);
  if (entryContains(map, prev, addr)) return 0;
  const newStart = growstackStart(map, prev, addr, acct);
  if (newStart === null) return 'ENOMEM';
  const stack = prev.next;
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
  piece.availSsize = stack.availSsize - (stack.start - newStart);
  if (isMainStack(addr, acct)) acct.ssize += (stack.start - newStart) / map.uvm.pageSize;
  return 0;
}

/**
 * vmMapCanGrowstack: unmapped addr lies just below a stack entry that may
 * grow down over it (the conditions of vmMapGrowstack), changing nothing.
 */
export function vmMapCanGrowstack(
  map: VmMap,
  addr: number,
  acct: StackAccount | null = null,
): boolean {
  const prev = vmMapLookupEntry(map, addr);
  return !entryContains(map, prev, addr) && growstackStart(map, prev, addr, acct) !== null;
}

/**
 * growstackStart: where the stack entry after `prev` starts once grown to
 * cover unmapped addr; null when it may not grow there.
 */
function growstackStart(
  map: VmMap,
  prev: VmMapEntry,
  addr: number,
  acct: StackAccount | null,
): number | null {
  const ps = map.uvm.pageSize;
  const stack = prev.next;
  if (stack === map.header || !(stack.eflags & MAP_ENTRY_STACK)) return null;
  const floor = prev === map.header ? map.minOffset : prev.end + map.stackGuard;
  const need = stack.start - truncPage(addr, ps);
  let room = stack.availSsize;
  if (isMainStack(addr, acct))
    room = Math.min(room, truncPage(acct.stackLimit, ps) - acct.ssize * ps);
  if (need > room || stack.start - need < floor) return null;
  if (acct === null || acct.stackGrowth === 'page') return stack.start - need;
  const grow = Math.min(Math.ceil(need / SGROWSIZ) * SGROWSIZ, room);
  return Math.max(stack.start - grow, floor);
}

/** isMainStack: addr is in the process's main stack range (the seed's is_procstack). */
function isMainStack(addr: number, acct: StackAccount | null): acct is StackAccount {
  return acct !== null && addr >= acct.maxsaddr && addr < acct.minsaddr;
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
  held: Frame[],
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
