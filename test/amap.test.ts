import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AMAP_EXTEND_BACKWARDS,
  AMAP_EXTEND_FORWARDS,
  AMAP_REFALL,
  AMAP_SHARED,
  type Amap,
  type AmapEntry,
  amapAdd,
  amapAlloc,
  amapCopy,
  amapCowNow,
  amapExtend,
  amapLock,
  amapLookup,
  amapLookups,
  amapRef,
  amapShareProtect,
  amapSplitref,
  amapSwapOff,
  amapUnadd,
  amapUnlock,
  amapUnref,
  amapWiperange,
  PPREF_NONE,
  ppGetreflen,
  roundupSlots,
  type VmAref,
} from '../src/kernel/amap.ts';
import { anonAlloc, anonFreelst } from '../src/kernel/anon.ts';
import { NOPAGE, pageFree, pageUnwire, pageWire } from '../src/kernel/page.ts';
import { MAP_ENTRY_NEEDS_COPY, NOANON, PROT_READ, UVM_AMAP_LARGE } from '../src/kernel/param.ts';
import { swapAlloc, swapPut } from '../src/kernel/swap.ts';
import {
  anonByte,
  auditAll,
  newAnon,
  put,
  RecordingPmap,
  smallUvm,
  snapshotAmap,
  throwsVm,
} from './helpers.ts';

const PS = 4096;

/** refs: the per-slot reference counts a ppref array encodes, over [0, n). */
function refs(amap: Amap): number[] {
  assert.ok(amap.ppref instanceof Int32Array, 'ppref established');
  const out: number[] = [];
  for (let lcv = 0; lcv < amap.nslot; ) {
    const { ref, len } = ppGetreflen(amap.ppref, lcv);
    for (let i = 0; i < len; i++) out.push(ref);
    lcv += len;
  }
  return out;
}

/**
 * keepWindow: leave `aref` (now covering [0, pages)) covering only
 * [pageoff, pageoff+mapped): split off and unmap what lies around it.
 */
function keepWindow(
  uvm: ReturnType<typeof smallUvm>,
  aref: VmAref,
  pages: number,
  pageoff: number,
  mapped: number,
) {
  const amap = aref.amap!;
  if (pageoff > 0) {
    const rest = { amap, pageoff: 0 };
    amapSplitref(uvm, aref, rest, pageoff * PS);
    amapUnref(uvm, amap, 0, pageoff, false);
    aref.pageoff = rest.pageoff;
  }
  if (pageoff + mapped < pages) {
    const tail = { amap, pageoff: 0 };
    amapSplitref(uvm, aref, tail, mapped * PS);
    amapUnref(uvm, amap, tail.pageoff, pages - pageoff - mapped, false);
  }
}

/** entryOf: a minimal map entry over `pages` pages with the given aref. */
function entryOf(aref: VmAref, pages: number, eflags = 0): AmapEntry {
  return { start: 0x10000, end: 0x10000 + pages * PS, aref, eflags };
}

/** contents: the fill byte of each slot's anon (undefined where empty). */
function contents(
  uvm: ReturnType<typeof smallUvm>,
  amap: Amap,
  from = 0,
  to = amap.nslot,
): (number | undefined)[] {
  const out: (number | undefined)[] = [];
  for (let s = from; s < to; s++)
    out.push(amap.anon[s] === 0 ? undefined : anonByte(uvm, amap.anon[s]));
  return out;
}

describe('amap_alloc and amap_free', () => {
  it('rounds the slot arrays up to the kmem granule, with padding', () => {
    assert.equal(roundupSlots(1), 2);
    assert.equal(roundupSlots(3), 4);
    assert.equal(roundupSlots(4), 4);
    const uvm = smallUvm();
    const amap = amapAlloc(uvm, 3 * PS, 2 * PS);
    assert.equal(amap.nslot, 3);
    assert.equal(amap.maxslot, 6);
    assert.equal(amap.ref, 1);
    assert.equal(amap.nused, 0);
    assert.ok(uvm.amaps.has(amap), 'on the global amap list');
    amapUnref(uvm, amap, 0, 3, true);
    assert.equal(uvm.amaps.size, 0);
    assert.equal(amap.lock.refs, 0, 'its lock object died with it');
  });

  it('rejects unaligned, zero and negative sizes', () => {
    const uvm = smallUvm();
    throwsVm(() => amapAlloc(uvm, 100), 'EINVAL', 'sz');
    throwsVm(() => amapAlloc(uvm, 0), 'EINVAL', 'sz');
    throwsVm(() => amapAlloc(uvm, PS, -PS), 'EINVAL', 'padsz');
    assert.equal(uvm.amaps.size, 0);
  });
});

describe('amap_add, amap_lookup(s), amap_unadd', () => {
  it('keeps am_slots dense and am_bckptr pointing back', () => {
    const uvm = smallUvm();
    const amap = amapAlloc(uvm, 8 * PS);
    const aref = { amap, pageoff: 0 };
    const a = put(uvm, aref, 1, 10);
    const b = put(uvm, aref, 5, 50);
    const c = put(uvm, aref, 3, 30);
    assert.deepEqual(Array.from(amap.slots.subarray(0, 3)), [1, 5, 3]);
    amapLock(amap);
    assert.equal(amapLookup(uvm, aref, 5 * PS), b);
    assert.equal(amapLookup(uvm, aref, 0), 0);
    const out = new Int32Array(4);
    amapLookups(uvm, aref, 2 * PS, out, 4);
    assert.deepEqual(Array.from(out), [0, c, 0, b]);
    amapUnadd(uvm, aref, 1 * PS);
    amapUnlock(amap);
    assert.equal(amap.nused, 2);
    assert.deepEqual(
      Array.from(amap.slots.subarray(0, 2)),
      [3, 5],
      'the last used slot moved into the hole',
    );
    assert.equal(amap.bckptr[3], 0);
    /* a was unadded: its reference is ours to drop */
    amapLock(amap);
    uvm.anons.ref[a] = 0;
    anonFreelst(uvm, amap, a);
    auditAll(uvm);
  });

  it('lookups through an aref that starts inside the amap', () => {
    const uvm = smallUvm();
    const amap = amapAlloc(uvm, 8 * PS);
    const an = put(uvm, { amap, pageoff: 0 }, 6, 66);
    amapLock(amap);
    assert.equal(amapLookup(uvm, { amap, pageoff: 4 }, 2 * PS), an);
    amapUnlock(amap);
  });

  it('refuses bad offsets and occupied slots, changing nothing', () => {
    const uvm = smallUvm();
    const amap = amapAlloc(uvm, 4 * PS);
    const aref = { amap, pageoff: 0 };
    put(uvm, aref, 2, 22);
    const before = snapshotAmap(amap);
    amapLock(amap);
    throwsVm(() => amapLookup(uvm, aref, 4 * PS), 'EINVAL', 'offset');
    throwsVm(() => amapLookup(uvm, aref, 100), 'EINVAL', 'offset');
    throwsVm(() => amapLookup(uvm, aref, -PS), 'EINVAL', 'offset');
    throwsVm(() => amapLookups(uvm, aref, 2 * PS, new Int32Array(8), 3), 'EINVAL', 'offset');
    throwsVm(() => amapUnadd(uvm, aref, 0), 'EINVAL', 'offset');
    const an = newAnon(uvm, amap, 1);
    throwsVm(() => amapAdd(uvm, aref, 2 * PS, an, false), 'EEXIST', 'offset');
    throwsVm(() => amapAdd(uvm, aref, 1 * PS, an, true), 'EINVAL', 'offset');
    const stranger = anonAlloc(uvm);
    throwsVm(() => amapAdd(uvm, aref, 1 * PS, stranger, false), 'EINVAL', 'anon');
    amapUnlock(amap);
    assert.equal(snapshotAmap(amap), before);
  });

  it('replace in a shared amap unmaps the old page everywhere (wired mappings move)', () => {
    const uvm = smallUvm();
    const pmap = new RecordingPmap(uvm.pages);
    uvm.pmap = pmap;
    const amap = amapAlloc(uvm, 2 * PS);
    const aref = { amap, pageoff: 0 };
    const old = put(uvm, aref, 0, 1);
    amapRef(uvm, amap, 0, 2, AMAP_SHARED);
    amapLock(amap);
    const fresh = newAnon(uvm, amap, 2);
    amapAdd(uvm, aref, 0, fresh, true);
    amapUnlock(amap);
    assert.deepEqual(pmap.replaced, [
      { from: uvm.anons.page[old], to: uvm.anons.page[fresh], slot: 0 },
    ]);
    assert.equal(amap.anon[0], fresh);
  });
});

describe('amap_extend', () => {
  /**
   * setup: an amap of `pages` slots plus `pad`, with one entry left over
   * [pageoff, pageoff+mapped) the way the kernel gets there: the whole
   * mapping is split and the rest unmapped (which establishes ppref).
   */
  function setup(pages: number, pad: number, pageoff: number, mapped: number) {
    const uvm = smallUvm();
    const amap = amapAlloc(uvm, pages * PS, pad * PS);
    const aref = { amap, pageoff: 0 };
    for (let i = 0; i < mapped; i++) put(uvm, aref, pageoff + i, 0x10 + i);
    keepWindow(uvm, aref, pages, pageoff, mapped);
    const entry = entryOf(aref, mapped);
    return { uvm, amap, aref, entry };
  }

  it('case 1f: the slots exist after the entry', () => {
    const { uvm, amap, entry } = setup(8, 0, 0, 4);
    assert.equal(amapExtend(uvm, entry, 2 * PS, AMAP_EXTEND_FORWARDS), 0);
    assert.equal(amap.nslot, 8);
    assert.equal(amap.maxslot, 8);
    assert.equal(entry.aref.pageoff, 0);
    auditAll(uvm);
  });

  it('case 1b: the slots exist before the entry', () => {
    const { uvm, amap, entry } = setup(8, 0, 4, 2);
    assert.equal(amapExtend(uvm, entry, 3 * PS, AMAP_EXTEND_BACKWARDS), 0);
    assert.equal(entry.aref.pageoff, 1);
    assert.deepEqual(contents(uvm, amap, 1, 6), [undefined, undefined, undefined, 0x10, 0x11]);
    auditAll(uvm);
  });

  it('case 2f: the padding after nslot is used', () => {
    const { uvm, amap, entry } = setup(4, 4, 0, 4);
    assert.equal(amapExtend(uvm, entry, 3 * PS, AMAP_EXTEND_FORWARDS), 0);
    assert.equal(amap.nslot, 7);
    assert.equal(amap.maxslot, 8);
    assert.deepEqual(contents(uvm, amap), [
      0x10,
      0x11,
      0x12,
      0x13,
      undefined,
      undefined,
      undefined,
    ]);
    auditAll(uvm);
  });

  it('case 2b: the anons slide to the top of the arrays', () => {
    const { uvm, amap, entry } = setup(4, 4, 0, 4);
    assert.equal(amapExtend(uvm, entry, 2 * PS, AMAP_EXTEND_BACKWARDS), 0);
    assert.equal(amap.nslot, 8);
    assert.equal(entry.aref.pageoff, 2, 'slotspace (8-4) - slotadd (2)');
    assert.deepEqual(contents(uvm, amap), [
      undefined,
      undefined,
      undefined,
      undefined,
      0x10,
      0x11,
      0x12,
      0x13,
    ]);
    auditAll(uvm);
  });

  it('case 3f and 3b: new, larger arrays', () => {
    const f = setup(4, 0, 0, 4);
    assert.equal(amapExtend(f.uvm, f.entry, 5 * PS, AMAP_EXTEND_FORWARDS), 0);
    assert.equal(f.amap.nslot, 9);
    assert.equal(f.amap.maxslot, 10);
    assert.deepEqual(contents(f.uvm, f.amap, 0, 5), [0x10, 0x11, 0x12, 0x13, undefined]);
    auditAll(f.uvm);
    const b = setup(4, 0, 0, 4);
    assert.equal(amapExtend(b.uvm, b.entry, 5 * PS, AMAP_EXTEND_BACKWARDS), 0);
    assert.equal(b.amap.maxslot, 10);
    assert.equal(b.amap.nslot, 10);
    assert.equal(b.entry.aref.pageoff, 1, 'slotalloc 10 - mapped 4 - added 5');
    assert.deepEqual(contents(b.uvm, b.amap, 6, 10), [0x10, 0x11, 0x12, 0x13]);
    auditAll(b.uvm);
  });

  it('keeps ppref right in every case', () => {
    for (const [fwd, pages, pad, pageoff, mapped, add] of [
      [true, 8, 0, 2, 4, 2], // 1f
      [false, 8, 0, 4, 2, 3], // 1b
      [true, 6, 4, 2, 4, 3], // 2f
      [false, 6, 4, 2, 4, 3], // 2b
      [true, 6, 0, 2, 4, 5], // 3f
      [false, 6, 0, 2, 4, 5], // 3b
    ] as const) {
      const { uvm, amap, entry } = setup(pages, pad, pageoff, mapped);
      if (amap.ppref === null) {
        /* a second reference to the window makes ppref necessary; drop it again */
        amapRef(uvm, amap, pageoff, mapped, 0);
        amapUnref(uvm, amap, pageoff, mapped, false);
      }
      const r = amapExtend(
        uvm,
        entry,
        add * PS,
        fwd ? AMAP_EXTEND_FORWARDS : AMAP_EXTEND_BACKWARDS,
      );
      assert.equal(r, 0);
      const counts = refs(amap);
      const lo = entry.aref.pageoff;
      const hi = lo + mapped + add;
      counts.forEach((c, s) => {
        assert.equal(c, s >= lo && s < hi ? 1 : 0, `slot ${s} (fwd=${fwd} ${pages}+${pad})`);
      });
      auditAll(uvm);
    }
  });

  it('refuses to grow to UVM_AMAP_LARGE slots (E2BIG), and a shared amap', () => {
    const { uvm, amap, entry } = setup(4, 0, 0, 4);
    const before = snapshotAmap(amap);
    assert.equal(amapExtend(uvm, entry, (UVM_AMAP_LARGE - 4) * PS, AMAP_EXTEND_FORWARDS), 'E2BIG');
    assert.equal(snapshotAmap(amap), before);
    amapRef(uvm, amap, 0, 4, 0);
    throwsVm(() => amapExtend(uvm, entry, PS, AMAP_EXTEND_FORWARDS), 'EINVAL', 'entry');
    throwsVm(() => amapExtend(uvm, entry, 10, AMAP_EXTEND_FORWARDS), 'EINVAL', 'addsize');
  });

  it('with ppref off, frees anons no aref can reach before extending over them', () => {
    const uvm = smallUvm({ ppref: false });
    const amap = amapAlloc(uvm, 8 * PS);
    const aref = { amap, pageoff: 0 };
    for (let i = 0; i < 8; i++) put(uvm, aref, i, i + 1);
    const tail = { amap, pageoff: 0 };
    amapSplitref(uvm, aref, tail, 4 * PS);
    assert.equal(amap.ppref, PPREF_NONE);
    amapUnref(uvm, amap, 4, 4, false); /* unmap the tail: its anons linger without ppref */
    assert.equal(amap.nused, 8);
    assert.equal(amapExtend(uvm, entryOf(aref, 4), 2 * PS, AMAP_EXTEND_FORWARDS), 0);
    assert.deepEqual(contents(uvm, amap, 0, 6), [1, 2, 3, 4, undefined, undefined]);
    auditAll(uvm);
  });
});

describe('amap_share_protect', () => {
  it('reaches every resident page in the window, by either traversal', () => {
    for (const window of [2, 6]) {
      const uvm = smallUvm();
      const pmap = new RecordingPmap(uvm.pages);
      uvm.pmap = pmap;
      const amap = amapAlloc(uvm, 8 * PS);
      const all = { amap, pageoff: 0 };
      const anons = [0, 1, 3, 4, 7].map((p) => put(uvm, all, p, p));
      const entry = entryOf({ amap, pageoff: 1 }, window);
      amapLock(amap);
      amapShareProtect(uvm, entry, PROT_READ);
      amapUnlock(amap);
      const want = anons.filter((an) => {
        const s = amap.anon.indexOf(an);
        return s >= 1 && s < 1 + window;
      });
      const got = pmap.calls.map((c) => c.pg).sort((a, b) => a - b);
      assert.deepEqual(
        got,
        want.map((an) => uvm.anons.page[an]).sort((a, b) => a - b),
        `window ${window}`,
      );
      assert.ok(pmap.calls.every((c) => c.prot === PROT_READ));
    }
  });
});

describe('amap_copy (the paths that need no map)', () => {
  it('gives an entry without an amap a blank one and clears needs-copy', () => {
    const uvm = smallUvm();
    const entry = entryOf({ amap: null, pageoff: 0 }, 40, MAP_ENTRY_NEEDS_COPY);
    amapCopy(uvm, null, entry, 0, entry.start, entry.end);
    assert.equal(entry.aref.amap?.nslot, 40);
    assert.equal(entry.eflags & MAP_ENTRY_NEEDS_COPY, 0);
  });

  it('takes over an amap only this entry references', () => {
    const uvm = smallUvm();
    const amap = amapAlloc(uvm, 4 * PS);
    const entry = entryOf({ amap, pageoff: 0 }, 4, MAP_ENTRY_NEEDS_COPY);
    amapCopy(uvm, null, entry, 0, entry.start, entry.end);
    assert.equal(entry.aref.amap, amap);
    assert.equal(uvm.exp.amaptakeover, 1);
    assert.equal(entry.eflags & MAP_ENTRY_NEEDS_COPY, 0);
  });

  it('copies a shared window: anons gain a reference, the source a ppref, the lock is shared', () => {
    const uvm = smallUvm();
    const src = amapAlloc(uvm, 6 * PS);
    const whole = { amap: src, pageoff: 0 };
    const anons = [1, 2, 4].map((p) => put(uvm, whole, p, p * 3));
    /* the entry is clipped into [0,1) [1,5) [5,6); a fork child maps the middle */
    const mid = { amap: src, pageoff: 0 };
    const tail = { amap: src, pageoff: 0 };
    amapSplitref(uvm, whole, mid, PS);
    amapSplitref(uvm, mid, tail, 4 * PS);
    amapRef(uvm, src, 1, 4, 0);
    const entry = entryOf({ amap: src, pageoff: 1 }, 4, MAP_ENTRY_NEEDS_COPY);
    amapCopy(uvm, null, entry, 0, entry.start, entry.end);
    const copy = entry.aref.amap!;
    assert.notEqual(copy, src);
    assert.equal(entry.aref.pageoff, 0);
    assert.deepEqual(contents(uvm, copy), [3, 6, undefined, 12]);
    for (const an of anons) assert.equal(uvm.anons.ref[an], 2);
    assert.equal(src.ref, 3);
    assert.deepEqual(refs(src), [1, 1, 1, 1, 1, 1]);
    assert.equal(copy.lock, src.lock, 'the copy shares the source lock (it shares anons)');
    assert.equal(src.lock.refs, 2);
    auditAll(uvm);
  });

  it('a copy with no anons gets a lock of its own', () => {
    const uvm = smallUvm();
    const src = amapAlloc(uvm, 4 * PS);
    amapRef(uvm, src, 0, 4, 0);
    const entry = entryOf({ amap: src, pageoff: 0 }, 4, MAP_ENTRY_NEEDS_COPY);
    amapCopy(uvm, null, entry, 0, entry.start, entry.end);
    assert.notEqual(entry.aref.amap!.lock, src.lock);
  });
});

describe('amap_cow_now', () => {
  it('copies every shared anon of a wired entry now; loaned pages are skipped', () => {
    const uvm = smallUvm();
    const parent = amapAlloc(uvm, 3 * PS);
    const whole = { amap: parent, pageoff: 0 };
    const anons = [0, 1, 2].map((p) => put(uvm, whole, p, 0x70 + p));
    for (const an of anons) pageWire(uvm, uvm.anons.page[an]);
    uvm.pages.setLoanCount(uvm.anons.page[anons[2]], 1);
    amapRef(uvm, parent, 0, 3, 0);
    const child = entryOf({ amap: parent, pageoff: 0 }, 3, MAP_ENTRY_NEEDS_COPY);
    amapCopy(uvm, null, child, 0, child.start, child.end);
    assert.equal(amapCowNow(uvm, child), 0);
    const camap = child.aref.amap!;
    assert.notEqual(camap.anon[0], anons[0]);
    assert.notEqual(camap.anon[1], anons[1]);
    assert.equal(camap.anon[2], anons[2], 'the loaned page is left shared');
    assert.deepEqual(contents(uvm, camap), [0x70, 0x71, 0x72]);
    assert.equal(uvm.anons.ref[anons[0]], 1);
    assert.equal(uvm.anons.ref[anons[2]], 2);
    uvm.pages.setLoanCount(uvm.anons.page[anons[2]], 0);
    for (const an of anons) pageUnwire(uvm, uvm.anons.page[an]);
    auditAll(uvm);
  });

  it('reports ENOMEM when frames run out and nothing can be reclaimed', () => {
    const uvm = smallUvm({ physPages: 16 });
    const parent = amapAlloc(uvm, 2 * PS);
    const anons = [0, 1].map((p) => put(uvm, { amap: parent, pageoff: 0 }, p, p));
    for (const an of anons) pageWire(uvm, uvm.anons.page[an]);
    amapRef(uvm, parent, 0, 2, 0);
    const child = entryOf({ amap: parent, pageoff: 0 }, 2, MAP_ENTRY_NEEDS_COPY);
    amapCopy(uvm, null, child, 0, child.start, child.end);
    const hog = [];
    while (uvm.pages.freeCount > 0) hog.push(newAnon(uvm, child.aref.amap!, 0));
    assert.equal(amapCowNow(uvm, child), 'ENOMEM');
    assert.equal(child.aref.amap!.lock.owned, false);
    void hog;
  });
});

describe('amap_splitref and ppref', () => {
  it('splits a reference: ppref established, am_ref bumped, pageoff moved', () => {
    const uvm = smallUvm();
    const amap = amapAlloc(uvm, 6 * PS);
    const left = { amap, pageoff: 0 };
    const right = { amap, pageoff: 0 };
    amapSplitref(uvm, left, right, 2 * PS);
    assert.equal(amap.ref, 2);
    assert.equal(right.pageoff, 2);
    assert.deepEqual(refs(amap), [1, 1, 1, 1, 1, 1]);
    throwsVm(() => amapSplitref(uvm, left, { amap, pageoff: 0 }, 0), 'EINVAL', 'offset');
    throwsVm(() => amapSplitref(uvm, left, { amap, pageoff: 0 }, 6 * PS), 'EINVAL', 'offset');
    throwsVm(() => amapSplitref(uvm, left, { amap: null, pageoff: 0 }, PS), 'EINVAL', 'splitref');
    assert.equal(amap.ref, 2);
  });

  it('partial unref frees exactly the pages nobody references', () => {
    const uvm = smallUvm();
    const amap = amapAlloc(uvm, 6 * PS);
    const aref = { amap, pageoff: 0 };
    for (let p = 0; p < 6; p++) put(uvm, aref, p, p);
    const right = { amap, pageoff: 0 };
    amapSplitref(uvm, aref, right, 2 * PS); /* [0,2) and [2,6) */
    amapRef(uvm, amap, 2, 2, 0); /* a third reference, to slots 2,3 */
    assert.deepEqual(refs(amap), [1, 1, 2, 2, 1, 1]);
    amapUnref(uvm, amap, 0, 2, false);
    amapUnref(uvm, amap, 2, 4, false);
    assert.deepEqual(refs(amap), [0, 0, 1, 1, 0, 0]);
    assert.deepEqual(contents(uvm, amap), [undefined, undefined, 2, 3, undefined, undefined]);
    assert.equal(uvm.anons.nlive, 2);
    auditAll(uvm);
  });

  it('amap_wiperange by anon and by slot list', () => {
    for (const [off, len] of [
      [1, 2], // fewer slots than in use: walk am_anon
      [0, 8], // more: walk am_slots
    ]) {
      const uvm = smallUvm();
      const amap = amapAlloc(uvm, 8 * PS);
      const aref = { amap, pageoff: 0 };
      for (const p of [0, 1, 2, 5, 7]) put(uvm, aref, p, p + 1);
      amapLock(amap);
      const tofree = amapWiperange(uvm, amap, off, len, NOANON);
      anonFreelst(uvm, amap, tofree);
      const left = contents(uvm, amap);
      const want = [1, 2, 3, undefined, undefined, 6, undefined, 8].map((v, s) =>
        s >= off && s < off + len ? undefined : v,
      );
      assert.deepEqual(left, want);
      auditAll(uvm);
    }
  });
});

describe('amap_ref and amap_unref', () => {
  it('SHARED marks the amap; the flag goes when one reference is left', () => {
    const uvm = smallUvm();
    const amap = amapAlloc(uvm, 2 * PS);
    amapRef(uvm, amap, 0, 2, AMAP_SHARED);
    assert.equal(amap.flags & AMAP_SHARED, AMAP_SHARED);
    assert.equal(amap.ppref, null, 'whole-amap references need no ppref');
    amapUnref(uvm, amap, 0, 2, false);
    assert.equal(amap.flags & AMAP_SHARED, 0);
  });

  it('REFALL references the whole amap whatever the range says', () => {
    const uvm = smallUvm();
    const amap = amapAlloc(uvm, 4 * PS);
    amapSplitref(uvm, { amap, pageoff: 0 }, { amap, pageoff: 0 }, PS);
    amapRef(uvm, amap, 1, 1, 0);
    amapRef(uvm, amap, 0, 0, AMAP_REFALL);
    assert.deepEqual(refs(amap), [2, 3, 2, 2]);
    amapUnref(uvm, amap, 0, 0, true);
    assert.deepEqual(refs(amap), [1, 2, 1, 1]);
  });

  it('the last unref wipes everything out', () => {
    const uvm = smallUvm();
    const amap = amapAlloc(uvm, 4 * PS);
    for (let p = 0; p < 4; p++) put(uvm, { amap, pageoff: 0 }, p, p);
    amapUnref(uvm, amap, 0, 4, true);
    assert.equal(uvm.anons.nlive, 0);
    assert.equal(uvm.pages.freeCount, 256);
    assert.equal(uvm.amaps.size, 0);
    throwsVm(() => amapUnref(uvm, amap, 0, 4, true), 'EINVAL', 'amap');
  });

  it('rejects ranges outside the amap, changing nothing', () => {
    const uvm = smallUvm();
    const amap = amapAlloc(uvm, 4 * PS);
    const before = snapshotAmap(amap);
    throwsVm(() => amapRef(uvm, amap, 3, 2, 0), 'EINVAL', 'len');
    throwsVm(() => amapRef(uvm, amap, -1, 2, 0), 'EINVAL', 'offset');
    throwsVm(() => amapUnref(uvm, amap, 0, -1, false), 'EINVAL', 'len');
    assert.equal(snapshotAmap(amap), before);
  });
});

describe('amap_swap_off', () => {
  it('pages in every anon with a slot in range and frees the slots', () => {
    const uvm = smallUvm();
    const amap = amapAlloc(uvm, 4 * PS);
    const anons = [0, 1, 2, 3].map((p) => put(uvm, { amap, pageoff: 0 }, p, 0x30 + p));
    for (const an of anons.slice(1)) {
      const slot = swapAlloc(uvm);
      uvm.anons.swslot[an] = slot;
      swapPut(uvm, slot, uvm.anons.page[an]);
      pageFree(uvm, uvm.anons.page[an]);
      uvm.anons.page[an] = NOPAGE;
      uvm.exp.swpgonly++;
    }
    assert.equal(uvm.exp.swpginuse, 3);
    assert.equal(amapSwapOff(uvm, 1, 1 + 1024), false);
    assert.equal(uvm.exp.swpginuse, 0);
    assert.equal(uvm.exp.swpgonly, 0);
    assert.deepEqual(contents(uvm, amap), [0x30, 0x31, 0x32, 0x33]);
    for (const an of anons) assert.notEqual(uvm.anons.page[an], NOPAGE);
    auditAll(uvm);
  });
});
