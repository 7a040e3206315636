/*
 * pmap.ts: physical maps (the machine-dependent pmap layer), here a model
 * of a two-level page table plus the reverse map every pmap keeps.
 *
 *   Pmap (one per address space)
 *     tables: Map<vpn / 512, Ptp>      page-table pages, created on demand
 *     Ptp.pte[vpn % 512]               0: no translation, else
 *                                      (frame + 1) * 16 | R | W | X | WIRED
 *   PvTable (one per kernel): for each frame, the (pmap, va) pairs that map
 *   it: the first embedded per frame, further ones in a list (a pv list)
 *   in struct-of-arrays pools; this is how pmap_page_protect(pg) reaches
 *   every mapping of a page.
 *
 *   referenced/modified bits are per frame (PhysMem.attrs), set by accesses
 *   through read/write as an MMU sets them, and cleared by the pagedaemon.
 *
 * Virtual page numbers exceed 2^32 (0x7f... addresses), so they are split by
 * division, never by 32-bit shifts.
 *
 * Invariants (auditPmaps):
 *   - every valid PTE has exactly one pv entry (same pmap, same va) on its
 *     frame's list, and every pv entry a valid PTE
 *   - a frame's list holds two or more (one is embedded); every list entry
 *     in use is on a list
 *   - residentCount / wiredCount equal the valid / wired PTEs of the pmap
 *   - a table's live count equals its valid PTEs; empty tables are freed
 */
import type { UvmHist } from './hist.ts';
import { type PhysMem, PMAP_MODIFIED, PMAP_REFERENCED } from './page.ts';
import { type Frame, hex, KernelPanic, kpanic, PROT_ALL, PROT_NONE, vmerr } from './param.ts';
import type { Tlb } from './tlb.ts';
import type { PmapPageOps } from './uvm.ts';

export const PTE_R = 1;
export const PTE_W = 2;
export const PTE_X = 4;
export const PTE_WIRED = 8;
const PTE_PROT = PTE_R | PTE_W | PTE_X;
const PTE_FRAME_UNIT = 16; /* a PTE is (frame + 1) * 16 | bits */
export const NPTE = 512;

/**
 * pteIndex: vpn's slot in its page table (vpn % NPTE, without `%`: page
 * numbers above 2^31 are doubles, and `%` of doubles is a slow fmod call).
 */
function pteIndex(vpn: number): number {
  return vpn - Math.floor(vpn / NPTE) * NPTE;
}

/* pmap_enter flags */
export const PMAP_WIRED = 0x10;

/** A page-table page: 512 PTEs and how many are valid. */
export class Ptp {
  readonly pte = new Int32Array(NPTE);
  live = 0;
}

/**
 * A pv key: one (pmap, virtual page) pair in one double, pmap id times
 * the span of page numbers below VA_LIMIT plus the page number, so keys
 * stay below 2^53 (exact). That bounds the pmaps alive at once (ids are
 * reused): 2^53 / (VA_LIMIT / pageSize), 2^18 with 4 KiB pages, 2^15 with
 * 512-byte ones. 0 is no mapping (pmap ids start at 1).
 */
/** every address a pmap maps lies below this (x86-64's user half) */
export const VA_LIMIT = 2 ** 47;

/**
 * The reverse map: for each frame, who maps it. As the x86 pmap embeds a
 * page's first pv entry in its vm_page, a frame mapped once holds that
 * mapping's key in `pvh[pg]` itself; only a frame mapped more than once
 * (a shared page) takes list entries, and then `pvh[pg]` names the list.
 */
export class PvTable implements PmapPageOps {
  /**
   * per frame, one word: 0 when unmapped; the pv key of its one mapping
   * (> 0); or -(pv + 1), pv the first entry of a list of two or more
   */
  readonly pvh: Float64Array;
  keyOf: Float64Array;
  nextOf: Int32Array;
  private free = -1;
  private used = 0;
  /** live pmaps by id (null: a free id) */
  readonly pmaps: (Pmap | null)[] = [null];
  /** how many live pmaps have a TLB (none: no shootdowns to look for) */
  tlbs = 0;
  /** the kernel's event stream, for the pmaps (uvm.hist; hist.ts keeps them equal) */
  hist: UvmHist | null = null;
  private readonly freeIds: number[] = [];
  /** page numbers per pmap in a key */
  readonly span: number;
  /** the most pmaps alive at once */
  readonly maxPmaps: number;

  constructor(readonly pages: PhysMem) {
    this.span = VA_LIMIT / pages.pageSize;
    this.maxPmaps = Math.floor(2 ** 53 / this.span) - 1;
    this.pvh = new Float64Array(pages.npages);
    this.keyOf = new Float64Array(1024);
    this.nextOf = new Int32Array(1024);
  }

  /**
   * attach: a new pmap's id (reused once its pmap is destroyed).
   * => EAGAIN when maxPmaps are alive (as fork fails at a process limit).
   */
  attach(pmap: Pmap): number {
    const id = this.freeIds.pop() ?? this.pmaps.length;
    if (id > this.maxPmaps) {
      throw vmerr('EAGAIN', 'pmap_create', undefined, `${this.maxPmaps} address spaces exist`);
    }
    this.pmaps[id] = pmap;
    return id;
  }

  /** detach: a destroyed pmap's id becomes free. */
  detach(id: number): void {
    this.pmaps[id] = null;
    this.freeIds.push(id);
  }

  /** key: the pv key of (pmap, vpn). */
  private key(pmapId: number, vpn: number): number {
    return pmapId * this.span + vpn;
  }

  /** keyPmap, keyVpn: a pv key's pmap id and page number. */
  keyPmap(key: number): number {
    return Math.floor(key / this.span);
  }
  keyVpn(key: number): number {
    return key - Math.floor(key / this.span) * this.span;
  }

  /** add: record that pmap maps pg at virtual page vpn. */
  add(pg: Frame, pmapId: number, vpn: number): void {
    const key = this.key(pmapId, vpn);
    const h = this.pvh[pg];
    if (h === 0) {
      this.pvh[pg] = key;
      return;
    }
    const rest = h > 0 ? this.entry(h, -1) : -h - 1;
    this.pvh[pg] = -this.entry(key, rest) - 1;
  }

  /** remove: forget that pmap maps pg at vpn. */
  remove(pg: Frame, pmapId: number, vpn: number): void {
    const key = this.key(pmapId, vpn);
    const h = this.pvh[pg];
    if (h === key) {
      this.pvh[pg] = 0;
      return;
    }
    let prev = -1;
    for (let pv = h < 0 ? -h - 1 : -1; pv >= 0; pv = this.nextOf[pv]) {
      if (this.keyOf[pv] === key) {
        if (prev < 0) this.pvh[pg] = -this.nextOf[pv] - 1;
        else this.nextOf[prev] = this.nextOf[pv];
        this.release(pv);
        this.unlistLast(pg);
        return;
      }
      prev = pv;
    }
    throw new KernelPanic(`pmap: no pv entry for page ${pg} at vpn ${vpn}`);
  }

  /** unlistLast: a list left with one entry folds back into the frame's word. */
  private unlistLast(pg: Frame): void {
    const pv = -this.pvh[pg] - 1;
    if (this.nextOf[pv] >= 0) return;
    this.pvh[pg] = this.keyOf[pv];
    this.release(pv);
  }

  /** entry: a new list entry holding key, followed by `next`. */
  private entry(key: number, next: number): number {
    let pv = this.free;
    if (pv >= 0) this.free = this.nextOf[pv];
    else {
      if (this.used === this.keyOf.length) this.grow();
      pv = this.used++;
    }
    this.keyOf[pv] = key;
    this.nextOf[pv] = next;
    return pv;
  }

  /** listed: how many list entries are in use (shared frames' mappings). */
  get listed(): number {
    let free = 0;
    for (let pv = this.free; pv >= 0; pv = this.nextOf[pv]) free++;
    return this.used - free;
  }

  /** keys: every mapping of pg, as pv keys (for the audit and reports). */
  keys(pg: Frame): number[] {
    const h = this.pvh[pg];
    if (h >= 0) return h === 0 ? [] : [h];
    const out: number[] = [];
    for (let pv = -h - 1; pv >= 0; pv = this.nextOf[pv]) out.push(this.keyOf[pv]);
    return out;
  }

  /** firstKey: one mapping of pg (a pv key), or 0. */
  private firstKey(pg: Frame): number {
    const h = this.pvh[pg];
    return h >= 0 ? h : this.keyOf[-h - 1];
  }

  /** next: the first mapping of pg once `done` has left it (a loop that empties pg). */
  private next(pg: Frame, done: number): number {
    const key = this.firstKey(pg);
    if (key === done) kpanic(`pmap: the mapping of page ${pg} at vpn ${this.keyVpn(key)} stayed`);
    return key;
  }

  private release(pv: number): void {
    this.nextOf[pv] = this.free;
    this.free = pv;
  }

  private grow(): void {
    const cap = this.keyOf.length * 2;
    const k = new Float64Array(cap);
    k.set(this.keyOf);
    const n = new Int32Array(cap);
    n.set(this.nextOf);
    this.keyOf = k;
    this.nextOf = n;
  }

  /** pmapOfKey: the pmap of a pv key. */
  private pmapOfKey(key: number): Pmap {
    return this.pmaps[this.keyPmap(key)]!;
  }

  /* PmapPageOps */

  pageProtect(pg: Frame, prot: number): void {
    if (prot === PROT_NONE) {
      /* each removal takes the frame's first mapping away */
      for (let key = this.firstKey(pg); key !== 0; key = this.next(pg, key)) {
        const pmap = this.pmapOfKey(key);
        pmap.removeOne(this.keyVpn(key) * pmap.pageSize);
      }
      return;
    }
    for (const key of this.keys(pg)) {
      const pmap = this.pmapOfKey(key);
      pmap.lowerOne(this.keyVpn(key) * pmap.pageSize, prot);
    }
  }

  pageLeaveSlot(pg: Frame, newpg: Frame, amap: object, slot: number): number {
    let moved = 0;
    for (const key of this.keys(pg)) {
      const pmap = this.pmapOfKey(key);
      const va = this.keyVpn(key) * pmap.pageSize;
      const pte = pmap.lookup(va);
      if ((pte & PTE_WIRED) === 0) pmap.removeOne(va);
      else if (pmap.owner?.mapsSlot(va, amap, slot)) {
        if (newpg < 0) kpanic(`pmap: page ${pg} leaves slot ${slot} under a wired mapping`);
        pmap.enter(va, newpg, pte & PTE_PROT, PMAP_WIRED);
        moved++;
      }
    }
    return moved;
  }

  wiredThrough(pg: Frame, amap: object, slot: number): boolean {
    for (const key of this.keys(pg)) {
      const pmap = this.pmapOfKey(key);
      const va = this.keyVpn(key) * pmap.pageSize;
      if (pmap.lookup(va) & PTE_WIRED && pmap.owner?.mapsSlot(va, amap, slot)) return true;
    }
    return false;
  }

  pageMappings(pg: Frame): number {
    const h = this.pvh[pg];
    if (h >= 0) return h === 0 ? 0 : 1;
    let n = 0;
    for (let pv = -h - 1; pv >= 0; pv = this.nextOf[pv]) n++;
    return n;
  }

  clearReference(pg: Frame): boolean {
    const was = (this.pages.attrs[pg] & PMAP_REFERENCED) !== 0;
    this.pages.attrs[pg] &= ~PMAP_REFERENCED;
    if (was) this.shootdownPage(pg);
    return was;
  }

  isReferenced(pg: Frame): boolean {
    return (this.pages.attrs[pg] & PMAP_REFERENCED) !== 0;
  }

  clearModify(pg: Frame): boolean {
    const was = (this.pages.attrs[pg] & PMAP_MODIFIED) !== 0;
    this.pages.attrs[pg] &= ~PMAP_MODIFIED;
    if (was) this.shootdownPage(pg);
    return was;
  }

  /**
   * shootdownPage: a bit of pg was cleared: the TLB entries of its mappings
   * promised it set, so they go (the next access sets it again).
   */
  private shootdownPage(pg: Frame): void {
    if (this.tlbs === 0) return;
    for (const key of this.keys(pg)) this.pmapOfKey(key).tlb?.shootdown(this.keyVpn(key));
  }

  isModified(pg: Frame): boolean {
    return (this.pages.attrs[pg] & PMAP_MODIFIED) !== 0;
  }

  /** spacesMapping: the number of distinct pmaps mapping pg. */
  spacesMapping(pg: Frame): number {
    return new Set(this.keys(pg).map((k) => this.keyPmap(k))).size;
  }
}

/**
 * What a pmap's owner (its map) tells the reverse map: whether the
 * translation at va goes through slot `slot` of `amap`.
 */
export interface PmapOwner {
  mapsSlot(va: number, amap: object, slot: number): boolean;
}

/** A physical map: the translations of one address space. */
export class Pmap {
  readonly id: number;
  /** the map whose translations these are (set when the map is made) */
  owner: PmapOwner | null = null;
  readonly tables = new Map<number, Ptp>();
  residentCount = 0;
  wiredCount = 0;
  /** the software TLB of the fast access path, made by its first use (mmu.ts) */
  tlb: Tlb | null = null;
  private lastKey = -1;
  private lastPtp: Ptp | null = null;

  constructor(
    readonly pv: PvTable,
    readonly pageSize: number,
  ) {
    this.id = pv.attach(this);
  }

  /** ptp: the table holding vpn (created when `create`), or null. */
  private ptp(vpn: number, create: boolean): Ptp | null {
    const key = Math.floor(vpn / NPTE);
    if (key === this.lastKey) return this.lastPtp;
    let t = this.tables.get(key) ?? null;
    if (t === null && create) {
      t = new Ptp();
      this.tables.set(key, t);
    }
    if (t !== null) {
      this.lastKey = key;
      this.lastPtp = t;
    }
    return t;
  }

  /**
   * lookup: the PTE for va (0 when there is no translation). Hot path of
   * every read and write: no allocation.
   */
  lookup(va: number): number {
    const vpn = Math.floor(va / this.pageSize);
    const t = this.ptp(vpn, false);
    return t === null ? 0 : t.pte[pteIndex(vpn)];
  }

  /**
   * enter: map va to frame pg with protection prot (pmap_enter).
   * => replaces any translation va had. PMAP_WIRED in flags wires it.
   */
  enter(va: number, pg: Frame, prot: number, flags: number): void {
    const vpn = Math.floor(va / this.pageSize);
    const t = this.ptp(vpn, true)!;
    const i = pteIndex(vpn);
    const old = t.pte[i];
    if (old !== 0) {
      this.tlb?.shootdown(vpn);
      const oldpg = pteFrame(old);
      if (oldpg !== pg) this.dropPte(t, i, vpn);
      else if (old & PTE_WIRED) this.wiredCount--;
    }
    if (t.pte[i] === 0) {
      this.pv.add(pg, this.id, vpn);
      t.live++;
      this.residentCount++;
    }
    const wired = flags & PMAP_WIRED ? PTE_WIRED : 0;
    if (wired) this.wiredCount++;
    t.pte[i] = ((pg + 1) * PTE_FRAME_UNIT) | (prot & PTE_PROT) | wired;
    this.pv.hist?.emit({ type: 'pmap-enter', pmap: this.id, va, frame: pg, prot });
  }

  /** dropPte: clear one valid PTE and its pv entry. */
  private dropPte(t: Ptp, i: number, vpn: number): void {
    const pte = t.pte[i];
    this.tlb?.shootdown(vpn);
    this.pv.remove(pteFrame(pte), this.id, vpn);
    if (pte & PTE_WIRED) this.wiredCount--;
    t.pte[i] = 0;
    t.live--;
    this.residentCount--;
  }

  /**
   * remove: drop the translations of [start, end) (pmap_remove).
   */
  remove(start: number, end: number): void {
    this.forRange(start, end, (t, i, vpn) => this.dropPte(t, i, vpn));
    this.pv.hist?.emit({ type: 'pmap-remove', pmap: this.id, start, end });
  }

  /**
   * protect: lower the protection of [start, end) to prot (pmap_protect).
   * => PROT_NONE removes the translations, but a wired one stays, with no
   *    access right: locked memory stays resident (and unwirable) while
   *    inaccessible.
   */
  protect(start: number, end: number, prot: number): void {
    const keep = ~(PTE_PROT & ~prot);
    this.forRange(start, end, (t, i, vpn) => {
      if (prot === PROT_NONE && (t.pte[i] & PTE_WIRED) === 0) this.dropPte(t, i, vpn);
      else {
        this.tlb?.shootdown(vpn);
        t.pte[i] &= keep;
      }
    });
    this.pv.hist?.emit({ type: 'pmap-protect', pmap: this.id, start, end, prot });
  }

  /** removeOne: drop the translation at va, if any. */
  removeOne(va: number): void {
    const vpn = Math.floor(va / this.pageSize);
    const t = this.ptp(vpn, false);
    const i = pteIndex(vpn);
    if (t !== null && t.pte[i] !== 0) {
      this.dropPte(t, i, vpn);
      this.freeIfEmpty(vpn, t);
    }
  }

  /** lowerOne: lower the protection of the translation at va to prot. */
  lowerOne(va: number, prot: number): void {
    const vpn = Math.floor(va / this.pageSize);
    const t = this.ptp(vpn, false);
    this.tlb?.shootdown(vpn);
    if (t !== null) t.pte[pteIndex(vpn)] &= ~(PTE_PROT & ~prot);
  }

  /**
   * unwire: clear the wired bit of va's translation (pmap_unwire).
   */
  unwire(va: number): void {
    const vpn = Math.floor(va / this.pageSize);
    const t = this.ptp(vpn, false);
    if (t === null) return;
    const i = pteIndex(vpn);
    if (t.pte[i] & PTE_WIRED) {
      t.pte[i] &= ~PTE_WIRED;
      this.wiredCount--;
    }
  }

  /**
   * forRange: call fn for each valid PTE in [start, end); tables left
   * empty are freed afterwards.
   */
  forRange(start: number, end: number, fn: (t: Ptp, i: number, vpn: number) => void): void {
    const ps = this.pageSize;
    let vpn = Math.floor(start / ps);
    const stop = Math.ceil(end / ps);
    while (vpn < stop) {
      const key = Math.floor(vpn / NPTE);
      const tableEnd = Math.min(stop, (key + 1) * NPTE);
      const t = this.tables.get(key);
      if (t !== undefined && t.live > 0) {
        /* the table's slots in order: no division per page */
        for (let i = vpn - key * NPTE; vpn < tableEnd; vpn++, i++)
          if (t.pte[i] !== 0) fn(t, i, vpn);
        this.freeIfEmpty(key * NPTE, t);
      }
      vpn = tableEnd;
    }
  }

  private freeIfEmpty(vpn: number, t: Ptp): void {
    if (t.live > 0) return;
    const key = Math.floor(vpn / NPTE);
    this.tables.delete(key);
    if (this.lastKey === key) {
      this.lastKey = -1;
      this.lastPtp = null;
    }
  }

  /**
   * forEachMapping: call fn(va, frame, pte) for every translation, in
   * address order.
   */
  forEachMapping(fn: (va: number, pg: Frame, pte: number) => void): void {
    const keys = [...this.tables.keys()].sort((a, b) => a - b);
    for (const key of keys) {
      const t = this.tables.get(key)!;
      for (let i = 0; i < NPTE; i++) {
        const pte = t.pte[i];
        if (pte !== 0) fn((key * NPTE + i) * this.pageSize, pteFrame(pte), pte);
      }
    }
  }

  /**
   * destroy: drop every translation and leave the kernel's list (pmap_destroy).
   */
  destroy(): void {
    for (const [key, t] of [...this.tables]) {
      for (let i = 0; i < NPTE; i++) if (t.pte[i] !== 0) this.dropPte(t, i, key * NPTE + i);
    }
    this.tables.clear();
    this.lastKey = -1;
    this.lastPtp = null;
    if (this.tlb !== null) {
      this.tlb.flush();
      this.tlb = null;
      this.pv.tlbs--;
    }
    this.pv.detach(this.id);
  }
}

/** pteFrame: the frame a valid PTE maps. */
export function pteFrame(pte: number): Frame {
  return ((pte >>> 4) - 1) as Frame;
}

/** pteProt: the PROT_* bits of a PTE. */
export function pteProt(pte: number): number {
  return pte & PROT_ALL;
}

/**
 * auditPmaps: check the invariants listed at the top of this file.
 */
export function auditPmaps(pv: PvTable, npages: number): void {
  let pvCount = 0;
  let listed = 0;
  for (let frame = 0; frame < npages; frame++) {
    const pg = frame as Frame;
    const keys = pv.keys(pg);
    if (pv.pvh[pg] < 0) {
      if (keys.length < 2) fail(`page ${pg} has a pv list of ${keys.length}`);
      listed += keys.length;
    }
    for (const key of keys) {
      pvCount++;
      const pmap = pv.pmaps[pv.keyPmap(key)];
      if (!pmap) fail(`pv entry of page ${pg} names a destroyed pmap`);
      const va = pv.keyVpn(key) * pmap.pageSize;
      const pte = pmap.lookup(va);
      if (pte === 0 || pteFrame(pte) !== pg)
        fail(`pv entry of page ${pg} at ${hex(va)} has no PTE`);
    }
  }
  let pteCount = 0;
  for (const pmap of pv.pmaps) {
    if (!pmap) continue;
    let resident = 0;
    let wired = 0;
    for (const t of pmap.tables.values()) {
      let live = 0;
      for (let i = 0; i < NPTE; i++) {
        if (t.pte[i] === 0) continue;
        live++;
        if (t.pte[i] & PTE_WIRED) wired++;
      }
      if (live !== t.live || live === 0)
        fail(`pmap ${pmap.id}: table live count ${t.live}, ${live} valid`);
      resident += live;
    }
    if (resident !== pmap.residentCount)
      fail(`pmap ${pmap.id}: resident ${pmap.residentCount} but ${resident} PTEs`);
    if (wired !== pmap.wiredCount)
      fail(`pmap ${pmap.id}: wired ${pmap.wiredCount} but ${wired} wired PTEs`);
    if (pmap.tlb !== null) auditTlb(pmap, pmap.tlb, pv.pages.attrs);
    pteCount += resident;
  }
  if (pv.pmaps.filter((p) => p?.tlb).length !== pv.tlbs) fail(`tlbs ${pv.tlbs} is wrong`);
  if (listed !== pv.listed) fail(`${pv.listed} pv list entries in use, ${listed} on lists`);
  if (pteCount !== pvCount) kpanic(`audit: pmap: ${pteCount} PTEs but ${pvCount} pv entries`);
}

/**
 * auditTlb: every entry keeps its promise: the PTE maps its frame with the
 * right (write for a write entry), the page is referenced (and modified).
 */
function auditTlb(pmap: Pmap, tlb: Tlb, attrs: Uint8Array): void {
  for (let i = 0; i <= tlb.mask; i++) {
    const vpn = tlb.rtag[i];
    if (vpn < 0) {
      if (tlb.wtag[i] >= 0) fail(`pmap ${pmap.id}: TLB entry ${i} writes but does not read`);
      continue;
    }
    const what = `pmap ${pmap.id}: TLB entry for ${hex(vpn * pmap.pageSize)}`;
    const pte = pmap.lookup(vpn * pmap.pageSize);
    if (pte === 0 || pteFrame(pte) * pmap.pageSize !== tlb.base[i])
      fail(`${what} maps a page the pmap does not`);
    const pg = pteFrame(pte);
    if ((pte & PTE_PROT) === 0 || (attrs[pg] & PMAP_REFERENCED) === 0)
      fail(`${what}: not readable, or not referenced`);
    if (tlb.wtag[i] === -1) continue;
    if (tlb.wtag[i] !== vpn) fail(`${what}: its write tag names another page`);
    if ((pte & PTE_W) === 0 || (attrs[pg] & PMAP_MODIFIED) === 0)
      fail(`${what}: writes where the PTE is not writable, or the page not modified`);
  }
}

function fail(what: string): never {
  throw new KernelPanic(`audit: pmap: ${what}`);
}
