/*
 * object.ts: UVM objects (uvm_object.h) and their pager operations: the
 * object layer a map entry can map, under the anon layer.
 *
 *   UvmObject { id, refs, vmobjlock, size (bytes), pages: page index -> frame }
 *     pgoGet(idx)   the frame holding page idx: resident, or brought in by
 *                   the pager (the base object fills it with zeros)
 *     pgoPut(...)   write dirty pages back (pagers with a backing store)
 *     terminate()   the last reference went: free every page
 *
 * Pagers (the anonymous object, files) extend this class. The base object
 * is also the stand-in for a file that cannot be opened: pages of zeros,
 * of the file's size.
 *
 * Invariants (auditObjects): every page in `pages` is a frame owned by the
 * object at that index, and every frame owned by an object is in its
 * `pages`; refs > 0 for every object the kernel knows.
 */
import { mutexObjAlloc } from './lock.ts';
import {
  NOPAGE,
  PG_BUSY,
  PG_CLEAN,
  PG_FAKE,
  pageActivate,
  pageAlloc,
  pageFree,
  UVM_PGA_ZERO,
} from './page.ts';
import {
  type Frame,
  KernelPanic,
  kpanic,
  NOANON,
  NOSLOT,
  PROT_NONE,
  type SwapSlot,
} from './param.ts';
import type { Uvm } from './uvm.ts';

/** What getting an object's page can report instead of a frame. */
export type PagerError = 'ENOMEM' | 'EIO' | 'SIGBUS';

/** A UVM object: something with pages that a map entry can map. */
export class UvmObject {
  readonly id: number;
  refs = 1;
  readonly vmobjlock = mutexObjAlloc();
  /** resident pages: page index within the object -> frame */
  readonly pages = new Map<number, Frame>();
  /** the file was unlinked while mapped: maps shows "NAME (deleted)" */
  deleted = false;

  constructor(
    readonly uvm: Uvm,
    public size: number,
    readonly name: string,
  ) {
    this.id = uvm.nextObjectId++;
    uvm.objects.set(this.id, this);
  }

  /** inode: the file's inode number as maps shows it (the object id for stand-ins) */
  get inode(): number {
    return this.id;
  }

  /** kind: what sort of object, for dumps. */
  get kind(): string {
    return 'zero';
  }

  /** pageCount: pages the object spans. */
  get pageCount(): number {
    return Math.ceil(this.size / this.uvm.pageSize);
  }

  /**
   * pgoGet: the frame of page `idx`, bringing it in if needed (pgo_get).
   * => SIGBUS for a page wholly beyond the end of the object; ENOMEM when
   *    no frame is free; EIO when the backing store fails.
   */
  pgoGet(idx: number): Frame | PagerError {
    const pg = this.pages.get(idx);
    if (pg !== undefined) return pg;
    if (idx >= this.pageCount) return 'SIGBUS';
    const npg = pageAlloc(this.uvm, this.id, idx, NOANON, UVM_PGA_ZERO);
    if (npg === NOPAGE) return 'ENOMEM';
    const r = this.fill(idx, npg);
    if (r !== 0) {
      pageFree(this.uvm, npg);
      return r;
    }
    this.pages.set(idx, npg);
    this.uvm.pages.flags[npg] &= ~(PG_BUSY | PG_FAKE);
    pageActivate(this.uvm, npg);
    return npg;
  }

  /**
   * fill: put the contents of page idx into the fresh, zeroed frame pg.
   * => the base object's pages are zeros; its page is clean (nothing to save).
   */
  protected fill(_idx: number, pg: Frame): 0 | PagerError {
    this.uvm.pages.flags[pg] |= PG_CLEAN;
    return 0;
  }

  /**
   * pgoPut: write back the dirty pages in [from, to) (pgo_put); the base
   * object keeps nothing, so there is nothing to write.
   * => returns 0 or EIO.
   */
  pgoPut(_from: number, _to: number): 0 | 'EIO' {
    return 0;
  }

  /**
   * invalidate: drop clean cached pages of [from, to) so they are read
   * again (MS_INVALIDATE); only objects with a backing file cache anything.
   */
  invalidate(_from: number, _to: number): void {}

  /**
   * pageout: the pagedaemon wants page idx's frame: save the page where
   * the object keeps it if it is dirty, then free it.
   * => 'freed'; 'kept' when a dirty page has nowhere to go (the base object
   *    has no backing store; swap full); 'EIO' when writing it failed (it
   *    stays, dirty and resident).
   */
  pageout(idx: number, pg: Frame): 'freed' | 'kept' | 'EIO' {
    if (this.isDirty(pg)) return 'kept';
    this.releasePage(idx);
    return 'freed';
  }

  /** isDirty: the frame differs from what backs it (not PG_CLEAN, or written through the pmap). */
  isDirty(pg: Frame): boolean {
    return (this.uvm.pages.flags[pg] & PG_CLEAN) === 0 || this.uvm.pmap.isModified(pg);
  }

  /** markClean: the frame now equals what backs it. */
  markClean(pg: Frame): void {
    this.uvm.pages.flags[pg] |= PG_CLEAN;
    this.uvm.pmap.clearModify(pg);
  }

  /**
   * releasePage: the pagedaemon takes page idx (clean, or written back).
   */
  releasePage(idx: number): void {
    const pg = this.pages.get(idx);
    if (pg === undefined) kpanic(`object ${this.id}: no page ${idx} to release`);
    this.uvm.pmap.pageProtect(pg, PROT_NONE);
    this.pages.delete(idx);
    pageFree(this.uvm, pg);
  }

  /** swapSlot: the swap slot holding a copy of page idx (0: none; only anonymous objects swap). */
  swapSlot(_idx: number): SwapSlot {
    return NOSLOT;
  }

  /**
   * terminate: the last reference is gone; free every page.
   */
  terminate(): void {
    for (const idx of [...this.pages.keys()]) this.releasePage(idx);
  }
}

/**
 * objectReference: add a reference (pgo_reference).
 */
export function objectReference(obj: UvmObject): void {
  if (obj.refs <= 0) kpanic(`pgo_reference: object ${obj.id} is dead`);
  obj.refs++;
}

/**
 * objectDetach: drop a reference (pgo_detach); the last one frees the
 * object's pages and takes it off the kernel's list.
 */
export function objectDetach(uvm: Uvm, obj: UvmObject): void {
  if (obj.refs <= 0) kpanic(`pgo_detach: object ${obj.id} is dead`);
  if (--obj.refs > 0) return;
  obj.terminate();
  uvm.objectTerminate(obj);
}

/**
 * auditObjects: check the invariants listed at the top of this file.
 */
export function auditObjects(uvm: Uvm): void {
  const pm = uvm.pages;
  let owned = 0;
  for (const obj of uvm.objects.values()) {
    if (obj.refs <= 0) fail(`object ${obj.id} is known with ${obj.refs} references`);
    for (const [idx, pg] of obj.pages) {
      if (pm.uobject(pg) !== obj.id || pm.offset[pg] !== idx)
        fail(`object ${obj.id}: page ${idx} (frame ${pg}) not owned by it`);
      owned++;
    }
  }
  let frames = 0;
  for (let pg = 0; pg < pm.npages; pg++) if (pm.owner[pg] < 0) frames++;
  if (frames !== owned)
    fail(`${frames} frames are owned by objects, ${owned} are in their page lists`);
}

function fail(what: string): never {
  throw new KernelPanic(`audit: object: ${what}`);
}
