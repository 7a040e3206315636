/* Helpers shared by the tests: small kernels, a recording pmap, anons with bytes. */
import assert from 'node:assert/strict';
import {
  type Amap,
  amapAdd,
  amapLock,
  amapUnlock,
  auditAmaps,
  type VmAref,
} from '../src/kernel/amap.ts';
import { anonAlloc } from '../src/kernel/anon.ts';
import {
  auditPages,
  NOPAGE,
  PG_BUSY,
  PG_FAKE,
  pageActivate,
  pageAlloc,
} from '../src/kernel/page.ts';
import { type AnonId, type Frame, VmError } from '../src/kernel/param.ts';
import { PvTable } from '../src/kernel/pmap.ts';
import { auditSwap } from '../src/kernel/swap.ts';
import { Uvm, type UvmConfig } from '../src/kernel/uvm.ts';

/** A small kernel: 4 KiB pages, 256 frames, 1024 swap slots, freed frames poisoned. */
export function smallUvm(config: UvmConfig = {}): Uvm {
  return new Uvm({ physPages: 256, swapPages: 1024, poisonFreed: true, ...config });
}

/** A pmap that records every pmap_page_protect and page replacement call. */
export class RecordingPmap extends PvTable {
  readonly calls: Array<{ pg: number; prot: number }> = [];
  readonly replaced: Array<{ from: number; to: number; slot: number }> = [];
  override pageProtect(pg: number, prot: number): void {
    this.calls.push({ pg, prot });
  }
  override pageLeaveSlot(from: Frame, to: Frame, amap: object, slot: number): number {
    this.replaced.push({ from, to, slot });
    return super.pageLeaveSlot(from, to, amap, slot);
  }
}

/** auditAll: every invariant of pages, amaps/anons and swap. */
export function auditAll(uvm: Uvm): void {
  auditPages(uvm);
  auditAmaps(uvm);
  auditSwap(uvm);
}

/**
 * newAnon: an anon with a resident page filled with `fill`, carrying `amap`'s lock.
 */
export function newAnon(uvm: Uvm, amap: Amap, fill: number): AnonId {
  const an = anonAlloc(uvm);
  uvm.anons.setLock(an, amap.lock);
  const pg = pageAlloc(uvm, 0, 0, an, 0);
  assert.notEqual(pg, NOPAGE, 'out of frames in a test');
  uvm.anons.page[an] = pg;
  uvm.pages.bytes.fill(fill, pg * uvm.pageSize, (pg + 1) * uvm.pageSize);
  uvm.pages.flags[pg] &= ~(PG_BUSY | PG_FAKE);
  pageActivate(uvm, pg);
  return an;
}

/** put: add a fresh anon filled with `fill` at page `page` of the aref's window. */
export function put(uvm: Uvm, aref: VmAref, page: number, fill: number): AnonId {
  const amap = aref.amap!;
  amapLock(amap);
  const an = newAnon(uvm, amap, fill);
  amapAdd(uvm, aref, page * uvm.pageSize, an, false);
  amapUnlock(amap);
  return an;
}

/** firstByte: the first byte of an anon's data, resident or read from swap. */
export function anonByte(uvm: Uvm, an: AnonId): number {
  const pg = uvm.anons.page[an];
  if (pg !== NOPAGE) return uvm.pages.bytes[pg * uvm.pageSize];
  const slot = uvm.anons.swslot[an];
  const dev = uvm.swap.deviceOf(slot)!;
  const buf = new Uint8Array(uvm.pageSize);
  assert.ok(dev.store.read(slot - dev.base, buf, 0));
  return buf[0];
}

/** throwsVm: assert fn throws a VmError with `code` (and `arg` when given). */
export function throwsVm(fn: () => unknown, code: string, arg?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof VmError, `expected VmError, got ${String(e)}`);
    assert.equal(e.code, code);
    if (arg !== undefined) assert.equal(e.arg, arg);
    return true;
  });
}

/** snapshotAmap: everything observable about an amap, for before/after comparisons. */
export function snapshotAmap(amap: Amap): string {
  return JSON.stringify({
    ref: amap.ref,
    flags: amap.flags,
    nslot: amap.nslot,
    maxslot: amap.maxslot,
    nused: amap.nused,
    anon: Array.from(amap.anon),
    slots: Array.from(amap.slots.subarray(0, amap.nused)),
    ppref: amap.ppref instanceof Int32Array ? Array.from(amap.ppref) : amap.ppref,
  });
}
