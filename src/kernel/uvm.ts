/*
 * uvm.ts: the kernel's global state (struct uvm, uvmexp), made explicit.
 *
 *   Uvm
 *    ├─ pages    PhysMem: frames and their queues          (page.ts)
 *    ├─ anons    AnonPool: every anon                      (anon.ts)
 *    ├─ amaps    the global amap list (amap_list)          (amap.ts)
 *    ├─ swap     swap devices and slots                    (swap.ts)
 *    ├─ objects  UVM objects by id (aobj, vnode)           (object layer)
 *    ├─ pv       the reverse map of every pmap: who maps each frame (pmap.ts)
 *    ├─ pmap     the page-level pmap operations the VM calls (the pv table)
 *    ├─ maps, vmspaces   every live map and address space
 *    └─ exp      counters, under uvmexp's names
 *
 * Every kernel function takes the Uvm as its first argument: it is what
 * the C code reaches through globals.
 */

import { AnonPool } from './anon.ts';
import type { Aobj } from './aobj.ts';
import type { VmMutex } from './lock.ts';
import type { VmMap } from './map/index.ts';
import type { UvmObject } from './object.ts';
import { PhysMem } from './page.ts';
import {
  checkPageSize,
  DEFAULT_PAGE_SIZE,
  kpanic,
  MAP_ENTRY_IN_TRANSITION,
  MAP_ENTRY_NEEDS_WAKEUP,
  MAX_MEMORY_BYTES,
  vmerr,
} from './param.ts';
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
  /** uvm_wait: try to free frames (the pagedaemon, once there is one); true if it did */
  reclaim: (() => boolean) | null = null;
  /** the pagedaemon's low-water mark: below it, a fault runs the daemon first */
  readonly freemin: number;
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
    this.freemin = Math.max(4, Math.floor(physPages / 64));
    this.pv = new PvTable(this.pages);
    this.pmap = this.pv;
    if (swapPages > 0)
      this.swap.addDevice(this, swapPages, 0, new MemoryStore(swapPages, this.pageSize));
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
    for (const lock of this.anons.lock) if (lock !== null) lock.owned = false;
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
