/*
 * aobj.ts: anonymous UVM objects (uvm_aobj.c): memory with no file
 * behind it, paged to swap page by page, as UVM uses them for System V
 * shared memory. A file that cannot be opened is stood in for by one too
 * (zeros of the file's size, which can then be written and paged).
 *
 *   Aobj
 *     pages    page index -> frame (resident)
 *     swslots  page index -> swap slot (paged out, or a clean copy)
 *
 *   a page is zero until written; when paged out its contents go to a swap
 *   slot, from which a later fault reads them back.
 *
 * Invariant (auditAobjs): every slot is allocated on a swap device, and
 * no two pages (anons included) share one.
 */
import { type PagerError, UvmObject } from './object.ts';
import { PG_CLEAN, PQ_AOBJ } from './page.ts';
import { type Frame, KernelPanic, NOSLOT, type SwapSlot } from './param.ts';
import { swapAlloc, swapFree, swapGet, swapPut, swapSlotLive } from './swap.ts';
import type { Uvm } from './uvm.ts';

/** An anonymous object. */
export class Aobj extends UvmObject {
  readonly swslots = new Map<number, SwapSlot>();

  constructor(
    uvm: Uvm,
    size: number,
    name: string,
    private readonly standIn = false,
  ) {
    super(uvm, size, name);
    uvm.aobjs.add(this);
  }

  override get kind(): string {
    return this.standIn ? 'stand-in' : 'aobj';
  }

  /** fill: zeros, or the page's swap copy (then clean, since swap holds it). */
  protected override fill(idx: number, pg: Frame): 0 | PagerError {
    this.uvm.pages.pqflags[pg] |= PQ_AOBJ;
    const slot = this.swslots.get(idx);
    if (slot === undefined) return 0;
    if (!swapGet(this.uvm, slot, pg)) return 'EIO';
    this.uvm.pages.flags[pg] |= PG_CLEAN;
    this.uvm.exp.pageins++;
    this.uvm.exp.swpgonly--;
    this.uvm.hist?.emit({ type: 'pagein', frame: pg, anon: 0, object: this.id, slot });
    return 0;
  }

  /**
   * pageout: a dirty page goes to its swap slot (allocated on first
   * pageout); a clean one just goes. 'kept' when swap is full.
   */
  override pageout(idx: number, pg: Frame): 'freed' | 'kept' | 'EIO' {
    const old = this.swslots.get(idx) ?? 0;
    const live = old !== 0 && swapSlotLive(this.uvm, old);
    if (this.isDirty(pg) || (old !== 0 && !live)) {
      const slot = live ? old : swapAlloc(this.uvm);
      if (slot === 0) return 'kept';
      if (!swapPut(this.uvm, slot, pg)) {
        if (!live) swapFree(this.uvm, slot);
        return 'EIO';
      }
      if (old !== 0 && !live) swapFree(this.uvm, old);
      this.swslots.set(idx, slot);
      this.markClean(pg);
      this.uvm.exp.pageouts++;
      this.uvm.hist?.emit({ type: 'pageout', frame: pg, anon: 0, object: this.id, slot });
    }
    if (this.swslots.has(idx)) this.uvm.exp.swpgonly++;
    this.releasePage(idx);
    return 'freed';
  }

  override swapSlot(idx: number): SwapSlot {
    return this.swslots.get(idx) ?? NOSLOT;
  }

  /**
   * dropSwap: forget page idx's swap copy (its resident page is now the
   * only copy, and dirty).
   */
  dropSwap(idx: number): void {
    const slot = this.swslots.get(idx);
    if (slot === undefined) return;
    swapFree(this.uvm, slot);
    this.swslots.delete(idx);
    const pg = this.pages.get(idx);
    if (pg !== undefined) this.uvm.pages.flags[pg] &= ~PG_CLEAN;
  }

  /**
   * swapOff: bring back every page whose slot is in [start, end) and free
   * the slots (uao_swap_off).
   * => false, having done what it could, when memory or the device fails.
   */
  swapOff(start: number, end: number): boolean {
    for (const [idx, slot] of [...this.swslots]) {
      if (slot < start || slot >= end) continue;
      let pg = this.pgoGet(idx);
      if (pg === 'ENOMEM' && this.uvm.waitForMemory()) pg = this.pgoGet(idx);
      if (typeof pg === 'string') return false;
      this.dropSwap(idx);
    }
    return true;
  }

  /** terminate: free the pages and the swap slots. */
  override terminate(): void {
    for (const idx of [...this.swslots.keys()]) {
      if (!this.pages.has(idx)) this.uvm.exp.swpgonly--;
      swapFree(this.uvm, this.swslots.get(idx)!);
    }
    this.swslots.clear();
    super.terminate();
    this.uvm.aobjs.delete(this);
  }
}

/**
 * auditAobjs: every aobj swap slot is in use on its device, and used once.
 */
export function auditAobjs(uvm: Uvm, seen: Set<number>): void {
  for (const obj of uvm.aobjs) {
    for (const slot of obj.swslots.values()) {
      const dev = uvm.swap.deviceOf(slot);
      if (dev?.inuse[slot - dev.base] !== 1)
        throw new KernelPanic(`audit: aobj ${obj.id}: slot ${slot} not in use`);
      if (seen.has(slot)) throw new KernelPanic(`audit: aobj ${obj.id}: slot ${slot} used twice`);
      seen.add(slot);
    }
  }
}
