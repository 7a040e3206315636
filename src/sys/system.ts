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
 * never writably where that page is shared (copy-on-write safety), and
 * wired only in a wired entry; each
 * frame's wire count equals its wired translations; each amap's
 * references and ppref equal the entries using it; each vmspace's
 * reference count equals the processes (and snapshots) using it.
 */

import { amapSwapOff, auditAmaps } from '../kernel/amap.ts';
import { Aobj, auditAobjs } from '../kernel/aobj.ts';
import { uvmFaultUnwire, uvmFaultWire, uvmHoldMapped, uvmVsunlock } from '../kernel/fault.ts';
import { type Host, MemoryHost } from '../kernel/host.ts';
import { auditLoans } from '../kernel/loan.ts';
import {
  auditAmapRefs,
  auditMap,
  type MapHooks,
  type StackGrowth,
  VM_MAPTYPE_VPAGETABLE,
  type VmMapEntry,
  vmMapLookupEntry,
} from '../kernel/map/index.ts';
import { auditObjects, objectReference, type UvmObject } from '../kernel/object.ts';
import { auditPages, NOPAGE } from '../kernel/page.ts';
import {
  DEFAULT_MMAP_BASE,
  type Frame,
  hex,
  KernelPanic,
  MAP_ENTRY_COW,
  MAP_ENTRY_NEEDS_COPY,
  PROT_WRITE,
  truncPage,
  USER_MAX,
  USER_MIN,
  vmerr,
} from '../kernel/param.ts';
import { type PdaemonReport, uvmPageout } from '../kernel/pdaemon.ts';
import { auditPmaps, PTE_W, PTE_WIRED, pteProt } from '../kernel/pmap.ts';
import { vmMapPrefault } from '../kernel/prefault.ts';
import {
  auditSwap,
  FileStore,
  MemoryStore,
  type SwapDevice,
  swapOffBegin,
  swapOffEnd,
} from '../kernel/swap.ts';
import { auditUpcalls } from '../kernel/upcall.ts';
import { Uvm, type UvmConfig, type Uvmexp } from '../kernel/uvm.ts';
import {
  type Segment,
  VmResidentRegistry,
  type Vmspace,
  vmspaceAlloc,
  vmspaceExecSegments,
  vmspaceFree,
} from '../kernel/vmspace.ts';
import { FileHandle, VnodeCache } from '../kernel/vnode.ts';
import { pipeLoans } from './pipe.ts';
import { INSPECT, Process } from './proc.ts';
import { buildSpaceFromRows, isFileName, type MapsRow } from './procmaps.ts';
import { ShmRegistry } from './shm.ts';

/**
 * The counters a system shows: the kernel's (uvmexp, under NetBSD's names
 * where it has one, ours formed the same way: lower case, no capitals),
 * and the page queues' and pools' sizes now.
 */
export type Counters = { readonly [K in keyof Uvmexp]: number } & {
  readonly npages: number;
  readonly free: number;
  readonly active: number;
  readonly inactive: number;
  readonly anons: number;
  readonly amaps: number;
};

/** Configuration of a system: the kernel's, plus where files live. */
export interface VmSystemConfig extends UvmConfig {
  /** the file system files and swap files are on (default: the real one in Node) */
  host?: Host;
  /** put the default swap device (swapPages) in this file, made by the system */
  swapFile?: string;
  /** how stacks grow: 'page' (default, as Linux: what replays compare) or 'sgrowsiz' (DragonFly) */
  stackGrowth?: StackGrowth;
}

let defaultHost: Host = new MemoryHost();

/**
 * setDefaultHost: the host systems use when their config names none (the
 * package's Node entry sets the real file system).
 */
export function setDefaultHost(host: Host): void {
  defaultHost = host;
}

/**
 * imageSegments: an image's text, data and stack from its maps rows: the
 * program's (the first file row's) executable rows, its writable rows, and
 * [stack]; null for one it lacks.
 */
function imageSegments(rows: MapsRow[]): [Segment | null, Segment | null, Segment | null] {
  const prog = rows.find((r) => isFileName(r.name))?.name;
  const span = (pick: (r: MapsRow) => boolean): Segment | null => {
    const rs = rows.filter(pick);
    if (rs.length === 0) return null;
    return { start: Math.min(...rs.map((r) => r.start)), end: Math.max(...rs.map((r) => r.end)) };
  };
  return [
    span((r) => r.name === prog && r.perms[2] === 'x'),
    span((r) => r.name === prog && r.perms[1] === 'w'),
    span((r) => r.name === '[stack]'),
  ];
}

/** The whole system: the kernel and its processes. */
export class VmSystem {
  readonly uvm: Uvm;
  readonly processes = new Map<number, Process>();
  readonly residents = new VmResidentRegistry();
  private nextPid = 1;
  private readonly hooks: MapHooks;
  /** file objects by path (dead ones are replaced on next use) */
  private readonly standIns = new Map<string, Aobj>();

  readonly host: Host;
  readonly shm: ShmRegistry;
  private readonly vnodes: VnodeCache;
  private readonly handles = new Set<FileHandle>();
  private readonly stackGrowth: StackGrowth;

  constructor(config: VmSystemConfig = {}) {
    const swapPages = config.swapPages ?? 65536;
    this.uvm = new Uvm({ ...config, swapPages: config.swapFile ? 0 : swapPages });
    const uvm = this.uvm;
    const growth = config.stackGrowth ?? 'page';
    if (growth !== 'page' && growth !== 'sgrowsiz')
      throw vmerr('EINVAL', 'config', 'stackGrowth', `${growth} is not page or sgrowsiz`);
    this.stackGrowth = growth;
    this.host = config.host ?? defaultHost;
    this.shm = new ShmRegistry(uvm);
    this.vnodes = new VnodeCache(uvm, (path, writable) => this.host.open(path, writable));
    uvm.reclaim = () => uvmPageout(uvm).freed > 0;
    if (config.swapFile) this.swapon({ pages: swapPages, file: config.swapFile });
    this.hooks = {
      wire: (map, ranges) => {
        const r = uvmFaultWire(uvm, map, ranges);
        return r === 'SIGBUS' ? 'EFAULT' : r === 'EACCES' ? 'ENOMEM' : r;
      },
      unwire: (map, s, e) => uvmFaultUnwire(uvm, map, s, e),
      hold: (map, s, e) => {
        const held: Frame[] = [];
        uvmHoldMapped(uvm, map, s, e, held);
        return held;
      },
      release: (held) => uvmVsunlock(uvm, held),
      prefault: (map, e, s, t, limit) => {
        vmMapPrefault(map, e, s, t, limit);
      },
    };
  }

  /** newSpace: an empty address space over the user range. */
  newSpace(): Vmspace {
    const ps = this.uvm.pageSize;
    const vm = vmspaceAlloc(this.uvm, USER_MIN, truncPage(USER_MAX, ps));
    vm.map.hooks = this.hooks;
    vm.map.topdown = true;
    vm.map.mmapBase = DEFAULT_MMAP_BASE;
    vm.stackGrowth = this.stackGrowth;
    return vm;
  }

  /**
   * spawn: a process with an empty address space.
   */
  spawn(): Process {
    return this.adopt(this.newSpace(), 0);
  }

  /** adopt: a new process with pid, space and parent pid (0: none). */
  adopt(vm: Vmspace, ppid: number): Process {
    const p = new Process(this, this.nextPid++, vm, ppid);
    this.processes.set(p.pid, p);
    return p;
  }

  /**
   * buildSpace: a fresh space from maps rows (the work of exec).
   * => `limits`: the space whose resource limits (RLIMIT_MEMLOCK,
   *    RLIMIT_STACK) the new one keeps, as exec keeps a process's limits.
   */
  buildSpace(rows: MapsRow[], limits?: Vmspace): Vmspace {
    const vm = this.newSpace();
    if (limits !== undefined) {
      vm.memlockLimit = limits.memlockLimit;
      vm.stackLimit = limits.stackLimit;
    }
    try {
      buildSpaceFromRows(vm, rows, (path, size) => this.fileObject(path, size));
      vmspaceExecSegments(vm, ...imageSegments(rows));
    } catch (e) {
      vmspaceFree(vm);
      throw e;
    }
    return vm;
  }

  /**
   * survive: what the system does with an error escaping a call: a
   * KernelPanic (our bug) unwound the call midway, with locks still held;
   * they are released (Uvm.breakLocks) so that exit, close and the audit
   * still work, and the audit names whatever the panic left broken.
   * => returns the error, for the caller to throw.
   */
  survive(e: unknown): unknown {
    if (e instanceof KernelPanic) this.uvm.breakLocks();
    return e;
  }

  /**
   * fileObject: a new reference to the object for a file an exec maps: the
   * file's vnode when it can be opened, else a stand-in of its size (an
   * anonymous object: zeros that can be written and paged). One object per
   * path, shared by every process mapping it.
   */
  fileObject(path: string, size: number): UvmObject {
    const v = this.vnodes.get(path, false);
    if (v !== null) return v;
    const live = this.standIns.get(path);
    if (live !== undefined && live.refs > 0) {
      objectReference(live);
      if (size > live.size) live.size = size;
      return live;
    }
    const obj = new Aobj(this.uvm, size, path, true);
    this.standIns.set(path, obj);
    return obj;
  }

  /**
   * open: a file to map (mode 'r' or 'r+'); the handle takes the place of
   * a descriptor in mmap, and limits MAP_SHARED mappings to what the mode
   * allows.
   * => ENOENT when the file cannot be opened so; EINVAL for another mode.
   */
  open(path: string, mode: 'r' | 'r+'): FileHandle {
    if (mode !== 'r' && mode !== 'r+')
      throw vmerr('EINVAL', 'open', 'mode', `${mode} is not 'r' or 'r+'`);
    const v = this.vnodes.get(path, mode === 'r+');
    if (v === null)
      throw vmerr(
        'ENOENT',
        'open',
        'path',
        `cannot open ${path} for ${mode === 'r' ? 'reading' : 'writing'}`,
      );
    const h = new FileHandle(this.uvm, v, mode === 'r+');
    this.handles.add(h);
    return h;
  }

  /**
   * pagedaemon: run the pagedaemon once, as when memory runs low.
   */
  pagedaemon(): PdaemonReport {
    try {
      return uvmPageout(this.uvm);
    } catch (e) {
      throw this.survive(e);
    }
  }

  /**
   * swapon: add a swap device of `pages` pages, in memory or in `file`
   * (made by the system, removed when the device goes); higher `priority`
   * devices are used first.
   */
  swapon(opts: { pages: number; file?: string; priority?: number }): SwapDevice {
    const ps = this.uvm.pageSize;
    if (!Number.isInteger(opts.pages) || opts.pages <= 0)
      throw vmerr('EINVAL', 'swapon', 'pages', `${opts.pages} is not a positive page count`);
    const file = opts.file;
    const store = file
      ? new FileStore(this.host.createSwap(file, opts.pages * ps), ps, true, () =>
          this.host.remove(file),
        )
      : new MemoryStore(opts.pages, ps);
    return this.uvm.swap.addDevice(this.uvm, opts.pages, opts.priority ?? 0, store);
  }

  /**
   * swapoff: bring every page on `device` (on every device, when none is
   * named) back into memory and remove it.
   * => ENOMEM, changing nothing, when memory cannot hold them; EIO when a
   *    device fails; EINVAL for a device that is not in use.
   */
  swapoff(device?: SwapDevice): void {
    const devs = device ? [device] : [...this.uvm.swap.devices].reverse();
    for (const d of devs) {
      if (!this.uvm.swap.devices.includes(d))
        throw vmerr('EINVAL', 'swapoff', 'device', 'not a swap device in use');
      let r: 0 | 'ENOMEM' | 'EIO';
      try {
        r = swapOff(this.uvm, d);
      } catch (e) {
        throw this.survive(e);
      }
      if (r !== 0)
        throw vmerr(
          r,
          'swapoff',
          'device',
          r === 'ENOMEM' ? 'memory cannot hold the pages in swap' : 'the device failed',
        );
    }
  }

  /** shmget: a System V shared memory segment of `size` bytes; returns its id. */
  shmget(size: number): number {
    return this.shm.shmget(size);
  }

  /** shmctlRemove: remove segment `id` (shmctl IPC_RMID). */
  shmctlRemove(id: number): void {
    this.shm.remove(id);
  }

  /**
   * counters: a snapshot of the kernel's counters (uvmexp), with the page
   * queues' current sizes.
   */
  get counters(): Counters {
    const pm = this.uvm.pages;
    const q = this.uvm.pdpol.counts();
    return {
      ...this.uvm.exp,
      npages: pm.npages,
      free: pm.freeCount,
      active: q.active,
      inactive: q.inactive,
      anons: this.uvm.anons.nlive,
      amaps: this.uvm.amaps.size,
    };
  }

  /** how console.log and util.inspect show a system: a line, not every table */
  [INSPECT](): string {
    const pm = this.uvm.pages;
    const swap = this.uvm.swap.devices.map((d) => `${d.id}:${d.inuseCount}/${d.npages}`);
    return `VmSystem: ${this.processes.size} processes, ${pm.freeCount} of ${pm.npages} frames free, swap ${swap.join(' ') || 'none'}`;
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
    auditSwapUse(uvm);
    auditPmaps(uvm.pv, uvm.pages.npages);
    for (const map of uvm.maps) auditMap(map);
    auditAmapRefs(uvm, true);
    auditLoans(uvm, pipeLoans(uvm.pages.npages, this.processes.values()));
    const wired = new Int32Array(uvm.pages.npages);
    for (const vm of uvm.vmspaces) auditTranslations(this, vm, wired);
    for (let frame = 0; frame < wired.length; frame++) {
      const count = uvm.pages.wireCount(frame as Frame);
      if (wired[frame] !== count)
        panic(`page ${frame}: wire count ${count}, ${wired[frame]} wired translations`);
    }
    this.auditUsers();
  }

  private auditUsers(): void {
    this.residents.audit();
    const users = new Map<Vmspace, number>();
    for (const p of this.processes.values()) users.set(p.vm, (users.get(p.vm) ?? 0) + 1);
    for (const r of this.residents.all()) users.set(r.vmspace, (users.get(r.vmspace) ?? 0) + 1);
    for (const vm of this.uvm.vmspaces) {
      auditUpcalls(vm);
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
    for (const h of this.handles) h.close();
    this.handles.clear();
    for (const seg of [...this.shm.segments.values()]) if (!seg.removed) this.shm.remove(seg.id);
    this.shm.sweep();
    for (const d of [...this.uvm.swap.devices])
      if (d.nfree === d.npages) this.uvm.swap.removeDevice(this.uvm, d);
  }
}

/**
 * swapOff: stop swapping to `dev` (swapoff(2), NetBSD's swap_off): bring
 * every page it holds back into memory, anons (amap_swap_off) then the
 * anonymous objects' pages (uao_swap_off), and remove it.
 * => ENOMEM, changing nothing, when memory cannot hold those pages; if it
 *    runs out anyway, or a read fails (EIO), the device stays, holding
 *    what it still holds, and is used again.
 */
function swapOff(uvm: Uvm, dev: SwapDevice): 0 | 'ENOMEM' | 'EIO' {
  const r = swapOffBegin(uvm, dev);
  if (r !== 0) return r;
  const errs = uvm.exp.swapioerrs;
  const end = dev.base + dev.npages;
  let ok = !amapSwapOff(uvm, dev.base, end);
  for (const obj of [...uvm.aobjs]) if (ok) ok = obj.swapOff(dev.base, end);
  return swapOffEnd(uvm, dev, errs);
}

/**
 * auditTranslations: every translation of vm maps what its entry holds at
 * that address, never writably when shared or needs-copy, wired only in a
 * wired entry; counts wired ones.
 */
function auditTranslations(sys: VmSystem, vm: Vmspace, wired: Int32Array): void {
  const uvm = sys.uvm;
  const map = vm.map;
  vm.pmap.forEachMapping((va, pg, pte) => {
    const e = vmMapLookupEntry(map, va);
    if (e === map.header || va >= e.end) panic(`translation at ${hex(va)} has no entry`);
    if ((pteProt(pte) & ~e.protection) !== 0)
      panic(`translation at ${hex(va)} exceeds its entry's protection`);
    if (pte & PTE_WIRED) {
      wired[pg]++;
      if (e.wiredCount === 0) panic(`translation at ${hex(va)} is wired, its entry is not`);
    }
    const held = e.maptype === VM_MAPTYPE_VPAGETABLE ? tablePage(uvm, e, pg) : pageAt(uvm, e, va);
    if (held.pg !== pg)
      panic(`translation at ${hex(va)} maps frame ${pg}, the entry holds ${held.pg}`);
    if (pte & PTE_W && uvm.pages.loanCount(pg) > 0)
      panic(`translation at ${hex(va)} maps loaned page ${pg} writable`);
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

/**
 * tablePage: a translation in a VPAGETABLE entry may map any page of its
 * backing object (the walk chose it); it is held if the object owns pg.
 */
function tablePage(uvm: Uvm, e: VmMapEntry, pg: number): { pg: number; writable: boolean } {
  const owned = e.object !== null && uvm.pages.uobject(pg as Frame) === e.object.id;
  return { pg: owned ? pg : NOPAGE, writable: true };
}

/** auditSwapUse: every slot in use is held by exactly one anon or aobj page; swpgonly agrees. */
function auditSwapUse(uvm: Uvm): void {
  const seen = new Set<number>();
  let only = 0;
  const pool = uvm.anons;
  const free = pool.freeMask();
  for (let an = 1; an < pool.capacity; an++) {
    if (free[an] || pool.swslot[an] === 0) continue;
    if (seen.has(pool.swslot[an])) panic(`swap slot ${pool.swslot[an]} used twice`);
    seen.add(pool.swslot[an]);
    if (pool.page[an] === NOPAGE) only++;
  }
  auditAobjs(uvm, seen);
  for (const obj of uvm.aobjs)
    for (const idx of obj.swslots.keys()) if (!obj.pages.has(idx)) only++;
  if (seen.size !== uvm.exp.swpginuse)
    panic(`${uvm.exp.swpginuse} swap slots in use, ${seen.size} held`);
  if (only !== uvm.exp.swpgonly)
    panic(`uvmexp.swpgonly ${uvm.exp.swpgonly}, ${only} pages only in swap`);
}

function panic(what: string): never {
  throw new KernelPanic(`audit: system: ${what}`);
}
