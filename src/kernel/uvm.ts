/*
 * uvm.ts: the kernel's global state (struct uvm, uvmexp), made explicit.
 *
 *   Uvm
 *    ├─ pages    PhysMem: frames and the free queue        (page.ts)
 *    ├─ pdpol    the replacement policy and its queues     (pdpolicy/)
 *    ├─ anons    AnonPool: every anon                      (anon.ts)
 *    ├─ amaps    the global amap list (amap_list)          (amap.ts)
 *    ├─ swap     swap devices and slots                    (swap.ts)
 *    ├─ objects  UVM objects by id (aobj, vnode)           (object layer)
 *    ├─ pv       the reverse map of every pmap: who maps each frame (pmap.ts)
 *    ├─ pmap     the page-level pmap operations the VM calls (the pv table)
 *    ├─ maps, vmspaces   every live map and address space
 *    ├─ hist     the event stream's subscribers, or null  (hist.ts)
 *    └─ exp      counters, under uvmexp's names
 *
 * Every kernel function takes the Uvm as its first argument: it is what
 * the C code reaches through globals.
 */

import { AnonPool } from './anon.ts';
import type { Aobj } from './aobj.ts';
import type { UvmHist } from './hist.ts';
import type { VmMutex } from './lock.ts';
import type { VmMap } from './map/index.ts';
import type { UvmObject } from './object.ts';
import { PhysMem, pageKey } from './page.ts';
import {
  checkPageSize,
  DEFAULT_PAGE_SIZE,
  kpanic,
  MAP_ENTRY_IN_TRANSITION,
  MAP_ENTRY_NEEDS_WAKEUP,
  MAX_MEMORY_BYTES,
  UVM_AMAP_CHUNK,
  UVM_AMAP_LARGE,
  vmerr,
} from './param.ts';
import { DEFAULT_PD_POLICY, makePdPolicy, type PdParams, type PdPolicy } from './pdpolicy/index.ts';
import { PvTable } from './pmap.ts';
import { MemoryStore, Swap } from './swap.ts';
import type { Vmspace } from './vmspace.ts';

/**
 * The page-level pmap calls the machine-independent VM makes
 * (pmap_page_protect and friends). The pv table implements them; tests may
 * put a recording one in its place.
 */
export interface PmapPageOps {
  /** pmap_page_protect: lower the protection of every mapping of pg to prot. */
  pageProtect(pg: number, prot: number): void;
  /**
   * pageLeaveSlot: pg stops being what slot `slot` of `amap` holds (a
   * copy-on-write or a promotion into a shared amap put newpg there, or
   * the slot was emptied: newpg NOPAGE). Unwired mappings of pg are removed
   * (they fault again, as pmap_page_protect(NONE) does); a wired one through
   * that slot moves to newpg with its wiring; wired ones through other
   * entries stay (UVM leaves this an XXX: "page might be wired").
   * => returns how many wired mappings moved (their wirings move too).
   */
  pageLeaveSlot(pg: number, newpg: number, amap: object, slot: number): number;
  /** wiredThrough: some mapping of pg through slot `slot` of `amap` is wired. */
  wiredThrough(pg: number, amap: object, slot: number): boolean;
  /** the number of virtual mappings of pg (its pv list length). */
  pageMappings(pg: number): number;
  /** pmap_clear_reference: clear pg's referenced bit; returns its old value. */
  clearReference(pg: number): boolean;
  /** pmap_is_referenced */
  isReferenced(pg: number): boolean;
  /** pmap_clear_modify: clear pg's modified bit; returns its old value. */
  clearModify(pg: number): boolean;
  /** pmap_is_modified */
  isModified(pg: number): boolean;
}

/** Counters, under the names NetBSD's uvmexp uses where it has one. */
export class Uvmexp {
  /* pages */
  pageallocs = 0;
  pagefrees = 0;
  pgafail = 0;
  pga_zerohit = 0;
  pga_zeromiss = 0;
  zeroes = 0;
  pagecopies = 0;
  wired = 0;
  /* the software TLB of the fast access path (tlb.ts) */
  tlbshootdowns = 0;
  /* anons and amaps */
  anonallocs = 0;
  anonfrees = 0;
  amapallocs = 0;
  amapfrees = 0;
  amapcopies = 0;
  amaptakeover = 0;
  amapcownow = 0;
  amapextends = 0;
  pprefestablished = 0;
  /* swap */
  nswapdev = 0;
  swpages = 0;
  swpginuse = 0;
  swpgonly = 0;
  swapins = 0;
  swapouts = 0;
  swapioerrs = 0;
  pageins = 0;
  pageouts = 0;
  /* faults (uvm_fault) */
  faults = 0;
  fltprot = 0;
  fltnoram = 0;
  fltanget = 0;
  fltnamap = 0;
  fltnomap = 0;
  flt_anon = 0;
  flt_acow = 0;
  flt_obj = 0;
  flt_prcopy = 0;
  flt_przero = 0;
  /* pagedaemon (uvm_pdaemon) */
  pdwoke = 0;
  pdrevs = 0;
  pdscans = 0;
  pdreact = 0;
  pddeact = 0;
  pdfreed = 0;
  pdpageouts = 0;
  pdnoswap = 0;
  pdlazyfreed = 0;
  /* files */
  vnodepageins = 0;
  vnodepageouts = 0;
  vnodeioerrs = 0;
  /* processes */
  forks = 0;
  forks_sharevm = 0;
  execs = 0;
  exits = 0;
}

/** Configuration of a kernel. */
export interface UvmConfig {
  /** bytes per page, a power of two (default 4096) */
  pageSize?: number;
  /** physical frames (default 16384: 64 MiB of 4 KiB pages) */
  physPages?: number;
  /** pages of the default in-memory swap device (default 65536; 0 for none) */
  swapPages?: number;
  /** fill freed frames with 0xa5 so a leak of old data shows (default false) */
  poisonFreed?: boolean;
  /** keep per-page amap reference counts (UVM_AMAP_PPREF; default true) */
  ppref?: boolean;
  /** the page replacement policy, by name (default 'clock'; see pdpolicy/) */
  policy?: string;
  /** the policy's tunables (clock: inactivepct) */
  policyParams?: PdParams;
  /** below this many free frames the pagedaemon runs (default 1/64 of memory, >= 4) */
  freemin?: number;
  /** the pagedaemon runs until this many are free (default freemin * 4/3 + 1) */
  freetarg?: number;
  /** amap_copy of an entry this many pages or larger copies a chunk only (UVM_AMAP_LARGE, 256) */
  amapLarge?: number;
  /** the chunk amap_copy copies of a large entry, in pages (UVM_AMAP_CHUNK, 16) */
  amapChunk?: number;
  /** fault-ahead windows [pages behind, pages ahead] by advice (uvmadvice) */
  faultAhead?: { normal?: readonly [number, number]; sequential?: readonly [number, number] };
}

/** The tunables the kernel's mechanisms read, checked. */
export interface UvmTunables {
  readonly freemin: number;
  readonly freetarg: number;
  readonly amapLarge: number;
  readonly amapChunk: number;
  /** [behind, ahead] for MADV_NORMAL and MADV_SEQUENTIAL (MADV_RANDOM: none) */
  readonly aheadNormal: readonly [number, number];
  readonly aheadSequential: readonly [number, number];
}

/** The kernel: global state every function reaches. */
export class Uvm {
  readonly pageSize: number;
  readonly pageShift: number;
  readonly pages: PhysMem;
  /** the anons: sized for one per frame at first (most anons hold a page) */
  readonly anons: AnonPool;
  /** amap_list: every live amap (a Set keeps insertion order, like the LIST) */
  readonly amaps = new Set<import('./amap.ts').Amap>();
  readonly swap = new Swap();
  readonly objects = new Map<number, UvmObject>();
  readonly exp = new Uvmexp();
  readonly pv: PvTable;
  readonly maps = new Set<VmMap>();
  /** anonymous objects, for swapoff and the audit */
  readonly aobjs = new Set<Aobj>();
  readonly vmspaces = new Set<Vmspace>();
  /** the deterministic clock: advanced by the system, one tick per call */
  ticks = 0;
  readonly poisonFreed: boolean;
  readonly pprefEnabled: boolean;
  pmap: PmapPageOps;
  /** the event stream (UVMHIST): null while nobody listens (hist.ts) */
  hist: UvmHist | null = null;
  /** uvm_wait: try to free frames (the pagedaemon, once there is one); true if it did */
  reclaim: (() => boolean) | null = null;
  /** the pagedaemon's low-water mark: below it, a fault runs the daemon first */
  readonly freemin: number;
  /** the pagedaemon's target: it runs until this many frames are free */
  readonly freetarg: number;
  readonly tun: UvmTunables;
  /** the page replacement policy (uvmpdpol) */
  readonly pdpol: PdPolicy;
  nextAmapId = 1;
  nextObjectId = 1;

  constructor(config: UvmConfig = {}) {
    this.pageSize = config.pageSize ?? DEFAULT_PAGE_SIZE;
    this.pageShift = checkPageSize(this.pageSize);
    const physPages = config.physPages ?? 16384;
    if (
      !Number.isInteger(physPages) ||
      physPages < 16 ||
      physPages * this.pageSize > MAX_MEMORY_BYTES
    )
      throw vmerr(
        'EINVAL',
        'config',
        'physPages',
        `${physPages} is not an integer >= 16 giving at most ${MAX_MEMORY_BYTES / 2 ** 30} GiB`,
      );
    const swapPages = config.swapPages ?? 65536;
    if (!Number.isInteger(swapPages) || swapPages < 0)
      throw vmerr('EINVAL', 'config', 'swapPages', `${swapPages} is not an integer >= 0`);
    this.poisonFreed = config.poisonFreed ?? false;
    this.pprefEnabled = config.ppref ?? true;
    this.pages = new PhysMem(physPages, this.pageSize);
    this.anons = new AnonPool(physPages + 1);
    this.tun = tunables(config, physPages);
    this.freemin = this.tun.freemin;
    this.freetarg = this.tun.freetarg;
    this.pv = new PvTable(this.pages);
    this.pmap = this.pv;
    this.pdpol = this.makePolicy(config);
    if (swapPages > 0)
      this.swap.addDevice(this, swapPages, 0, new MemoryStore(swapPages, this.pageSize));
  }

  /** makePolicy: the configured replacement policy over these frames and this pmap. */
  private makePolicy(config: UvmConfig): PdPolicy {
    const pm = this.pages;
    return makePdPolicy(
      config.policy ?? DEFAULT_PD_POLICY,
      {
        npages: pm.npages,
        pqflags: pm.pqflags,
        next: pm.next,
        prev: pm.prev,
        exp: this.exp,
        isReferenced: (pg) => this.pmap.isReferenced(pg),
        clearReference: (pg) => this.pmap.clearReference(pg),
        pageKey: (pg) => pageKey(pm, pg),
        freetarg: () => this.freetarg,
      },
      config.policyParams,
    );
  }

  /**
   * waitForMemory: what uvm_wait does for a caller short of frames.
   * => runs the reclaimer; true if it freed something (retry), false if not.
   */
  waitForMemory(): boolean {
    return this.reclaim?.() ?? false;
  }

  /**
   * breakLocks: a KernelPanic unwound a call midway: release every lock it
   * left held (map locks, amap and anon mutexes, object locks) and clear
   * entries it left in transition. Only for that: a correct call releases
   * its own locks.
   */
  breakLocks(): void {
    for (const map of this.maps) {
      map.lock.exclusive = 0;
      map.lock.shared = 0;
      for (let e = map.header.next; e !== map.header; e = e.next)
        e.eflags &= ~(MAP_ENTRY_IN_TRANSITION | MAP_ENTRY_NEEDS_WAKEUP);
    }
    for (const amap of this.amaps) amap.lock.owned = false;
    for (const lock of this.anons.locks) if (lock !== null) lock.owned = false;
    for (const obj of this.objects.values()) obj.vmobjlock.owned = false;
  }

  /**
   * objectTerminate: an object lost its last reference; forget it.
   * => its pages must be gone already (the pager's job).
   */
  objectTerminate(obj: UvmObject): void {
    this.objects.delete(obj.id);
  }

  /** objectLock: the lock of object `id` (vmobjlock). */
  objectLock(id: number): VmMutex {
    const obj = this.objects.get(id);
    if (obj === undefined) kpanic(`no object ${id}`);
    return obj.vmobjlock;
  }
}

/**
 * tunables: the kernel's tunables from its configuration, defaults as
 * NetBSD's (uvm_pdaemon.c's freemin/freetarg, uvm_amap.h, uvm_fault.c).
 * => throws VmError EINVAL naming a value out of range.
 */
function tunables(config: UvmConfig, physPages: number): UvmTunables {
  const freemin = config.freemin ?? Math.max(4, Math.floor(physPages / 64));
  checkInt('freemin', freemin, 1, physPages >> 1);
  const freetarg = config.freetarg ?? Math.floor((freemin * 4) / 3) + 1;
  checkInt('freetarg', freetarg, freemin + 1, physPages - 1);
  const amapLarge = config.amapLarge ?? UVM_AMAP_LARGE;
  checkInt('amapLarge', amapLarge, 2, 1 << 20);
  const amapChunk = config.amapChunk ?? UVM_AMAP_CHUNK;
  checkInt('amapChunk', amapChunk, 1, amapLarge);
  const aheadNormal = config.faultAhead?.normal ?? [3, 4];
  const aheadSequential = config.faultAhead?.sequential ?? [8, 7];
  for (const [name, w] of [
    ['faultAhead.normal', aheadNormal],
    ['faultAhead.sequential', aheadSequential],
  ] as const) {
    checkInt(`${name}[0]`, w[0], 0, 255);
    checkInt(`${name}[1]`, w[1], 0, 255);
  }
  return { freemin, freetarg, amapLarge, amapChunk, aheadNormal, aheadSequential };
}

function checkInt(name: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max)
    throw vmerr('EINVAL', 'config', name, `${name} ${v} is not an integer ${min}..${max}`);
}
