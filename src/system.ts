/*
 * system.ts: the system: a kernel (Uvm), its processes, and the checks
 * and counters a user sees (uvm_init, plus what ps and vmstat show).
 *
 *   const sys = new VmSystem({ pageSize: 4096, physPages: 16384, swapPages: 65536 });
 *   const p = sys.spawn();
 *   const a = p.mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON);
 *   p.write(a, bytes); const c = p.fork(); ...
 *   sys.audit(); sys.close();
 *
 * The audit checks every layer's invariants, then the cross-layer ones:
 * each translation maps the page its entry's anon or object holds there,
 * never writably where that page is shared (copy-on-write safety); each
 * frame's wire count equals its wired translations; each amap's
 * references and ppref equal the entries using it; each vmspace's
 * reference count equals the processes (and snapshots) using it.
 */
import { auditAmaps } from './amap.ts';
import { uvmFaultUnwire, uvmFaultWire } from './fault.ts';
import {
  auditAmapRefs,
  auditMap,
  type MapHooks,
  type VmMapEntry,
  vmMapLookupEntry,
} from './map.ts';
import { auditObjects, objectReference, UvmObject } from './object.ts';
import { auditPages, NOPAGE } from './page.ts';
import {
  hex,
  KernelPanic,
  MAP_ENTRY_COW,
  MAP_ENTRY_NEEDS_COPY,
  PROT_WRITE,
  USER_MAX,
  USER_MIN,
} from './param.ts';
import { auditPmaps, PTE_W, PTE_WIRED, pteProt } from './pmap.ts';
import { buildSpaceFromRows, DEFAULT_MMAP_BASE, Process } from './proc.ts';
import { auditSwap } from './swap.ts';
import { Uvm, type UvmConfig } from './uvm.ts';
import { type MapsRow, VmResidentRegistry, type Vmspace, vmspaceAlloc } from './vmspace.ts';

export type VmSystemConfig = UvmConfig;

/** The whole system: the kernel and its processes. */
export class VmSystem {
  readonly uvm: Uvm;
  readonly processes = new Map<number, Process>();
  readonly residents = new VmResidentRegistry();
  private nextPid = 1;
  private readonly hooks: MapHooks;
  /** file objects by path (dead ones are replaced on next use) */
  private readonly files = new Map<string, UvmObject>();

  constructor(config: VmSystemConfig = {}) {
    this.uvm = new Uvm(config);
    const uvm = this.uvm;
    this.hooks = {
      wire: (map, s, e, prot) => {
        const r = uvmFaultWire(uvm, map, s, e, prot);
        return r === 'SIGBUS' ? 'EFAULT' : r === 'EACCES' ? 'ENOMEM' : r;
      },
      unwire: (map, s, e) => uvmFaultUnwire(uvm, map, s, e),
      prefault: () => {},
    };
  }

  /** newSpace: an empty address space over the user range. */
  newSpace(): Vmspace {
    const vm = vmspaceAlloc(this.uvm, USER_MIN, USER_MAX);
    vm.map.hooks = this.hooks;
    vm.map.topdown = true;
    vm.map.mmapBase = DEFAULT_MMAP_BASE;
    return vm;
  }

  /**
   * spawn: a process with an empty address space.
   */
  spawn(): Process {
    return this.adopt(this.newSpace(), null);
  }

  /** adopt: a new process with pid, space and parent. */
  adopt(vm: Vmspace, parent: Process | null): Process {
    const p = new Process(this, this.nextPid++, vm, parent);
    this.processes.set(p.pid, p);
    return p;
  }

  /**
   * buildSpace: a fresh space from maps rows (the work of exec).
   */
  buildSpace(rows: MapsRow[]): Vmspace {
    const vm = this.newSpace();
    buildSpaceFromRows(vm, rows, (path, size) => this.fileObject(path, size));
    return vm;
  }

  /**
   * fileObject: a new reference to the object for a file an exec maps: one
   * object per path while anything maps it, shared by every process; a
   * stand-in of zeros of the right size.
   */
  fileObject(path: string, size: number): UvmObject {
    const live = this.files.get(path);
    if (live !== undefined && live.refs > 0) {
      objectReference(live);
      if (size > live.size) live.size = size;
      return live;
    }
    const obj = new UvmObject(this.uvm, size, path);
    this.files.set(path, obj);
    return obj;
  }

  /**
   * counters: a snapshot of the kernel's counters (uvmexp), with the page
   * queues' current sizes.
   */
  get counters(): Record<string, number> {
    const pm = this.uvm.pages;
    return {
      ...this.uvm.exp,
      npages: pm.npages,
      free: pm.freeCount,
      active: pm.activeCount,
      inactive: pm.inactiveCount,
      anons: this.uvm.anons.nlive,
      amaps: this.uvm.amaps.size,
    };
  }

  /**
   * audit: check every invariant of every layer and across layers.
   * => throws KernelPanic naming the first broken one.
   */
  audit(): void {
    const uvm = this.uvm;
    auditPages(uvm);
    auditAmaps(uvm);
    auditSwap(uvm);
    auditObjects(uvm);
    auditPmaps(uvm.pv, uvm.pages.npages);
    for (const map of uvm.maps) auditMap(map);
    auditAmapRefs(uvm, true);
    const wired = new Int32Array(uvm.pages.npages);
    for (const vm of uvm.vmspaces) auditTranslations(this, vm, wired);
    for (let pg = 0; pg < wired.length; pg++)
      if (wired[pg] !== uvm.pages.wireCount[pg])
        panic(`page ${pg}: wire count ${uvm.pages.wireCount[pg]}, ${wired[pg]} wired translations`);
    this.auditUsers();
  }

  private auditUsers(): void {
    const users = new Map<Vmspace, number>();
    for (const p of this.processes.values()) users.set(p.vm, (users.get(p.vm) ?? 0) + 1);
    for (const r of this.residents.all()) users.set(r.vmspace, (users.get(r.vmspace) ?? 0) + 1);
    for (const vm of this.uvm.vmspaces) {
      if ((users.get(vm) ?? 0) !== vm.refcnt)
        panic(`a vmspace has refcnt ${vm.refcnt} but ${users.get(vm) ?? 0} users`);
    }
  }

  /**
   * close: end every process; the system is empty afterwards.
   */
  close(): void {
    for (const p of [...this.processes.values()]) p.exit();
    for (const r of this.residents.all()) this.residents.unregister(r.id);
  }
}

/**
 * auditTranslations: every translation of vm maps what its entry holds at
 * that address, never writably when shared or needs-copy; counts wired ones.
 */
function auditTranslations(sys: VmSystem, vm: Vmspace, wired: Int32Array): void {
  const uvm = sys.uvm;
  const map = vm.map;
  vm.pmap.forEachMapping((va, pg, pte) => {
    const e = vmMapLookupEntry(map, va);
    if (e === map.header || va >= e.end) panic(`translation at ${hex(va)} has no entry`);
    if ((pteProt(pte) & ~e.protection) !== 0)
      panic(`translation at ${hex(va)} exceeds its entry's protection`);
    if (pte & PTE_WIRED) wired[pg]++;
    const held = pageAt(uvm, e, va);
    if (held.pg !== pg)
      panic(`translation at ${hex(va)} maps frame ${pg}, the entry holds ${held.pg}`);
    if (pte & PTE_W && !held.writable)
      panic(`translation at ${hex(va)} is writable but its page is shared (copy-on-write broken)`);
  });
}

/** pageAt: the frame an entry holds at va, and whether it may be written in place. */
function pageAt(uvm: Uvm, e: VmMapEntry, va: number): { pg: number; writable: boolean } {
  const ps = uvm.pageSize;
  const amap = e.aref.amap;
  const an = amap === null ? 0 : amap.anon[e.aref.pageoff + (va - e.start) / ps];
  const cow = (e.eflags & MAP_ENTRY_COW) !== 0;
  const nc = (e.eflags & MAP_ENTRY_NEEDS_COPY) !== 0;
  if (an !== 0)
    return {
      pg: uvm.anons.page[an],
      writable: uvm.anons.ref[an] === 1 && !nc && (e.protection & PROT_WRITE) !== 0,
    };
  if (e.object === null) return { pg: NOPAGE, writable: false };
  const pg = e.object.pages.get((e.offset + va - e.start) / ps) ?? NOPAGE;
  return { pg, writable: !cow };
}

function panic(what: string): never {
  throw new KernelPanic(`audit: system: ${what}`);
}
