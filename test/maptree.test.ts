/*
 * The map's B+tree (src/kernel/maptree.ts) on its own, against a naive
 * sorted-array model: floor lookups, first, the free-gap searches
 * (firstFit/lastFit against brute force), in-order appends, inserts below
 * everything, clear, and the audit catching corruption.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { B, fitDown, fitUp, MapTree, type TreeEntry } from '../src/kernel/maptree.ts';
import { KernelPanic } from '../src/kernel/param.ts';

const PS = 4096;
const ALIGNS = [PS, 2 * PS, 16 * PS, 512 * PS];

const entry = (start: number, end: number): TreeEntry => ({ start, end, leaf: -1 });

/** A seeded xorshift generator: rnd(n) in [0, n). */
function prng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n: number) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
}

/** The reference: entries sorted by start, searched by brute force. */
class Model {
  list: TreeEntry[] = [];

  /** index of the first entry starting above addr */
  private upper(addr: number): number {
    let i = 0;
    while (i < this.list.length && this.list[i].start <= addr) i++;
    return i;
  }
  /** free: [start, end) overlaps no entry */
  free(start: number, end: number): boolean {
    return this.list.every((e) => e.end <= start || e.start >= end);
  }
  insert(e: TreeEntry): void {
    this.list.splice(this.upper(e.start), 0, e);
  }
  remove(e: TreeEntry): void {
    this.list.splice(this.list.indexOf(e), 1);
  }
  floor(addr: number): TreeEntry | null {
    const i = this.upper(addr);
    return i === 0 ? null : this.list[i - 1];
  }
  /** the lowest aligned a >= min with [a, a+size) inside a gap between two entries */
  firstFit(min: number, size: number, align: number): number {
    for (let i = 1; i < this.list.length; i++) {
      const gs = this.list[i - 1].end;
      const ge = this.list[i].start;
      const a = Math.ceil(Math.max(gs, min) / align) * align;
      if (a + size <= ge) return a;
    }
    return -1;
  }
  /** the highest aligned a with a+size <= max and [a, a+size) inside a gap between two entries */
  lastFit(max: number, size: number, align: number): number {
    for (let i = this.list.length - 1; i > 0; i--) {
      const gs = this.list[i - 1].end;
      const ge = this.list[i].start;
      const a = Math.floor((Math.min(ge, max) - size) / align) * align;
      if (a >= gs) return a;
    }
    return -1;
  }
}

/** nodes: the tree's nodes level by level, left to right. */
function nodes(t: MapTree): { n: number; depth: number; leaf: boolean; count: number }[][] {
  const levels: { n: number; depth: number; leaf: boolean; count: number }[][] = [];
  const walk = (n: number, depth: number) => {
    if (levels.length === depth) levels.push([]);
    levels[depth].push({ n, depth, leaf: t.isLeaf[n] === 1, count: t.count[n] });
    if (t.isLeaf[n] === 0) for (let k = 0; k < t.count[n]; k++) walk(t.kids[n * B + k], depth + 1);
  };
  walk(t.root, 0);
  return levels;
}

/** checkFloors: every entry is found from its start, its last byte and the gap after it. */
function checkFloors(t: MapTree, m: Model): void {
  assert.equal(t.size, m.list.length);
  assert.equal(t.first(), m.list[0] ?? null);
  m.list.forEach((e, i) => {
    assert.equal(t.floor(e.start), e);
    assert.equal(t.floor(e.end - 1), e);
    assert.equal(t.floor(e.start - 1), i === 0 ? null : m.list[i - 1]);
    const k = t.floorSlot(e.end + 1);
    const want = m.floor(e.end + 1)!;
    assert.equal(t.items[k], want);
    assert.equal(t.keys[k], want.start);
    assert.equal(t.ends[k], want.end);
    assert.equal(e.leaf >= 0, true);
  });
}

/** probe: floor, firstFit and lastFit at some random points, against the model. */
function probe(t: MapTree, m: Model, rnd: (n: number) => number, top: number, n = 8): void {
  for (let i = 0; i < n; i++) {
    const addr = rnd(top + 4 * PS);
    assert.equal(t.floor(addr), m.floor(addr), `floor(${addr})`);
    assert.equal(t.floorSlot(addr) < 0, m.floor(addr) === null);
    const size = (1 + rnd(rnd(4) === 0 ? 200 : 12)) * PS - (rnd(3) === 0 ? rnd(PS) : 0);
    const align = ALIGNS[rnd(ALIGNS.length)];
    const min = rnd(top) + (rnd(2) ? 0 : rnd(PS));
    const max = rnd(top + 4 * PS) + (rnd(2) ? 0 : rnd(PS));
    assert.equal(t.firstFit(min, size, align), m.firstFit(min, size, align), 'firstFit');
    assert.equal(t.lastFit(max, size, align), m.lastFit(max, size, align), 'lastFit');
  }
}

describe('MapTree: lookups', () => {
  it('an empty tree finds nothing', () => {
    const t = new MapTree();
    assert.equal(t.size, 0);
    assert.equal(t.first(), null);
    assert.equal(t.floor(0), null);
    assert.equal(t.floor(2 ** 47), null);
    assert.equal(t.floorSlot(12345), -1);
    assert.equal(t.firstFit(0, PS, PS), -1);
    assert.equal(t.lastFit(2 ** 47, PS, PS), -1);
    t.audit();
  });

  it('floor and floorSlot: the entry with the greatest start at or below the address', () => {
    const t = new MapTree();
    const a = entry(10 * PS, 12 * PS);
    const b = entry(20 * PS, 21 * PS);
    const c = entry(21 * PS, 30 * PS);
    for (const e of [c, a, b]) t.insert(e);
    assert.equal(t.first(), a);
    assert.equal(t.floor(10 * PS - 1), null);
    assert.equal(t.floor(10 * PS), a);
    assert.equal(t.floor(15 * PS), a, 'in the gap after a: still a (the caller checks the end)');
    assert.equal(t.floor(21 * PS - 1), b);
    assert.equal(t.floor(21 * PS), c);
    assert.equal(t.floor(2 ** 46), c);
    const k = t.floorSlot(25 * PS);
    assert.deepEqual([t.keys[k], t.ends[k], t.items[k]], [21 * PS, 30 * PS, c]);
    assert.equal(a.leaf, t.root);
    t.audit();
  });

  it('one entry has no gap to fit anything in', () => {
    const t = new MapTree();
    t.insert(entry(0x10000, 0x20000));
    assert.equal(t.firstFit(0, PS, PS), -1);
    assert.equal(t.lastFit(2 ** 47, PS, PS), -1);
  });
});

describe('MapTree: free-gap search', () => {
  it('firstFit and lastFit: alignment, bounds, exact fits', () => {
    const t = new MapTree();
    /* gaps: [2, 5) pages, [6, 16), [17, 18) */
    for (const [s, e] of [
      [0, 2],
      [5, 6],
      [16, 17],
      [18, 20],
    ])
      t.insert(entry(s * PS, e * PS));
    assert.equal(t.firstFit(0, 3 * PS, PS), 2 * PS, 'exactly fills the first gap');
    assert.equal(t.firstFit(0, 4 * PS, PS), 6 * PS);
    assert.equal(
      t.firstFit(0, 3 * PS, 4 * PS),
      8 * PS,
      'aligned: the first gap has no 4-page boundary fit',
    );
    assert.equal(t.firstFit(3 * PS + 1, PS, PS), 4 * PS, 'min rounds up to the alignment');
    assert.equal(t.firstFit(4 * PS + 1, PS, PS), 6 * PS);
    assert.equal(t.firstFit(0, 11 * PS, PS), -1);
    assert.equal(t.firstFit(17 * PS, PS, PS), 17 * PS);
    assert.equal(t.firstFit(17 * PS + 1, PS, PS), -1, 'nothing above the last entry counts');
    assert.equal(t.lastFit(2 ** 47, PS, PS), 17 * PS);
    assert.equal(t.lastFit(2 ** 47, 2 * PS, PS), 14 * PS);
    assert.equal(t.lastFit(2 ** 47, 2 * PS, 8 * PS), 8 * PS);
    assert.equal(t.lastFit(10 * PS + 5, 2 * PS, PS), 8 * PS, 'the end stays at or below max');
    assert.equal(t.lastFit(5 * PS, 3 * PS, PS), 2 * PS);
    assert.equal(t.lastFit(5 * PS - 1, 3 * PS, PS), -1);
    assert.equal(t.lastFit(2 ** 47, 11 * PS, PS), -1);
  });

  it('fitUp and fitDown place an aligned range in one gap', () => {
    assert.equal(fitUp(PS, 10 * PS, 0, 2 * PS, 4 * PS), 4 * PS);
    assert.equal(fitUp(PS, 5 * PS, 0, 2 * PS, 4 * PS), -1);
    assert.equal(fitUp(PS, 10 * PS, 7 * PS, 3 * PS, PS), 7 * PS);
    assert.equal(fitDown(PS, 10 * PS, 2 ** 40, 2 * PS, 4 * PS), 8 * PS);
    assert.equal(fitDown(PS, 10 * PS, 9 * PS, 2 * PS, 4 * PS), 4 * PS);
    assert.equal(fitDown(5 * PS, 9 * PS, 2 ** 40, 2 * PS, 8 * PS), -1);
  });

  it('agrees with brute force on a tree of 5,000 entries of random gaps', () => {
    const rnd = prng(7);
    const t = new MapTree();
    const m = new Model();
    let a = 0;
    for (let i = 0; i < 5000; i++) {
      a += (rnd(5) === 0 ? rnd(600) : rnd(3)) * PS;
      const e = entry(a, a + (1 + rnd(4)) * PS);
      a = e.end;
      t.insert(e);
      m.insert(e);
    }
    t.audit();
    probe(t, m, rnd, a, 400);
    /* the largest gap is found wherever it is */
    let best = 0;
    for (let i = 1; i < m.list.length; i++)
      best = Math.max(best, m.list[i].start - m.list[i - 1].end);
    assert.equal(t.maxGap[t.root], best);
    assert.notEqual(t.firstFit(0, best, PS), -1);
    assert.equal(t.firstFit(0, best + PS, PS), -1);
  });
});

describe('MapTree: against the model under random operations', () => {
  const TOP = 3000 * PS;
  const opArb = fc.record({
    op: fc.constantFrom(
      'insert',
      'insert',
      'insert',
      'remove',
      'update',
      'append',
      'removeRun',
      'clear',
    ),
    a: fc.nat(1 << 20),
    b: fc.nat(1 << 20),
  });
  type Op = { op: string; a: number; b: number };

  function run(ops: Op[]): void {
    const t = new MapTree();
    const m = new Model();
    const rnd = prng(ops.length * 7919 + 1);
    let top = TOP;
    for (const { op, a, b } of ops) {
      const list = m.list;
      if (op === 'insert') {
        const start = (a % 3000) * PS;
        const end = start + (1 + (b % 8)) * PS;
        if (!m.free(start, end)) continue;
        const e = entry(start, end);
        t.insert(e);
        m.insert(e);
      } else if (op === 'append') {
        let at = list.length ? list[list.length - 1].end : 0;
        for (let k = 0; k < 1 + (b % 150); k++) {
          at += ((a + k) % 3) * PS;
          const e = entry(at, at + PS);
          at = e.end;
          t.insert(e);
          m.insert(e);
        }
        top = Math.max(top, at);
      } else if (op === 'remove' && list.length) {
        const e = list[a % list.length];
        t.remove(e);
        m.remove(e);
        assert.equal(e.leaf, -1);
      } else if (op === 'removeRun' && list.length) {
        for (const e of list.slice(a % list.length, (a % list.length) + 1 + (b % 80))) {
          t.remove(e);
          m.remove(e);
        }
      } else if (op === 'update' && list.length) {
        /* move the start or end of one entry within its free neighbourhood */
        const i = a % list.length;
        const e = list[i];
        const lo = i > 0 ? list[i - 1].end : 0;
        const hi = i + 1 < list.length ? list[i + 1].start : e.end + 8 * PS;
        if (b % 2) e.start = lo + (b % ((e.end - lo) / PS)) * PS;
        else e.end = e.start + (1 + (b % ((hi - e.start) / PS))) * PS;
        t.update(e);
      } else if (op === 'clear' && a % 8 === 0) {
        const old = [...list];
        t.clear();
        m.list = [];
        assert.ok(
          old.every((e) => e.leaf === -1),
          'every entry left',
        );
      }
      t.audit();
      assert.equal(t.size, m.list.length);
      assert.equal(t.first(), m.list[0] ?? null);
      probe(t, m, rnd, top, 3);
    }
    checkFloors(t, m);
  }

  it('random inserts, removals, updates, appends and clears agree with the model', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 20, maxLength: 120, size: 'max' }), (ops) =>
        run(ops),
      ),
      { numRuns: 60 },
    );
  });

  it('10,000 entries in random order: three levels, then all removed again', () => {
    const rnd = prng(2024);
    const t = new MapTree();
    const m = new Model();
    const es = Array.from({ length: 10000 }, (_, i) =>
      entry(3 * i * PS, (3 * i + 1 + rnd(2)) * PS),
    );
    for (let i = es.length - 1; i > 0; i--) {
      const j = rnd(i + 1);
      [es[i], es[j]] = [es[j], es[i]];
    }
    for (const e of es) t.insert(e);
    m.list = [...es].sort((x, y) => x.start - y.start);
    t.audit();
    assert.ok(nodes(t).length >= 3, 'at least three levels');
    checkFloors(t, m);
    probe(t, m, rnd, 30000 * PS, 50);
    for (let i = 0; i < es.length; i++) {
      t.remove(es[i]);
      m.remove(es[i]);
      if (i % 499 === 0) {
        t.audit();
        probe(t, m, rnd, 30000 * PS, 5);
      }
    }
    t.audit();
    assert.equal(t.size, 0);
    assert.equal(t.isLeaf[t.root], 1, 'the root collapsed back to a leaf');
    assert.equal(t.first(), null);
  });
});

describe('MapTree: building in order', () => {
  it('appends fill every node but the rightmost of each level to B - 1', () => {
    const t = new MapTree();
    const m = new Model();
    const n = 4500;
    for (let i = 0; i < n; i++) {
      const e = entry((2 * i + 1) * PS, (2 * i + 2) * PS);
      t.insert(e);
      m.insert(e);
    }
    t.audit();
    const levels = nodes(t);
    assert.equal(levels.length, 3);
    for (const level of levels) {
      for (const node of level.slice(0, -1)) assert.equal(node.count, B - 1, 'full but for one');
    }
    const leaves = levels[levels.length - 1];
    assert.equal(leaves.length, Math.ceil(n / (B - 1)));
    assert.equal(leaves[leaves.length - 1].count, n - (B - 1) * (leaves.length - 1));
    assert.equal(t.maxGap[t.root], PS);
    assert.equal(t.hi[t.root], 2 * n * PS);
    checkFloors(t, m);
    /* random inserts into the gaps mix with the appended build */
    const rnd = prng(5);
    for (let k = 0; k < 600; k++) {
      const i = rnd(n);
      const start = 2 * i * PS;
      if (!m.free(start, start + PS)) continue;
      const e = entry(start, start + PS);
      t.insert(e);
      m.insert(e);
    }
    t.audit();
    checkFloors(t, m);
    probe(t, m, rnd, 2 * n * PS, 100);
  });

  it('an in-order build uses fewer nodes than a random-order one', () => {
    const n = 2000;
    const inOrder = new MapTree();
    const random = new MapTree();
    const es = Array.from({ length: n }, (_, i) => [2 * i * PS, (2 * i + 1) * PS]);
    for (const [s, e] of es) inOrder.insert(entry(s, e));
    const rnd = prng(11);
    for (let i = es.length - 1; i > 0; i--) {
      const j = rnd(i + 1);
      [es[i], es[j]] = [es[j], es[i]];
    }
    for (const [s, e] of es) random.insert(entry(s, e));
    const leaves = (t: MapTree) => nodes(t).at(-1)!.length;
    assert.equal(leaves(inOrder), Math.ceil(n / (B - 1)));
    assert.ok(leaves(random) > leaves(inOrder) * 1.2, `${leaves(random)} random-order leaves`);
  });

  it('inserting below everything into full leaves splits them and keeps the keys right', () => {
    const t = new MapTree();
    const m = new Model();
    const first = 100000;
    /* full leaves (B - 1 each), a full root's worth */
    for (let i = 0; i < (B - 1) * (B - 2); i++) {
      const e = entry((first + i) * PS, (first + i + 1) * PS);
      t.insert(e);
      m.insert(e);
    }
    t.audit();
    for (let k = 1; k <= 300; k++) {
      const e = entry((first - 2 * k) * PS, (first - 2 * k + 1) * PS);
      t.insert(e);
      m.insert(e);
      t.audit();
      assert.equal(t.first(), e);
      assert.equal(t.floor(e.start), e);
      assert.equal(t.floor(e.start - 1), null);
      assert.equal(t.lo[t.root], e.start);
    }
    checkFloors(t, m);
    const rnd = prng(3);
    probe(t, m, rnd, (first + (B - 1) * (B - 2)) * PS, 50);
  });

  it('update moves an entry, refreshing keys, gaps and its ancestors', () => {
    const t = new MapTree();
    const m = new Model();
    /* 3-page entries with 1-page gaps */
    for (let i = 0; i < 1000; i++) {
      const e = entry(4 * i * PS, (4 * i + 3) * PS);
      t.insert(e);
      m.insert(e);
    }
    assert.equal(t.maxGap[t.root], PS);
    /* the first entry of a leaf that is not the first leaf */
    const leaf = nodes(t).at(-1)![3].n;
    const e = t.items[leaf * B]!;
    const prev = m.floor(e.start - 1)!;
    e.start -= PS;
    t.update(e);
    t.audit();
    assert.equal(t.floor(e.start), e, 'found from its new start');
    assert.equal(t.floor(e.start - 1), prev);
    e.end -= 2 * PS;
    t.update(e);
    t.audit();
    assert.equal(t.maxGap[t.root], 3 * PS, 'the new largest gap reached the root');
    assert.equal(t.firstFit(0, 2 * PS, PS), e.end);
    assert.equal(t.lastFit(2 ** 47, 2 * PS, PS), e.end + PS);
    checkFloors(t, m);
    const last = m.list[m.list.length - 1];
    last.end += 100 * PS;
    t.update(last);
    t.audit();
    assert.equal(t.hi[t.root], last.end);
  });
});

describe('MapTree: clear and remove', () => {
  it('clear empties the tree at once; its entries can go in again', () => {
    const t = new MapTree();
    const es = Array.from({ length: 3000 }, (_, i) => entry(2 * i * PS, (2 * i + 1) * PS));
    for (const e of es) t.insert(e);
    t.clear();
    assert.equal(t.size, 0);
    assert.equal(t.first(), null);
    assert.equal(t.floor(es[10].start), null);
    assert.ok(
      es.every((e) => e.leaf === -1),
      'every entry left',
    );
    assert.equal(t.isLeaf[t.root], 1);
    t.audit();
    assert.throws(() => t.remove(es[0]), KernelPanic);
    const m = new Model();
    for (const e of es.slice(0, 500).reverse()) {
      t.insert(e);
      m.insert(e);
    }
    t.audit();
    checkFloors(t, m);
  });

  it('nodes freed by removals are reused: fill and empty cycles do not grow the pools', () => {
    const t = new MapTree();
    const rnd = prng(9);
    const shuffled = (a: TreeEntry[]) => {
      const out = [...a];
      for (let i = out.length - 1; i > 0; i--) {
        const j = rnd(i + 1);
        [out[i], out[j]] = [out[j], out[i]];
      }
      return out;
    };
    const es = shuffled(
      Array.from({ length: 3000 }, (_, i) => entry(2 * i * PS, (2 * i + 1) * PS)),
    );
    let cap = 0;
    for (let cycle = 0; cycle < 4; cycle++) {
      /* the same insertion order each time: the same tree, so the same nodes */
      for (const e of es) t.insert(e);
      for (const e of shuffled(es)) t.remove(e);
      t.audit();
      if (cycle === 0) cap = t.count.length;
      else assert.equal(t.count.length, cap, `cycle ${cycle}`);
    }
  });

  it('removing an entry whose leaf does not hold it panics', () => {
    const t = new MapTree();
    const a = entry(0, PS);
    const b = entry(2 * PS, 3 * PS);
    t.insert(a);
    t.insert(b);
    const stranger = entry(5 * PS, 6 * PS);
    stranger.leaf = a.leaf;
    assert.throws(() => t.remove(stranger), KernelPanic);
  });
});

describe('MapTree: audit catches corruption', () => {
  function built(n = 300): { t: MapTree; es: TreeEntry[] } {
    const t = new MapTree();
    const es = Array.from({ length: n }, (_, i) => entry(3 * i * PS, (3 * i + 1) * PS));
    for (const e of [...es].reverse()) t.insert(e);
    t.audit();
    return { t, es };
  }
  const fails = (t: MapTree, re: RegExp) =>
    assert.throws(
      () => t.audit(),
      (e: unknown) => e instanceof KernelPanic && re.test(e.message),
    );

  it('a start changed without update', () => {
    const { t, es } = built();
    es[100].start -= PS;
    fails(t, /stale key for entry at/);
  });

  it('an end changed without update', () => {
    const { t, es } = built();
    es[100].end += PS;
    fails(t, /stale key for entry at/);
  });

  it("an entry's wrong leaf", () => {
    const { t, es } = built();
    assert.notEqual(es[5].leaf, es[250].leaf);
    es[5].leaf = es[250].leaf;
    fails(t, /entry\.leaf is wrong/);
  });

  it('a stale gap', () => {
    const { t } = built();
    t.maxGap[t.root] += PS;
    fails(t, /stale lo\/hi\/maxGap/);
  });

  it('a stale inner key', () => {
    const { t } = built();
    t.keys[t.root * B + 1] += 1;
    fails(t, /stale inner key/);
  });

  it('overlapping entries', () => {
    const { t, es } = built();
    es[7].end = es[8].start + PS;
    t.update(es[7]);
    fails(t, /overlap/);
  });

  it('a bad parent link', () => {
    const { t } = built();
    const child = t.kids[t.root * B];
    t.parent[child] = t.kids[t.root * B + 1];
    fails(t, /bad parent link/);
  });

  it('a wrong size', () => {
    const { t } = built();
    t.size++;
    fails(t, /size 301 but 300 entries/);
  });

  it('an underfull node that is not the rightmost', () => {
    const { t } = built();
    const first = t.kids[t.root * B];
    t.count[first] = 3;
    fails(t, /underfull node \(3\)/);
  });
});

describe('an in-order build emptied from the right (found writing these tests)', () => {
  const PS = 4096;
  const entry = (start: number, end: number): TreeEntry => ({ start, end, leaf: -1 });
  it('removing the only entry under a one-child inner node (after an in-order build)', () => {
    const t = new MapTree();
    const es: TreeEntry[] = [];
    const oneChildInner = () => {
      const r = t.root;
      if (t.isLeaf[r]) return false;
      for (let k = 0; k < t.count[r]; k++) {
        const c = t.kids[r * B + k];
        if (t.isLeaf[c] === 0 && t.count[c] === 1) return true;
      }
      return false;
    };
    for (let i = 0; !oneChildInner(); i++) {
      const e = entry(2 * i * PS, (2 * i + 1) * PS);
      t.insert(e);
      es.push(e);
    }
    assert.equal(es.length, 3970);
    t.audit();
    const last = es.pop()!;
    t.remove(last);
    const prev = es[es.length - 1];
    assert.equal(t.floor(last.start), prev, 'floor above the last entry');
    assert.equal(
      t.lastFit(2 ** 47, PS, PS),
      es[es.length - 2].end,
      'no phantom gap above the last entry',
    );
    t.audit();
  });
});
