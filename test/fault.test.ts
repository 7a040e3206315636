/*
 * The fault handler (src/kernel/fault.ts) on its own: each path of
 * uvmFault (zero fill, upper-layer hit, COW promote, object pages mapped
 * read-only and promoted on write, fault-ahead by advice), its failures
 * (which leave everything as it was), and the wiring calls. The uvmexp
 * counters tell which path ran.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { amapLock, amapLookup, amapUnlock } from '../src/kernel/amap.ts';
import {
  uvmFault,
  uvmFaultUnwire,
  uvmFaultWire,
  uvmHold,
  uvmHoldMapped,
  uvmReserve,
  uvmVslock,
  uvmVsunlock,
} from '../src/kernel/fault.ts';
import { MemoryHost } from '../src/kernel/host.ts';
import {
  auditAmapRefs,
  MAP_COPY_ON_WRITE,
  VM_FAULT_BURST,
  VM_FAULT_CHANGE_WIRING,
  vmMapInsert,
  vmMapLookupEntry,
  vmMapSetWiredQuick,
  vmMapUserUnwire,
  vmMapUserWire,
  type WireRange,
} from '../src/kernel/map/index.ts';
import { auditObjects, UvmObject } from '../src/kernel/object.ts';
import {
  NOPAGE,
  PG_BUSY,
  PG_ZERO,
  pageFree,
  pageUnwire,
  pageWire,
  WIRE_MAX,
} from '../src/kernel/page.ts';
import {
  type AnonId,
  type Frame,
  MAP_ENTRY_BEHAV_NORMAL,
  MAP_ENTRY_BEHAV_RANDOM,
  MAP_ENTRY_BEHAV_SEQUENTIAL,
  MAP_ENTRY_NEEDS_COPY,
  MAP_INHERIT_SHARE,
  PROT_ALL,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from '../src/kernel/param.ts';
import { uvmPageout } from '../src/kernel/pdaemon.ts';
import { PQ_ACTIVE } from '../src/kernel/pdpolicy/clock.ts';
import { auditPmaps, PTE_WIRED, pteFrame, pteProt } from '../src/kernel/pmap.ts';
import { type MemoryStore, swapAlloc, swapPut } from '../src/kernel/swap.ts';
import type { UvmConfig } from '../src/kernel/uvm.ts';
import { auditVmspace, type Vmspace, vmspaceAlloc, vmspaceFork } from '../src/kernel/vmspace.ts';
import { Vnode } from '../src/kernel/vnode.ts';
import { auditAll, smallUvm, snapshotAmap, throwsVm } from './helpers.ts';

const PS = 4096;
const R = PROT_READ;
const W = PROT_WRITE;
const RW = PROT_READ | PROT_WRITE;
const BASE = 0x100000;
/** at: an address `pages` pages above BASE. */
const at = (pages: number) => BASE + pages * PS;

function space(config: UvmConfig = {}): Vmspace {
  return vmspaceAlloc(smallUvm(config), 0x10000, 0x7ffffffff000);
}

/** anonEntry: private anonymous memory (as mmap MAP_PRIVATE|MAP_ANON makes it). */
function anonEntry(vm: Vmspace, page: number, pages: number, prot = RW, advice = 0): void {
  vmMapInsert(vm.map, null, 0, at(page), at(page + pages), prot, PROT_ALL, MAP_COPY_ON_WRITE, {
    advice,
  });
}

/** file: a vnode over an in-memory file whose byte k of page i is (0x40 + i) & 0xff. */
function file(vm: Vmspace, bytes: number, path = '/lib.so'): { vn: Vnode; host: MemoryHost } {
  const host = new MemoryHost();
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (0x40 + Math.floor(i / PS)) & 0xff;
  host.put(path, data);
  return { vn: new Vnode(vm.uvm, host.open(path)!, false), host };
}

/** check: every invariant of the space, the kernel, the pmaps and the objects. */
function check(...vms: Vmspace[]): void {
  const uvm = vms[0].uvm;
  for (const vm of vms) auditVmspace(vm);
  auditAll(uvm);
  auditAmapRefs(uvm, true);
  auditPmaps(uvm.pv, uvm.pages.npages);
  auditObjects(uvm);
}

/** pte: the translation at page `page`. */
const pte = (vm: Vmspace, page: number) => vm.pmap.lookup(at(page));

/** frameAt: the frame mapped at page `page` (asserting there is one). */
function frameAt(vm: Vmspace, page: number): Frame {
  const t = pte(vm, page);
  assert.notEqual(t, 0, `page ${page} is not mapped`);
  return pteFrame(t);
}

/** byteAt: the first byte of the frame mapped at `page`. */
const byteAt = (vm: Vmspace, page: number) => vm.uvm.pages.bytes[frameAt(vm, page) * PS];

/** anonAt: the anon in the amap slot of page `page` (0: none). */
function anonAt(vm: Vmspace, page: number): AnonId {
  const e = vmMapLookupEntry(vm.map, at(page));
  const amap = e.aref.amap;
  if (amap === null) return 0 as AnonId;
  amapLock(amap);
  const an = amapLookup(vm.uvm, e.aref, at(page) - e.start);
  amapUnlock(amap);
  return an;
}

/** mappedPages: the pages in [from, to) that have a translation. */
function mappedPages(vm: Vmspace, from: number, to: number): number[] {
  const out: number[] = [];
  for (let p = from; p < to; p++) if (pte(vm, p) !== 0) out.push(p);
  return out;
}

/** fault: uvmFault at page `page` (a user fault: VM_FAULT_BURST by default), expecting `want`. */
function fault(
  vm: Vmspace,
  page: number,
  access: number,
  want: 0 | string = 0,
  flags = VM_FAULT_BURST,
): void {
  assert.equal(uvmFault(vm.uvm, vm.map, at(page) + 123, access, flags), want);
}

/** writeByte: store b at the start of the frame mapped at `page` (as an MMU write would). */
function writeByte(vm: Vmspace, page: number, b: number): void {
  vm.uvm.pages.bytes[frameAt(vm, page) * PS] = b;
}

/**
 * swapOut: page an anon out by hand, as the pagedaemon does: write it to a
 * fresh slot, unmap it everywhere, free the frame.
 */
function swapOut(vm: Vmspace, an: AnonId): void {
  const uvm = vm.uvm;
  const pg = uvm.anons.page[an];
  const slot = swapAlloc(uvm);
  assert.notEqual(slot, 0);
  assert.ok(swapPut(uvm, slot, pg), 'swap write');
  uvm.anons.swslot[an] = slot;
  uvm.pmap.pageProtect(pg, PROT_NONE);
  uvm.anons.page[an] = NOPAGE;
  pageFree(uvm, pg);
  uvm.exp.swpgonly++;
}

/** hog: an object holding every free frame but `keep`. */
function hog(vm: Vmspace, keep = 0): UvmObject {
  const uvm = vm.uvm;
  const obj = new UvmObject(uvm, uvm.pages.npages * PS, 'hog');
  for (let i = 0; uvm.pages.freeCount > keep; i++)
    assert.equal(typeof obj.pgoGet(i), 'number', 'hog got a frame');
  return obj;
}

/** state: everything a failed fault must leave as it was (counters aside). */
function state(vm: Vmspace): string {
  const uvm = vm.uvm;
  const ptes: number[][] = [];
  vm.pmap.forEachMapping((va, pg, t) => ptes.push([va, pg, t]));
  const anons: number[][] = [];
  for (let an = 1; an < uvm.anons.page.length; an++)
    if (uvm.anons.ref[an] > 0)
      anons.push([an, uvm.anons.ref[an], uvm.anons.page[an], uvm.anons.swslot[an]]);
  const objects = [...uvm.objects.values()].map((o) => [o.id, ...o.pages.entries()]);
  return JSON.stringify({
    ptes,
    anons,
    objects,
    amaps: [...uvm.amaps].map(snapshotAmap),
    free: uvm.pages.freeCount,
    wired: uvm.exp.wired,
    swpginuse: uvm.exp.swpginuse,
    wireCounts: Array.from({ length: uvm.pages.npages }, (_, pg) =>
      uvm.pages.wireCount(pg as Frame),
    ),
  });
}

describe('uvmFault: zero fill and the anon layer', () => {
  it('zero-fills private memory on a first read, into a frame that held garbage', () => {
    const vm = space();
    const uvm = vm.uvm;
    /* every free frame holds old bytes and is no longer known to be zero */
    uvm.pages.bytes.fill(0xa5);
    for (let pg = 0; pg < uvm.pages.npages; pg++) uvm.pages.flags[pg] &= ~PG_ZERO;
    anonEntry(vm, 0, 4);
    fault(vm, 1, R);
    assert.equal(uvm.exp.flt_przero, 1);
    assert.equal(uvm.exp.pga_zeromiss, 1, 'the frame was zeroed');
    const pg = frameAt(vm, 1);
    assert.ok(
      uvm.pages.bytes.subarray(pg * PS, (pg + 1) * PS).every((b) => b === 0),
      'reads zeros',
    );
    assert.equal(pteProt(pte(vm, 1)), RW, 'a private page only this space has is writable');
    const an = anonAt(vm, 1);
    assert.notEqual(an, 0);
    assert.equal(uvm.anons.page[an], pg);
    assert.equal(uvm.pages.uanon(pg), an);
    assert.ok(uvm.pages.pqflags[pg] & PQ_ACTIVE, 'the new page is active');
    assert.deepEqual(mappedPages(vm, 0, 4), [1], 'no neighbour had a page');
    assert.equal(vmMapLookupEntry(vm.map, at(1)).eflags & MAP_ENTRY_NEEDS_COPY, 0);
    check(vm);
  });

  it('a fault on an anon that has its page maps it again (upper-layer hit)', () => {
    const vm = space();
    const uvm = vm.uvm;
    anonEntry(vm, 0, 4);
    fault(vm, 2, W);
    writeByte(vm, 2, 0x77);
    const pg = frameAt(vm, 2);
    vm.pmap.remove(at(0), at(4));
    const allocs = uvm.exp.pageallocs;
    fault(vm, 2, R);
    assert.equal(uvm.exp.flt_anon, 1);
    assert.equal(uvm.exp.pageallocs, allocs, 'no frame allocated');
    assert.equal(frameAt(vm, 2), pg);
    assert.equal(byteAt(vm, 2), 0x77);
    assert.equal(pteProt(pte(vm, 2)), RW);
    fault(vm, 2, W);
    assert.equal(uvm.exp.flt_anon, 2, 'a write to an unshared anon writes it in place');
    assert.equal(uvm.exp.flt_acow, 0);
    check(vm);
  });

  it('brings a paged-out anon back (fltanget), with its bytes', () => {
    const vm = space();
    const uvm = vm.uvm;
    anonEntry(vm, 0, 2);
    fault(vm, 0, W);
    writeByte(vm, 0, 0x31);
    const an = anonAt(vm, 0);
    swapOut(vm, an);
    assert.equal(pte(vm, 0), 0);
    fault(vm, 0, R);
    assert.equal(uvm.exp.fltanget, 1);
    assert.equal(uvm.exp.pageins, 1);
    assert.equal(byteAt(vm, 0), 0x31);
    assert.equal(uvm.anons.page[an], frameAt(vm, 0));
    check(vm);
  });

  it('a write to an anon a fork shares copies it (COW promote); reads share it read-only', () => {
    const parent = space();
    const uvm = parent.uvm;
    anonEntry(parent, 0, 4);
    for (let p = 0; p < 4; p++) {
      fault(parent, p, W);
      writeByte(parent, p, 0x10 + p);
    }
    const ppg = frameAt(parent, 1);
    const child = vmspaceFork(parent);
    assert.equal(pteProt(pte(parent, 1)), R, "fork write-protects the parent's pages");

    fault(child, 1, R);
    assert.equal(uvm.exp.flt_anon, 1);
    assert.equal(uvm.exp.flt_acow, 0);
    assert.equal(frameAt(child, 1), ppg, 'the child reads the shared page');
    assert.equal(pteProt(pte(child, 1)), R, 'a shared anon is mapped read-only');
    assert.deepEqual(mappedPages(child, 0, 4), [0, 1, 2, 3], 'neighbours mapped (fault-ahead)');
    for (const p of [0, 2, 3]) assert.equal(pteProt(pte(child, p)), R, `neighbour ${p}`);
    const shared = anonAt(child, 1);
    assert.equal(uvm.anons.ref[shared], 2);

    fault(child, 1, W);
    assert.equal(uvm.exp.flt_acow, 1);
    const cpg = frameAt(child, 1);
    assert.notEqual(cpg, ppg, 'the child got its own frame');
    assert.equal(byteAt(child, 1), 0x11, 'holding a copy of the data');
    assert.equal(pteProt(pte(child, 1)), RW);
    assert.notEqual(anonAt(child, 1), shared);
    assert.equal(uvm.anons.ref[shared], 1, 'the old anon lost the child');
    writeByte(child, 1, 0x99);
    assert.equal(uvm.pages.bytes[ppg * PS], 0x11, "the parent's page is untouched");

    /* the parent's write: its amap is its own again (taken over), anon 1 is unshared */
    const copies = uvm.exp.pagecopies;
    fault(parent, 1, W);
    assert.equal(uvm.exp.flt_acow, 1, 'no copy: the anon is no longer shared');
    assert.equal(uvm.exp.pagecopies, copies);
    assert.equal(frameAt(parent, 1), ppg);
    assert.equal(pteProt(pte(parent, 1)), RW);
    /* page 2 is still shared: the parent's write copies it too */
    fault(parent, 2, W);
    assert.equal(uvm.exp.flt_acow, 2);
    assert.equal(byteAt(parent, 2), 0x12);
    assert.equal(byteAt(child, 2), 0x12);
    assert.notEqual(frameAt(parent, 2), frameAt(child, 2));
    check(parent, child);
  });
});

describe('uvmFault: the object layer', () => {
  it('maps an object page read-only in a private entry and promotes it on write', () => {
    const vm = space();
    const uvm = vm.uvm;
    const { vn } = file(vm, 4 * PS);
    vmMapInsert(vm.map, vn, PS, at(0), at(3), RW, PROT_ALL, MAP_COPY_ON_WRITE);
    fault(vm, 1, R);
    assert.equal(uvm.exp.flt_obj, 1);
    const opg = vn.pages.get(2)!;
    assert.notEqual(opg, undefined, 'page 2 of the file (offset one page) was read');
    assert.equal(frameAt(vm, 1), opg);
    assert.equal(byteAt(vm, 1), 0x42);
    assert.equal(pteProt(pte(vm, 1)), R, 'read-only: a write must copy');
    assert.equal(vmMapLookupEntry(vm.map, at(1)).aref.amap, null, 'a read needs no amap');

    fault(vm, 1, W);
    assert.equal(uvm.exp.flt_prcopy, 1);
    assert.equal(uvm.exp.flt_obj, 1);
    const an = anonAt(vm, 1);
    assert.notEqual(an, 0, 'the page was promoted into an anon');
    const npg = frameAt(vm, 1);
    assert.notEqual(npg, opg);
    assert.equal(uvm.anons.page[an], npg);
    assert.equal(byteAt(vm, 1), 0x42, 'a copy of the file page');
    assert.equal(pteProt(pte(vm, 1)), RW);
    writeByte(vm, 1, 0xee);
    assert.equal(uvm.pages.bytes[opg * PS], 0x42, 'the file page is untouched');
    assert.equal(uvm.pv.pageMappings(opg), 0, 'and no longer mapped here');
    /* the entry has its amap now; another file page is still mapped read-only */
    fault(vm, 0, R);
    assert.equal(uvm.exp.flt_obj, 2);
    assert.equal(frameAt(vm, 0), vn.pages.get(1));
    assert.equal(pteProt(pte(vm, 0)), R);
    check(vm);
  });

  it('a shared entry maps the object page itself, writable', () => {
    const vm = space();
    const uvm = vm.uvm;
    const obj = new UvmObject(uvm, 2 * PS, 'zero');
    vmMapInsert(vm.map, obj, 0, at(0), at(2), RW, PROT_ALL, 0);
    fault(vm, 0, W);
    assert.equal(uvm.exp.flt_obj, 1);
    assert.equal(uvm.exp.flt_prcopy + uvm.exp.flt_przero, 0, 'nothing promoted');
    assert.equal(frameAt(vm, 0), obj.pages.get(0));
    assert.equal(pteProt(pte(vm, 0)), RW);
    assert.equal(anonAt(vm, 0), 0);
    check(vm);
  });

  it("reads zeros past the file's end in its last page", () => {
    const vm = space();
    const { vn } = file(vm, 2 * PS + 100);
    vmMapInsert(vm.map, vn, 0, at(0), at(3), R, PROT_ALL, MAP_COPY_ON_WRITE);
    fault(vm, 2, R);
    const pg = frameAt(vm, 2);
    const bytes = vm.uvm.pages.bytes.subarray(pg * PS, (pg + 1) * PS);
    assert.ok(
      bytes.subarray(0, 100).every((b) => b === 0x42),
      'the file bytes',
    );
    assert.ok(
      bytes.subarray(100).every((b) => b === 0),
      'zeros past the end',
    );
    check(vm);
  });

  it('a write promoted into an amap shared by a fork takes the object page from every sharer', () => {
    const parent = space();
    const uvm = parent.uvm;
    const { vn } = file(parent, 2 * PS);
    vmMapInsert(parent.map, vn, 0, at(0), at(2), RW, PROT_ALL, MAP_COPY_ON_WRITE, {
      inherit: MAP_INHERIT_SHARE,
    });
    const child = vmspaceFork(parent);
    fault(child, 0, R);
    const opg = frameAt(child, 0);
    assert.equal(opg, vn.pages.get(0));
    fault(parent, 0, W);
    assert.equal(uvm.exp.flt_prcopy, 1);
    writeByte(parent, 0, 0x5a);
    assert.equal(pte(child, 0), 0, "the child's translation of the file page is gone");
    fault(child, 0, R);
    assert.equal(frameAt(child, 0), frameAt(parent, 0), "the child now sees the sharers' anon");
    assert.equal(byteAt(child, 0), 0x5a);
    check(parent, child);
  });
});

describe('uvmFault: fault-ahead', () => {
  /** a 20-page entry with advice `adv`, every page written, then every translation dropped */
  function populated(adv: number): Vmspace {
    const vm = space();
    anonEntry(vm, 0, 20, RW, adv);
    for (let p = 0; p < 20; p++) fault(vm, p, W);
    vm.pmap.remove(at(0), at(20));
    return vm;
  }
  const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

  for (const [name, adv, expect] of [
    ['NORMAL: 3 behind, 4 ahead', MAP_ENTRY_BEHAV_NORMAL, range(7, 15)],
    ['RANDOM: none', MAP_ENTRY_BEHAV_RANDOM, [10]],
    ['SEQUENTIAL: 8 behind, 7 ahead', MAP_ENTRY_BEHAV_SEQUENTIAL, range(2, 18)],
  ] as const) {
    it(`anon layer, ${name}`, () => {
      const vm = populated(adv);
      const before = vm.uvm.exp.fltnamap;
      fault(vm, 10, R);
      assert.deepEqual(mappedPages(vm, 0, 20), expect);
      assert.equal(vm.uvm.exp.fltnamap - before, expect.length - 1);
      for (const p of expect) assert.equal(pteProt(pte(vm, p)), RW, `page ${p}`);
      check(vm);
    });
  }

  it('the window stops at the entry', () => {
    const vm = populated(MAP_ENTRY_BEHAV_SEQUENTIAL);
    fault(vm, 1, R);
    assert.deepEqual(mappedPages(vm, 0, 20), range(0, 9));
    fault(vm, 19, R);
    assert.deepEqual(mappedPages(vm, 0, 20), [...range(0, 9), ...range(11, 20)]);
    check(vm);
  });

  it('maps only resident, unbusy neighbours, and leaves the others where they are', () => {
    const vm = populated(MAP_ENTRY_BEHAV_NORMAL);
    const uvm = vm.uvm;
    const out = anonAt(vm, 8);
    swapOut(vm, out);
    const busy = uvm.anons.page[anonAt(vm, 12)];
    uvm.pages.flags[busy] |= PG_BUSY;
    fault(vm, 10, R);
    uvm.pages.flags[busy] &= ~PG_BUSY;
    assert.deepEqual(mappedPages(vm, 0, 20), [7, 9, 10, 11, 13, 14]);
    assert.equal(uvm.anons.page[out], NOPAGE, 'the paged-out neighbour stays out');
    assert.equal(uvm.exp.fltanget, 0);
    assert.equal(uvm.exp.swapins, 0);
    check(vm);
  });

  it('does not replace a neighbour already mapped', () => {
    const vm = populated(MAP_ENTRY_BEHAV_NORMAL);
    fault(vm, 9, R);
    const before = vm.uvm.exp.fltnamap;
    fault(vm, 10, R);
    assert.equal(vm.uvm.exp.fltnamap - before, 1, 'only page 14 was new');
    check(vm);
  });

  it('object layer: maps resident, unbusy object pages read-only, not those an anon shadows', () => {
    const vm = space();
    const uvm = vm.uvm;
    const { vn } = file(vm, 20 * PS);
    vmMapInsert(vm.map, vn, 0, at(0), at(20), RW, PROT_ALL, MAP_COPY_ON_WRITE);
    for (const idx of [6, 7, 9, 11, 12, 13, 16]) assert.equal(typeof vn.pgoGet(idx), 'number');
    fault(vm, 11, W); /* page 11 now has an anon (a private copy) */
    vm.pmap.remove(at(0), at(20));
    const resident = vn.pages.size;
    const nomap = uvm.exp.fltnomap;
    const busy = vn.pages.get(12)!;
    uvm.pages.flags[busy] |= PG_BUSY;
    fault(vm, 10, R);
    uvm.pages.flags[busy] &= ~PG_BUSY;
    assert.deepEqual(mappedPages(vm, 0, 20), [7, 9, 10, 13]);
    assert.equal(uvm.exp.fltnomap - nomap, 3);
    for (const p of [7, 9, 13]) {
      assert.equal(frameAt(vm, p), vn.pages.get(p));
      assert.equal(pteProt(pte(vm, p)), R, `page ${p} read-only`);
    }
    assert.equal(vn.pages.size, resident + 1, 'only the faulting page was read');
    check(vm);
  });

  it('a wiring fault maps no neighbours', () => {
    const vm = populated(MAP_ENTRY_BEHAV_SEQUENTIAL);
    fault(vm, 10, R, 0, VM_FAULT_CHANGE_WIRING);
    assert.deepEqual(mappedPages(vm, 0, 20), [10]);
    uvmFaultUnwire(vm.uvm, vm.map, at(0), at(20));
    check(vm);
  });
});

describe('uvmFault: failures change nothing', () => {
  it('EFAULT where nothing is mapped, or where an entry has neither amap nor object', () => {
    const vm = space();
    anonEntry(vm, 0, 2);
    fault(vm, 0, W);
    vmMapInsert(vm.map, null, 0, at(10), at(11), RW, PROT_ALL, 0);
    const before = state(vm);
    fault(vm, 5, R, 'EFAULT');
    fault(vm, 2, W, 'EFAULT');
    fault(vm, 10, R, 'EFAULT');
    assert.equal(state(vm), before);
    check(vm);
  });

  it('EACCES when the protection forbids the access (fltprot)', () => {
    const vm = space();
    anonEntry(vm, 0, 1, PROT_NONE);
    anonEntry(vm, 2, 1, R);
    const before = state(vm);
    fault(vm, 0, R, 'EACCES');
    fault(vm, 2, W, 'EACCES');
    assert.equal(vm.uvm.exp.fltprot, 2);
    assert.equal(state(vm), before);
    fault(vm, 2, R);
    check(vm);
  });

  it('SIGBUS for a file page wholly past the end of the file', () => {
    const vm = space();
    const { vn } = file(vm, 2 * PS);
    vmMapInsert(vm.map, vn, 0, at(0), at(4), RW, PROT_ALL, MAP_COPY_ON_WRITE);
    fault(vm, 0, R);
    const before = state(vm);
    fault(vm, 2, R, 'SIGBUS');
    fault(vm, 3, W, 'SIGBUS');
    assert.equal(vn.pages.size, 1);
    assert.equal(pte(vm, 2), 0);
    /* the write made the entry's amap; otherwise nothing */
    const after = JSON.parse(state(vm));
    const was = JSON.parse(before);
    assert.deepEqual(after.ptes, was.ptes);
    assert.deepEqual(after.anons, was.anons);
    assert.equal(after.free, was.free);
    check(vm);
  });

  it('EIO when the swap device fails a read; the anon stays in swap and a retry works', () => {
    const vm = space();
    const uvm = vm.uvm;
    anonEntry(vm, 0, 2);
    fault(vm, 0, W);
    writeByte(vm, 0, 0x64);
    const an = anonAt(vm, 0);
    swapOut(vm, an);
    const before = state(vm);
    (uvm.swap.devices[0].store as MemoryStore).faults.failReads = 1;
    fault(vm, 0, R, 'EIO');
    assert.equal(uvm.exp.swapioerrs, 1);
    assert.equal(state(vm), before);
    check(vm);
    fault(vm, 0, R);
    assert.equal(byteAt(vm, 0), 0x64);
    check(vm);
  });

  it('EIO when a file read fails; a retry works', () => {
    const vm = space();
    const { vn, host } = file(vm, 2 * PS, '/data');
    vmMapInsert(vm.map, vn, 0, at(0), at(2), R, PROT_ALL, MAP_COPY_ON_WRITE);
    const before = state(vm);
    host.faults('/data').failReads = 1;
    fault(vm, 1, R, 'EIO');
    assert.equal(state(vm), before);
    assert.equal(vn.pages.size, 0);
    fault(vm, 1, R);
    assert.equal(byteAt(vm, 1), 0x41);
    check(vm);
  });

  it('ENOMEM when no frame is free and nothing can be reclaimed (fltnoram)', () => {
    const vm = space({ physPages: 32 });
    const uvm = vm.uvm;
    anonEntry(vm, 0, 4);
    fault(vm, 0, W);
    const h = hog(vm);
    const before = state(vm);
    fault(vm, 1, W, 'ENOMEM');
    fault(vm, 2, R, 'ENOMEM');
    assert.equal(uvm.exp.fltnoram, 2);
    assert.equal(state(vm), before);
    check(vm);
    h.releasePage(0);
    fault(vm, 1, W);
    check(vm);
  });

  it('ENOMEM from a copy-on-write of a shared anon, the shared page untouched', () => {
    const parent = space({ physPages: 32 });
    anonEntry(parent, 0, 1);
    fault(parent, 0, W);
    writeByte(parent, 0, 0x21);
    const child = vmspaceFork(parent);
    fault(child, 0, R);
    hog(parent);
    const before = state(child);
    fault(child, 0, W, 'ENOMEM');
    assert.equal(state(child), before);
    assert.equal(byteAt(child, 0), 0x21);
    assert.equal(frameAt(child, 0), frameAt(parent, 0));
    check(parent, child);
  });

  it('EIO when the pagedaemon could not free a frame because its pageouts failed', () => {
    const vm = space({ physPages: 16 });
    const uvm = vm.uvm;
    anonEntry(vm, 0, 32);
    let p = 0;
    while (uvm.pages.freeCount > 0) fault(vm, p++, W);
    uvm.reclaim = () => uvmPageout(uvm).freed > 0;
    (uvm.swap.devices[0].store as MemoryStore).faults.failWrites = 1000;
    const before = state(vm);
    fault(vm, p, W, 'EIO');
    assert.ok(uvm.exp.swapioerrs > 0, 'swap writes failed');
    assert.equal(state(vm), before);
    check(vm);
    (uvm.swap.devices[0].store as MemoryStore).faults.failWrites = 0;
    fault(vm, p, W);
    assert.ok(uvm.exp.pageouts > 0, 'pages went out');
    check(vm);
  });
});

describe('uvmFault: waiting for memory', () => {
  it('restarts after the reclaimer freed a frame', () => {
    const vm = space({ physPages: 32 });
    const uvm = vm.uvm;
    anonEntry(vm, 0, 2);
    fault(vm, 0, W);
    const h = hog(vm);
    let calls = 0;
    let k = 0;
    uvm.reclaim = () => {
      calls++;
      h.releasePage(k++);
      return true;
    };
    fault(vm, 1, W);
    assert.ok(calls >= 1, 'the reclaimer ran');
    assert.equal(uvm.exp.flt_przero, 2);
    check(vm);
  });

  it('keeps the page it copies from busy while the reclaimer runs', () => {
    const vm = space({ physPages: 32 });
    const uvm = vm.uvm;
    const { vn } = file(vm, PS);
    vmMapInsert(vm.map, vn, 0, at(0), at(1), RW, PROT_ALL, MAP_COPY_ON_WRITE);
    fault(vm, 0, R);
    const src = frameAt(vm, 0);
    const h = hog(vm);
    const seen: boolean[] = [];
    uvm.reclaim = () => {
      const busy = (uvm.pages.flags[src] & PG_BUSY) !== 0;
      seen.push(busy);
      if (!busy) return false;
      h.releasePage(0);
      return true;
    };
    fault(vm, 0, W);
    assert.deepEqual(seen, [false, true], 'once at the start, once holding the source page');
    assert.equal(uvm.pages.flags[src] & PG_BUSY, 0, 'and not busy afterwards');
    assert.equal(uvm.exp.fltnoram, 1);
    assert.equal(uvm.exp.flt_prcopy, 1);
    assert.equal(byteAt(vm, 0), 0x40);
    check(vm);
  });

  it('gives up with ENOMEM after a bounded number of fruitless waits', () => {
    const vm = space({ physPages: 32 });
    const uvm = vm.uvm;
    anonEntry(vm, 0, 2);
    fault(vm, 0, W);
    hog(vm);
    let calls = 0;
    uvm.reclaim = () => {
      calls++;
      return true; /* says it freed something; something else took it */
    };
    const before = state(vm);
    fault(vm, 1, W, 'ENOMEM');
    assert.equal(uvm.exp.fltnoram, 9, 'eight waits, and the ninth shortage gives up');
    assert.equal(calls, 1 + 8, 'the reclaim at the start, then one per wait');
    assert.equal(state(vm), before);
    check(vm);
  });
});

describe('wiring', () => {
  const wire = (vm: Vmspace, ranges: WireRange[]) => uvmFaultWire(vm.uvm, vm.map, ranges);

  it('uvmFaultWire faults in and wires every page; uvmFaultUnwire undoes it', () => {
    const vm = space();
    const uvm = vm.uvm;
    anonEntry(vm, 0, 4);
    assert.equal(wire(vm, [{ start: at(0), end: at(4), prot: RW }]), 0);
    assert.deepEqual(mappedPages(vm, 0, 4), [0, 1, 2, 3]);
    for (let p = 0; p < 4; p++) {
      const t = pte(vm, p);
      assert.ok(t & PTE_WIRED, `page ${p} wired`);
      assert.equal(pteProt(t), RW);
      assert.equal(uvm.pages.wireCount(pteFrame(t)), 1, 'one wiring (the hold was dropped)');
      assert.equal(uvm.pages.pqflags[pteFrame(t)] & PQ_ACTIVE, 0, 'off the queues');
    }
    assert.equal(uvm.exp.wired, 4);
    assert.equal(vm.pmap.wiredCount, 4);
    check(vm);
    uvmFaultUnwire(uvm, vm.map, at(0), at(4));
    assert.equal(uvm.exp.wired, 0);
    assert.equal(vm.pmap.wiredCount, 0);
    assert.deepEqual(mappedPages(vm, 0, 4), [0, 1, 2, 3], 'still mapped');
    for (let p = 0; p < 4; p++)
      assert.ok(uvm.pages.pqflags[frameAt(vm, p)] & PQ_ACTIVE, `page ${p} active`);
    check(vm);
  });

  it('a writable private file range is wired on private copies', () => {
    const vm = space();
    const uvm = vm.uvm;
    const { vn } = file(vm, 2 * PS);
    vmMapInsert(vm.map, vn, 0, at(0), at(2), RW, PROT_ALL, MAP_COPY_ON_WRITE);
    assert.equal(wire(vm, [{ start: at(0), end: at(2), prot: RW }]), 0);
    assert.equal(uvm.exp.flt_prcopy, 2);
    for (let p = 0; p < 2; p++) {
      assert.notEqual(anonAt(vm, p), 0);
      assert.notEqual(frameAt(vm, p), vn.pages.get(p));
      assert.equal(byteAt(vm, p), 0x40 + p);
      assert.equal(pteProt(pte(vm, p)), RW);
      assert.equal(uvm.pages.wireCount(vn.pages.get(p)!), 0, 'the file page is not held');
    }
    assert.equal(uvm.exp.wired, 2);
    uvmFaultUnwire(uvm, vm.map, at(0), at(2));
    check(vm);
  });

  it('PROT_NONE ranges are wired without faulting', () => {
    const vm = space();
    anonEntry(vm, 0, 2, PROT_NONE);
    assert.equal(wire(vm, [{ start: at(0), end: at(2), prot: PROT_NONE }]), 0);
    assert.equal(vm.pmap.residentCount, 0);
    assert.equal(vm.uvm.exp.faults, 0);
    check(vm);
  });

  it('is all or nothing over its ranges', () => {
    const vm = space();
    const uvm = vm.uvm;
    anonEntry(vm, 0, 4);
    const { vn } = file(vm, 2 * PS);
    vmMapInsert(vm.map, vn, 0, at(10), at(14), R, PROT_ALL, MAP_COPY_ON_WRITE);
    const r = wire(vm, [
      { start: at(0), end: at(4), prot: RW },
      { start: at(10), end: at(14), prot: R },
    ]);
    assert.equal(r, 'SIGBUS');
    assert.equal(uvm.exp.wired, 0);
    assert.equal(vm.pmap.wiredCount, 0);
    assert.ok(uvm.pages.wires.frames === 0, 'no hold left');
    check(vm);
  });

  it('on a failure also unwires what faults in an entry already wired wired', () => {
    const vm = space();
    const uvm = vm.uvm;
    anonEntry(vm, 0, 2);
    vmMapSetWiredQuick(vm.map, at(0), 2 * PS);
    const r = wire(vm, [
      { start: at(0), end: at(2), prot: RW },
      { start: at(5), end: at(6), prot: RW },
    ]);
    assert.equal(r, 'EFAULT');
    assert.equal(uvm.exp.wired, 0);
    assert.equal(vm.pmap.wiredCount, 0);
    check(vm);
  });

  it('ENOMEM, with nothing wired, when the private copies cannot be reserved', () => {
    const vm = space({ physPages: 32 });
    const uvm = vm.uvm;
    const { vn } = file(vm, 2 * PS);
    vmMapInsert(vm.map, vn, 0, at(0), at(2), RW, PROT_ALL, MAP_COPY_ON_WRITE);
    for (const idx of [0, 1]) vn.pgoGet(idx);
    hog(vm, 1); /* room for one copy of the two */
    const r = wire(vm, [{ start: at(0), end: at(2), prot: RW }]);
    assert.equal(r, 'ENOMEM');
    assert.equal(uvm.exp.wired, 0);
    assert.equal(vm.pmap.wiredCount, 0);
    assert.equal(uvm.anons.nlive, 0, 'no private copy was made');
    assert.ok(uvm.pages.wires.frames === 0, 'no frame wired');
    check(vm);
  });

  it("serves the map's wiring (mlock's path), all or nothing", () => {
    const vm = space();
    const uvm = vm.uvm;
    vm.map.hooks = {
      wire: (map, ranges) => {
        const r = uvmFaultWire(uvm, map, ranges);
        return r === 'SIGBUS' ? 'EFAULT' : r === 'EACCES' ? 'ENOMEM' : r;
      },
      unwire: (map, s, e) => uvmFaultUnwire(uvm, map, s, e),
      hold: () => [],
      release: () => {},
      prefault: () => {},
    };
    const { vn } = file(vm, 3 * PS);
    vmMapInsert(vm.map, vn, 0, at(0), at(2), RW, PROT_ALL, MAP_COPY_ON_WRITE);
    vmMapUserWire(vm.map, at(0), at(2));
    assert.equal(vmMapLookupEntry(vm.map, at(0)).wiredCount, 1);
    assert.equal(uvm.exp.wired, 2);
    for (let p = 0; p < 2; p++) {
      assert.ok(pte(vm, p) & PTE_WIRED, `page ${p} wired`);
      assert.notEqual(anonAt(vm, p), 0, 'a private copy');
      assert.equal(uvm.pages.wireCount(frameAt(vm, p)), 1);
      assert.equal(uvm.pages.wireCount(vn.pages.get(p)!), 0, 'the file page is not wired');
    }
    check(vm);
    vmMapUserUnwire(vm.map, at(0), at(2));
    assert.equal(uvm.exp.wired, 0);
    assert.equal(vm.pmap.wiredCount, 0);
    check(vm);

    /* pages 3 and 4 lie past the end of the file: the mlock fails and nothing stays wired */
    vmMapInsert(vm.map, vn, 2 * PS, at(10), at(13), R, PROT_ALL, MAP_COPY_ON_WRITE);
    throwsVm(() => vmMapUserWire(vm.map, at(10), at(13)), 'EFAULT');
    assert.equal(vmMapLookupEntry(vm.map, at(10)).wiredCount, 0);
    assert.equal(uvm.exp.wired, 0);
    assert.equal(vm.pmap.wiredCount, 0);
    assert.ok(uvm.pages.wires.frames === 0, 'no frame wired');
    check(vm);
  });

  it('a fault in a wired entry wires its page; a copy-on-write there moves the wiring', () => {
    const vm = space();
    const uvm = vm.uvm;
    const { vn } = file(vm, 2 * PS);
    vmMapInsert(vm.map, vn, 0, at(0), at(2), RW, PROT_ALL, MAP_COPY_ON_WRITE);
    vmMapSetWiredQuick(vm.map, at(0), 2 * PS);
    fault(vm, 0, R);
    const opg = frameAt(vm, 0);
    assert.ok(pte(vm, 0) & PTE_WIRED, 'wired');
    assert.equal(uvm.pages.wireCount(opg), 1);
    assert.deepEqual(mappedPages(vm, 0, 2), [0], 'no fault-ahead in a wired entry');
    fault(vm, 0, W);
    const npg = frameAt(vm, 0);
    assert.notEqual(npg, opg);
    assert.ok(pte(vm, 0) & PTE_WIRED, 'wired');
    assert.equal(uvm.pages.wireCount(npg), 1);
    assert.equal(uvm.pages.wireCount(opg), 0, 'the replaced page gave up its wiring');
    assert.equal(uvm.exp.wired, 1);
    assert.equal(vm.pmap.wiredCount, 1);
    check(vm);
  });

  it('wiring an anon that is in swap brings it in and frees its slot', () => {
    const vm = space();
    const uvm = vm.uvm;
    anonEntry(vm, 0, 1);
    fault(vm, 0, W);
    writeByte(vm, 0, 0x3c);
    const an = anonAt(vm, 0);
    swapOut(vm, an);
    assert.equal(uvm.exp.swpginuse, 1);
    assert.equal(wire(vm, [{ start: at(0), end: at(1), prot: RW }]), 0);
    assert.equal(byteAt(vm, 0), 0x3c);
    assert.equal(uvm.anons.swslot[an], 0, 'a wired page never goes back: the copy is dropped');
    assert.equal(uvm.exp.swpginuse, 0);
    uvmFaultUnwire(uvm, vm.map, at(0), at(1));
    check(vm);
  });

  it('a second wiring fault on a page it wired adds no wiring', () => {
    const vm = space();
    const uvm = vm.uvm;
    anonEntry(vm, 0, 1);
    fault(vm, 0, R, 0, VM_FAULT_CHANGE_WIRING);
    const pg = frameAt(vm, 0);
    fault(vm, 0, R, 0, VM_FAULT_CHANGE_WIRING);
    assert.equal(uvm.pages.wireCount(pg), 1);
    assert.equal(vm.pmap.wiredCount, 1);
    uvmFaultUnwire(uvm, vm.map, at(0), at(1));
    assert.equal(uvm.pages.wireCount(pg), 0);
    check(vm);
  });

  it('uvmFaultUnwire passes over translations that are not wired', () => {
    const vm = space();
    const uvm = vm.uvm;
    anonEntry(vm, 0, 4, RW, MAP_ENTRY_BEHAV_RANDOM);
    fault(vm, 0, W);
    fault(vm, 1, W, 0, VM_FAULT_CHANGE_WIRING);
    fault(vm, 2, W);
    uvmFaultUnwire(uvm, vm.map, at(0), at(4));
    assert.equal(uvm.exp.wired, 0);
    assert.deepEqual(mappedPages(vm, 0, 4), [0, 1, 2]);
    check(vm);
  });
});

describe('holds: uvmVslock, uvmVsunlock, uvmHold, uvmHoldMapped, uvmReserve', () => {
  it('uvmVslock faults pages in for reading, holds each frame, and takes no private copy', () => {
    const vm = space();
    const uvm = vm.uvm;
    const { vn } = file(vm, 3 * PS);
    vmMapInsert(vm.map, vn, 0, at(0), at(3), RW, PROT_ALL, MAP_COPY_ON_WRITE);
    const held: Frame[] = [];
    assert.equal(uvmVslock(uvm, vm.map, at(0), at(3), held), 0);
    assert.deepEqual(
      held,
      [0, 1, 2].map((i) => vn.pages.get(i)),
    );
    for (const pg of held) assert.equal(uvm.pages.wireCount(pg), 1);
    assert.equal(uvm.anons.nlive, 0);
    assert.equal(vm.pmap.wiredCount, 0, 'a hold is not a wired translation');
    uvmVsunlock(uvm, held);
    assert.equal(held.length, 0);
    assert.equal(uvm.exp.wired, 0);
    check(vm);
  });

  it('uvmVslock fails with the fault error and drops only its own holds', () => {
    const vm = space();
    const uvm = vm.uvm;
    anonEntry(vm, 0, 2);
    anonEntry(vm, 3, 1);
    const held: Frame[] = [];
    assert.equal(uvmVslock(uvm, vm.map, at(3), at(4), held), 0);
    assert.equal(uvmVslock(uvm, vm.map, at(0), at(4), held), 'EFAULT');
    assert.equal(held.length, 1, 'the earlier hold stays');
    assert.equal(uvm.exp.wired, 1);
    uvmVsunlock(uvm, held);
    assert.equal(uvm.exp.wired, 0);
    check(vm);
  });

  it('uvmHold refuses a frame whose wirings would overflow', () => {
    const vm = space();
    const uvm = vm.uvm;
    anonEntry(vm, 0, 1);
    fault(vm, 0, W);
    const pg = frameAt(vm, 0);
    for (let i = 0; i < WIRE_MAX - 2; i++) pageWire(uvm, pg);
    assert.equal(uvmHold(uvm, pg), true, 'room for the hold and one wiring');
    assert.equal(uvm.pages.wireCount(pg), WIRE_MAX - 1);
    assert.equal(uvmHold(uvm, pg), false);
    assert.equal(uvm.pages.wireCount(pg), WIRE_MAX - 1, 'nothing taken');
    const held: Frame[] = [];
    assert.equal(uvmVslock(uvm, vm.map, at(0), at(1), held), 'EAGAIN');
    assert.equal(held.length, 0);
    assert.equal(uvm.pages.wireCount(pg), WIRE_MAX - 1);
    for (let i = 0; i < WIRE_MAX - 1; i++) pageUnwire(uvm, pg);
    check(vm);
  });

  it('a wiring fault on a frame with WIRE_MAX wirings is EAGAIN, unless it wired it itself', () => {
    const vm = space();
    const uvm = vm.uvm;
    anonEntry(vm, 0, 1);
    const { vn } = file(vm, PS);
    vmMapInsert(vm.map, vn, 0, at(4), at(5), R, PROT_ALL, MAP_COPY_ON_WRITE);
    fault(vm, 0, W);
    fault(vm, 4, R);
    for (const page of [0, 4]) {
      const pg = frameAt(vm, page);
      for (let i = 0; i < WIRE_MAX; i++) pageWire(uvm, pg);
      const before = state(vm);
      fault(vm, page, R, 'EAGAIN', VM_FAULT_CHANGE_WIRING);
      assert.equal(state(vm), before, `page ${page}: nothing changed`);
      assert.equal(pte(vm, page) & PTE_WIRED, 0);
      assert.equal(
        uvmFaultWire(uvm, vm.map, [{ start: at(page), end: at(page + 1), prot: R }]),
        'EAGAIN',
      );
      assert.equal(state(vm), before);
      for (let i = 0; i < WIRE_MAX; i++) pageUnwire(uvm, pg);
    }
    /* a page this translation already wires may be at the limit */
    fault(vm, 0, R, 0, VM_FAULT_CHANGE_WIRING);
    const pg = frameAt(vm, 0);
    for (let i = 1; i < WIRE_MAX; i++) pageWire(uvm, pg);
    fault(vm, 0, R, 0, VM_FAULT_CHANGE_WIRING);
    assert.equal(uvm.pages.wireCount(pg), WIRE_MAX);
    for (let i = 1; i < WIRE_MAX; i++) pageUnwire(uvm, pg);
    uvmFaultUnwire(uvm, vm.map, at(0), at(1));
    check(vm);
  });

  it('uvmHoldMapped holds what is mapped and faults nothing in', () => {
    const vm = space();
    const uvm = vm.uvm;
    anonEntry(vm, 0, 4, RW, MAP_ENTRY_BEHAV_RANDOM);
    fault(vm, 1, W);
    fault(vm, 3, W);
    const faults = uvm.exp.faults;
    const held: Frame[] = [];
    uvmHoldMapped(uvm, vm.map, at(0), at(4), held);
    assert.deepEqual(held, [frameAt(vm, 1), frameAt(vm, 3)]);
    assert.equal(uvm.exp.faults, faults);
    assert.equal(uvm.exp.wired, 2);
    uvmVsunlock(uvm, held);
    assert.equal(uvm.exp.wired, 0);
    check(vm);
  });

  it('uvmReserve waits until enough frames are free, or says it cannot', () => {
    const vm = space({ physPages: 32 });
    const uvm = vm.uvm;
    assert.equal(uvmReserve(uvm, 5), true, 'enough free already');
    const h = hog(vm);
    assert.equal(uvmReserve(uvm, 1), false, 'no reclaimer');
    let calls = 0;
    uvm.reclaim = () => {
      if (calls === 3) return false;
      h.releasePage(calls++);
      return true;
    };
    assert.equal(uvmReserve(uvm, 2), true);
    assert.equal(uvm.pages.freeCount, 2);
    assert.equal(calls, 2);
    assert.equal(uvmReserve(uvm, 4), false, 'the reclaimer ran dry at 3');
    assert.equal(uvm.pages.freeCount, 3);
    check(vm);
  });
  it('a finished fault keeps nothing of its kernel alive (the fault context is reused)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const gone = (() => {
      const vm = space({ physPages: 16 });
      anonEntry(vm, 0, 1);
      assert.equal(uvmFault(vm.uvm, vm.map, at(0), PROT_WRITE), 0);
      return new WeakRef(vm.uvm);
    })();
    for (let i = 0; i < 10 && gone.deref() !== undefined; i++) {
      await new Promise((done) => setImmediate(done));
      gc();
    }
    assert.equal(gone.deref(), undefined, 'the kernel was collected');
  });
});
