/*
 * The map against a naive per-page model, and lookups/free-space search
 * against brute force on large maps.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  auditAmapRefs,
  auditMap,
  entryContains,
  MAP_COPY_ON_WRITE,
  type MapLookup,
  type VmMap,
  type VmMapEntry,
  vmMapCreate,
  vmMapFindspace,
  vmMapInherit,
  vmMapInsert,
  vmMapLookup,
  vmMapLookupDone,
  vmMapLookupEntry,
  vmMapMadvise,
  vmMapProtect,
  vmMapRemove,
  vmMapUnwire,
} from '../src/kernel/map/index.ts';
import {
  MAP_ENTRY_BEHAV_RANDOM,
  MAP_ENTRY_BEHAV_SEQUENTIAL,
  MAP_ENTRY_USER_WIRED,
  PROT_ALL,
  PROT_WRITE,
  VmError,
} from '../src/kernel/param.ts';
import { Pmap } from '../src/kernel/pmap.ts';
import { auditAll, smallUvm } from './helpers.ts';

const PS = 4096;
const BASE = 0x100000;
const PAGES = 96;

interface PageAttrs {
  prot: number;
  max: number;
  inherit: number;
  behav: number;
  wired: boolean;
  cow: boolean;
}

const OPS = [
  'insert',
  'remove',
  'protect',
  'setmax',
  'inherit',
  'madvise',
  'wire',
  'unwire',
  'touch',
] as const;
type Op = { op: (typeof OPS)[number]; p: number; n: number; v: number };

class World {
  readonly map: VmMap;
  readonly pages: (PageAttrs | null)[] = new Array(PAGES).fill(null);

  constructor() {
    const uvm = smallUvm({ physPages: 512 });
    this.map = vmMapCreate(uvm, new Pmap(uvm.pv, PS), 0x10000, 0x7ffffffff000);
  }

  /** run: apply op to the map and the model; both must agree on success or errno. */
  run(o: Op): void {
    const p = o.p % PAGES;
    const n = 1 + (o.n % Math.min(16, PAGES - p));
    const start = BASE + p * PS;
    const end = start + n * PS;
    const expect = this.model(o, p, n);
    let got: string | 0 = 0;
    try {
      this.real(o, start, end);
    } catch (e) {
      if (!(e instanceof VmError)) throw e;
      got = e.code;
    }
    assert.equal(got, expect, `${o.op} [${p}, ${p + n}) v=${o.v}`);
  }

  private real(o: Op, start: number, end: number): void {
    const map = this.map;
    switch (o.op) {
      case 'insert':
        vmMapInsert(
          map,
          null,
          0,
          start,
          end,
          o.v & 7 & PROT_ALL,
          PROT_ALL,
          o.v & 8 ? MAP_COPY_ON_WRITE : 0,
        );
        return;
      case 'remove':
        vmMapRemove(map, start, end);
        return;
      case 'protect':
        vmMapProtect(map, start, end, o.v & 7, false);
        return;
      case 'setmax':
        vmMapProtect(map, start, end, o.v & 7, true);
        return;
      case 'inherit':
        vmMapInherit(map, start, end, o.v % 3);
        return;
      case 'madvise':
        vmMapMadvise(
          map,
          start,
          end,
          [0, MAP_ENTRY_BEHAV_SEQUENTIAL, MAP_ENTRY_BEHAV_RANDOM][o.v % 3],
        );
        return;
      case 'wire':
        vmMapUnwire(map, start, end, false);
        return;
      case 'unwire':
        vmMapUnwire(map, start, end, true);
        return;
      case 'touch': {
        const out = {} as MapLookup;
        if (vmMapLookup(map, start, PROT_WRITE, out) === 0) vmMapLookupDone(out);
        return;
      }
    }
  }

  /** model: apply op to the page array; returns the errno expected, or 0. */
  private model(o: Op, p: number, n: number): string | 0 {
    const range = this.pages.slice(p, p + n);
    const holes = range.some((a) => a === null);
    const set = (f: (a: PageAttrs) => void) => {
      for (let i = p; i < p + n; i++) if (this.pages[i]) f(this.pages[i]!);
    };
    switch (o.op) {
      case 'insert':
        if (range.some((a) => a !== null)) return 'EEXIST';
        for (let i = p; i < p + n; i++)
          this.pages[i] = {
            prot: o.v & 7,
            max: PROT_ALL,
            inherit: 1,
            behav: 0,
            wired: false,
            cow: (o.v & 8) !== 0,
          };
        return 0;
      case 'remove':
        this.pages.fill(null, p, p + n);
        return 0;
      case 'protect':
        if (holes) return 'ENOMEM';
        if (range.some((a) => (o.v & 7 & a!.max) !== (o.v & 7))) return 'EACCES';
        set((a) => {
          a.prot = o.v & 7;
        });
        return 0;
      case 'setmax':
        if (holes) return 'ENOMEM';
        set((a) => {
          a.max = o.v & 7;
          a.prot &= o.v & 7;
        });
        return 0;
      case 'inherit':
        set((a) => {
          a.inherit = o.v % 3;
        });
        return 0;
      case 'madvise':
        set((a) => {
          a.behav = [0, MAP_ENTRY_BEHAV_SEQUENTIAL, MAP_ENTRY_BEHAV_RANDOM][o.v % 3];
        });
        return 0;
      case 'wire':
      case 'unwire':
        if (holes) return 'ENOMEM';
        set((a) => {
          a.wired = o.op === 'wire';
        });
        return 0;
      case 'touch':
        return 0;
    }
  }

  /** check: entries agree page by page with the model, everything mergeable is merged, audits pass. */
  check(): void {
    const map = this.map;
    for (let i = 0; i < PAGES; i++) {
      const va = BASE + i * PS;
      const e = vmMapLookupEntry(map, va);
      const want = this.pages[i];
      if (want === null) {
        assert.equal(entryContains(map, e, va), false, `page ${i} should be unmapped`);
        continue;
      }
      assert.ok(entryContains(map, e, va), `page ${i} should be mapped`);
      assert.deepEqual(attrsOf(e), want, `page ${i}`);
    }
    for (let e = map.header.next; e !== map.header && e.next !== map.header; e = e.next) {
      assert.ok(
        !mergeable(map, e, e.next),
        `${e.start.toString(16)} and ${e.next.start.toString(16)} should have merged`,
      );
    }
    auditMap(map);
    auditAll(map.uvm);
    auditAmapRefs(map.uvm, true);
  }
}

function attrsOf(e: VmMapEntry): PageAttrs {
  return {
    prot: e.protection,
    max: e.maxProtection,
    inherit: e.inheritance,
    behav: e.behavior(),
    wired: (e.eflags & MAP_ENTRY_USER_WIRED) !== 0 && e.wiredCount === 1,
    cow: (e.eflags & 4) !== 0,
  };
}

/** mergeable: neighbours that vm_map_simplify_entry must have joined. */
function mergeable(map: VmMap, a: VmMapEntry, b: VmMapEntry): boolean {
  if (a.end !== b.start || a.eflags !== b.eflags || a.wiredCount || b.wiredCount) return false;
  if (
    a.protection !== b.protection ||
    a.maxProtection !== b.maxProtection ||
    a.inheritance !== b.inheritance
  )
    return false;
  const am = a.aref.amap;
  const bm = b.aref.amap;
  if (am === null && bm === null) return true;
  return (
    am !== null &&
    am === bm &&
    a.aref.pageoff + (a.end - a.start) / PS === b.aref.pageoff &&
    map !== null
  );
}

const opArb = fc.record({
  op: fc.constantFrom(...OPS),
  p: fc.nat(1000),
  n: fc.nat(1000),
  v: fc.nat(1000),
});

describe('map against a per-page model', () => {
  it('random insert/remove/protect/inherit/madvise/wire/touch programs agree', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 30, maxLength: 200, size: 'max' }), (ops) => {
        const w = new World();
        for (const o of ops) {
          w.run(o);
          w.check();
        }
        vmMapRemove(w.map, BASE, BASE + PAGES * PS);
        w.pages.fill(null);
        w.check();
        assert.equal(w.map.uvm.amaps.size, 0);
      }),
      { numRuns: 100 },
    );
  });
});

describe('lookup and free-space search against brute force', () => {
  it('agree on a map of 100,000 entries, before and after deleting half', () => {
    const uvm = smallUvm();
    const map = vmMapCreate(uvm, new Pmap(uvm.pv, PS), 0x10000, 0x7ffffffff000);
    let seed = 42;
    const rnd = (n: number) => {
      /* xorshift32: exact in 32-bit integer arithmetic */
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    /* entries of 1-3 pages at random places, alternating protections so none merge */
    const starts = new Set<number>();
    while (starts.size < 100_000) starts.add(rnd(2_000_000) * 4);
    const sorted = [...starts].sort((a, b) => a - b);
    const entries: [number, number][] = sorted.map((s, i) => [
      BASE + s * PS,
      BASE + (s + 1 + (i % 3)) * PS,
    ]);
    entries.forEach(([s, e], i) => {
      vmMapInsert(map, null, 0, s, e, 1 + (i % 2), PROT_ALL, 0);
    });
    assert.equal(map.nentries, 100_000);
    auditMap(map);
    compareWithBruteForce(map, entries, rnd);
    for (let i = entries.length - 1; i >= 0; i -= 2) vmMapRemove(map, entries[i][0], entries[i][1]);
    const left = entries.filter((_, i) => (entries.length - 1 - i) % 2 === 1);
    assert.equal(map.nentries, left.length);
    auditMap(map);
    compareWithBruteForce(map, left, rnd);
  });
});

function compareWithBruteForce(
  map: VmMap,
  entries: [number, number][],
  rnd: (n: number) => number,
): void {
  const lo = entries[0][0];
  const hi = entries[entries.length - 1][1];
  for (let k = 0; k < 2000; k++) {
    const va = lo - PS + rnd(Math.floor((hi - lo + 2 * PS) / 16)) * 16;
    const i = lastAtOrBelow(entries, va);
    const e = vmMapLookupEntry(map, va);
    if (i < 0) assert.equal(e, map.header);
    else {
      assert.equal(e.start, entries[i][0], `lookup ${va.toString(16)}`);
      assert.equal(entryContains(map, e, va), va < entries[i][1]);
    }
  }
  const gaps: [number, number][] = [[map.minOffset, entries[0][0]]];
  for (let i = 1; i < entries.length; i++) gaps.push([entries[i - 1][1], entries[i][0]]);
  gaps.push([entries[entries.length - 1][1], map.maxOffset]);
  for (let k = 0; k < 300; k++) {
    const size = (1 + rnd(8)) * PS;
    const align = [PS, 4 * PS, 16 * PS][rnd(3)];
    const min = lo + rnd(Math.floor((hi - lo) / PS)) * PS;
    assert.equal(vmMapFindspace(map, min, size, align), bruteFirstFit(gaps, min, size, align));
    const max = lo + rnd(Math.floor((hi - lo) / PS)) * PS;
    assert.equal(vmMapFindspace(map, max, size, align, true), bruteLastFit(gaps, max, size, align));
  }
}

function lastAtOrBelow(entries: [number, number][], va: number): number {
  let l = 0;
  let h = entries.length;
  while (l < h) {
    const m = (l + h) >>> 1;
    if (entries[m][0] <= va) l = m + 1;
    else h = m;
  }
  return l - 1;
}

/** bruteFirstFit: the lowest aligned fit at or above min, scanning every gap. */
function bruteFirstFit(gaps: [number, number][], min: number, size: number, align: number): number {
  for (const [gs, ge] of gaps) {
    const a = Math.ceil(Math.max(gs, min) / align) * align;
    if (a + size <= ge) return a;
  }
  return -1;
}

/** bruteLastFit: the highest aligned fit ending at or below max, else the lowest fit anywhere. */
function bruteLastFit(gaps: [number, number][], max: number, size: number, align: number): number {
  for (let i = gaps.length - 1; i >= 0; i--) {
    const [gs, ge] = gaps[i];
    const a = Math.floor((Math.min(ge, max) - size) / align) * align;
    if (a >= gs) return a;
  }
  return bruteFirstFit(gaps, 0, size, align);
}
