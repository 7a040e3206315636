/*
 * The pagedaemon (src/kernel/pdaemon.ts) on its own: its targets, the
 * clock over the active and inactive queues, and what it does with each
 * kind of page. Memory pressure is made exactly: wired pages (which the
 * daemon never sees) fill memory until the wanted number of frames is free.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Amap, amapAlloc, type VmAref } from '../src/kernel/amap.ts';
import { anonGet } from '../src/kernel/anon.ts';
import { Aobj } from '../src/kernel/aobj.ts';
import { MemoryHost } from '../src/kernel/host.ts';
import { auditObjects, UvmObject } from '../src/kernel/object.ts';
import {
  NOPAGE,
  PG_BUSY,
  PG_CLEAN,
  PMAP_MODIFIED,
  PMAP_REFERENCED,
  PQ_FREE,
  PQ_PRIVATE,
  pageActivate,
  pageAlloc,
  pageDeactivate,
  pageWire,
} from '../src/kernel/page.ts';
import {
  type AnonId,
  type Frame,
  MADV_FREE,
  MAP_ANON,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
} from '../src/kernel/param.ts';
import { type PdaemonReport, pdTargets, uvmPageout } from '../src/kernel/pdaemon.ts';
import { type ClockPolicy, PQ_ACTIVE, PQ_INACTIVE } from '../src/kernel/pdpolicy/clock.ts';
import {
  MemoryStore,
  SWF_ENABLE,
  type SwapDevice,
  swapAlloc,
  swapOffBegin,
  swapOffEnd,
  swapPut,
} from '../src/kernel/swap.ts';
import { Uvm } from '../src/kernel/uvm.ts';
import { VnodeCache } from '../src/kernel/vnode.ts';
import { VmSystem } from '../src/sys/system.ts';
import { anonByte, auditAll, put, throwsVm } from './helpers.ts';

const PS = 4096;

/** A small kernel and one amap to hang anons on. */
interface Bed {
  uvm: Uvm;
  amap: Amap;
  aref: VmAref;
  next: number;
}

function bed(physPages = 16, swapPages = 64): Bed {
  const uvm = new Uvm({ physPages, swapPages, poisonFreed: true });
  const amap = amapAlloc(uvm, 256 * PS);
  return { uvm, amap, aref: { amap, pageoff: 0 }, next: 0 };
}

interface PageOpts {
  /** the page differs from any copy (a written zero-fill page) */
  dirty?: boolean;
  /** the pmap saw it used since the last look */
  referenced?: boolean;
  /** on the inactive queue instead of the active one */
  inactive?: boolean;
  /** also give it a copy in a fresh swap slot (state [2]: resident + slot) */
  slot?: boolean;
}

/** anon: a fresh anon in the bed's amap, resident, filled with `fill`. */
function anon(b: Bed, fill: number, o: PageOpts = {}): { an: AnonId; pg: Frame } {
  const uvm = b.uvm;
  const an = put(uvm, b.aref, b.next++, fill);
  const pg = uvm.anons.page[an];
  if (o.slot) {
    const slot = swapAlloc(uvm);
    assert.ok(slot > 0 && swapPut(uvm, slot, pg));
    uvm.anons.swslot[an] = slot;
  }
  if (o.inactive) pageDeactivate(uvm, pg);
  if (o.dirty) uvm.pages.flags[pg] &= ~PG_CLEAN;
  if (o.referenced) uvm.pages.attrs[pg] |= PMAP_REFERENCED;
  return { an, pg };
}

/** pressure: wire filler anon pages until exactly `free` frames are free. */
function pressure(b: Bed, free: number): Frame[] {
  const wired: Frame[] = [];
  while (b.uvm.pages.freeCount > free) {
    const { pg } = anon(b, 0xee, { dirty: true });
    pageWire(b.uvm, pg);
    wired.push(pg);
  }
  assert.equal(b.uvm.pages.freeCount, free);
  return wired;
}

/** queue: which queue a frame is on. */
function queue(uvm: Uvm, pg: Frame): string {
  const q = uvm.pages.pqflags[pg] & (PQ_FREE | PQ_PRIVATE);
  return q === PQ_ACTIVE ? 'active' : q === PQ_INACTIVE ? 'inactive' : q === 0 ? 'none' : 'free';
}

/** swpgonlyAgrees: uvmexp.swpgonly counts the anons whose only copy is in swap. */
function swpgonlyAgrees(uvm: Uvm): void {
  const pool = uvm.anons;
  const free = pool.freeMask();
  let only = 0;
  for (let an = 1; an < pool.capacity; an++)
    if (!free[an] && pool.swslot[an] !== 0 && pool.page[an] === NOPAGE) only++;
  for (const obj of uvm.aobjs)
    for (const idx of obj.swslots.keys()) if (!obj.pages.has(idx)) only++;
  assert.equal(uvm.exp.swpgonly, only, 'swpgonly');
}

function check(uvm: Uvm): void {
  auditAll(uvm);
  auditObjects(uvm);
  swpgonlyAgrees(uvm);
}

/** report: a report that is zero but for the given fields. */
function report(fields: Partial<PdaemonReport>): PdaemonReport {
  return {
    scanned: 0,
    deactivated: 0,
    reactivated: 0,
    freed: 0,
    pagedOut: 0,
    discarded: 0,
    noSwap: 0,
    ioErrors: 0,
    ...fields,
  };
}

describe('pdTargets', () => {
  it('freemin is 1/64 of memory (at least 4); freetarg is 4/3 of it, plus one', () => {
    const cases: [number, number, number][] = [
      [16, 4, 6],
      [256, 4, 6],
      [320, 5, 7],
      [1024, 16, 22],
      [16384, 256, 342],
    ];
    for (const [physPages, freemin, freetarg] of cases) {
      const uvm = new Uvm({ physPages, swapPages: 0, pageSize: 512 });
      const t = pdTargets(uvm);
      assert.deepEqual([t.freemin, t.freetarg], [freemin, freetarg], `${physPages} frames`);
      assert.ok(t.freetarg > t.freemin);
      assert.equal(uvm.freemin, freemin);
    }
  });

  it('both can be set, and a freetarg not above freemin is refused', () => {
    const uvm = new Uvm({ physPages: 64, swapPages: 0, freemin: 8, freetarg: 12 });
    assert.deepEqual(pdTargets(uvm), { freemin: 8, freetarg: 12 });
    throwsVm(
      () => new Uvm({ physPages: 64, swapPages: 0, freemin: 8, freetarg: 8 }),
      'EINVAL',
      'freetarg',
    );
    throwsVm(() => new Uvm({ physPages: 64, swapPages: 0, freemin: 0 }), 'EINVAL', 'freemin');
  });

  it("clock's inactive target is inactivepct (33%) of the queued pages, and more than freetarg", () => {
    const b = bed(64, 0);
    const clock = b.uvm.pdpol as ClockPolicy;
    const inactarg = () => {
      clock.tune();
      return clock.inactarg;
    };
    assert.equal(inactarg(), 7, 'nothing queued: freetarg 6, plus one');
    for (let i = 0; i < 30; i++) anon(b, i);
    assert.equal(inactarg(), 9, '33% of 30 queued pages');
    for (let i = 0; i < 4; i++) anon(b, i, { inactive: true });
    assert.equal(inactarg(), 11, 'active and inactive pages both count');
    const c = new Uvm({ physPages: 64, swapPages: 0, policyParams: { inactivepct: 50 } });
    const half = c.pdpol as ClockPolicy;
    for (let i = 0; i < 30; i++) pageActivate(c, pageAlloc(c, 0, 0, (i + 1) as AnonId, 0));
    half.tune();
    assert.equal(half.inactarg, 15, 'inactivepct 50');
    throwsVm(() => new Uvm({ policyParams: { inactivepct: 0 } }), 'EINVAL', 'inactivepct');
    throwsVm(() => new Uvm({ policyParams: { activepct: 5 } }), 'EINVAL', 'activepct');
  });

  it('with freetarg frames free a run does nothing; a caller short of memory can want more', () => {
    const b = bed(16, 64);
    const idle = [0, 1].map((i) => anon(b, i, { dirty: true, inactive: true }));
    const busy = [2, 3].map((i) => anon(b, i, { dirty: true }));
    pressure(b, 6);
    const r = uvmPageout(b.uvm);
    assert.deepEqual(r, report({}));
    assert.equal(b.uvm.exp.pdwoke, 1);
    assert.equal(b.uvm.exp.pdrevs, 0);
    assert.ok(idle.every(({ an, pg }) => b.uvm.anons.page[an] === pg));
    const w = uvmPageout(b.uvm, 8);
    assert.deepEqual(w, report({ scanned: 2, deactivated: 2, freed: 2, pagedOut: 2 }));
    assert.equal(b.uvm.pages.freeCount, 8);
    assert.equal(b.uvm.exp.pdwoke, 2);
    assert.equal(b.uvm.exp.pdrevs, 1);
    assert.ok(idle.every(({ an }) => b.uvm.anons.page[an] === NOPAGE));
    assert.ok(
      busy.every(({ pg }) => queue(b.uvm, pg) === 'inactive'),
      'after the scan, balance refills the inactive queue from active',
    );
    check(b.uvm);
  });
});

describe('the clock', () => {
  it('balance moves the oldest active pages to inactive, clearing their bits: a use before that does not count', () => {
    const b = bed(16, 64);
    const used = [anon(b, 0xa1, { referenced: true }), anon(b, 0xa2, { referenced: true })];
    const idle = [1, 2, 3, 4].map((i) => anon(b, 0xb0 + i, { dirty: true }));
    pressure(b, 2);
    const r = uvmPageout(b.uvm);
    assert.equal(b.uvm.exp.pdrevs, 2, 'the first pass found no inactive page, and balanced');
    assert.deepEqual(r, report({ scanned: 4, deactivated: 6, freed: 4, pagedOut: 4 }));
    assert.equal(b.uvm.exp.pddeact, 6);
    const all = [...used, ...idle];
    assert.deepEqual(
      all.map(({ an }) => b.uvm.anons.page[an] === NOPAGE),
      [true, true, true, true, false, false],
      'the scan took them in queue order: their bits were cleared on the way to inactive',
    );
    for (const { an, pg } of all.slice(4)) {
      assert.equal(b.uvm.anons.page[an], pg);
      assert.equal(queue(b.uvm, pg), 'inactive');
      assert.equal(b.uvm.pmap.isReferenced(pg), false);
    }
    for (const [i, { an }] of all.entries())
      assert.equal(anonByte(b.uvm, an), [0xa1, 0xa2, 0xb1, 0xb2, 0xb3, 0xb4][i]);
    check(b.uvm);
  });

  it('a referenced inactive page is reactivated, the others are taken', () => {
    const b = bed(16, 64);
    const again = anon(b, 0x55, { inactive: true });
    b.uvm.pages.attrs[again.pg] |= PMAP_REFERENCED;
    const idle = [1, 2, 3, 4].map((i) => anon(b, i, { inactive: true, dirty: true }));
    pressure(b, 2);
    const r = uvmPageout(b.uvm);
    assert.deepEqual(
      r,
      report({ scanned: 5, reactivated: 1, deactivated: 1, freed: 4, pagedOut: 4 }),
    );
    assert.equal(b.uvm.exp.pdreact, 1);
    assert.equal(b.uvm.exp.pdscans, 5);
    assert.equal(b.uvm.anons.page[again.an], again.pg, 'used since it was deactivated: kept');
    assert.equal(
      queue(b.uvm, again.pg),
      'inactive',
      'then balance sent it back to wait for the next run',
    );
    assert.equal(b.uvm.pmap.isReferenced(again.pg), false, 'its bit cleared on the way');
    assert.ok(idle.every(({ an }) => b.uvm.anons.page[an] === NOPAGE));
    check(b.uvm);
  });

  it('one run reaches freetarg even when an earlier pass freed some', () => {
    const b = bed(16, 64);
    const again = [0xc1, 0xc2].map((i) => anon(b, i, { inactive: true }));
    for (const { pg } of again) b.uvm.pages.attrs[pg] |= PMAP_REFERENCED;
    [1, 2].map((i) => anon(b, i, { inactive: true, dirty: true }));
    [3, 4, 5, 6].map((i) => anon(b, i, { dirty: true }));
    pressure(b, 2);
    const r = uvmPageout(b.uvm);
    assert.equal(r.freed, 4);
    assert.equal(b.uvm.pages.freeCount, pdTargets(b.uvm).freetarg, 'freetarg 6 reached in one run');
    check(b.uvm);
  });

  it('stops when the goal is met: a scan takes no more pages than it needs', () => {
    const b = bed(16, 64);
    const pages = [0, 1, 2, 3, 4, 5, 6].map((i) => anon(b, i, { inactive: true, dirty: true }));
    pressure(b, 3);
    const r = uvmPageout(b.uvm);
    assert.equal(r.freed, 3, 'freetarg 6, 3 were free');
    assert.equal(b.uvm.pages.freeCount, 6);
    assert.deepEqual(
      pages.map(({ an }) => b.uvm.anons.page[an] === NOPAGE),
      [true, true, true, false, false, false, false],
    );
    check(b.uvm);
  });
});

describe('what the pagedaemon does with each kind of page', () => {
  it('a clean anon with a live swap copy is freed without a write', () => {
    const b = bed(16, 64);
    const pages = [1, 2, 3, 4].map((i) => anon(b, 0x30 + i, { slot: true }));
    pressure(b, 2);
    const before = { ...b.uvm.exp };
    const r = uvmPageout(b.uvm);
    assert.deepEqual(r, report({ scanned: 4, deactivated: 4, freed: 4 }));
    assert.equal(b.uvm.exp.swapouts, before.swapouts, 'nothing written');
    assert.equal(b.uvm.exp.swpginuse, before.swpginuse, 'no slot taken');
    assert.equal(b.uvm.exp.swpgonly, before.swpgonly + 4);
    assert.equal(b.uvm.exp.pdfreed, before.pdfreed + 4);
    for (const [i, { an }] of pages.entries()) {
      assert.equal(b.uvm.anons.page[an], NOPAGE);
      assert.equal(anonByte(b.uvm, an), 0x31 + i);
    }
    check(b.uvm);
  });

  it('a clean anon whose copy is stale (written through the pmap) is written to its own slot', () => {
    const b = bed(16, 64);
    const { an, pg } = anon(b, 0x11, { slot: true, inactive: true });
    const slot = b.uvm.anons.swslot[an];
    b.uvm.pages.bytes.fill(0x22, pg * PS, (pg + 1) * PS);
    b.uvm.pages.attrs[pg] |= PMAP_MODIFIED;
    pressure(b, 5);
    const inuse = b.uvm.exp.swpginuse;
    const r = uvmPageout(b.uvm);
    assert.deepEqual(r, report({ scanned: 1, freed: 1, pagedOut: 1 }));
    assert.equal(b.uvm.anons.swslot[an], slot, 'the same slot');
    assert.equal(b.uvm.exp.swpginuse, inuse);
    assert.equal(anonByte(b.uvm, an), 0x22, 'holding the new data');
    check(b.uvm);
  });

  it("a MADV_FREE'd clean anon is discarded and reads as zeros; written again, it is kept", () => {
    const b = bed(16, 64);
    const lazy = anon(b, 0x77, { inactive: true });
    b.uvm.anons.lazyfree.add(lazy.an);
    const rewritten = anon(b, 0x78, { inactive: true });
    b.uvm.anons.lazyfree.add(rewritten.an);
    b.uvm.pages.attrs[rewritten.pg] |= PMAP_MODIFIED;
    pressure(b, 4);
    const inuse = b.uvm.exp.swpginuse;
    const r = uvmPageout(b.uvm);
    assert.deepEqual(r, report({ scanned: 2, freed: 2, discarded: 1, pagedOut: 1 }));
    assert.equal(b.uvm.exp.pdlazyfreed, 1);
    assert.equal(b.uvm.anons.page[lazy.an], NOPAGE);
    assert.equal(b.uvm.anons.swslot[lazy.an], 0, 'no swap copy');
    assert.equal(b.uvm.exp.swpginuse, inuse + 1, 'only the rewritten page took a slot');
    assert.equal(b.uvm.anons.lazyfree.has(rewritten.an), false, 'no longer lazy');
    assert.equal(anonByte(b.uvm, rewritten.an), 0x78);
    check(b.uvm);
    assert.equal(anonGet(b.uvm, lazy.an), 0);
    const pg = b.uvm.anons.page[lazy.an];
    assert.ok(
      b.uvm.pages.view(pg).every((x) => x === 0),
      'the discarded page reads as zeros',
    );
    assert.equal(b.uvm.anons.lazyfree.has(lazy.an), false);
    check(b.uvm);
  });

  it("a MADV_FREE'd page shared with a fork child is swapped, not discarded", () => {
    const sys = new VmSystem({ physPages: 64, swapPages: 256 });
    const p = sys.spawn();
    const a = p.mmap(0, 2 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON);
    p.write(a, [1]);
    p.write(a + PS, [2]);
    p.madvise(a, 2 * PS, MADV_FREE);
    const c = p.fork();
    c.write(a + PS, [3]);
    const r = uvmPageout(sys.uvm, sys.uvm.pages.npages);
    assert.equal(r.discarded, 1, "only the parent's unshared page 1");
    assert.equal(sys.counters.pdlazyfreed, 1);
    assert.equal(r.pagedOut, 2, "the shared page 0 and the child's copy of page 1");
    assert.equal(p.read(a, 1)[0], 1, 'the shared page was kept in swap');
    assert.equal(c.read(a, 1)[0], 1);
    assert.equal(p.read(a + PS, 1)[0], 0, 'the discarded page reads as zeros');
    assert.equal(c.read(a + PS, 1)[0], 3);
    sys.audit();
  });

  it('a dirty anon is written to a fresh swap slot and its frame freed', () => {
    const b = bed(16, 64);
    const { an, pg } = anon(b, 0x42, { dirty: true });
    pressure(b, 5);
    const before = { ...b.uvm.exp };
    const r = uvmPageout(b.uvm);
    assert.deepEqual(r, report({ scanned: 1, deactivated: 1, freed: 1, pagedOut: 1 }));
    assert.equal(b.uvm.anons.page[an], NOPAGE);
    assert.equal(queue(b.uvm, pg), 'free');
    assert.ok(b.uvm.anons.swslot[an] > 0);
    assert.equal(anonByte(b.uvm, an), 0x42);
    for (const k of ['swapouts', 'pageouts', 'pdpageouts', 'swpginuse', 'swpgonly', 'pdfreed'])
      assert.equal(
        b.uvm.exp[k as keyof typeof before],
        before[k as keyof typeof before] + 1,
        `exp.${k}`,
      );
    check(b.uvm);
  });

  it('dirty object pages go to their pager: an aobj to swap, a file written back', () => {
    const b = bed(32, 64);
    const host = new MemoryHost();
    host.put('/f', new Uint8Array(2 * PS).fill(0x10));
    const vnodes = new VnodeCache(b.uvm, (path) => host.open(path));
    const v = vnodes.get('/f', true)!;
    const ao = new Aobj(b.uvm, 2 * PS, 'shm');
    const vdirty = v.pgoGet(0) as Frame;
    const vclean = v.pgoGet(1) as Frame;
    b.uvm.pages.bytes.fill(0x99, vdirty * PS, (vdirty + 1) * PS);
    b.uvm.pages.attrs[vdirty] |= PMAP_MODIFIED;
    const adirty = ao.pgoGet(0) as Frame;
    b.uvm.pages.bytes.fill(0x5a, adirty * PS, (adirty + 1) * PS);
    pressure(b, 3);
    const before = { ...b.uvm.exp };
    const r = uvmPageout(b.uvm);
    assert.equal(r.freed, 3);
    assert.equal(r.pagedOut, 0, 'pagedOut counts anons only');
    assert.equal(v.pages.size, 0);
    assert.equal(ao.pages.size, 0);
    const file = host.get('/f')!;
    assert.ok(
      file.subarray(0, PS).every((x) => x === 0x99),
      'written back',
    );
    assert.ok(file.subarray(PS).every((x) => x === 0x10));
    assert.equal(b.uvm.exp.vnodepageouts, before.vnodepageouts + 1, 'the clean page not written');
    assert.ok(ao.swapSlot(0) > 0, 'the aobj page went to swap');
    assert.equal(b.uvm.exp.swapouts, before.swapouts + 1);
    assert.equal(b.uvm.exp.swpgonly, before.swpgonly + 1);
    assert.equal(queue(b.uvm, vclean), 'free');
    const back = ao.pgoGet(0) as Frame;
    assert.ok(b.uvm.pages.view(back).every((x) => x === 0x5a));
    check(b.uvm);
  });

  it('a dirty page of an object with no backing store is kept', () => {
    const b = bed(16, 64);
    const obj = new UvmObject(b.uvm, PS, 'zero');
    const pg = obj.pgoGet(0) as Frame;
    b.uvm.pages.attrs[pg] |= PMAP_MODIFIED;
    pressure(b, 5);
    const r = uvmPageout(b.uvm);
    assert.equal(r.freed, 0);
    assert.equal(r.noSwap, 1, 'tried once balance had made it a candidate');
    assert.equal(obj.pages.get(0), pg);
    assert.equal(queue(b.uvm, pg), 'inactive', 'kept, activated, then balanced back');
    check(b.uvm);
  });

  it('with swap full, dirty pages stay resident and dirty, counted as noSwap', () => {
    const b = bed(16, 2);
    const pages = [1, 2, 3, 4].map((i) => anon(b, i, { inactive: true, dirty: true }));
    pressure(b, 2);
    const r = uvmPageout(b.uvm);
    assert.equal(r.pagedOut, 2, 'two slots');
    assert.ok(r.noSwap >= 2, `noSwap ${r.noSwap}`);
    assert.equal(b.uvm.exp.pdnoswap, r.noSwap);
    assert.equal(b.uvm.exp.swpginuse, 2);
    const kept = pages.filter(({ an }) => b.uvm.anons.page[an] !== NOPAGE);
    assert.deepEqual(
      kept.map(({ an }) => an),
      pages.slice(2).map(({ an }) => an),
    );
    for (const { an, pg } of kept) {
      assert.notEqual(queue(b.uvm, pg), 'free');
      assert.equal(b.uvm.pages.flags[pg] & PG_CLEAN, 0, 'still dirty');
      assert.equal(b.uvm.anons.swslot[an], 0);
    }
    for (const [i, { an }] of pages.entries()) assert.equal(anonByte(b.uvm, an), i + 1);
    check(b.uvm);
  });

  it('with no swap at all, every dirty anon is kept and reactivated, on each pass', () => {
    const b = bed(16, 0);
    const pages = [1, 2, 3, 4].map((i) => anon(b, i, { inactive: true, dirty: true }));
    pressure(b, 2);
    const r = uvmPageout(b.uvm);
    assert.deepEqual(r, report({ scanned: 8, deactivated: 8, noSwap: 8 }));
    assert.equal(b.uvm.exp.pdrevs, 2, 'a pass that freed nothing ends the run');
    for (const { an, pg } of pages) {
      assert.equal(b.uvm.anons.page[an], pg);
      assert.equal(queue(b.uvm, pg), 'inactive', 'activated, then balanced back');
    }
    check(b.uvm);
  });

  it('a failed write is an EIO: the page stays dirty and resident, its fresh slot is freed', () => {
    const b = bed(16, 64);
    const store = b.uvm.swap.devices[0].store as MemoryStore;
    const pages = [1, 2, 3].map((i) => anon(b, i, { inactive: true, dirty: true }));
    pressure(b, 3);
    store.faults.failWrites = 1000;
    const before = { ...b.uvm.exp };
    const r = uvmPageout(b.uvm);
    assert.equal(r.freed, 0);
    assert.ok(r.ioErrors >= 3);
    assert.equal(r.ioErrors, 1000 - store.faults.failWrites, 'one per write tried');
    assert.equal(b.uvm.exp.swapioerrs, before.swapioerrs + r.ioErrors);
    assert.equal(b.uvm.exp.pdnoswap, before.pdnoswap, 'not a lack of swap');
    assert.equal(b.uvm.exp.swpginuse, 0, 'every fresh slot freed');
    for (const [i, { an, pg }] of pages.entries()) {
      assert.equal(b.uvm.anons.page[an], pg);
      assert.equal(b.uvm.anons.swslot[an], 0);
      assert.equal(b.uvm.pages.flags[pg] & PG_CLEAN, 0);
      assert.notEqual(queue(b.uvm, pg), 'free');
      assert.equal(anonByte(b.uvm, an), i + 1);
    }
    check(b.uvm);
    store.faults.failWrites = 0;
    assert.equal(uvmPageout(b.uvm).pagedOut, 3, 'the next run succeeds');
    check(b.uvm);
  });

  it('a failed file write keeps the page dirty and resident, and the file unchanged', () => {
    const b = bed(16, 64);
    const host = new MemoryHost();
    host.put('/f', new Uint8Array(PS).fill(1));
    const v = new VnodeCache(b.uvm, (path) => host.open(path)).get('/f', true)!;
    const pg = v.pgoGet(0) as Frame;
    b.uvm.pages.bytes[pg * PS] = 2;
    b.uvm.pages.attrs[pg] |= PMAP_MODIFIED;
    pressure(b, 5);
    host.faults('/f').failWrites = 1000;
    const r = uvmPageout(b.uvm);
    assert.equal(r.freed, 0);
    assert.ok(r.ioErrors >= 1);
    assert.equal(b.uvm.exp.vnodeioerrs, r.ioErrors);
    assert.equal(v.pages.get(0), pg);
    assert.ok(v.isDirty(pg));
    assert.equal(host.get('/f')![0], 1);
    host.faults('/f').failWrites = 0;
    assert.equal(uvmPageout(b.uvm).freed, 1);
    assert.equal(host.get('/f')![0], 2);
    check(b.uvm);
  });

  it('never takes a wired page', () => {
    const b = bed(16, 64);
    const free = anon(b, 0x01, { dirty: true });
    const wired = pressure(b, 2);
    const r = uvmPageout(b.uvm);
    assert.equal(r.freed, 1, 'only the unwired page');
    assert.equal(b.uvm.anons.page[free.an], NOPAGE);
    for (const pg of wired) {
      assert.equal(queue(b.uvm, pg), 'none');
      assert.equal(b.uvm.pages.uanon(pg) !== 0, true, 'still owned');
      assert.equal(b.uvm.pages.bytes[pg * PS], 0xee);
    }
    assert.equal(b.uvm.exp.swpginuse, 1);
    check(b.uvm);
  });

  it('never takes a busy page, nor a loaned one', () => {
    const b = bed(16, 64);
    const busy = anon(b, 0x0b, { inactive: true, dirty: true });
    b.uvm.pages.flags[busy.pg] |= PG_BUSY;
    const loaned = anon(b, 0x0c, { inactive: true, dirty: true });
    b.uvm.pages.setLoanCount(loaned.pg, 1);
    const idle = anon(b, 0x0d, { inactive: true, dirty: true });
    pressure(b, 2);
    const r = uvmPageout(b.uvm);
    assert.equal(r.freed, 1);
    assert.equal(b.uvm.anons.page[idle.an], NOPAGE);
    assert.equal(b.uvm.anons.page[busy.an], busy.pg);
    assert.equal(b.uvm.anons.page[loaned.an], loaned.pg);
    assert.equal(b.uvm.anons.swslot[busy.an], 0);
    assert.equal(b.uvm.anons.swslot[loaned.an], 0);
    assert.equal(r.noSwap + r.ioErrors, 0, 'skipped, not tried');
    b.uvm.pages.flags[busy.pg] &= ~PG_BUSY;
    b.uvm.pages.setLoanCount(loaned.pg, 0);
    check(b.uvm);
  });
});

describe('a page whose only copy is on a device being swapped off', () => {
  /** A kernel with devices `off` (being drained, holding pages' copies) and `other`. */
  function draining(otherPages: number) {
    const b = bed(16, 0);
    const off = b.uvm.swap.addDevice(b.uvm, 8, 5, new MemoryStore(8, PS));
    const pages = [1, 2].map((i) => anon(b, 0x60 + i, { slot: true, inactive: true }));
    const ao = new Aobj(b.uvm, PS, 'shm');
    const apg = ao.pgoGet(0) as Frame;
    b.uvm.pages.bytes.fill(0x6a, apg * PS, (apg + 1) * PS);
    assert.equal(ao.pageout(0, apg), 'freed');
    const back = ao.pgoGet(0) as Frame;
    pageDeactivate(b.uvm, back);
    assert.equal(off.inuseCount, 3);
    const other: SwapDevice | null =
      otherPages > 0 ? b.uvm.swap.addDevice(b.uvm, otherPages, 0, new MemoryStore(8, PS)) : null;
    assert.equal(swapOffBegin(b.uvm, off), 0);
    assert.equal(off.flags & SWF_ENABLE, 0);
    pressure(b, 2);
    return { b, off, other, pages, ao };
  }

  it('gets a fresh slot on another device, and the old slot is freed', () => {
    const { b, off, other, pages, ao } = draining(8);
    const r = uvmPageout(b.uvm);
    assert.equal(r.freed, 3);
    assert.equal(r.pagedOut, 2, 'the anons were written again');
    assert.equal(off.inuseCount, 0, 'nothing left on the draining device');
    assert.equal(other!.inuseCount, 3);
    for (const [i, { an }] of pages.entries()) {
      assert.ok(other!.owns(b.uvm.anons.swslot[an]));
      assert.equal(anonByte(b.uvm, an), 0x61 + i);
    }
    assert.ok(other!.owns(ao.swapSlot(0)));
    check(b.uvm);
    assert.equal(swapOffEnd(b.uvm, off, b.uvm.exp.swapioerrs), 0, 'the device can go');
    assert.equal(b.uvm.swap.devices.includes(off), false);
    const apg = ao.pgoGet(0);
    assert.equal(typeof apg, 'number');
    assert.ok(b.uvm.pages.view(apg as Frame).every((x) => x === 0x6a));
    check(b.uvm);
  });

  it('stays resident, keeping its old slot, when no other device has room', () => {
    const { b, off, pages, ao } = draining(0);
    const r = uvmPageout(b.uvm);
    assert.equal(r.freed, 0);
    assert.equal(r.noSwap, 6, 'three pages, tried on both passes');
    assert.equal(off.inuseCount, 3, 'the copies are still there');
    for (const { an } of pages) {
      assert.notEqual(b.uvm.anons.page[an], NOPAGE);
      assert.ok(off.owns(b.uvm.anons.swslot[an]));
    }
    assert.ok(ao.pages.has(0));
    assert.ok(off.owns(ao.swapSlot(0)));
    check(b.uvm);
    assert.equal(swapOffEnd(b.uvm, off, b.uvm.exp.swapioerrs), 'ENOMEM', 'used again');
    assert.equal(off.flags & SWF_ENABLE, SWF_ENABLE);
    check(b.uvm);
  });
});
