/*
 * mmap.ts: the memory system calls (uvm_mmap.c, uvm_mremap.c): mmap,
 * munmap, mprotect, minherit, madvise, mlock, munlock, mlockall,
 * munlockall, msync, mincore, brk, mremap.
 *
 * Names, arguments and errno results follow Linux (so that real programs
 * replay), minherit follows NetBSD; the work is done by the map layer and
 * the fault handler, as in UVM.
 *
 * Every call validates all of its arguments and the state they name
 * before changing anything: it either succeeds or throws a VmError and
 * changes nothing. Linux differs for mprotect, madvise, mlock and munlock
 * over a range with a hole: it changes everything up to the hole, then
 * fails with ENOMEM.
 */
import {
  AMAP_COPY_NOCHUNK,
  AMAP_SHARED,
  amapCopy,
  amapLock,
  amapLookup,
  amapSlotMoved,
  amapUnlock,
  amapWiperange,
} from '../kernel/amap.ts';
import { anonDropswap, anonFreelst, anonGet } from '../kernel/anon.ts';
import { uvmFault } from '../kernel/fault.ts';
import {
  checkNoHoles,
  entryContains,
  MAP_COPY_ON_WRITE,
  MAP_IS_STACK,
  MAP_OVERLAY,
  MAP_PREFAULT_MADVISE,
  MAP_PREFAULT_PARTIAL,
  MAP_WIREFUTURE,
  VM_MAPTYPE_NORMAL,
  VM_MAPTYPE_VPAGETABLE,
  type VmMap,
  type VmMapEntry,
  vmMapDelete,
  vmMapFaultWired,
  vmMapFindspace,
  vmMapInherit,
  vmMapInsert,
  vmMapLock,
  vmMapLookupEntry,
  vmMapMadvise,
  vmMapMadviseFlags,
  vmMapMove,
  vmMapProtect,
  vmMapUnlock,
  vmMapUserUnwire,
  vmMapUserWire,
  vmMapUserWireAll,
} from '../kernel/map/index.ts';
import { NOPAGE, PG_CLEAN, pageDeactivate } from '../kernel/page.ts';
import {
  type Errno,
  type Frame,
  hex,
  MADV_AUTOSYNC,
  MADV_CORE,
  MADV_DOFORK,
  MADV_DONTFORK,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_INVAL,
  MADV_NOCORE,
  MADV_NORMAL,
  MADV_NOSYNC,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_SETMAP,
  MADV_WILLNEED,
  MAP_ANON,
  MAP_ENTRY_BEHAV_MASK,
  MAP_ENTRY_BEHAV_NORMAL,
  MAP_ENTRY_BEHAV_RANDOM,
  MAP_ENTRY_BEHAV_SEQUENTIAL,
  MAP_ENTRY_COW,
  MAP_ENTRY_NEEDS_COPY,
  MAP_ENTRY_NOCOREDUMP,
  MAP_ENTRY_NOSYNC,
  MAP_ENTRY_STACK,
  MAP_ENTRY_USER_WIRED,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_GROWSDOWN,
  MAP_INHERIT_COPY,
  MAP_INHERIT_NONE,
  MAP_INHERIT_SHARE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_TYPE,
  MAP_VPAGETABLE,
  MCL_CURRENT,
  MCL_FUTURE,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  MS_ASYNC,
  MS_INVALIDATE,
  MS_SYNC,
  NOANON,
  PROT_ALL,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  roundPage,
  truncPage,
  USER_MIN,
  VmError,
  vmerr,
} from '../kernel/param.ts';
import { vmMapPrefault } from '../kernel/prefault.ts';
import { type Vmspace, vmspaceSetBreak } from '../kernel/vmspace.ts';
import type { MappableFile } from '../kernel/vnode.ts';
import { VPTE_PAGE_SIZE, vmMapInval, vmMapSetmap } from '../kernel/vpagetable.ts';

/*
 * ---- helpers ------------------------------------------------------------
 */

function pageSize(vm: Vmspace): number {
  return vm.uvm.pageSize;
}

/** pageAlign: len rounded up to the page size (PAGE_ALIGN). */
function pageAlign(vm: Vmspace, len: number): number {
  return roundPage(len, pageSize(vm));
}

/** An address, length or offset as a caller gives it: past 2^53, a bigint keeps it exact. */
export type Num = number | bigint;

/**
 * num: a numeric argument as a number.
 * => EINVAL unless a non-negative integer; `huge` (the errno Linux gives
 *    for a value no address space holds) when 2^53 or more, with the
 *    value printed as given (in hex, exactly when it is a bigint).
 */
function num(call: string, arg: string, v: Num, huge: Errno): number {
  if (typeof v === 'bigint') {
    if (v < 0n) throw vmerr('EINVAL', call, arg, `${v} is negative`);
    if (v >= 2n ** 53n)
      throw vmerr(huge, call, arg, `0x${v.toString(16)} is beyond any address space`);
    return Number(v);
  }
  if (!Number.isInteger(v) || v < 0)
    throw vmerr('EINVAL', call, arg, `${v} is not a non-negative integer`);
  if (!Number.isSafeInteger(v))
    throw vmerr(huge, call, arg, `${hex(v)} is beyond any address space`);
  return v;
}

/** checkAligned: addr must be page aligned (EINVAL). */
function checkAligned(vm: Vmspace, call: string, addr: number): void {
  if (addr % pageSize(vm) !== 0)
    throw vmerr('EINVAL', call, 'addr', `${hex(addr)} is not page aligned`);
}

/** checkProt: only PROT_READ, PROT_WRITE, PROT_EXEC (EINVAL). */
function checkProt(call: string, prot: number): void {
  if (!Number.isInteger(prot) || (prot & ~PROT_ALL) !== 0)
    throw vmerr('EINVAL', call, 'prot', `${prot} is not a set of PROT_* bits`);
}

/**
 * requireMapped: throw ENOMEM unless [start, end) lies in the address space
 * and is mapped without holes.
 */
function requireMapped(vm: Vmspace, call: string, start: number, end: number): void {
  const map = vm.map;
  if (start < map.minOffset || end > map.maxOffset)
    throw vmerr('ENOMEM', call, 'addr', `${hex(start)} is outside the address space`);
  checkNoHoles(map, start, end, call);
}

/** entriesIn: the entries overlapping [start, end). */
function entriesIn(map: VmMap, start: number, end: number): VmMapEntry[] {
  const out: VmMapEntry[] = [];
  let e = vmMapLookupEntry(map, start);
  if (!entryContains(map, e, start)) e = e.next;
  for (; e !== map.header && e.start < end; e = e.next) out.push(e);
  return out;
}

/** isPrivate: a private (copy-on-write) mapping. */
function isPrivate(e: VmMapEntry): boolean {
  return (e.eflags & MAP_ENTRY_COW) !== 0;
}

/** locked: pages of [start, end) already mlocked. */
function lockedBytes(map: VmMap, start: number, end: number): number {
  let n = 0;
  for (const e of entriesIn(map, start, end))
    if (e.eflags & MAP_ENTRY_USER_WIRED) n += Math.min(e.end, end) - Math.max(e.start, start);
  return n;
}

/** totalLocked: bytes of the whole space that are mlocked. */
function totalLocked(map: VmMap): number {
  return lockedBytes(map, map.minOffset, map.maxOffset);
}

/*
 * ---- mmap, munmap -------------------------------------------------------
 */

/**
 * sysMmap: map `len` bytes (mmap(2)).
 * => flags: MAP_SHARED or MAP_PRIVATE, plus MAP_ANON, MAP_FIXED,
 *    MAP_FIXED_NOREPLACE, MAP_GROWSDOWN, MAP_POPULATE, MAP_STACK and
 *    MAP_NORESERVE (the last two change nothing here), and DragonFly's
 *    MAP_VPAGETABLE (a shared file mapping governed by the virtual page
 *    table in the file: vpagetable.ts).
 * => returns the address. Errors as Linux: EINVAL (length 0, bad flags or
 *    prot, unaligned fixed address or offset), EPERM (fixed below the
 *    lowest mappable address), ENOMEM (no room, or beyond the user range),
 *    EEXIST (MAP_FIXED_NOREPLACE over a mapping), EBADF (no file), EACCES
 *    (a shared writable mapping of a file opened read-only), EAGAIN
 *    (mlockall(MCL_FUTURE) and the lock limit).
 */
export function sysMmap(
  vm: Vmspace,
  addrArg: Num,
  lenArg: Num,
  prot: number,
  flags: number,
  file: MappableFile | null = null,
  offsetArg: Num = 0,
): number {
  const ps = pageSize(vm);
  const addr = num('mmap', 'addr', addrArg, 'ENOMEM');
  const len = num('mmap', 'len', lenArg, 'ENOMEM');
  const offset = num('mmap', 'offset', offsetArg, 'EOVERFLOW');
  if (len === 0) throw vmerr('EINVAL', 'mmap', 'len', 'length 0');
  const size = pageAlign(vm, len);
  if (size > vm.map.maxOffset - USER_MIN)
    throw vmerr('ENOMEM', 'mmap', 'len', `${len} bytes cannot fit in the address space`);
  const type = flags & MAP_TYPE;
  if (type !== MAP_SHARED && type !== MAP_PRIVATE && type !== 3)
    throw vmerr('EINVAL', 'mmap', 'flags', 'exactly one of MAP_SHARED and MAP_PRIVATE is needed');
  checkProt('mmap', prot);
  if (offset % ps !== 0)
    throw vmerr('EINVAL', 'mmap', 'offset', `${hex(offset)} is not page aligned`);
  const shared = type !== MAP_PRIVATE;
  const anon = (flags & MAP_ANON) !== 0;
  if (!anon && file === null) throw vmerr('EBADF', 'mmap', 'fd', 'not an open file');
  const vpt = (flags & MAP_VPAGETABLE) !== 0;
  if (vpt) checkVpagetable(vm, anon, shared);
  let maxprot = PROT_ALL;
  if (!anon && shared) {
    maxprot = file!.maxSharedProt | PROT_EXEC_OK;
    if ((prot & maxprot) !== prot)
      throw vmerr('EACCES', 'mmap', 'prot', `${file!.path} is not open for writing`);
  }
  const start = placeMmap(vm, addr, size, flags);
  const cow =
    (shared ? 0 : MAP_COPY_ON_WRITE) |
    (anon && shared ? MAP_OVERLAY : 0) |
    (anon ? 0 : MAP_PREFAULT_PARTIAL) |
    (flags & MAP_GROWSDOWN ? MAP_IS_STACK : 0);
  const wireFuture = (vm.map.flags & MAP_WIREFUTURE) !== 0;
  if (wireFuture && totalLocked(vm.map) + size > vm.memlockLimit)
    throw vmerr(
      'EAGAIN',
      'mmap',
      'len',
      'mlockall(MCL_FUTURE) is on and the mapping would pass the lock limit',
    );
  const obj = anon ? null : file!.object();
  vmMapLock(vm.map);
  try {
    if (flags & MAP_FIXED) vmMapDelete(vm.map, start, start + size);
    const e = vmMapInsert(vm.map, obj, anon ? 0 : offset, start, start + size, prot, maxprot, cow, {
      inherit: shared ? MAP_INHERIT_SHARE : MAP_INHERIT_COPY,
      maptype: vpt ? VM_MAPTYPE_VPAGETABLE : VM_MAPTYPE_NORMAL,
    });
    if (flags & MAP_GROWSDOWN) e.availSsize = Math.max(0, vm.stackLimit - size);
  } finally {
    vmMapUnlock(vm.map);
  }
  /* as Linux: locked, even if its pages cannot all be faulted in now */
  if (wireFuture) vmMapUserWire(vm.map, start, start + size, true);
  else if (flags & MAP_POPULATE) populate(vm, start, start + size);
  return start;
}

/**
 * checkVpagetable: MAP_VPAGETABLE needs a shared file mapping and the
 * 4 KiB pages of the table format (EINVAL).
 */
function checkVpagetable(vm: Vmspace, anon: boolean, shared: boolean): void {
  if (anon || !shared)
    throw vmerr('EINVAL', 'mmap', 'flags', 'MAP_VPAGETABLE needs MAP_SHARED and a file');
  if (pageSize(vm) !== VPTE_PAGE_SIZE)
    throw vmerr('EINVAL', 'mmap', 'flags', `MAP_VPAGETABLE needs ${VPTE_PAGE_SIZE}-byte pages`);
}

/* x86: PROT_EXEC needs no more than reading */
const PROT_EXEC_OK = 4;

/**
 * placeMmap: where a new mapping of `size` bytes goes.
 * => MAP_FIXED(_NOREPLACE): addr exactly (EINVAL unaligned, EPERM too low,
 *    ENOMEM too high, EEXIST over a mapping with NOREPLACE).
 * => otherwise addr is a hint, used when free; else the highest free range
 *    below the mmap base, as Linux places mappings.
 */
function placeMmap(vm: Vmspace, addr: number, size: number, flags: number): number {
  const map = vm.map;
  const ps = pageSize(vm);
  if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
    if (addr % ps !== 0) throw vmerr('EINVAL', 'mmap', 'addr', `${hex(addr)} is not page aligned`);
    if (addr < USER_MIN)
      throw vmerr(
        'EPERM',
        'mmap',
        'addr',
        `${hex(addr)} is below the lowest mappable address ${hex(USER_MIN)}`,
      );
    if (addr + size > map.maxOffset)
      throw vmerr(
        'ENOMEM',
        'mmap',
        'addr',
        `[${hex(addr)}, ${hex(addr + size)}) passes the end of the user range`,
      );
    if (flags & MAP_FIXED_NOREPLACE && entriesIn(map, addr, addr + size).length > 0)
      throw vmerr(
        'EEXIST',
        'mmap',
        'addr',
        `[${hex(addr)}, ${hex(addr + size)}) overlaps a mapping`,
      );
    return addr;
  }
  const hint = truncPage(addr, ps);
  if (
    hint >= USER_MIN &&
    hint + size <= map.maxOffset &&
    entriesIn(map, hint, hint + size).length === 0
  )
    return hint;
  const at = vmMapFindspace(map, map.mmapBase || map.maxOffset, size, ps, true);
  if (at < 0) throw vmerr('ENOMEM', 'mmap', 'len', `no free range of ${size} bytes`);
  return at;
}

/**
 * populate: fault in every page of [start, end) (MAP_POPULATE); a private
 * writable mapping gets its own pages (write faults). Failures are ignored,
 * as Linux ignores them.
 */
function populate(vm: Vmspace, start: number, end: number): void {
  for (const e of entriesIn(vm.map, start, end)) {
    if (e.protection === PROT_NONE) continue;
    const access = isPrivate(e) && e.protection & PROT_WRITE ? PROT_WRITE : PROT_READ;
    for (let va = Math.max(e.start, start); va < Math.min(e.end, end); va += pageSize(vm)) {
      if (uvmFault(vm.uvm, vm.map, va, access) !== 0) return;
    }
  }
}

/**
 * sysMunmap: unmap [addr, addr+len) (munmap(2)).
 * => EINVAL for an unaligned address, length 0, or a range past the user
 *    range; unmapping what is not mapped is not an error.
 */
export function sysMunmap(vm: Vmspace, addrArg: Num, lenArg: Num): void {
  const addr = num('munmap', 'addr', addrArg, 'EINVAL');
  const len = num('munmap', 'len', lenArg, 'EINVAL');
  checkAligned(vm, 'munmap', addr);
  if (len === 0) throw vmerr('EINVAL', 'munmap', 'len', 'length 0');
  const end = addr + pageAlign(vm, len);
  if (addr > vm.map.maxOffset || end > vm.map.maxOffset)
    throw vmerr(
      'EINVAL',
      'munmap',
      'len',
      `[${hex(addr)}, ${hex(end)}) passes the end of the user range`,
    );
  const map = vm.map;
  const start = Math.max(addr, map.minOffset);
  if (end <= start) return;
  vmMapLock(map);
  try {
    vmMapDelete(map, start, end);
  } finally {
    vmMapUnlock(map);
  }
}

/*
 * ---- attributes ---------------------------------------------------------
 */

/**
 * sysMprotect: set the protection of [addr, addr+len) (mprotect(2)).
 * => EINVAL unaligned or bad prot; ENOMEM if not fully mapped; EACCES
 *    above a mapping's maximum protection. Length 0 does nothing.
 */
export function sysMprotect(vm: Vmspace, addrArg: Num, lenArg: Num, prot: number): void {
  const addr = num('mprotect', 'addr', addrArg, 'ENOMEM');
  const len = num('mprotect', 'len', lenArg, 'ENOMEM');
  checkAligned(vm, 'mprotect', addr);
  checkProt('mprotect', prot);
  if (len === 0) return;
  const end = addr + pageAlign(vm, len);
  requireMapped(vm, 'mprotect', addr, end);
  try {
    vmMapProtect(vm.map, addr, end, prot, false);
  } catch (e) {
    throw rename(e, 'mprotect');
  }
  if (vm.map.flags & MAP_WIREFUTURE) wireNewlyAccessible(vm, addr, end);
}

/** wireNewlyAccessible: under MCL_FUTURE, fault in what became accessible. */
function wireNewlyAccessible(vm: Vmspace, start: number, end: number): void {
  for (const e of entriesIn(vm.map, start, end)) {
    if (e.eflags & MAP_ENTRY_USER_WIRED && e.protection !== PROT_NONE) populate(vm, e.start, e.end);
  }
}

/** rename: a VmError from a lower layer, reported under the user's call. */
function rename(e: unknown, call: string): unknown {
  if (!(e instanceof VmError)) return e;
  return new VmError(e.code, call, e.arg, e.message.replace(/^[^:]*: [A-Z0-9]+: /, ''));
}

/**
 * sysMinherit: set how fork passes [addr, addr+len) on (minherit(2), NetBSD).
 * => the address is rounded down to a page; holes are skipped.
 * => EINVAL for an inheritance that is not MAP_INHERIT_SHARE, _COPY or _NONE.
 */
export function sysMinherit(vm: Vmspace, addrArg: Num, lenArg: Num, inherit: number): void {
  const addr = num('minherit', 'addr', addrArg, 'EINVAL');
  const len = num('minherit', 'len', lenArg, 'EINVAL');
  if (inherit !== MAP_INHERIT_SHARE && inherit !== MAP_INHERIT_COPY && inherit !== MAP_INHERIT_NONE)
    throw vmerr(
      'EINVAL',
      'minherit',
      'inherit',
      `${inherit} is not MAP_INHERIT_SHARE, _COPY or _NONE`,
    );
  const ps = pageSize(vm);
  const start = Math.max(truncPage(addr, ps), vm.map.minOffset);
  const end = Math.min(pageAlign(vm, addr + len), vm.map.maxOffset);
  if (end <= start) return;
  if (
    inherit === MAP_INHERIT_COPY &&
    entriesIn(vm.map, start, end).some((e) => e.maptype === VM_MAPTYPE_VPAGETABLE)
  )
    throw vmerr('EINVAL', 'minherit', 'inherit', 'a virtual page table mapping cannot be copied');
  vmMapInherit(vm.map, start, end, inherit);
}

const BEHAVIOUR: Record<number, number> = {
  [MADV_NORMAL]: MAP_ENTRY_BEHAV_NORMAL,
  [MADV_RANDOM]: MAP_ENTRY_BEHAV_RANDOM,
  [MADV_SEQUENTIAL]: MAP_ENTRY_BEHAV_SEQUENTIAL,
};

/** the advice that sets (true) or clears an entry flag (DragonFly's vm_map_madvise) */
const EFLAGS: Record<number, [number, boolean]> = {
  [MADV_NOSYNC]: [MAP_ENTRY_NOSYNC, true],
  [MADV_AUTOSYNC]: [MAP_ENTRY_NOSYNC, false],
  [MADV_NOCORE]: [MAP_ENTRY_NOCOREDUMP, true],
  [MADV_CORE]: [MAP_ENTRY_NOCOREDUMP, false],
};

/**
 * sysMadvise: advise on [addr, addr+len) (madvise(2), Linux semantics).
 * => NORMAL/RANDOM/SEQUENTIAL set the fault-ahead behaviour; WILLNEED
 *    brings swapped pages back; DONTNEED drops the pages (private memory
 *    then reads as zeros; shared memory keeps its data); FREE lets the
 *    pagedaemon discard private anonymous pages unless written again;
 *    DONTFORK/DOFORK leave the range out of fork children, or not;
 *    NOSYNC/AUTOSYNC and NOCORE/CORE (Linux's DONTDUMP/DODUMP) set and
 *    clear MAP_ENTRY_NOSYNC and MAP_ENTRY_NOCOREDUMP (DragonFly's);
 *    SETMAP sets the master page directory entry of virtual page table
 *    mappings to `value` (given with SETMAP only), INVAL drops the
 *    translations after their tables changed (vpagetable.ts).
 * => EINVAL unaligned or unknown advice, a value without SETMAP or
 *    SETMAP without one, SETMAP on other mappings, SETMAP or INVAL on
 *    locked memory, DONTNEED on locked memory, FREE
 *    on memory that is not private anonymous; ENOMEM if not fully mapped.
 */
export function sysMadvise(
  vm: Vmspace,
  addrArg: Num,
  lenArg: Num,
  advice: number,
  value?: number,
): void {
  const addr = num('madvise', 'addr', addrArg, 'ENOMEM');
  const len = num('madvise', 'len', lenArg, 'ENOMEM');
  checkAligned(vm, 'madvise', addr);
  const known = [
    MADV_NORMAL,
    MADV_RANDOM,
    MADV_SEQUENTIAL,
    MADV_WILLNEED,
    MADV_DONTNEED,
    MADV_FREE,
    MADV_DONTFORK,
    MADV_DOFORK,
    MADV_NOSYNC,
    MADV_AUTOSYNC,
    MADV_NOCORE,
    MADV_CORE,
    MADV_INVAL,
    MADV_SETMAP,
  ];
  if (!known.includes(advice))
    throw vmerr('EINVAL', 'madvise', 'advice', `${advice} is not a known advice`);
  if ((value !== undefined) !== (advice === MADV_SETMAP))
    throw vmerr('EINVAL', 'madvise', 'value', 'a value goes with MADV_SETMAP, and only with it');
  if (len === 0) return;
  const end = addr + pageAlign(vm, len);
  requireMapped(vm, 'madvise', addr, end);
  const entries = entriesIn(vm.map, addr, end);
  if (advice === MADV_DONTNEED && entries.some((e) => e.wiredCount > 0))
    throw vmerr('EINVAL', 'madvise', 'addr', 'MADV_DONTNEED on locked memory');
  if (advice === MADV_DONTNEED && sharerLocked(vm, addr, end))
    throw vmerr('EINVAL', 'madvise', 'addr', 'MADV_DONTNEED on memory a sharing process locked');
  if (advice === MADV_FREE && entries.some((e) => !isPrivate(e) || e.object !== null))
    throw vmerr('EINVAL', 'madvise', 'addr', 'MADV_FREE needs private anonymous memory');
  if (advice in BEHAVIOUR) vmMapMadvise(vm.map, addr, end, BEHAVIOUR[advice]);
  else if (advice in EFLAGS) vmMapMadviseFlags(vm.map, addr, end, ...EFLAGS[advice]);
  else if (advice === MADV_DONTFORK) vmMapInherit(vm.map, addr, end, MAP_INHERIT_NONE);
  else if (advice === MADV_DOFORK) doFork(vm, addr, end);
  else if (advice === MADV_WILLNEED) willNeed(vm, addr, end);
  else if (advice === MADV_DONTNEED) dontNeed(vm, addr, end);
  else if (advice === MADV_FREE) lazyFree(vm, addr, end);
  else setmapOrInval(vm, addr, end, advice, value);
}

/** setmapOrInval: MADV_SETMAP (the master entry `value`) or MADV_INVAL over [start, end). */
function setmapOrInval(vm: Vmspace, start: number, end: number, advice: number, value?: number) {
  try {
    if (advice === MADV_SETMAP) vmMapSetmap(vm.map, start, end, value!);
    else vmMapInval(vm.map, start, end);
  } catch (e) {
    throw rename(e, 'madvise');
  }
}

/** doFork: undo MADV_DONTFORK: private ranges are copied again, shared ones shared. */
function doFork(vm: Vmspace, start: number, end: number): void {
  for (const e of entriesIn(vm.map, start, end)) {
    if (e.inheritance !== MAP_INHERIT_NONE) continue;
    const s = Math.max(e.start, start);
    const t = Math.min(e.end, end);
    vmMapInherit(vm.map, s, t, isPrivate(e) ? MAP_INHERIT_COPY : MAP_INHERIT_SHARE);
  }
}

/**
 * forEachWindow: for each entry of [start, end) with an amap, its window
 * there: the byte offset of its first page into the entry, and its pages.
 */
function forEachWindow(
  vm: Vmspace,
  start: number,
  end: number,
  fn: (e: VmMapEntry, off: number, n: number) => void,
) {
  const ps = pageSize(vm);
  for (const e of entriesIn(vm.map, start, end)) {
    if (e.aref.amap === null) continue;
    const s = Math.max(e.start, start);
    fn(e, s - e.start, (Math.min(e.end, end) - s) / ps);
  }
}

/** slotAt: the amap slot of byte `off` into entry e. */
function slotAt(vm: Vmspace, e: VmMapEntry, off: number): number {
  return e.aref.pageoff + off / pageSize(vm);
}

/**
 * willNeed: read swapped anons of the range back in, and map the file pages
 * already resident (MAP_PREFAULT_MADVISE, as DragonFly's vm_map_madvise).
 */
function willNeed(vm: Vmspace, start: number, end: number): void {
  const uvm = vm.uvm;
  forEachWindow(vm, start, end, (e, off, n) => {
    const amap = e.aref.amap!;
    amapLock(amap);
    for (let i = 0; i < n; i++) {
      const an = amapLookup(uvm, e.aref, off + i * uvm.pageSize);
      if (an !== 0 && uvm.anons.page[an] === NOPAGE && anonGet(uvm, an) !== 0) break;
    }
    amapUnlock(amap);
  });
  vmMapLock(vm.map);
  for (const e of entriesIn(vm.map, start, end))
    vmMapPrefault(vm.map, e, Math.max(e.start, start), Math.min(e.end, end), MAP_PREFAULT_MADVISE);
  vmMapUnlock(vm.map);
}

/**
 * sharerLocked: a page of [start, end) in a share-inherited private amap is
 * locked by another space sharing it (its wired translation goes through
 * the same slot): MADV_DONTNEED would pull the page from under the lock.
 */
function sharerLocked(vm: Vmspace, start: number, end: number): boolean {
  const uvm = vm.uvm;
  let locked = false;
  forEachWindow(vm, start, end, (e, off, n) => {
    const amap = e.aref.amap!;
    if (!isPrivate(e) || (amap.flags & AMAP_SHARED) === 0) return;
    amapLock(amap);
    for (let i = 0; i < n && !locked; i++) {
      const an = amapLookup(uvm, e.aref, off + i * uvm.pageSize);
      const pg = an === 0 ? NOPAGE : uvm.anons.page[an];
      locked = pg !== NOPAGE && uvm.pmap.wiredThrough(pg, amap, slotAt(vm, e, off) + i);
    }
    amapUnlock(amap);
  });
  return locked;
}

/**
 * dontNeed: drop the range's translations; private memory also drops its
 * anons (after taking its own amap if it still shared one: a child's view
 * must not change), so it reads as zeros or the file again. In an amap
 * shared by inheritance the anons go for every sharer, and so do their
 * translations of those pages.
 */
function dontNeed(vm: Vmspace, start: number, end: number): void {
  const map = vm.map;
  const uvm = vm.uvm;
  vmMapLock(map);
  try {
    for (const e of entriesIn(map, start, end)) {
      if (isPrivate(e) && e.aref.amap !== null && e.eflags & MAP_ENTRY_NEEDS_COPY)
        amapCopy(uvm, map, e, AMAP_COPY_NOCHUNK, 0, 0);
    }
    map.pmap.remove(start, end);
    forEachWindow(vm, start, end, (e, off, n) => {
      if (!isPrivate(e)) return;
      const amap = e.aref.amap!;
      const slot = slotAt(vm, e, off);
      amapLock(amap);
      for (let i = 0; i < n; i++) {
        const an = amapLookup(uvm, e.aref, off + i * uvm.pageSize);
        const pg = an === 0 ? NOPAGE : uvm.anons.page[an];
        if (pg !== NOPAGE) amapSlotMoved(uvm, amap, slot + i, pg, NOPAGE);
      }
      anonFreelst(uvm, amap, amapWiperange(uvm, amap, slot, n, NOANON));
    });
  } finally {
    vmMapUnlock(map);
  }
}

/**
 * lazyFree: MADV_FREE: the range's anons that only this space holds
 * become clean and lose their swap copy, and are deactivated: unless
 * written again, the pagedaemon discards them instead of swapping them.
 */
function lazyFree(vm: Vmspace, start: number, end: number): void {
  const uvm = vm.uvm;
  forEachWindow(vm, start, end, (e, off, n) => {
    const amap = e.aref.amap!;
    if (e.eflags & MAP_ENTRY_NEEDS_COPY) return;
    amapLock(amap);
    for (let i = 0; i < n; i++) {
      const an = amapLookup(uvm, e.aref, off + i * uvm.pageSize);
      const pg = an === 0 ? NOPAGE : uvm.anons.page[an];
      if (pg === NOPAGE || uvm.anons.ref[an] !== 1 || uvm.pages.wireCount(pg) > 0) continue;
      /* a borrowed page (a pipe's read handed it over) is its owner's: its dirt stays */
      if (uvm.pages.uanon(pg) !== an) continue;
      uvm.pmap.clearModify(pg);
      uvm.pages.flags[pg] |= PG_CLEAN;
      uvm.anons.lazyfree.add(an);
      anonDropswap(uvm, an);
      pageDeactivate(uvm, pg);
    }
    amapUnlock(amap);
  });
}

/*
 * ---- locking ------------------------------------------------------------
 */

/** lockRange: mlock/munlock's rounding: down to a page, length up. */
function lockRange(vm: Vmspace, call: string, addrArg: Num, lenArg: Num): [number, number] {
  const addr = num(call, 'addr', addrArg, 'ENOMEM');
  const len = num(call, 'len', lenArg, 'ENOMEM');
  const ps = pageSize(vm);
  const start = truncPage(addr, ps);
  return [start, pageAlign(vm, addr + len)];
}

/**
 * sysMlock: lock [addr, addr+len) in memory (mlock(2)): fault it in and
 * wire it.
 * => ENOMEM if not fully mapped, past the lock limit (RLIMIT_MEMLOCK), or
 *    out of memory (then nothing stays locked).
 */
export function sysMlock(vm: Vmspace, addr: Num, len: Num): void {
  const [start, end] = lockRange(vm, 'mlock', addr, len);
  if (end === start) return;
  requireMapped(vm, 'mlock', start, end);
  const more = end - start - lockedBytes(vm.map, start, end);
  if (totalLocked(vm.map) + more > vm.memlockLimit)
    throw vmerr(
      'ENOMEM',
      'mlock',
      'len',
      `locking ${more} more bytes passes the limit of ${vm.memlockLimit}`,
    );
  try {
    vmMapUserWire(vm.map, start, end);
  } catch (e) {
    throw rename(e, 'mlock');
  }
}

/**
 * sysMunlock: unlock [addr, addr+len) (munlock(2)).
 * => ENOMEM if not fully mapped.
 */
export function sysMunlock(vm: Vmspace, addr: Num, len: Num): void {
  const [start, end] = lockRange(vm, 'munlock', addr, len);
  if (end === start) return;
  requireMapped(vm, 'munlock', start, end);
  vmMapUserUnwire(vm.map, start, end);
}

/**
 * sysMlockall: lock every current mapping (MCL_CURRENT) and/or every
 * future one (MCL_FUTURE) (mlockall(2)).
 * => EINVAL for other flags; ENOMEM past the lock limit or out of memory.
 */
export function sysMlockall(vm: Vmspace, flags: number): void {
  if (!Number.isInteger(flags) || flags === 0 || (flags & ~(MCL_CURRENT | MCL_FUTURE)) !== 0)
    throw vmerr('EINVAL', 'mlockall', 'flags', `${flags} is not MCL_CURRENT and/or MCL_FUTURE`);
  const map = vm.map;
  if (flags & MCL_CURRENT) {
    if (map.size > vm.memlockLimit)
      throw vmerr('ENOMEM', 'mlockall', 'flags', `${map.size} mapped bytes pass the lock limit`);
    vmMapUserWireAll(map);
  }
  if (flags & MCL_FUTURE) map.flags |= MAP_WIREFUTURE;
}

/** runs: the map's mapped ranges without holes. */
function runs(map: VmMap): [number, number][] {
  const out: [number, number][] = [];
  for (let e = map.header.next; e !== map.header; e = e.next) {
    const last = out[out.length - 1];
    if (last && last[1] === e.start) last[1] = e.end;
    else out.push([e.start, e.end]);
  }
  return out;
}

/**
 * sysMunlockall: unlock everything and stop locking future mappings.
 */
export function sysMunlockall(vm: Vmspace): void {
  const map = vm.map;
  for (const [s, e] of runs(map)) vmMapUserUnwire(map, s, e);
  map.flags &= ~MAP_WIREFUTURE;
}

/*
 * ---- msync, mincore -----------------------------------------------------
 */

/**
 * sysMsync: write a range's dirty file pages back (msync(2); the seed's
 * vm_map_clean). Anonymous memory has nothing to write.
 * => EINVAL unaligned or bad flags (MS_ASYNC with MS_SYNC); ENOMEM if not
 *    fully mapped; EBUSY for MS_INVALIDATE on locked memory; EIO if the
 *    file cannot be written.
 */
export function sysMsync(vm: Vmspace, addrArg: Num, lenArg: Num, flags: number): void {
  const addr = num('msync', 'addr', addrArg, 'ENOMEM');
  const len = num('msync', 'len', lenArg, 'ENOMEM');
  checkAligned(vm, 'msync', addr);
  if (
    !Number.isInteger(flags) ||
    (flags & ~(MS_ASYNC | MS_SYNC | MS_INVALIDATE)) !== 0 ||
    (flags & MS_ASYNC && flags & MS_SYNC)
  )
    throw vmerr('EINVAL', 'msync', 'flags', `${flags} is not a valid MS_* combination`);
  if (len === 0) return;
  const end = addr + pageAlign(vm, len);
  requireMapped(vm, 'msync', addr, end);
  const entries = entriesIn(vm.map, addr, end);
  if (flags & MS_INVALIDATE && entries.some((e) => e.wiredCount > 0))
    throw vmerr('EBUSY', 'msync', 'flags', 'MS_INVALIDATE on locked memory');
  for (const e of entries) {
    if (e.object === null || isPrivate(e)) continue;
    const ps = pageSize(vm);
    /* a virtual page table's pages may be anywhere in its object: all of it, as DragonFly */
    const vpt = e.maptype === VM_MAPTYPE_VPAGETABLE;
    const from = vpt ? 0 : (e.offset + Math.max(e.start, addr) - e.start) / ps;
    const to = vpt ? e.object.pageCount : (e.offset + Math.min(e.end, end) - e.start) / ps;
    if (e.object.pgoPut(from, to) !== 0)
      throw vmerr('EIO', 'msync', 'addr', `writing ${e.object.name} back failed`);
    if (flags & MS_INVALIDATE) e.object.invalidate(from, to);
  }
}

/**
 * sysMincore: which pages of [addr, addr+len) are resident (mincore(2)).
 * => one byte per page, 1 when resident (under a virtual page table: when
 *    translated); EINVAL unaligned; ENOMEM if not fully mapped.
 */
export function sysMincore(vm: Vmspace, addrArg: Num, lenArg: Num): Uint8Array {
  const addr = num('mincore', 'addr', addrArg, 'ENOMEM');
  const len = num('mincore', 'len', lenArg, 'ENOMEM');
  checkAligned(vm, 'mincore', addr);
  const ps = pageSize(vm);
  const end = addr + pageAlign(vm, len);
  const vec = new Uint8Array((end - addr) / ps);
  if (len === 0) return vec;
  requireMapped(vm, 'mincore', addr, end);
  const pool = vm.uvm.anons;
  for (const e of entriesIn(vm.map, addr, end)) {
    const amap = e.aref.amap;
    if (amap !== null) amapLock(amap);
    for (let va = Math.max(e.start, addr); va < Math.min(e.end, end); va += ps) {
      const an = amap === null ? 0 : amapLookup(vm.uvm, e.aref, va - e.start);
      const resident =
        an !== 0
          ? pool.page[an] !== NOPAGE
          : e.maptype === VM_MAPTYPE_VPAGETABLE
            ? vm.pmap.lookup(va) !== 0 /* only the walk knows the page: its cached result */
            : e.object?.pages.has((e.offset + va - e.start) / ps) === true;
      vec[(va - addr) / ps] = resident ? 1 : 0;
    }
    if (amap !== null) amapUnlock(amap);
  }
  return vec;
}

/*
 * ---- brk, mremap --------------------------------------------------------
 */

/**
 * sysBrk: move the break (brk(2), Linux).
 * => brk(0) or an address below the heap's start returns the break
 *    unchanged; growing maps anonymous memory up to the new break (refused,
 *    unchanged, when it would run into a mapping or its stack guard),
 *    shrinking unmaps. Returns the break.
 */
export function sysBrk(vm: Vmspace, addrArg: Num): number {
  if (typeof addrArg === 'bigint' ? addrArg >= 2n ** 53n : addrArg > Number.MAX_SAFE_INTEGER)
    return vm.brk; /* as Linux: a break nothing could hold leaves the break */
  const addr = num('brk', 'addr', addrArg, 'ENOMEM');
  if (addr < vm.brkStart || vm.brkStart === 0) return vm.brk;
  const oldEnd = pageAlign(vm, vm.brk);
  const newEnd = pageAlign(vm, addr);
  if (newEnd === oldEnd) {
    vmspaceSetBreak(vm, addr);
    return addr;
  }
  const map = vm.map;
  if (newEnd < oldEnd) {
    vmMapLock(map);
    vmMapDelete(map, newEnd, oldEnd);
    vmMapUnlock(map);
    vmspaceSetBreak(vm, addr);
    return addr;
  }
  if (newEnd > map.maxOffset || brkCollides(vm, oldEnd, newEnd)) return vm.brk;
  vmMapLock(map);
  try {
    vmMapInsert(map, null, 0, oldEnd, newEnd, PROT_READ | PROT_WRITE, PROT_ALL, MAP_COPY_ON_WRITE);
  } finally {
    vmMapUnlock(map);
  }
  if (map.flags & MAP_WIREFUTURE) vmMapUserWire(map, oldEnd, newEnd, true);
  vmspaceSetBreak(vm, addr);
  return addr;
}

/**
 * brkCollides: growing the heap over [from, to) would run into a mapping,
 * or within the guard gap below a stack.
 */
function brkCollides(vm: Vmspace, from: number, to: number): boolean {
  const map = vm.map;
  let next = vmMapLookupEntry(map, from);
  if (entryContains(map, next, from)) return true;
  next = next.next;
  if (next === map.header) return false;
  const guard = next.eflags & MAP_ENTRY_STACK ? map.stackGuard : pageSize(vm);
  return to + guard > next.start;
}

/**
 * sysMremap: resize and/or move a mapping (mremap(2), Linux).
 * => shrinking unmaps the tail in place; growing extends in place when the
 *    pages after it are free, else moves (MREMAP_MAYMOVE) or fails
 *    (ENOMEM). MREMAP_FIXED moves to newAddr, replacing what is there;
 *    MREMAP_DONTUNMAP moves and leaves the old range mapped but empty.
 * => EINVAL for bad flags, unaligned addresses, length 0, overlapping
 *    fixed ranges or a virtual page table mapping (MAP_VPAGETABLE);
 *    EFAULT when the old range is not one mapping; EAGAIN when growing
 *    locked memory would pass the lock limit.
 * => growing locked memory locks the new part; as Linux, it stays locked
 *    even when its pages cannot all be faulted in now.
 * => returns the mapping's (new) address.
 */
export function sysMremap(
  vm: Vmspace,
  oldAddrArg: Num,
  oldLenArg: Num,
  newLenArg: Num,
  flags: number,
  newAddrArg: Num = 0,
): number {
  const oldAddr = num('mremap', 'old_address', oldAddrArg, 'EFAULT');
  const oldLen = num('mremap', 'old_len', oldLenArg, 'EFAULT');
  const newLen = num('mremap', 'new_len', newLenArg, 'EINVAL');
  const newAddr = num('mremap', 'new_addr', newAddrArg, 'EINVAL');
  checkAligned(vm, 'mremap', oldAddr);
  if (
    !Number.isInteger(flags) ||
    (flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)) !== 0
  )
    throw vmerr('EINVAL', 'mremap', 'flags', `${flags} is not a set of MREMAP_* flags`);
  if (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) && !(flags & MREMAP_MAYMOVE))
    throw vmerr(
      'EINVAL',
      'mremap',
      'flags',
      'MREMAP_FIXED and MREMAP_DONTUNMAP need MREMAP_MAYMOVE',
    );
  if (newLen === 0) throw vmerr('EINVAL', 'mremap', 'new_len', 'length 0');
  const oldSize = pageAlign(vm, oldLen);
  const newSize = pageAlign(vm, newLen);
  if (oldSize === 0)
    throw vmerr('EINVAL', 'mremap', 'old_len', 'length 0 (duplicating a mapping is not supported)');
  if (flags & MREMAP_DONTUNMAP && oldSize !== newSize)
    throw vmerr('EINVAL', 'mremap', 'new_len', 'MREMAP_DONTUNMAP needs equal lengths');
  const first = oneMapping(vm, oldAddr, oldAddr + oldSize);
  if (first.maptype === VM_MAPTYPE_VPAGETABLE)
    throw vmerr('EINVAL', 'mremap', 'old_address', 'a virtual page table mapping cannot move');
  if (
    newSize > oldSize &&
    first.eflags & MAP_ENTRY_USER_WIRED &&
    totalLocked(vm.map) + newSize - oldSize > vm.memlockLimit
  )
    throw vmerr('EAGAIN', 'mremap', 'new_len', 'growing locked memory passes the lock limit');
  if (flags & MREMAP_DONTUNMAP && (!isPrivate(first) || first.object !== null))
    throw vmerr('EINVAL', 'mremap', 'flags', 'MREMAP_DONTUNMAP needs private anonymous memory');
  if (flags & MREMAP_FIXED) return remapFixed(vm, oldAddr, oldSize, newSize, newAddr, flags);
  if (newSize <= oldSize && !(flags & MREMAP_DONTUNMAP)) {
    if (newSize < oldSize) sysMunmap(vm, oldAddr + newSize, oldSize - newSize);
    return oldAddr;
  }
  const tail = oldAddr + oldSize;
  if (
    !(flags & MREMAP_DONTUNMAP) &&
    tail + newSize - oldSize <= vm.map.maxOffset &&
    entriesIn(vm.map, tail, oldAddr + newSize).length === 0
  ) {
    growInPlace(vm, first, oldAddr, oldSize, newSize);
    return oldAddr;
  }
  if (!(flags & MREMAP_MAYMOVE))
    throw vmerr(
      'ENOMEM',
      'mremap',
      'new_len',
      'no room to grow in place, and MREMAP_MAYMOVE is not set',
    );
  const to = vmMapFindspace(
    vm.map,
    vm.map.mmapBase || vm.map.maxOffset,
    newSize,
    pageSize(vm),
    true,
  );
  if (to < 0) throw vmerr('ENOMEM', 'mremap', 'new_len', `no free range of ${newSize} bytes`);
  return moveMapping(vm, first, oldAddr, oldSize, newSize, to, flags);
}

/**
 * oneMapping: [start, end) must lie in mapped entries that Linux would
 * see as one mapping (one vma: the same protection, kind, object with
 * contiguous offsets, name, locking, advice and inheritance); EFAULT
 * otherwise. Returns the first entry.
 */
function oneMapping(vm: Vmspace, start: number, end: number): VmMapEntry {
  const map = vm.map;
  const first = vmMapLookupEntry(map, start);
  if (!entryContains(map, first, start))
    throw vmerr('EFAULT', 'mremap', 'old_address', `${hex(start)} is not mapped`);
  for (let e = first; e.end < end; e = e.next) {
    if (!oneVma(map, e, e.next))
      throw vmerr('EFAULT', 'mremap', 'old_len', `[${hex(start)}, ${hex(end)}) is not one mapping`);
  }
  return first;
}

/** oneVma: entry n continues entry e as one Linux vma would. */
function oneVma(map: VmMap, e: VmMapEntry, n: VmMapEntry): boolean {
  const flags = MAP_ENTRY_USER_WIRED | MAP_ENTRY_BEHAV_MASK;
  return (
    n !== map.header &&
    n.start === e.end &&
    n.protection === e.protection &&
    isPrivate(n) === isPrivate(e) &&
    n.object === e.object &&
    (e.object === null || n.offset === e.offset + (e.end - e.start)) &&
    n.name === e.name &&
    (n.eflags & flags) === (e.eflags & flags) &&
    n.inheritance === e.inheritance
  );
}

/** growInPlace: map the pages after the mapping, as its continuation. */
function growInPlace(
  vm: Vmspace,
  first: VmMapEntry,
  oldAddr: number,
  oldSize: number,
  newSize: number,
): void {
  const map = vm.map;
  const last = vmMapLookupEntry(map, oldAddr + oldSize - 1);
  vmMapLock(map);
  try {
    const obj = last.object;
    const off = obj === null ? 0 : last.offset + (last.end - last.start);
    const cow =
      (isPrivate(first) ? MAP_COPY_ON_WRITE : 0) |
      (obj === null && !isPrivate(first) ? MAP_OVERLAY : 0);
    vmMapInsert(
      map,
      obj,
      off,
      oldAddr + oldSize,
      oldAddr + newSize,
      first.protection,
      first.maxProtection,
      cow,
      { inherit: last.inheritance, advice: last.behavior() },
    );
  } finally {
    vmMapUnlock(map);
  }
  if (first.eflags & MAP_ENTRY_USER_WIRED || map.flags & MAP_WIREFUTURE)
    vmMapUserWire(map, oldAddr + oldSize, oldAddr + newSize, true);
}

/** remapFixed: MREMAP_FIXED: move to newAddr (aligned, not overlapping the old range). */
function remapFixed(
  vm: Vmspace,
  oldAddr: number,
  oldSize: number,
  newSize: number,
  newAddr: number,
  flags: number,
): number {
  const ps = pageSize(vm);
  if (newAddr % ps !== 0)
    throw vmerr('EINVAL', 'mremap', 'new_addr', `${hex(newAddr)} is not page aligned`);
  if (newAddr < USER_MIN || newAddr + newSize > vm.map.maxOffset)
    throw vmerr('EINVAL', 'mremap', 'new_addr', `${hex(newAddr)} is outside the user range`);
  if (newAddr < oldAddr + oldSize && oldAddr < newAddr + newSize)
    throw vmerr('EINVAL', 'mremap', 'new_addr', 'the new range overlaps the old one');
  const first = vmMapLookupEntry(vm.map, oldAddr);
  sysMunmap(vm, newAddr, newSize);
  return moveMapping(vm, first, oldAddr, oldSize, newSize, newAddr, flags);
}

/**
 * moveMapping: move [oldAddr, oldAddr+min(oldSize,newSize)) to `to`, drop
 * or grow the rest; with MREMAP_DONTUNMAP leave the old range mapped,
 * empty.
 */
function moveMapping(
  vm: Vmspace,
  first: VmMapEntry,
  oldAddr: number,
  oldSize: number,
  newSize: number,
  to: number,
  flags: number,
): number {
  const map = vm.map;
  const keep = Math.min(oldSize, newSize);
  const prot = first.protection;
  const maxprot = first.maxProtection;
  if (oldSize > keep) sysMunmap(vm, oldAddr + keep, oldSize - keep);
  const held: Frame[] = [];
  vmMapLock(map);
  try {
    vmMapMove(map, oldAddr, oldAddr + keep, to, held);
    if (flags & MREMAP_DONTUNMAP)
      vmMapInsert(map, null, 0, oldAddr, oldAddr + keep, prot, maxprot, MAP_COPY_ON_WRITE);
  } finally {
    vmMapUnlock(map);
  }
  vmMapFaultWired(map, to, to + keep);
  map.hooks.release(held);
  if (newSize > keep) growInPlace(vm, vmMapLookupEntry(map, to), to, keep, newSize);
  return to;
}
