/*
 * mmu.ts: the fast access path for emulators: typed reads and writes of a
 * process's virtual addresses through a software TLB (kernel/tlb.ts).
 *
 *   const m = proc.mmu;
 *   m.writeU32(va, 0xdeadbeef); m.readU32(va); m.readBigU64(va);
 *   m.readInto(va, buffer); m.writeFrom(va, buffer);
 *
 * A hit costs a tag compare and a DataView access into physical memory.
 * A miss, or an access that crosses a page, takes the process's own
 * read/write (the real fault path, the same errors, all or nothing), then
 * fills the entry:
 * for reads, and for writes once a write went through (so the page is
 * marked modified before any write hits). The pmap shoots entries down
 * whenever a translation or a page's referenced/modified bit changes, so a
 * hit never sees a page the slow path would not. Little-endian, as x86.
 */
import { PMAP_MODIFIED, PMAP_REFERENCED } from '../kernel/page.ts';
import { PTE_W, pteFrame } from '../kernel/pmap.ts';
import { Tlb } from '../kernel/tlb.ts';
import type { Process } from './proc.ts';

/** The fast access path of one process. */
export class Mmu {
  private tlb: Tlb;
  private readonly dv: DataView;
  private readonly bytes: Uint8Array;
  private readonly attrs: Uint8Array;
  private readonly ps: number;
  /** 1 / page size: page numbers by multiplication (exact for powers of two) */
  private readonly inv: number;
  /** a page's bytes out of the page for a miss's value */
  private readonly scratch = new Uint8Array(8);
  private readonly sv = new DataView(this.scratch.buffer);

  constructor(private readonly proc: Process) {
    const uvm = proc.sys.uvm;
    this.bytes = uvm.pages.bytes;
    this.attrs = uvm.pages.attrs;
    this.dv = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    this.ps = uvm.pageSize;
    this.inv = 1 / uvm.pageSize;
    this.tlb = this.bind();
  }

  /* reads: => the value; errors as Process.read (EFAULT with SIGSEGV or SIGBUS, ENOMEM) */

  readU8(va: number): number {
    const vpn = Math.floor(va * this.inv);
    const i = vpn & this.tlb.mask;
    if (this.tlb.rtag[i] === vpn) return this.bytes[this.tlb.base[i] + va - vpn * this.ps];
    return this.miss(va, 1).getUint8(0);
  }

  readU16(va: number): number {
    const vpn = Math.floor(va * this.inv);
    const i = vpn & this.tlb.mask;
    const off = va - vpn * this.ps;
    if (this.tlb.rtag[i] === vpn && off <= this.ps - 2)
      return this.dv.getUint16(this.tlb.base[i] + off, true);
    return this.miss(va, 2).getUint16(0, true);
  }

  readU32(va: number): number {
    const vpn = Math.floor(va * this.inv);
    const i = vpn & this.tlb.mask;
    const off = va - vpn * this.ps;
    if (this.tlb.rtag[i] === vpn && off <= this.ps - 4)
      return this.dv.getUint32(this.tlb.base[i] + off, true);
    return this.miss(va, 4).getUint32(0, true);
  }

  readBigU64(va: number): bigint {
    const vpn = Math.floor(va * this.inv);
    const i = vpn & this.tlb.mask;
    const off = va - vpn * this.ps;
    if (this.tlb.rtag[i] === vpn && off <= this.ps - 8)
      return this.dv.getBigUint64(this.tlb.base[i] + off, true);
    return this.miss(va, 8).getBigUint64(0, true);
  }

  readF64(va: number): number {
    const vpn = Math.floor(va * this.inv);
    const i = vpn & this.tlb.mask;
    const off = va - vpn * this.ps;
    if (this.tlb.rtag[i] === vpn && off <= this.ps - 8)
      return this.dv.getFloat64(this.tlb.base[i] + off, true);
    return this.miss(va, 8).getFloat64(0, true);
  }

  /* writes: => errors as Process.write (nothing is written then) */

  writeU8(va: number, v: number): void {
    const vpn = Math.floor(va * this.inv);
    const i = vpn & this.tlb.mask;
    if (this.tlb.wtag[i] === vpn) this.bytes[this.tlb.base[i] + va - vpn * this.ps] = v;
    else {
      this.sv.setUint8(0, v);
      this.missWrite(va, 1);
    }
  }

  writeU16(va: number, v: number): void {
    const vpn = Math.floor(va * this.inv);
    const i = vpn & this.tlb.mask;
    const off = va - vpn * this.ps;
    if (this.tlb.wtag[i] === vpn && off <= this.ps - 2)
      this.dv.setUint16(this.tlb.base[i] + off, v, true);
    else {
      this.sv.setUint16(0, v, true);
      this.missWrite(va, 2);
    }
  }

  writeU32(va: number, v: number): void {
    const vpn = Math.floor(va * this.inv);
    const i = vpn & this.tlb.mask;
    const off = va - vpn * this.ps;
    if (this.tlb.wtag[i] === vpn && off <= this.ps - 4)
      this.dv.setUint32(this.tlb.base[i] + off, v, true);
    else {
      this.sv.setUint32(0, v, true);
      this.missWrite(va, 4);
    }
  }

  writeBigU64(va: number, v: bigint): void {
    const vpn = Math.floor(va * this.inv);
    const i = vpn & this.tlb.mask;
    const off = va - vpn * this.ps;
    if (this.tlb.wtag[i] === vpn && off <= this.ps - 8)
      this.dv.setBigUint64(this.tlb.base[i] + off, v, true);
    else {
      this.sv.setBigUint64(0, v, true);
      this.missWrite(va, 8);
    }
  }

  writeF64(va: number, v: number): void {
    const vpn = Math.floor(va * this.inv);
    const i = vpn & this.tlb.mask;
    const off = va - vpn * this.ps;
    if (this.tlb.wtag[i] === vpn && off <= this.ps - 8)
      this.dv.setFloat64(this.tlb.base[i] + off, v, true);
    else {
      this.sv.setFloat64(0, v, true);
      this.missWrite(va, 8);
    }
  }

  /**
   * readInto: fill `target` from [va, va + target.length); when every page
   * hits, page by page through the TLB, allocating nothing.
   * => errors as Process.read (all or nothing: a miss anywhere takes the
   *    slow path for the whole range).
   */
  readInto(va: number, target: Uint8Array): void {
    if (this.allHit(va, target.length, false)) this.copy(va, target, false);
    else {
      target.set(this.proc.read(va, target.length));
      this.fillRange(va, target.length, false);
    }
  }

  /**
   * writeFrom: store `source` at [va, va + source.length), as readInto.
   * => errors as Process.write: nothing is written when it fails.
   */
  writeFrom(va: number, source: Uint8Array): void {
    if (this.allHit(va, source.length, true)) this.copy(va, source, true);
    else {
      this.proc.write(va, source);
      this.fillRange(va, source.length, true);
    }
  }

  /** allHit: every page of [va, va + n) has an entry (for writes, a write entry). */
  private allHit(va: number, n: number, write: boolean): boolean {
    const t = this.tlb;
    const tags = write ? t.wtag : t.rtag;
    const last = Math.floor((va + n - 1) * this.inv);
    for (let vpn = Math.floor(va * this.inv); vpn <= last; vpn++)
      if (tags[vpn & t.mask] !== vpn) return false;
    return true;
  }

  /** copy: move bytes between `buf` and [va, ...) through entries known to hit. */
  private copy(va: number, buf: Uint8Array, write: boolean): void {
    const bytes = this.bytes;
    for (let done = 0; done < buf.length; ) {
      const a = va + done;
      const vpn = Math.floor(a * this.inv);
      const off = a - vpn * this.ps;
      const n = Math.min(this.ps - off, buf.length - done);
      const at = this.tlb.base[vpn & this.tlb.mask] + off;
      if (write) for (let k = 0; k < n; k++) bytes[at + k] = buf[done + k];
      else for (let k = 0; k < n; k++) buf[done + k] = bytes[at + k];
      done += n;
    }
  }

  /** fillRange: the entries of every page of [va, va + n) after a slow access. */
  private fillRange(va: number, n: number, write: boolean): void {
    for (let p = Math.floor(va * this.inv) * this.ps; p < va + n; p += this.ps) this.fill(p, write);
  }

  /** miss: read `n` bytes at va the slow way into the scratch buffer, then fill. */
  private miss(va: number, n: number): DataView {
    this.scratch.set(this.proc.read(va, n));
    this.fill(va, false);
    return this.sv;
  }

  /** missWrite: write the scratch buffer's first `n` bytes the slow way, then fill. */
  private missWrite(va: number, n: number): void {
    this.proc.write(va, this.scratch.subarray(0, n));
    this.fill(va, true);
  }

  /**
   * fill: the entry for va's page after a slow access made it present:
   * for writes too when this was a write (its page is now modified).
   */
  private fill(va: number, write: boolean): void {
    this.tlb = this.bind();
    const vpn = Math.floor(va * this.inv);
    const pte = this.proc.vm.pmap.lookup(vpn * this.ps);
    if (pte === 0) return;
    const pg = pteFrame(pte);
    /* the promise: referenced (the daemon may have cleared it meanwhile), modified to write */
    const attrs = this.attrs[pg];
    if ((attrs & PMAP_REFERENCED) === 0) return;
    this.tlb.fill(vpn, pg * this.ps, write && (pte & PTE_W) !== 0 && (attrs & PMAP_MODIFIED) !== 0);
  }

  /** bind: the TLB of the process's pmap now (exec gives it a new one). */
  private bind(): Tlb {
    const pmap = this.proc.vm.pmap;
    if (pmap.tlb === null) {
      pmap.tlb = new Tlb(this.proc.sys.uvm.exp);
      pmap.pv.tlbs++;
    }
    return pmap.tlb;
  }
}
