/*
 * The pmap layer (src/kernel/pmap.ts) on its own: page tables and their
 * PTE encoding, the reverse map (PvTable) and the page-level calls the VM
 * makes through it, pmap ids, and the audit.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PhysMem, PMAP_MODIFIED, PMAP_REFERENCED } from '../src/kernel/page.ts';
import {
  type Frame,
  KernelPanic,
  PROT_ALL,
  PROT_EXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from '../src/kernel/param.ts';
import {
  auditPmaps,
  NPTE,
  PMAP_WIRED,
  Pmap,
  type PmapOwner,
  PTE_R,
  PTE_W,
  PTE_WIRED,
  PTE_X,
  Ptp,
  PvTable,
  pteFrame,
  pteProt,
  VA_LIMIT,
} from '../src/kernel/pmap.ts';
import { throwsVm } from './helpers.ts';

const PS = 4096;
const R = PROT_READ;
const RW = PROT_READ | PROT_WRITE;
const RX = PROT_READ | PROT_EXEC;
const BASE = 0x7f0000000000;
/** at: an address `pages` pages above BASE (a high one: its page number exceeds 2^32 / PS). */
const at = (pages: number) => BASE + pages * PS;
const f = (n: number) => n as Frame;

/** A reverse map over 64 frames of 4 KiB. */
function pvTable(pageSize = PS, frames = 64): PvTable {
  return new PvTable(new PhysMem(frames, pageSize));
}

function audit(pv: PvTable): void {
  auditPmaps(pv, pv.pvh.length);
}

/** mappings: every translation of a pmap as [va, frame, prot, wired]. */
function mappings(pmap: Pmap): [number, number, number, boolean][] {
  const out: [number, number, number, boolean][] = [];
  pmap.forEachMapping((va, pg, pte) => out.push([va, pg, pteProt(pte), (pte & PTE_WIRED) !== 0]));
  return out;
}

/** where: the mappings of pg as [pmap id, va], sorted. */
function where(pv: PvTable, pg: Frame, pageSize = PS): [number, number][] {
  return pv
    .keys(pg)
    .map((k): [number, number] => [pv.keyPmap(k), pv.keyVpn(k) * pageSize])
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
}

/** An owner whose translations go through amap slot `slotOf(va)` of `amap`. */
function owner(amap: object, slotOf: (va: number) => number): PmapOwner {
  return { mapsSlot: (va, a, slot) => a === amap && slotOf(va) === slot };
}

describe('Pmap: translations', () => {
  it('enter and lookup: a PTE holds the frame, the protection and the wired bit', () => {
    const pv = pvTable();
    const pmap = new Pmap(pv, PS);
    assert.equal(pmap.lookup(at(0)), 0, 'no translation');
    pmap.enter(at(0), f(5), RW, 0);
    pmap.enter(at(1), f(0), PROT_NONE, 0);
    pmap.enter(at(2), f(63), PROT_ALL, PMAP_WIRED);
    const t0 = pmap.lookup(at(0) + 100);
    assert.equal(pteFrame(t0), 5);
    assert.equal(pteProt(t0), RW);
    assert.equal(t0 & PTE_WIRED, 0);
    const t1 = pmap.lookup(at(1));
    assert.notEqual(t1, 0, 'frame 0 with no access is still a translation');
    assert.equal(pteFrame(t1), 0);
    assert.equal(pteProt(t1), PROT_NONE);
    const t2 = pmap.lookup(at(2) + PS - 1);
    assert.equal(pteFrame(t2), 63);
    assert.equal(t2 & (PTE_R | PTE_W | PTE_X), PTE_R | PTE_W | PTE_X);
    assert.equal(pteProt(t2), PROT_ALL, 'the wired bit is not a protection');
    assert.ok(t2 & PTE_WIRED, 'wired');
    assert.equal(pmap.lookup(at(3)), 0);
    assert.equal(pmap.residentCount, 3);
    assert.equal(pmap.wiredCount, 1);
    assert.deepEqual(where(pv, f(5)), [[pmap.id, at(0)]]);
    audit(pv);
  });

  it('enter replaces a translation: same frame keeps its pv entry, another moves it', () => {
    const pv = pvTable();
    const pmap = new Pmap(pv, PS);
    pmap.enter(at(0), f(3), R, 0);
    pmap.enter(at(0), f(3), RW, PMAP_WIRED);
    assert.equal(pmap.residentCount, 1);
    assert.equal(pmap.wiredCount, 1);
    assert.equal(pv.pageMappings(f(3)), 1);
    pmap.enter(at(0), f(3), R, PMAP_WIRED);
    assert.equal(pmap.wiredCount, 1, 'rewiring a wired translation counts once');
    assert.equal(pteProt(pmap.lookup(at(0))), R, 'enter sets the protection, lower or not');
    pmap.enter(at(0), f(4), RW, 0);
    assert.equal(pmap.residentCount, 1);
    assert.equal(pmap.wiredCount, 0, 'the wired translation it replaced is gone');
    assert.equal(pv.pageMappings(f(3)), 0);
    assert.deepEqual(where(pv, f(4)), [[pmap.id, at(0)]]);
    audit(pv);
  });

  it('remove drops a range and frees the page-table pages it empties', () => {
    const pv = pvTable();
    const pmap = new Pmap(pv, PS);
    /* pages NPTE-2 .. NPTE+1 straddle two page-table pages */
    const first = NPTE * 10 - 2;
    for (let i = 0; i < 4; i++) pmap.enter(at(first + i), f(i), RW, i === 3 ? PMAP_WIRED : 0);
    pmap.enter(at(first + 600), f(9), R, 0);
    const tables = pmap.tables.size;
    assert.equal(tables, 3);
    pmap.remove(at(first + 1), at(first + 3));
    assert.deepEqual(
      mappings(pmap).map((m) => m[0]),
      [at(first), at(first + 3), at(first + 600)],
    );
    assert.equal(pmap.tables.size, 3, 'no table emptied');
    pmap.remove(at(first), at(first + 4));
    assert.equal(pmap.tables.size, 1, 'both emptied tables freed');
    assert.equal(pmap.residentCount, 1);
    assert.equal(pmap.wiredCount, 0);
    for (let i = 0; i < 4; i++) assert.equal(pv.pageMappings(f(i)), 0);
    /* a table freed and made again is found again (no stale cached table) */
    pmap.enter(at(first), f(7), R, 0);
    assert.equal(pteFrame(pmap.lookup(at(first))), 7);
    pmap.remove(at(first), at(first + 1));
    assert.equal(pmap.lookup(at(first)), 0);
    pmap.enter(at(first + 1), f(8), R, 0);
    assert.equal(pmap.lookup(at(first)), 0);
    assert.equal(pteFrame(pmap.lookup(at(first + 1))), 8);
    audit(pv);
  });

  it('protect lowers protections; to PROT_NONE it removes all but wired translations', () => {
    const pv = pvTable();
    const pmap = new Pmap(pv, PS);
    pmap.enter(at(0), f(1), PROT_ALL, 0);
    pmap.enter(at(1), f(2), R, 0);
    pmap.enter(at(2), f(3), RW, PMAP_WIRED);
    pmap.enter(at(3), f(4), RW, 0);
    pmap.protect(at(0), at(3), RX);
    assert.deepEqual(mappings(pmap), [
      [at(0), 1, RX, false],
      [at(1), 2, R, false],
      [at(2), 3, R, true],
      [at(3), 4, RW, false],
    ]);
    pmap.protect(at(0), at(4), PROT_NONE);
    assert.deepEqual(mappings(pmap), [[at(2), 3, PROT_NONE, true]]);
    assert.equal(pmap.residentCount, 1);
    assert.equal(pmap.wiredCount, 1);
    assert.equal(pv.pageMappings(f(1)), 0);
    assert.equal(pv.pageMappings(f(3)), 1, 'the wired page stays mapped, inaccessible');
    audit(pv);
  });

  it('unwire clears the wired bit once; unmapped or unwired addresses are left alone', () => {
    const pv = pvTable();
    const pmap = new Pmap(pv, PS);
    pmap.enter(at(0), f(1), RW, PMAP_WIRED);
    pmap.enter(at(1), f(2), RW, 0);
    pmap.unwire(at(0));
    pmap.unwire(at(0));
    pmap.unwire(at(1));
    pmap.unwire(at(5000));
    assert.equal(pmap.wiredCount, 0);
    assert.deepEqual(mappings(pmap), [
      [at(0), 1, RW, false],
      [at(1), 2, RW, false],
    ]);
    audit(pv);
  });

  it('forRange visits the valid PTEs of a range in order, across tables', () => {
    const pv = pvTable();
    const pmap = new Pmap(pv, PS);
    const pages = [NPTE - 1, NPTE, NPTE + 5, 3 * NPTE + 2, 3 * NPTE + 3];
    pages.forEach((p, i) => {
      pmap.enter(at(p), f(i), R, 0);
    });
    const seen: number[] = [];
    pmap.forRange(at(NPTE), at(3 * NPTE + 3), (t, i, vpn) => {
      assert.ok(t instanceof Ptp, 'a page-table page');
      assert.equal(vpn % NPTE, i);
      assert.notEqual(t.pte[i], 0);
      seen.push(vpn * PS);
    });
    assert.deepEqual(seen, [at(NPTE), at(NPTE + 5), at(3 * NPTE + 2)]);
  });

  it('forEachMapping lists every translation in address order', () => {
    const pv = pvTable();
    const pmap = new Pmap(pv, PS);
    for (const [p, pg] of [
      [5 * NPTE, 1],
      [3, 2],
      [NPTE + 1, 3],
      [1, 4],
    ])
      pmap.enter(at(p), f(pg), R, 0);
    assert.deepEqual(
      mappings(pmap).map(([va, pg]) => [(va - BASE) / PS, pg]),
      [
        [1, 4],
        [3, 2],
        [NPTE + 1, 3],
        [5 * NPTE, 1],
      ],
    );
  });

  it('destroy drops every translation and its pv entries, and frees the id', () => {
    const pv = pvTable();
    const a = new Pmap(pv, PS);
    const b = new Pmap(pv, PS);
    a.enter(at(0), f(1), RW, PMAP_WIRED);
    a.enter(at(NPTE * 7), f(2), RW, 0);
    b.enter(at(0), f(1), R, 0);
    a.destroy();
    assert.equal(a.tables.size, 0);
    assert.equal(a.residentCount, 0);
    assert.equal(a.wiredCount, 0);
    assert.equal(pv.pmaps[a.id], null);
    assert.deepEqual(where(pv, f(1)), [[b.id, at(0)]]);
    assert.equal(pv.pageMappings(f(2)), 0);
    audit(pv);
    const c = new Pmap(pv, PS);
    assert.equal(c.id, a.id, 'the id is reused');
    assert.equal(c.lookup(at(0)), 0, 'and the new pmap starts empty');
    audit(pv);
  });
});

describe('PvTable: the reverse map', () => {
  it("embeds a frame's first mapping and lists the others", () => {
    const pv = pvTable();
    const a = new Pmap(pv, PS);
    const b = new Pmap(pv, PS);
    const pg = f(7);
    assert.equal(pv.pvh[pg], 0);
    assert.deepEqual(pv.keys(pg), []);
    a.enter(at(0), pg, R, 0);
    assert.ok(pv.pvh[pg] > 0, 'the first mapping is embedded');
    assert.equal(pv.listed, 0, 'no list entry for it');
    b.enter(at(1), pg, R, 0);
    a.enter(at(2), pg, R, 0);
    assert.ok(pv.pvh[pg] < 0, 'a shared frame names a list');
    assert.equal(pv.listed, 3, 'which holds every mapping');
    assert.equal(pv.pageMappings(pg), 3);
    assert.deepEqual(where(pv, pg), [
      [a.id, at(0)],
      [a.id, at(2)],
      [b.id, at(1)],
    ]);
    assert.equal(pv.spacesMapping(pg), 2, 'two of them in one space');
    a.removeOne(at(0));
    assert.deepEqual(where(pv, pg), [
      [a.id, at(2)],
      [b.id, at(1)],
    ]);
    b.removeOne(at(1));
    assert.ok(pv.pvh[pg] > 0, 'the last mapping folds back into the frame');
    assert.equal(pv.listed, 0);
    assert.deepEqual(where(pv, pg), [[a.id, at(2)]]);
    a.removeOne(at(2));
    assert.equal(pv.pvh[pg], 0);
    assert.equal(pv.pageMappings(pg), 0);
    assert.equal(pv.spacesMapping(pg), 0);
    audit(pv);
  });

  it('removes from the middle of a list, and panics for a mapping it does not have', () => {
    const pv = pvTable();
    const a = new Pmap(pv, PS);
    const pg = f(2);
    for (let i = 0; i < 5; i++) a.enter(at(i), pg, R, 0);
    a.removeOne(at(2));
    a.removeOne(at(4));
    assert.deepEqual(
      where(pv, pg).map(([, va]) => va),
      [at(0), at(1), at(3)],
    );
    audit(pv);
    assert.throws(() => pv.remove(pg, a.id, 12345), KernelPanic);
    assert.throws(() => pv.remove(f(3), a.id, 0), KernelPanic);
  });

  it('grows its list pools, and reuses freed entries', () => {
    const pv = pvTable();
    const a = new Pmap(pv, PS);
    const n = 3000;
    for (let i = 0; i < n; i++) a.enter(at(i), f(i % 4), R, 0);
    assert.ok(pv.keyOf.length >= n - 4, 'grown past its first 1024');
    for (let pg = 0; pg < 4; pg++) assert.equal(pv.pageMappings(f(pg)), n / 4);
    audit(pv);
    const cap = pv.keyOf.length;
    a.remove(at(0), at(n));
    for (let i = 0; i < n; i++) a.enter(at(i + n), f(i % 4), R, 0);
    assert.equal(pv.keyOf.length, cap, 'freed entries were reused');
    audit(pv);
  });

  it('pageProtect(NONE) removes every mapping of the page, wired ones included', () => {
    const pv = pvTable();
    const a = new Pmap(pv, PS);
    const b = new Pmap(pv, PS);
    const pg = f(9);
    a.enter(at(0), pg, RW, 0);
    a.enter(at(NPTE * 3), pg, R, PMAP_WIRED);
    b.enter(at(0), pg, RW, 0);
    a.enter(at(1), f(10), RW, 0);
    pv.pageProtect(pg, PROT_NONE);
    assert.equal(pv.pageMappings(pg), 0);
    assert.equal(a.lookup(at(0)), 0);
    assert.equal(b.lookup(at(0)), 0);
    assert.equal(a.wiredCount, 0);
    assert.deepEqual(mappings(a), [[at(1), 10, RW, false]], 'other pages keep theirs');
    assert.equal(a.tables.size, 1, 'the table left empty was freed');
    assert.equal(b.tables.size, 0);
    audit(pv);
  });

  it('pageProtect lowers every mapping of the page and never raises one', () => {
    const pv = pvTable();
    const a = new Pmap(pv, PS);
    const b = new Pmap(pv, PS);
    const pg = f(9);
    a.enter(at(0), pg, PROT_ALL, PMAP_WIRED);
    a.enter(at(1), pg, PROT_EXEC, 0);
    b.enter(at(0), pg, RW, 0);
    b.enter(at(5), f(1), RW, 0);
    pv.pageProtect(pg, RX);
    assert.deepEqual(mappings(a), [
      [at(0), 9, RX, true],
      [at(1), 9, PROT_EXEC, false],
    ]);
    assert.deepEqual(mappings(b), [
      [at(0), 9, R, false],
      [at(5), 1, RW, false],
    ]);
    pv.pageProtect(pg, R);
    assert.equal(pteProt(a.lookup(at(1))), PROT_NONE, 'execute-only lowered to read leaves none');
    assert.notEqual(a.lookup(at(1)), 0, 'but stays a translation');
    audit(pv);
  });

  it('pageLeaveSlot: unwired mappings go, a wired one through the slot moves, others stay', () => {
    const pv = pvTable();
    const amap = {};
    const other = {};
    const a = new Pmap(pv, PS);
    const b = new Pmap(pv, PS);
    const c = new Pmap(pv, PS);
    /* a and b map slot (va - BASE) / PS of amap; c maps another amap's slot */
    a.owner = owner(amap, (va) => (va - BASE) / PS);
    b.owner = owner(amap, (va) => (va - BASE) / PS);
    c.owner = owner(other, (va) => (va - BASE) / PS);
    const pg = f(4);
    const npg = f(5);
    a.enter(at(2), pg, R, 0);
    b.enter(at(2), pg, RX, PMAP_WIRED);
    b.enter(at(3), pg, R, PMAP_WIRED); /* wired, through slot 3: not the one leaving */
    c.enter(at(2), pg, R, PMAP_WIRED);
    assert.equal(pv.wiredThrough(pg, amap, 2), true);
    assert.equal(pv.wiredThrough(pg, amap, 7), false);
    assert.equal(pv.wiredThrough(pg, other, 2), true);
    assert.equal(pv.pageLeaveSlot(pg, npg, amap, 2), 1);
    assert.equal(a.lookup(at(2)), 0, 'the unwired mapping is gone');
    assert.deepEqual(mappings(b), [
      [at(2), 5, RX, true],
      [at(3), 4, R, true],
    ]);
    assert.deepEqual(mappings(c), [[at(2), 4, R, true]]);
    assert.equal(b.wiredCount, 2);
    assert.equal(pv.wiredThrough(pg, amap, 2), false);
    assert.equal(pv.wiredThrough(npg, amap, 2), true);
    assert.deepEqual(where(pv, npg), [[b.id, at(2)]]);
    assert.deepEqual(where(pv, pg), [
      [b.id, at(3)],
      [c.id, at(2)],
    ]);
    audit(pv);
  });

  it('pageLeaveSlot with no new page panics under a wired mapping through the slot', () => {
    const pv = pvTable();
    const amap = {};
    const a = new Pmap(pv, PS);
    a.owner = owner(amap, () => 0);
    a.enter(at(0), f(1), R, 0);
    assert.equal(pv.wiredThrough(f(1), amap, 0), false, 'mapped through the slot, not wired');
    assert.equal(pv.pageLeaveSlot(f(1), -1 as Frame, amap, 0), 0);
    assert.equal(pv.pageMappings(f(1)), 0);
    a.enter(at(0), f(1), R, PMAP_WIRED);
    assert.throws(() => pv.pageLeaveSlot(f(1), -1 as Frame, amap, 0), KernelPanic);
  });

  it('pageLeaveSlot and wiredThrough see nothing through a pmap without an owner', () => {
    const pv = pvTable();
    const a = new Pmap(pv, PS);
    a.enter(at(0), f(1), R, PMAP_WIRED);
    assert.equal(pv.wiredThrough(f(1), {}, 0), false);
    assert.equal(pv.pageLeaveSlot(f(1), f(2), {}, 0), 0);
    assert.deepEqual(mappings(a), [[at(0), 1, R, true]]);
  });

  it('keeps referenced and modified bits per frame', () => {
    const pages = new PhysMem(16, PS);
    const pv = new PvTable(pages);
    assert.equal(pv.isReferenced(f(3)), false);
    pages.attrs[3] |= PMAP_REFERENCED | PMAP_MODIFIED;
    assert.equal(pv.isReferenced(f(3)), true);
    assert.equal(pv.isModified(f(3)), true);
    assert.equal(pv.isReferenced(f(4)), false);
    assert.equal(pv.clearReference(f(3)), true);
    assert.equal(pv.clearReference(f(3)), false);
    assert.equal(pv.isReferenced(f(3)), false);
    assert.equal(pv.isModified(f(3)), true, 'clearing one bit leaves the other');
    assert.equal(pv.clearModify(f(3)), true);
    assert.equal(pv.clearModify(f(3)), false);
    assert.equal(pv.isModified(f(3)), false);
    assert.equal(pages.attrs[3], 0);
    pages.attrs[3] |= PMAP_REFERENCED | PMAP_MODIFIED;
    pv.clearModify(f(3));
    assert.equal(pv.isReferenced(f(3)), true, 'and the other way round');
  });
});

describe('pmap ids and pv keys', () => {
  it('ids are reused, and one pmap past maxPmaps is EAGAIN', () => {
    const pv = pvTable(512, 16);
    assert.equal(pv.maxPmaps, 2 ** 15 - 1, '2^53 / (2^47 / 512), less one');
    const all: Pmap[] = [];
    for (let i = 0; i < pv.maxPmaps; i++) all.push(new Pmap(pv, 512));
    assert.deepEqual([all[0].id, all[all.length - 1].id], [1, pv.maxPmaps]);
    throwsVm(() => new Pmap(pv, 512), 'EAGAIN');
    all[99].destroy();
    all[7].destroy();
    assert.equal(new Pmap(pv, 512).id, all[7].id);
    assert.equal(new Pmap(pv, 512).id, all[99].id);
    throwsVm(() => new Pmap(pv, 512), 'EAGAIN');
  });

  for (let ps = 512; ps <= 65536; ps *= 2) {
    it(`keys are exact at ${ps}-byte pages: the last id, the highest page`, () => {
      const pv = pvTable(ps, 16);
      assert.equal(pv.span, VA_LIMIT / ps);
      assert.equal(pv.maxPmaps, Math.floor(2 ** 53 / pv.span) - 1);
      const low = new Pmap(pv, ps);
      assert.equal(low.id, 1);
      /* skip the ids between: the next pmap takes the highest id there is */
      pv.pmaps.length = pv.maxPmaps;
      const high = new Pmap(pv, ps);
      assert.equal(high.id, pv.maxPmaps);
      throwsVm(() => new Pmap(pv, ps), 'EAGAIN');
      const top = VA_LIMIT - ps;
      const pg = f(15);
      high.enter(top, pg, RW, 0);
      high.enter(0, pg, R, 0);
      low.enter(top, pg, R, 0);
      high.enter(top - ps, f(14), R, 0);
      for (const k of pv.keys(pg)) assert.ok(Number.isSafeInteger(k) && k > 0, `key ${k}`);
      assert.deepEqual(where(pv, pg, ps), [
        [low.id, top],
        [high.id, 0],
        [high.id, top],
      ]);
      assert.equal(pteFrame(high.lookup(top + ps - 1)), 15);
      assert.equal(pteFrame(high.lookup(top - 1)), 14);
      audit(pv);
      /* the reverse map reaches the right translation in the right pmap */
      pv.pageProtect(pg, R);
      assert.equal(pteProt(high.lookup(top)), R);
      pv.pageProtect(pg, PROT_NONE);
      assert.equal(high.lookup(top), 0);
      assert.equal(high.lookup(0), 0);
      assert.equal(low.lookup(top), 0);
      assert.equal(pteFrame(high.lookup(top - ps)), 14, 'the neighbour stays');
      assert.equal(high.residentCount, 1);
      assert.equal(low.residentCount, 0);
      audit(pv);
    });
  }
});

describe('auditPmaps', () => {
  /** a small consistent setup: two pmaps, a shared page and a wired one */
  function setup(): { pv: PvTable; a: Pmap; b: Pmap } {
    const pv = pvTable();
    const a = new Pmap(pv, PS);
    const b = new Pmap(pv, PS);
    a.enter(at(0), f(1), RW, 0);
    a.enter(at(1), f(2), R, PMAP_WIRED);
    b.enter(at(0), f(1), R, 0);
    audit(pv);
    return { pv, a, b };
  }
  const fails = (pv: PvTable, re: RegExp) =>
    assert.throws(
      () => audit(pv),
      (e: unknown) => e instanceof KernelPanic && re.test(e.message),
    );
  const ptpOf = (p: Pmap, va: number) => p.tables.get(Math.floor(va / PS / NPTE))!;
  const slot = (va: number) => (va / PS) % NPTE;

  it('catches a PTE with no pv entry', () => {
    const { pv, a } = setup();
    const t = ptpOf(a, at(0));
    t.pte[slot(at(5))] = (3 + 1) * 16 + PTE_R;
    t.live++;
    a.residentCount++;
    fails(pv, /PTEs but .* pv entries/);
  });

  it('catches a pv entry with no PTE', () => {
    const { pv, a } = setup();
    pv.add(f(3), a.id, at(9) / PS);
    fails(pv, /pv entry of page 3 .* has no PTE/);
  });

  it('catches a PTE that maps another frame than its pv entry says', () => {
    const { pv, a } = setup();
    const t = ptpOf(a, at(0));
    t.pte[slot(at(0))] = (5 + 1) * 16 + PTE_R + PTE_W;
    fails(pv, /pv entry of page 1 .* has no PTE/);
  });

  it('catches a pv entry naming a destroyed pmap', () => {
    const { pv } = setup();
    pv.add(f(6), 40, 0);
    fails(pv, /destroyed pmap/);
  });

  it("catches a table's wrong live count", () => {
    const { pv, a } = setup();
    ptpOf(a, at(0)).live++;
    fails(pv, /table live count/);
  });

  it('catches an empty table left behind', () => {
    const { pv, b } = setup();
    b.tables.set(12345, new Ptp());
    fails(pv, /table live count 0, 0 valid/);
  });

  it('catches a wrong resident count', () => {
    const { pv, b } = setup();
    b.residentCount--;
    fails(pv, /resident 0 but 1 PTEs/);
  });

  it('catches a wrong wired count', () => {
    const { pv, a } = setup();
    ptpOf(a, at(0)).pte[slot(at(0))] |= PTE_WIRED;
    fails(pv, /wired 1 but 2 wired PTEs/);
  });
});
