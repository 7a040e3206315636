/*
 * vmspace.ts: process address spaces (seed 001 struct vmspace, vmresident).
 *
 *   Vmspace
 *     map     the address map (map.ts)
 *     pmap    its translations (pmap.ts)
 *     the seed's segment fields: rssize (resident pages), swrss, tsize,
 *     dsize, ssize (pages), taddr, daddr, maxsaddr, minsaddr, exitingcnt
 *     refcnt  threads and vfork children share one vmspace
 *     upcalls, upccount  vm_upcalls, vm_upccount (upcall.ts): not copied by
 *             fork; empty when the last user frees the space
 *
 *   counts (computed): resident (pmap_resident_count), president (the
 *   seed's: per entry, an anonymous object's resident pages over their
 *   translations, integer, cached per tick of the kernel's clock), pss
 *   (each page it maps counted 1/N when N spaces map it), swap (pages of
 *   its memory only in swap), anonymous (resident anonymous pages it maps).
 *
 *   VmResidentRegistry: resident executables (vmresident): a snapshot of an
 *   address space registered under an executable's identity, from which a
 *   later exec starts instead of loading the program.
 *
 * Out of scope, and why: virtual page tables (VM_MAPTYPE_VPAGETABLE,
 * master_pde) serve DragonFly's vkernel; vm_uiomove has no user here.
 */

import { amapLock, amapLookup, amapUnlock } from './amap.ts';
import { Aobj } from './aobj.ts';
import { uvmReserve } from './fault.ts';
import {
  auditMap,
  type StackGrowth,
  type VmMap,
  type VmMapEntry,
  vmMapCreate,
  vmMapDelete,
  vmMapFork,
  vmMapForkCheck,
  vmMapLock,
  vmMapLockReadTry,
  vmMapUnlock,
  vmMapUnlockRead,
} from './map/index.ts';
import { NOPAGE } from './page.ts';
import { type Frame, kassert, kpanic, vmerr } from './param.ts';
import { Pmap } from './pmap.ts';
import type { VmUpcall } from './upcall.ts';
import type { Uvm } from './uvm.ts';

/** A process address space (struct vmspace). */
export class Vmspace {
  readonly pmap: Pmap;
  readonly map: VmMap;
  /** vm_shm: System V shared memory attached here (segment id -> address) */
  shm: Map<number, number> | null = null;
  swrss = 0;
  tsize = 0;
  dsize = 0;
  ssize = 0;
  taddr = 0;
  daddr = 0;
  maxsaddr = 0;
  minsaddr = 0;
  exitingcnt = 0;
  refcnt = 1;
  /** vm_upcalls: the registered upcalls, newest first (upcall.ts) */
  upcalls: VmUpcall[] = [];
  /** vm_upccount */
  upccount = 0;
  /* Linux's view of the same space (mm_struct): the break and the stack */
  /** start_brk: where the heap begins */
  brkStart = 0;
  /** brk: the current break (not page aligned) */
  brk = 0;
  /** start_stack: an address inside the main stack, which maps shows as [stack] */
  startStack = 0;
  /** RLIMIT_MEMLOCK, bytes */
  memlockLimit = 8 * 1024 * 1024;
  /** RLIMIT_STACK, bytes */
  stackLimit = 8 * 1024 * 1024;
  /** how its stacks grow (vmMapGrowstack): 'page' as Linux, 'sgrowsiz' as DragonFly */
  stackGrowth: StackGrowth = 'page';

  constructor(
    readonly uvm: Uvm,
    min: number,
    max: number,
  ) {
    this.pmap = new Pmap(uvm.pv, uvm.pageSize);
    this.map = vmMapCreate(uvm, this.pmap, min, max);
  }

  /** vm_rssize: resident pages, as the pmap counts them. */
  get rssize(): number {
    return this.pmap.residentCount;
  }
}

/**
 * vmspaceAlloc: a new, empty address space over [min, max) (vmspace_alloc).
 */
export function vmspaceAlloc(uvm: Uvm, min: number, max: number): Vmspace {
  const vm = new Vmspace(uvm, min, max);
  uvm.vmspaces.add(vm);
  return vm;
}

/**
 * vmspaceRef: another user (a thread, a vfork child) of the same space.
 */
export function vmspaceRef(vm: Vmspace): void {
  if (vm.refcnt <= 0) throw vmerr('EINVAL', 'vmspace_ref', 'vm', 'the vmspace is gone');
  vm.refcnt++;
}

/**
 * vmspaceFree: drop a user; the last one unmaps everything and destroys
 * the pmap (vmspace_free / uvmspace_free).
 * => its users released their upcalls first (upcRelease).
 */
export function vmspaceFree(vm: Vmspace): void {
  if (vm.refcnt <= 0) throw vmerr('EINVAL', 'vmspace_free', 'vm', 'the vmspace is gone');
  if (--vm.refcnt > 0) return;
  kassert(vm.upcalls.length === 0, 'vmspace_free: upcalls left');
  const map = vm.map;
  vmMapLock(map);
  vmMapDelete(map, map.minOffset, map.maxOffset);
  vmMapUnlock(map);
  vm.pmap.destroy();
  vm.uvm.maps.delete(map);
  vm.uvm.vmspaces.delete(vm);
}

/**
 * vmspaceFork: a child address space built from `vm` by inheritance
 * (vmspace_fork / uvmspace_fork); see vmMapFork.
 * => the segment fields are copied (vm_startcopy .. vm_endcopy).
 * => all or nothing: what can fail is checked before anything changes:
 *    EINVAL for a map holding a submap, EAGAIN when no pmap id is free,
 *    ENOMEM when the frames that copying wired memory takes cannot be
 *    had (the pagedaemon runs first). No child is left then.
 */
export function vmspaceFork(vm: Vmspace): Vmspace {
  const uvm = vm.uvm;
  const old = vm.map;
  vmMapLock(old);
  try {
    const frames = vmMapForkCheck(old);
    const child = vmspaceAlloc(uvm, old.minOffset, old.maxOffset);
    if (!uvmReserve(uvm, frames)) {
      vmspaceFree(child);
      throw vmerr('ENOMEM', 'fork', undefined, 'no memory to copy the wired pages of the parent');
    }
    copySegments(vm, child);
    vmMapLock(child.map);
    vmMapFork(old, child.map);
    vmMapUnlock(child.map);
    return child;
  } finally {
    vmMapUnlock(old);
  }
}

/** A segment of a process image: [start, end), bytes. */
export interface Segment {
  start: number;
  end: number;
}

/**
 * vmspaceExecSegments: the seed's segment fields of a new image (what
 * exec's image activator sets): text (vm_taddr, vm_tsize), data up to the
 * break (vm_daddr, vm_dsize), and the stack: vm_minsaddr its top,
 * vm_maxsaddr the lowest address the stack limit lets it reach, vm_ssize
 * its pages now. A segment the image lacks leaves its fields 0.
 * => sizes are in pages; the break (vm.brk) is set already.
 */
export function vmspaceExecSegments(
  vm: Vmspace,
  text: Segment | null,
  data: Segment | null,
  stack: Segment | null,
): void {
  const ps = vm.uvm.pageSize;
  if (text !== null) {
    vm.taddr = text.start;
    vm.tsize = (text.end - text.start) / ps;
  }
  vm.daddr = data?.start ?? vm.brkStart;
  vmspaceSetBreak(vm, vm.brk);
  if (stack !== null) {
    vm.minsaddr = stack.end;
    vm.maxsaddr = stack.end - vm.stackLimit;
    vm.ssize = (stack.end - stack.start) / ps;
  }
}

/**
 * vmspaceSetBreak: the break is now `brk`; vm_dsize follows it (the data
 * segment runs from vm_daddr to the page-rounded break, as obreak keeps it).
 */
export function vmspaceSetBreak(vm: Vmspace, brk: number): void {
  const ps = vm.uvm.pageSize;
  vm.brk = brk;
  vm.dsize = vm.daddr === 0 ? 0 : Math.max(0, Math.ceil(brk / ps) - vm.daddr / ps);
}

function copySegments(from: Vmspace, to: Vmspace): void {
  to.map.mmapBase = from.map.mmapBase;
  to.map.topdown = from.map.topdown;
  to.map.stackGuard = from.map.stackGuard;
  to.map.hooks = from.map.hooks;
  to.shm = from.shm === null ? null : new Map(from.shm);
  to.brkStart = from.brkStart;
  to.brk = from.brk;
  to.startStack = from.startStack;
  to.memlockLimit = from.memlockLimit;
  to.stackLimit = from.stackLimit;
  to.stackGrowth = from.stackGrowth;
  to.swrss = from.swrss;
  to.tsize = from.tsize;
  to.dsize = from.dsize;
  to.ssize = from.ssize;
  to.taddr = from.taddr;
  to.daddr = from.daddr;
  to.maxsaddr = from.maxsaddr;
  to.minsaddr = from.minsaddr;
}

/**
 * vmspaceResidentCount: pages this space maps (vmspace_resident_count).
 */
export function vmspaceResidentCount(vm: Vmspace): number {
  return vm.pmap.residentCount;
}

/**
 * vmspacePresidentCount: the seed's proportional resident set
 * (vmspace_president_count): for each entry backed by anonymous memory
 * (an amap, or an aobj), the resident pages of that object divided by
 * the translations of its pages in every space (agg_pv_list_count),
 * integer division; objects nothing maps add nothing.
 * => cached for the current tick; a map that cannot be read-locked without
 *    waiting returns the cached value.
 */
export function vmspacePresidentCount(vm: Vmspace): number {
  const map = vm.map;
  const uvm = vm.uvm;
  if (map.presidentTicks === uvm.ticks) return map.presidentCache;
  if (!vmMapLockReadTry(map)) return map.presidentCache;
  let count = 0;
  for (let e = map.header.next; e !== map.header; e = e.next) {
    const pages = anonymousPages(uvm, e);
    let n = 0;
    for (const pg of pages) n += uvm.pv.pageMappings(pg);
    if (n !== 0) count += Math.floor(pages.length / n);
  }
  map.presidentCache = count;
  map.presidentTicks = uvm.ticks;
  vmMapUnlockRead(map);
  return count;
}

/** anonymousPages: the resident pages of the anonymous object behind `e` (its amap, or an aobj). */
function anonymousPages(uvm: Uvm, e: VmMapEntry): Frame[] {
  const amap = e.aref.amap;
  if (amap === null) return e.object instanceof Aobj ? [...e.object.pages.values()] : [];
  const out: Frame[] = [];
  for (let i = 0; i < amap.nused; i++) {
    const pg = uvm.anons.page[amap.anon[amap.slots[i]]];
    if (pg !== NOPAGE) out.push(pg);
  }
  return out;
}

/**
 * vmspacePss: the proportional set size as Linux reports it: each page this
 * space maps counts 1/N when N address spaces map it (a fraction).
 */
export function vmspacePss(vm: Vmspace): number {
  let count = 0;
  vm.pmap.forEachMapping((_va, pg) => {
    count += 1 / vm.uvm.pv.spacesMapping(pg);
  });
  return count;
}

/**
 * vmspaceSwapCount: pages of this space's anonymous memory that live only
 * in swap (vmspace_swap_count).
 */
export function vmspaceSwapCount(vm: Vmspace): number {
  return countAnons(vm, (an) => vm.uvm.anons.page[an] === NOPAGE && vm.uvm.anons.swslot[an] !== 0);
}

/**
 * vmspaceAnonymousCount: resident anonymous pages of this space
 * (vmspace_anonymous_count).
 */
export function vmspaceAnonymousCount(vm: Vmspace): number {
  return countAnons(vm, (an) => vm.uvm.anons.page[an] !== NOPAGE);
}

/** countAnons: anons in this space's entries' windows that satisfy `pred`. */
function countAnons(vm: Vmspace, pred: (an: number) => boolean): number {
  const map = vm.map;
  const ps = vm.uvm.pageSize;
  let n = 0;
  for (let e = map.header.next; e !== map.header; e = e.next) {
    const amap = e.aref.amap;
    if (amap === null) continue;
    amapLock(amap);
    for (let off = 0; off < e.end - e.start; off += ps) {
      const an = amapLookup(vm.uvm, e.aref, off);
      if (an !== 0 && pred(an)) n++;
    }
    amapUnlock(amap);
  }
  return n;
}

/**
 * auditVmspace: the map's invariants, and the pmap's counts against the map.
 */
export function auditVmspace(vm: Vmspace): void {
  auditMap(vm.map);
  if (vm.refcnt <= 0) throw vmerr('EINVAL', 'audit', 'vm', 'a live vmspace with no references');
}

/** A resident executable (struct vmresident). */
export interface VmResident {
  /** vr_id */
  id: number;
  /** the executable's identity (vr_vnode): its path here */
  identity: string;
  /** vr_vmspace: the snapshot new execs start from */
  vmspace: Vmspace;
  /** vr_entry_addr: where execution starts */
  entryAddr: number;
  /** vr_refs: execs using it right now */
  refs: number;
}

/** The registry of resident executables. */
export class VmResidentRegistry {
  private readonly byId = new Map<number, VmResident>();
  private nextId = 1;

  /**
   * register: snapshot `vm` (a fork of it) under `identity`.
   * => EEXIST if that identity is registered already.
   * => returns the registration id.
   */
  register(vm: Vmspace, identity: string, entryAddr: number): number {
    if (this.lookup(identity))
      throw vmerr('EEXIST', 'exec_sys_register', 'identity', `${identity} is already resident`);
    const snapshot = vmspaceFork(vm);
    const id = this.nextId++;
    this.byId.set(id, { id, identity, vmspace: snapshot, entryAddr, refs: 0 });
    return id;
  }

  /**
   * forkFrom: the space an exec of resident executable `r` starts from, a
   * copy of its snapshot (exec_resident_imgact); r.refs (vr_refs) counts
   * the execs copying it meanwhile, so it cannot be unregistered under them.
   * => errors as vmspaceFork, with r.refs back as it was.
   */
  forkFrom(r: VmResident): Vmspace {
    r.refs++;
    try {
      return vmspaceFork(r.vmspace);
    } finally {
      r.refs--;
    }
  }

  /**
   * audit: between calls no exec is copying a snapshot (every vr_refs is 0)
   * and every snapshot is alive.
   */
  audit(): void {
    for (const r of this.byId.values()) {
      if (r.refs !== 0) kpanic(`audit: resident executable ${r.id} has vr_refs ${r.refs}`);
      if (r.vmspace.refcnt <= 0) kpanic(`audit: resident executable ${r.id} has a freed snapshot`);
    }
  }

  /** lookup: the resident executable registered under `identity`, if any. */
  lookup(identity: string): VmResident | undefined {
    for (const r of this.byId.values()) if (r.identity === identity) return r;
    return undefined;
  }

  /**
   * unregister: forget registration `id` and free its snapshot.
   * => ENOENT if there is none; EBUSY while an exec uses it.
   */
  unregister(id: number): void {
    const r = this.byId.get(id);
    if (!r) throw vmerr('ENOENT', 'exec_sys_unregister', 'id', `no resident executable ${id}`);
    if (r.refs > 0)
      throw vmerr('EBUSY', 'exec_sys_unregister', 'id', `resident executable ${id} is in use`);
    this.byId.delete(id);
    vmspaceFree(r.vmspace);
  }

  /** all: every registration, oldest first. */
  all(): VmResident[] {
    return [...this.byId.values()];
  }
}
