/*
 * tlb.ts: a software TLB (the translation cache an emulator's MMU keeps,
 * as QEMU's softmmu or v86's): per pmap, direct-mapped, one entry per
 * virtual page number modulo its size.
 *
 *   rtag[i]  the vpn entry i translates for reads (-1: none)
 *   wtag[i]  the same vpn when writes may hit too (-1: not for writes)
 *   base[i]  the byte offset of its frame in physical memory
 *
 * An entry is a promise about the pmap and the page's attributes: the PTE
 * maps that frame with at least that right, the page is marked referenced
 * (and modified, for a write entry). So every change that could break it
 * shoots it down: a PTE replaced, lowered or removed (Pmap), a referenced
 * or modified bit cleared (PvTable), the pmap destroyed. The audit checks
 * the promise (auditPmaps).
 *
 * A vpn exceeds 2^32; `vpn & mask` takes its low bits (ToInt32 keeps the
 * low 32), the same function everywhere, so fills and shootdowns agree.
 */

/** The counter shootdowns move (uvmexp's). */
export interface TlbCounters {
  tlbshootdowns: number;
}

/** the entries of a TLB unless told otherwise */
export const TLB_ENTRIES = 256;

/** A direct-mapped software TLB. */
export class Tlb {
  readonly mask: number;
  readonly rtag: Float64Array;
  readonly wtag: Float64Array;
  readonly base: Float64Array;

  constructor(
    private readonly exp: TlbCounters,
    entries = TLB_ENTRIES,
  ) {
    this.mask = entries - 1;
    this.rtag = new Float64Array(entries).fill(-1);
    this.wtag = new Float64Array(entries).fill(-1);
    this.base = new Float64Array(entries);
  }

  /**
   * fill: entry for `vpn` at frame byte offset `base`, for reads, and for
   * writes when `writable`.
   */
  fill(vpn: number, base: number, writable: boolean): void {
    const i = vpn & this.mask;
    if (this.rtag[i] !== vpn) this.wtag[i] = -1;
    this.rtag[i] = vpn;
    this.base[i] = base;
    if (writable) this.wtag[i] = vpn;
  }

  /** shootdown: forget `vpn` (a TLB shootdown, counted when there was an entry). */
  shootdown(vpn: number): void {
    const i = vpn & this.mask;
    if (this.rtag[i] !== vpn) return;
    this.rtag[i] = -1;
    this.wtag[i] = -1;
    this.exp.tlbshootdowns++;
  }

  /** flush: forget every entry (the pmap is destroyed or replaced). */
  flush(): void {
    this.rtag.fill(-1);
    this.wtag.fill(-1);
    this.exp.tlbshootdowns++;
  }
}
