/*
 * swap.ts: swap devices and slots (uvm_swap.c).
 *
 *   slot numbers are global ("drum" slots): device d owns the range
 *   [d.base, d.base + d.npages). Slot 0 means "no slot" (an_swslot == 0).
 *
 *   Swap
 *    └─ devices[] (highest priority first)
 *         SwapDevice { base, npages, inuse[] (one byte per slot), nfree,
 *                      rotor (next-fit hint), store: BackingStore }
 *
 * The store is an interface (read page / write page) with an in-memory
 * implementation here; the Node file implementation lives in node/.
 * Either can be told to fail its next reads or writes (EIO), so callers'
 * error paths can be tested.
 *
 * Invariants (auditSwap):
 *   - each device's nfree equals its count of free slots
 *   - uvmexp.swpginuse equals the slots in use over all devices
 *   - uvmexp.swpages equals the slots of all enabled devices
 */
import { FaultInjector, type HostFile } from './host.ts';
import { PG_CLEAN, PQ_SWAPBACKED } from './page.ts';
import {
  type Frame,
  KernelPanic,
  kassert,
  kpanic,
  MAX_MEMORY_BYTES,
  NOSLOT,
  type SwapSlot,
  vmerr,
} from './param.ts';
import type { Uvm } from './uvm.ts';

/** A page-granular block store: where a swap device keeps its pages. */
export interface BackingStore {
  /** read page `index` into dst[dstOff, dstOff+pageSize). Returns false on an I/O error. */
  read(index: number, dst: Uint8Array, dstOff: number): boolean;
  /** write src[srcOff, srcOff+pageSize) to page `index`. Returns false on an I/O error. */
  write(index: number, src: Uint8Array, srcOff: number): boolean;
  /** release the store's resources. */
  close(): void;
  /** a name for dumps: "memory" or the file's path. */
  readonly name: string;
}

/** An in-memory store of `pages` pages. */
export class MemoryStore implements BackingStore {
  readonly name = 'memory';
  readonly faults = new FaultInjector();
  private readonly buf: Uint8Array;

  constructor(
    pages: number,
    private readonly pageSize: number,
  ) {
    if (pages * pageSize > MAX_MEMORY_BYTES)
      throw vmerr(
        'EINVAL',
        'swapon',
        'pages',
        `${pages} pages in memory exceed ${MAX_MEMORY_BYTES / 2 ** 30} GiB (use a swap file)`,
      );
    this.buf = new Uint8Array(pages * pageSize);
  }

  read(index: number, dst: Uint8Array, dstOff: number): boolean {
    if (this.faults.takeRead()) return false;
    const o = index * this.pageSize;
    dst.set(this.buf.subarray(o, o + this.pageSize), dstOff);
    return true;
  }

  write(index: number, src: Uint8Array, srcOff: number): boolean {
    if (this.faults.takeWrite()) return false;
    this.buf.set(src.subarray(srcOff, srcOff + this.pageSize), index * this.pageSize);
    return true;
  }

  close(): void {}
}

/** A store on a file (a real one in Node, or a MemoryHost's). */
export class FileStore implements BackingStore {
  constructor(
    readonly file: HostFile,
    private readonly pageSize: number,
    /** the system made the file, and removes it when the device goes */
    readonly owned: boolean,
    private readonly onClose: () => void = () => {},
  ) {}

  get name(): string {
    return this.file.path;
  }

  get faults(): FaultInjector {
    return this.file.faults;
  }

  read(index: number, dst: Uint8Array, dstOff: number): boolean {
    return this.file.read(index * this.pageSize, dst.subarray(dstOff, dstOff + this.pageSize)) >= 0;
  }

  write(index: number, src: Uint8Array, srcOff: number): boolean {
    return this.file.write(index * this.pageSize, src.subarray(srcOff, srcOff + this.pageSize));
  }

  close(): void {
    this.file.close();
    this.onClose();
  }
}

/* swap device flags (swapdev.swd_flags) */
export const SWF_ENABLE = 0x01;

/** One swap device: a range of global slots backed by a store. */
export class SwapDevice {
  readonly inuse: Uint8Array;
  nfree: number;
  rotor = 0;
  flags = SWF_ENABLE;

  constructor(
    /** its number: 0 for a system's first device, then one more per swapon, never reused */
    readonly id: number,
    readonly base: number,
    readonly npages: number,
    readonly priority: number,
    readonly store: BackingStore & { faults?: FaultInjector },
  ) {
    this.inuse = new Uint8Array(npages);
    this.nfree = npages;
  }

  get inuseCount(): number {
    return this.npages - this.nfree;
  }

  /** owns: true when global slot `slot` belongs to this device. */
  owns(slot: SwapSlot): boolean {
    return slot >= this.base && slot < this.base + this.npages;
  }
}

/** The system's swap space: its devices. */
export class Swap {
  devices: SwapDevice[] = [];
  private nextBase = 1;
  private nextId = 0;

  /**
   * addDevice: add a device of `npages` slots over `store` (swapon).
   * => the device gets the next id, its slots fresh global numbers;
   *    higher priority devices are used first.
   */
  addDevice(uvm: Uvm, npages: number, priority: number, store: BackingStore): SwapDevice {
    if (!Number.isInteger(npages) || npages <= 0)
      throw vmerr('EINVAL', 'swapon', 'pages', `${npages} is not a positive page count`);
    const dev = new SwapDevice(this.nextId++, this.nextBase, npages, priority, store);
    this.nextBase += npages;
    this.devices.push(dev);
    this.devices.sort((a, b) => b.priority - a.priority || a.base - b.base);
    uvm.exp.swpages += npages;
    uvm.exp.nswapdev++;
    return dev;
  }

  /**
   * removeDevice: drop a device whose slots are all free (end of swapoff).
   */
  removeDevice(uvm: Uvm, dev: SwapDevice): void {
    kassert(dev.nfree === dev.npages, 'swap: removing a device with slots in use');
    this.devices = this.devices.filter((d) => d !== dev);
    if (dev.flags & SWF_ENABLE) uvm.exp.swpages -= dev.npages;
    uvm.exp.nswapdev--;
    dev.store.close();
  }

  /** device: the device in use with id `id`, or undefined. */
  device(id: number): SwapDevice | undefined {
    return this.devices.find((d) => d.id === id);
  }

  /** deviceOf: the device that owns `slot`, or undefined. */
  deviceOf(slot: SwapSlot): SwapDevice | undefined {
    for (const d of this.devices) if (d.owns(slot)) return d;
    return undefined;
  }
}

/**
 * swapAlloc: allocate one slot (uvm_swap_alloc with *nslots == 1).
 * => next fit on the highest-priority enabled device with room.
 * => returns 0 when swap is full (a normal outcome).
 */
export function swapAlloc(uvm: Uvm): SwapSlot {
  for (const dev of uvm.swap.devices) {
    if (!(dev.flags & SWF_ENABLE) || dev.nfree === 0) continue;
    for (let i = 0; i < dev.npages; i++) {
      const s = (dev.rotor + i) % dev.npages;
      if (dev.inuse[s]) continue;
      dev.inuse[s] = 1;
      dev.nfree--;
      dev.rotor = s + 1;
      uvm.exp.swpginuse++;
      return (dev.base + s) as SwapSlot;
    }
  }
  return NOSLOT;
}

/**
 * swapFree: free `nslots` slots starting at `slot` (uvm_swap_free).
 */
export function swapFree(uvm: Uvm, slot: SwapSlot, nslots = 1): void {
  for (let i = 0; i < nslots; i++) {
    const s = (slot + i) as SwapSlot;
    const dev = uvm.swap.deviceOf(s);
    if (dev === undefined) kpanic(`uvm_swap_free: slot ${s} has no device`);
    if (dev.inuse[s - dev.base] !== 1) kpanic(`uvm_swap_free: slot ${s} is not in use`);
    dev.inuse[s - dev.base] = 0;
    dev.nfree++;
    uvm.exp.swpginuse--;
  }
}

/**
 * swapSlotLive: `slot` is on an enabled device (not one being swapped off),
 * so a copy there can stand in for a page.
 */
export function swapSlotLive(uvm: Uvm, slot: SwapSlot): boolean {
  const dev = uvm.swap.deviceOf(slot);
  return dev !== undefined && (dev.flags & SWF_ENABLE) !== 0;
}

/**
 * swapPut: write frame `pg` to `slot` (uvm_swap_put).
 * => returns true on success, false on an I/O error (nothing changed).
 */
export function swapPut(uvm: Uvm, slot: SwapSlot, pg: Frame): boolean {
  const dev = uvm.swap.deviceOf(slot);
  kassert(
    dev !== undefined && dev.inuse[slot - dev.base] === 1,
    `uvm_swap_put: slot ${slot} not allocated`,
  );
  const ok = dev.store.write(slot - dev.base, uvm.pages.bytes, pg * uvm.pages.pageSize);
  if (ok) uvm.exp.swapouts++;
  else uvm.exp.swapioerrs++;
  return ok;
}

/**
 * swapGet: read `slot` into frame `pg` (uvm_swap_get).
 * => returns true on success, false on an I/O error.
 */
export function swapGet(uvm: Uvm, slot: SwapSlot, pg: Frame): boolean {
  const dev = uvm.swap.deviceOf(slot);
  kassert(
    dev !== undefined && dev.inuse[slot - dev.base] === 1,
    `uvm_swap_get: slot ${slot} not allocated`,
  );
  const ok = dev.store.read(slot - dev.base, uvm.pages.bytes, pg * uvm.pages.pageSize);
  if (ok) uvm.exp.swapins++;
  else uvm.exp.swapioerrs++;
  return ok;
}

/**
 * auditSwap: check the swap invariants listed at the top of this file.
 */
export function auditSwap(uvm: Uvm): void {
  let inuse = 0;
  let pages = 0;
  for (const dev of uvm.swap.devices) {
    let used = 0;
    for (let i = 0; i < dev.npages; i++) used += dev.inuse[i];
    if (used !== dev.inuseCount)
      fail(`device ${dev.id}: nfree ${dev.nfree} but ${dev.npages - used} free slots`);
    inuse += used;
    if (dev.flags & SWF_ENABLE) pages += dev.npages;
  }
  if (inuse !== uvm.exp.swpginuse)
    fail(`uvmexp.swpginuse ${uvm.exp.swpginuse} != ${inuse} slots in use`);
  if (pages !== uvm.exp.swpages) fail(`uvmexp.swpages ${uvm.exp.swpages} != ${pages}`);
}

function fail(what: string): never {
  throw new KernelPanic(`audit: swap: ${what}`);
}

/**
 * swapOffFits: could memory hold the pages of `dev`? The pages to read in
 * are its slots whose page is not resident (a slot copying a resident page
 * is just dropped). Room for them: free frames above the daemon's reserve,
 * plus queued pages that could make room: clean ones whose copy stays (a
 * file, or a slot on another device), and the others as far as the other
 * devices have free slots.
 */
function swapOffFits(uvm: Uvm, dev: SwapDevice): boolean {
  const pm = uvm.pages;
  let resident = 0;
  let clean = 0;
  let dirty = 0;
  for (let frame = 0; frame < pm.npages; frame++) {
    const pg = frame as Frame;
    const copy = backingSlot(uvm, pg);
    if (copy !== 0 && dev.owns(copy)) resident++;
    if (!uvm.pdpol.isQueued(pg)) continue;
    const kept = copy === 0 ? (pm.pqflags[pg] & PQ_SWAPBACKED) === 0 : !dev.owns(copy);
    if (pm.flags[pg] & PG_CLEAN && !uvm.pmap.isModified(pg) && kept) clean++;
    else dirty++;
  }
  let otherFree = 0;
  for (const d of uvm.swap.devices) if (d !== dev && d.flags & SWF_ENABLE) otherFree += d.nfree;
  const room = pm.freeCount - uvm.freemin + clean + Math.min(dirty, otherFree);
  return dev.inuseCount - resident <= room;
}

/** backingSlot: the swap slot holding a copy of swap-backed page pg, or 0. */
function backingSlot(uvm: Uvm, pg: Frame): SwapSlot {
  const pm = uvm.pages;
  if (pm.uanon(pg) !== 0) return uvm.anons.swslot[pm.uanon(pg)];
  return uvm.objects.get(pm.uobject(pg))?.swapSlot(pm.offset[pg]) ?? NOSLOT;
}

/**
 * swapOffBegin: the first half of swapoff(2): ENOMEM, changing nothing,
 * when memory cannot hold the pages of `dev`; otherwise the device is
 * disabled (no new slots on it) while the layers above bring its pages
 * back (amap_swap_off, uao_swap_off: the system drives them).
 */
export function swapOffBegin(uvm: Uvm, dev: SwapDevice): 0 | 'ENOMEM' {
  if (!swapOffFits(uvm, dev)) return 'ENOMEM';
  dev.flags &= ~SWF_ENABLE;
  uvm.exp.swpages -= dev.npages;
  return 0;
}

/**
 * swapOffEnd: the second half: an emptied device is removed; one still
 * holding pages (memory ran out, or a read failed) is enabled again and
 * keeps what it holds (the pagedaemon never put more on it meanwhile).
 * => 0; ENOMEM; or EIO when a swap I/O error happened since `errs`
 *    (uvmexp.swapioerrs at the start).
 */
export function swapOffEnd(uvm: Uvm, dev: SwapDevice, errs: number): 0 | 'ENOMEM' | 'EIO' {
  if (dev.inuseCount === 0) {
    uvm.swap.removeDevice(uvm, dev);
    return 0;
  }
  dev.flags |= SWF_ENABLE;
  uvm.exp.swpages += dev.npages;
  return uvm.exp.swapioerrs > errs ? 'EIO' : 'ENOMEM';
}
