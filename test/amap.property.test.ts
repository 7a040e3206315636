/*
 * Random sequences of amap operations against a naive model.
 *
 * The model keeps, per amap, an array of slots holding model anons
 * ({ id, data }), and the list of arefs (window start is read from the
 * real aref; the window length is the model's). From it follow every anon's
 * expected an_ref (the slots holding it), every amap's am_ref (the arefs
 * on it) and, where ppref is kept, every page's count (the arefs covering
 * it). After each step those, the bytes of every anon and the full audit
 * must agree.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  AMAP_EXTEND_BACKWARDS,
  AMAP_EXTEND_FORWARDS,
  AMAP_SHARED,
  type Amap,
  amapAdd,
  amapAlloc,
  amapCopy,
  amapCowNow,
  amapExtend,
  amapLock,
  amapRef,
  amapSplitref,
  amapSwapOff,
  amapUnlock,
  amapUnref,
  amapWiperange,
  ppGetreflen,
  type VmAref,
} from '../src/kernel/amap.ts';
import { anonFreelst, anonGet } from '../src/kernel/anon.ts';
import { mutexEnter, mutexExit } from '../src/kernel/lock.ts';
import { NOPAGE, pageFree, pageUnwire, pageWire } from '../src/kernel/page.ts';
import { type AnonId, type Frame, MAP_ENTRY_NEEDS_COPY, NOANON } from '../src/kernel/param.ts';
import { swapAlloc, swapPut } from '../src/kernel/swap.ts';
import type { Uvm } from '../src/kernel/uvm.ts';
import { anonByte, auditAll, newAnon, smallUvm } from './helpers.ts';

const PS = 4096;

interface MAnon {
  id: AnonId;
  data: number;
}
interface MAmap {
  amap: Amap;
  slots: (MAnon | null)[];
}
interface MRef {
  aref: VmAref;
  len: number;
  m: MAmap;
}

const OPS = [
  'alloc',
  'add',
  'ref',
  'split',
  'unref',
  'extend',
  'copy',
  'wipe',
  'cownow',
  'pageout',
  'pagein',
  'swapoff',
] as const;
type Op = { op: (typeof OPS)[number]; x: number; y: number; z: number };

class World {
  readonly uvm: Uvm;
  amaps: MAmap[] = [];
  refs: MRef[] = [];
  private fill = 0;

  constructor(ppref: boolean) {
    this.uvm = smallUvm({ physPages: 1024, swapPages: 2048, ppref });
  }

  nextData(): number {
    this.fill = (this.fill % 250) + 1;
    return this.fill;
  }

  apply(o: Op): void {
    if (o.op === 'alloc') this.alloc(1 + (o.y % 12), o.z % 4);
    else if (o.op === 'swapoff') this.swapoff();
    else if (this.refs.length > 0) this.applyToRef(o, this.refs[o.x % this.refs.length]);
  }

  private applyToRef(o: Op, r: MRef): void {
    switch (o.op) {
      case 'add':
        this.add(r, o.y % r.len);
        break;
      case 'ref':
        this.ref(r, (o.z & 1) !== 0);
        break;
      case 'split':
        this.split(r, o.y);
        break;
      case 'unref':
        this.unref(r, o.z % 3 === 0);
        break;
      case 'extend':
        this.extend(r, 1 + (o.y % 8), (o.z & 1) !== 0);
        break;
      case 'copy':
        this.copy(r);
        break;
      case 'wipe':
        this.wipe(r, o.y % r.len, 1 + (o.z % r.len));
        break;
      case 'cownow':
        this.cownow(r);
        break;
      case 'pageout':
        this.pageout(r, o.y % r.len);
        break;
      case 'pagein':
        this.pagein(r, o.y % r.len);
        break;
    }
  }

  alloc(pages: number, pad: number): void {
    const amap = amapAlloc(this.uvm, pages * PS, pad * PS);
    const m = { amap, slots: new Array<MAnon | null>(pages).fill(null) };
    this.amaps.push(m);
    this.refs.push({ aref: { amap, pageoff: 0 }, len: pages, m });
  }

  add(r: MRef, page: number): void {
    const slot = r.aref.pageoff + page;
    const amap = r.m.amap;
    const old = r.m.slots[slot];
    const data = this.nextData();
    amapLock(amap);
    const an = newAnon(this.uvm, amap, data);
    amapAdd(this.uvm, r.aref, page * PS, an, old !== null);
    r.m.slots[slot] = { id: an, data };
    if (old === null) {
      amapUnlock(amap);
      return;
    }
    /* the replaced anon loses this slot's reference (as a COW fault does) */
    const ref = this.uvm.anons.ref;
    if (--ref[old.id] === 0) anonFreelst(this.uvm, amap, old.id);
    else amapUnlock(amap);
  }

  ref(r: MRef, shared: boolean): void {
    amapRef(this.uvm, r.m.amap, r.aref.pageoff, r.len, shared ? AMAP_SHARED : 0);
    this.refs.push({ aref: { amap: r.m.amap, pageoff: r.aref.pageoff }, len: r.len, m: r.m });
  }

  split(r: MRef, y: number): void {
    if (r.len < 2) return;
    const k = 1 + (y % (r.len - 1));
    const right = { amap: r.m.amap, pageoff: 0 };
    amapSplitref(this.uvm, r.aref, right, k * PS);
    this.refs.push({ aref: right, len: r.len - k, m: r.m });
    r.len = k;
  }

  unref(r: MRef, tryAll: boolean): void {
    const amap = r.m.amap;
    const all = tryAll && r.aref.pageoff === 0 && r.len === amap.nslot;
    amapUnref(this.uvm, amap, r.aref.pageoff, r.len, all);
    this.dropRef(r);
  }

  /** dropRef: the model's side of an aref going away from its amap. */
  private dropRef(r: MRef): void {
    this.refs = this.refs.filter((x) => x !== r);
    const m = r.m;
    if (!this.refs.some((x) => x.m === m)) {
      this.amaps = this.amaps.filter((x) => x !== m);
      return;
    }
    if (!(m.amap.ppref instanceof Int32Array)) return;
    const cover = this.coverage(m);
    for (let s = 0; s < m.slots.length; s++) if (cover[s] === 0) m.slots[s] = null;
  }

  extend(r: MRef, n: number, forwards: boolean): void {
    const amap = r.m.amap;
    if (amap.ref !== 1) return;
    const entry = { start: 0, end: r.len * PS, aref: r.aref, eflags: 0 };
    const oldoff = r.aref.pageoff;
    const window = r.m.slots.slice(oldoff, oldoff + r.len);
    const res = amapExtend(
      this.uvm,
      entry,
      n * PS,
      forwards ? AMAP_EXTEND_FORWARDS : AMAP_EXTEND_BACKWARDS,
    );
    if (res !== 0) {
      assert.equal(res, 'E2BIG');
      return;
    }
    const slots = new Array<MAnon | null>(amap.nslot).fill(null);
    const at = forwards ? r.aref.pageoff : r.aref.pageoff + n;
    window.forEach((a, i) => {
      slots[at + i] = a;
    });
    r.m.slots = slots;
    r.len += n;
  }

  copy(r: MRef): void {
    const src = r.m;
    const entry = { start: 0, end: r.len * PS, aref: r.aref, eflags: MAP_ENTRY_NEEDS_COPY };
    const shared = src.amap.ref > 1;
    const window = src.slots.slice(r.aref.pageoff, r.aref.pageoff + r.len);
    amapCopy(this.uvm, null, entry, 0, 0, 0);
    assert.equal(entry.eflags & MAP_ENTRY_NEEDS_COPY, 0);
    if (!shared) {
      assert.equal(r.aref.amap, src.amap, 'taken over');
      return;
    }
    const m = { amap: r.aref.amap!, slots: window };
    this.amaps.push(m);
    this.dropRef(r);
    this.refs.push({ aref: r.aref, len: r.len, m });
  }

  wipe(r: MRef, k: number, n: number): void {
    const len = Math.min(n, r.len - k);
    const amap = r.m.amap;
    amapLock(amap);
    const tofree = amapWiperange(this.uvm, amap, r.aref.pageoff + k, len, NOANON);
    anonFreelst(this.uvm, amap, tofree);
    for (let i = 0; i < len; i++) r.m.slots[r.aref.pageoff + k + i] = null;
  }

  cownow(r: MRef): void {
    /* cow_now runs on a fork child's entry whose parent is wired: all resident */
    const uvm = this.uvm;
    const wired: Frame[] = [];
    for (const a of r.m.slots) {
      if (a === null) continue;
      if (uvm.anons.page[a.id] === NOPAGE) {
        mutexEnter(r.m.amap.lock);
        assert.equal(anonGet(uvm, a.id), 0);
        mutexExit(r.m.amap.lock);
      }
      const pg = uvm.anons.page[a.id];
      if (!wired.includes(pg)) {
        pageWire(uvm, pg);
        wired.push(pg);
      }
    }
    const counts = this.anonRefs();
    const entry = { start: 0, end: r.len * PS, aref: r.aref, eflags: 0 };
    assert.equal(amapCowNow(uvm, entry), 0);
    for (const pg of wired) pageUnwire(uvm, pg);
    r.m.slots.forEach((a, s) => {
      if (a === null || (counts.get(a) ?? 0) < 2) return;
      const id = r.m.amap.anon[s];
      assert.notEqual(id, a.id, 'a shared anon was copied');
      r.m.slots[s] = { id, data: a.data };
    });
  }

  pageout(r: MRef, page: number): void {
    const a = r.m.slots[r.aref.pageoff + page];
    const uvm = this.uvm;
    if (a === null || uvm.anons.page[a.id] === NOPAGE) return;
    let slot = uvm.anons.swslot[a.id];
    if (slot === 0) slot = swapAlloc(uvm);
    if (slot === 0) return;
    uvm.anons.swslot[a.id] = slot;
    assert.ok(swapPut(uvm, slot, uvm.anons.page[a.id]));
    pageFree(uvm, uvm.anons.page[a.id]);
    uvm.anons.page[a.id] = NOPAGE;
    uvm.exp.swpgonly++;
  }

  pagein(r: MRef, page: number): void {
    const a = r.m.slots[r.aref.pageoff + page];
    if (a === null) return;
    mutexEnter(r.m.amap.lock);
    assert.equal(anonGet(this.uvm, a.id), 0);
    mutexExit(r.m.amap.lock);
  }

  swapoff(): void {
    assert.equal(amapSwapOff(this.uvm, 1, 1 << 30), false);
    assert.equal(this.uvm.exp.swpginuse, 0);
  }

  coverage(m: MAmap): number[] {
    const c = new Array<number>(m.slots.length).fill(0);
    for (const r of this.refs)
      if (r.m === m) for (let i = 0; i < r.len; i++) c[r.aref.pageoff + i]++;
    return c;
  }

  anonRefs(): Map<MAnon, number> {
    const n = new Map<MAnon, number>();
    for (const m of this.amaps) for (const a of m.slots) if (a) n.set(a, (n.get(a) ?? 0) + 1);
    return n;
  }

  /** check: the real system against the model, and the audit. */
  check(): void {
    const uvm = this.uvm;
    auditAll(uvm);
    assert.equal(uvm.amaps.size, this.amaps.length, 'live amaps');
    for (const m of this.amaps) {
      assert.ok(uvm.amaps.has(m.amap));
      assert.equal(m.amap.nslot, m.slots.length, 'nslot');
      assert.equal(m.amap.ref, this.refs.filter((r) => r.m === m).length, 'am_ref');
      m.slots.forEach((a, s) => {
        assert.equal(m.amap.anon[s], a?.id ?? 0, `amap ${m.amap.id} slot ${s}`);
        if (a) assert.equal(anonByte(uvm, a.id), a.data, `anon ${a.id} bytes`);
      });
      if (m.amap.ppref instanceof Int32Array) this.checkPpref(m);
    }
    for (const [a, n] of this.anonRefs()) assert.equal(uvm.anons.ref[a.id], n, `an_ref of ${a.id}`);
  }

  private checkPpref(m: MAmap): void {
    const ppref = m.amap.ppref as Int32Array;
    const cover = this.coverage(m);
    for (let lcv = 0; lcv < m.amap.nslot; ) {
      const { ref, len } = ppGetreflen(ppref, lcv);
      for (let s = lcv; s < lcv + len; s++) assert.equal(ref, cover[s], `ppref of slot ${s}`);
      lcv += len;
    }
  }

  /** teardown: drop every reference; nothing may be left. */
  teardown(): void {
    while (this.refs.length > 0) this.unref(this.refs[0], false);
    const uvm = this.uvm;
    auditAll(uvm);
    assert.equal(uvm.amaps.size, 0);
    assert.equal(uvm.anons.nlive, 0);
    assert.equal(uvm.exp.swpginuse, 0);
    assert.equal(uvm.pages.freeCount, uvm.pages.npages);
  }
}

const opArb = fc.record({
  op: fc.constantFrom(...OPS),
  x: fc.nat(1000),
  y: fc.nat(1000),
  z: fc.nat(1000),
});

function runProgram(ppref: boolean, ops: Op[]): void {
  const w = new World(ppref);
  w.alloc(6, 2);
  for (const o of ops) {
    w.apply(o);
    w.check();
  }
  w.teardown();
}

describe('amap against a naive model', () => {
  for (const ppref of [true, false]) {
    it(`random programs agree with the model (ppref ${ppref ? 'on' : 'off'})`, () => {
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 40, maxLength: 200, size: 'max' }), (ops) =>
          runProgram(ppref, ops),
        ),
        { numRuns: 40 },
      );
    });
  }
});
