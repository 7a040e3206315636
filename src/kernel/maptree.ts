/*
 * maptree.ts: the map's balanced search tree of entries, augmented with
 * free-space gaps (the seed's vm_map_rb_tree, UVM's gap-augmented tree).
 *
 * A B+tree rather than a red-black tree, stored in typed-array pools
 * indexed by node number: entries sit in leaves of up to B = 64, keyed by
 * their start address; inner nodes keep the smallest start of each child.
 *
 *   node n:  keys[n*B .. n*B+count[n])   starts (leaf) / child minima (inner)
 *            kids[n*B + i]                child node (inner)
 *            items[n*B + i], ends[n*B+i]  entry and its end (leaf)
 *            parent[n], leaf[n], lo[n], hi[n], maxGap[n]
 *
 *            root [ 0x1000 | 0x90000 | ... ]           (inner)
 *                 /            \
 *   [ 0x1000 0x3000 ... ]   [ 0x90000 ... ]            (leaves)
 *     e1     e2                e65
 *
 * At a million entries a lookup reads one contiguous key block per level
 * and one child index, instead of chasing node objects, their arrays and
 * their children: cache misses, not comparisons, set the cost there.
 *
 * lo/hi are a node's first start and last end; maxGap is the largest free
 * gap between consecutive entries below it. Free space is found by
 * descending only into subtrees with a big enough gap: O(log n).
 *
 * Invariants (audit): keys sorted; an inner key equals its child's lo;
 * parent links; leaves at one depth; non-root nodes at least half full
 * (but the rightmost of each level, which an in-order build leaves short);
 * lo/hi/maxGap and leaf ends recomputed from scratch agree; entry.leaf is
 * the leaf holding the entry.
 */
import { KernelPanic } from './param.ts';

export const B = 64;
const HALF = B / 2;
const NONE = -1;

/** What the tree needs of an entry: its range and a slot for its leaf. */
export interface TreeEntry {
  start: number;
  end: number;
  /** the leaf node holding the entry, or -1 */
  leaf: number;
}

/** A B+tree of map entries with gap augmentation, in typed-array pools. */
export class MapTree {
  keys: Float64Array;
  ends: Float64Array;
  kids: Int32Array;
  items: (TreeEntry | undefined)[];
  count: Int32Array;
  parent: Int32Array;
  isLeaf: Uint8Array;
  lo: Float64Array;
  hi: Float64Array;
  maxGap: Float64Array;
  root: number;
  size = 0;
  private freeNode = NONE;
  private nextNode = 0;

  constructor(capacity = 4) {
    this.keys = new Float64Array(capacity * B);
    this.ends = new Float64Array(capacity * B);
    this.kids = new Int32Array(capacity * B);
    this.items = new Array(capacity * B);
    this.count = new Int32Array(capacity);
    this.parent = new Int32Array(capacity);
    this.isLeaf = new Uint8Array(capacity);
    this.lo = new Float64Array(capacity);
    this.hi = new Float64Array(capacity);
    this.maxGap = new Float64Array(capacity);
    this.root = this.newNode(true);
  }

  /**
   * floorSlot: the pool slot (node * B + index) of the entry with the
   * greatest start <= addr, or -1. Its start and end are keys[slot] and
   * ends[slot], the entry items[slot]: no entry is touched to find it.
   */
  floorSlot(addr: number): number {
    const keys = this.keys;
    let n = this.root;
    while (this.isLeaf[n] === 0) {
      const i = upper(keys, n * B, this.count[n], addr);
      if (i === 0) return NONE;
      n = this.kids[n * B + i - 1];
    }
    const j = upper(keys, n * B, this.count[n], addr);
    return j === 0 ? NONE : n * B + j - 1;
  }

  /**
   * floor: the entry with the greatest start <= addr, or null.
   */
  floor(addr: number): TreeEntry | null {
    const k = this.floorSlot(addr);
    return k === NONE ? null : this.items[k]!;
  }

  /**
   * insert: add an entry (its range must not overlap any other).
   */
  insert(e: TreeEntry): void {
    const lastEnd = this.size > 0 ? this.hi[this.root] : Number.NaN;
    let n = this.root;
    while (this.isLeaf[n] === 0) {
      const i = upper(this.keys, n * B, this.count[n], e.start);
      n = this.kids[n * B + (i === 0 ? 0 : i - 1)];
    }
    const base = n * B;
    const cnt = this.count[n];
    const j = upper(this.keys, base, cnt, e.start);
    this.keys.copyWithin(base + j + 1, base + j, base + cnt);
    this.ends.copyWithin(base + j + 1, base + j, base + cnt);
    for (let k = base + cnt; k > base + j; k--) this.items[k] = this.items[k - 1];
    this.keys[base + j] = e.start;
    this.ends[base + j] = e.end;
    this.items[base + j] = e;
    this.count[n] = cnt + 1;
    e.leaf = n;
    this.size++;
    if (cnt + 1 === B) this.split(n, e.start >= lastEnd);
    else if (e.start >= lastEnd) this.fixUpAppended(n, e.end, e.start - lastEnd);
    else this.fixUp(n);
  }

  /**
   * fixUpAppended: an entry went in after every other (as fork builds a
   * map): on the rightmost path hi becomes its end and the one new gap can
   * only raise maxGap; nothing else changes.
   */
  private fixUpAppended(n: number, end: number, gap: number): void {
    for (; n !== NONE; n = this.parent[n]) {
      this.hi[n] = end;
      if (gap > this.maxGap[n]) this.maxGap[n] = gap;
    }
  }

  /**
   * remove: take an entry out of the tree.
   */
  remove(e: TreeEntry): void {
    const n = e.leaf;
    if (n === NONE) throw new KernelPanic('maptree: removing an entry not in the tree');
    const base = n * B;
    const cnt = this.count[n];
    const j = this.slotOf(n, e);
    this.keys.copyWithin(base + j, base + j + 1, base + cnt);
    this.ends.copyWithin(base + j, base + j + 1, base + cnt);
    for (let k = base + j; k < base + cnt - 1; k++) this.items[k] = this.items[k + 1];
    this.items[base + cnt - 1] = undefined;
    this.count[n] = cnt - 1;
    e.leaf = NONE;
    this.size--;
    this.rebalance(n);
  }

  /**
   * clear: empty the tree; every entry in it leaves at once (a map torn
   * down whole: exit, exec).
   */
  clear(): void {
    for (let k = 0; k < this.nextNode * B; k++) {
      const e = this.items[k];
      if (e === undefined) continue;
      e.leaf = NONE;
      this.items[k] = undefined;
    }
    this.freeNode = NONE;
    this.nextNode = 0;
    this.size = 0;
    this.root = this.newNode(true);
  }

  /**
   * update: an entry's start or end changed without changing its order
   * (clip, extend, merge); refresh keys and gaps.
   */
  update(e: TreeEntry): void {
    const n = e.leaf;
    const k = n * B + this.slotOf(n, e);
    this.keys[k] = e.start;
    this.ends[k] = e.end;
    this.fixUp(n);
  }

  /** first: the leftmost entry, or null. */
  first(): TreeEntry | null {
    let n = this.root;
    while (this.isLeaf[n] === 0) n = this.kids[n * B];
    return this.count[n] === 0 ? null : this.items[n * B]!;
  }

  private slotOf(n: number, e: TreeEntry): number {
    const base = n * B;
    for (let j = 0; j < this.count[n]; j++) if (this.items[base + j] === e) return j;
    throw new KernelPanic('maptree: entry not in its leaf');
  }

  /** newNode: a fresh empty node from the pool. */
  private newNode(leaf: boolean): number {
    let n = this.freeNode;
    if (n !== NONE) this.freeNode = this.parent[n];
    else {
      if (this.nextNode === this.count.length) this.grow();
      n = this.nextNode++;
    }
    this.count[n] = 0;
    this.parent[n] = NONE;
    this.isLeaf[n] = leaf ? 1 : 0;
    this.lo[n] = 0;
    this.hi[n] = 0;
    this.maxGap[n] = 0;
    return n;
  }

  private freeNodeAt(n: number): void {
    for (let k = n * B; k < n * B + B; k++) this.items[k] = undefined;
    this.count[n] = 0;
    this.parent[n] = this.freeNode;
    this.freeNode = n;
  }

  private grow(): void {
    const cap = this.count.length * 2;
    this.keys = growF64(this.keys, cap * B);
    this.ends = growF64(this.ends, cap * B);
    this.kids = growI32(this.kids, cap * B);
    this.items.length = cap * B;
    this.count = growI32(this.count, cap);
    this.parent = growI32(this.parent, cap);
    const leaf = new Uint8Array(cap);
    leaf.set(this.isLeaf);
    this.isLeaf = leaf;
    this.lo = growF64(this.lo, cap);
    this.hi = growF64(this.hi, cap);
    this.maxGap = growF64(this.maxGap, cap);
  }

  /** recompute: a node's lo, hi and maxGap from its own contents. */
  private recompute(n: number): void {
    const base = n * B;
    const cnt = this.count[n];
    let gap = 0;
    if (this.isLeaf[n]) {
      for (let k = base + 1; k < base + cnt; k++) {
        const g = this.keys[k] - this.ends[k - 1];
        if (g > gap) gap = g;
      }
      this.lo[n] = this.keys[base];
      this.hi[n] = this.ends[base + cnt - 1];
    } else {
      for (let k = base; k < base + cnt; k++) {
        const c = this.kids[k];
        if (this.maxGap[c] > gap) gap = this.maxGap[c];
        if (k > base) {
          const g = this.lo[c] - this.hi[this.kids[k - 1]];
          if (g > gap) gap = g;
        }
      }
      this.lo[n] = this.lo[this.kids[base]];
      this.hi[n] = this.hi[this.kids[base + cnt - 1]];
    }
    this.maxGap[n] = gap;
  }

  /** childSlot: where child c sits in parent p. */
  private childSlot(p: number, c: number): number {
    return this.kids.indexOf(c, p * B) - p * B;
  }

  /** fixUp: recompute a node and its ancestors, refreshing the parents' keys. */
  private fixUp(n: number): void {
    while (n !== NONE) {
      if (this.count[n] > 0) this.recompute(n);
      const p = this.parent[n];
      if (p !== NONE) this.keys[p * B + this.childSlot(p, n)] = this.lo[n];
      n = p;
    }
  }

  /**
   * split: a full node gives its upper part to a new right sibling: half,
   * or, when entries arrive in order (`appending`, as fork builds a map),
   * only its last one, so sequential building fills nodes instead of
   * leaving them half empty.
   */
  private split(n: number, appending: boolean): void {
    const keep = appending ? B - 1 : HALF;
    const m = this.newNode(this.isLeaf[n] === 1);
    const from = n * B + keep;
    const to = m * B;
    this.keys.copyWithin(to, from, n * B + B);
    if (this.isLeaf[n]) {
      this.ends.copyWithin(to, from, n * B + B);
      for (let k = 0; k < B - keep; k++) {
        const e = this.items[from + k]!;
        this.items[to + k] = e;
        this.items[from + k] = undefined;
        e.leaf = m;
      }
    } else {
      this.kids.copyWithin(to, from, n * B + B);
      for (let k = 0; k < B - keep; k++) this.parent[this.kids[to + k]] = m;
    }
    this.count[m] = B - keep;
    this.count[n] = keep;
    this.recompute(n);
    this.recompute(m);
    let p = this.parent[n];
    if (p === NONE) {
      p = this.newNode(false);
      this.kids[p * B] = n;
      this.keys[p * B] = this.lo[n];
      this.count[p] = 1;
      this.parent[n] = p;
      this.root = p;
    }
    const i = this.childSlot(p, n);
    const base = p * B;
    const cnt = this.count[p];
    this.keys.copyWithin(base + i + 2, base + i + 1, base + cnt);
    this.kids.copyWithin(base + i + 2, base + i + 1, base + cnt);
    this.keys[base + i] = this.lo[n]; /* an entry inserted below all others moved n's lo */
    this.keys[base + i + 1] = this.lo[m];
    this.kids[base + i + 1] = m;
    this.count[p] = cnt + 1;
    this.parent[m] = p;
    if (cnt + 1 === B) this.split(p, appending && i + 1 === cnt);
    else this.fixUp(p);
  }

  /** rebalance: after a removal, refill or merge an underfull node. */
  private rebalance(n: number): void {
    const p = this.parent[n];
    if (p === NONE) {
      if (this.isLeaf[n] === 0 && this.count[n] === 1) {
        this.root = this.kids[n * B];
        this.parent[this.root] = NONE;
        this.freeNodeAt(n);
      } else if (this.count[n] > 0) this.recompute(n);
      else this.isLeaf[n] = 1; /* the last entry went: an empty leaf */
      return;
    }
    if (this.count[n] >= HALF) {
      this.fixUp(n);
      return;
    }
    const i = this.childSlot(p, n);
    const left = i > 0 ? this.kids[p * B + i - 1] : NONE;
    const right = i + 1 < this.count[p] ? this.kids[p * B + i + 1] : NONE;
    if (left !== NONE && this.count[left] > HALF) this.borrow(left, n, true);
    else if (right !== NONE && this.count[right] > HALF) this.borrow(right, n, false);
    else if (left !== NONE) this.merge(left, n, p, i);
    else if (right !== NONE) this.merge(n, right, p, i + 1);
    else if (this.count[n] === 0) {
      /* an only child (an in-order build splits 63 + 1) left empty: it goes */
      this.removeSlot(p, i);
      this.freeNodeAt(n);
      this.rebalance(p);
    } else this.fixUp(n);
  }

  /** borrow: move one item from sibling `from` into `to` (fromLeft: from is to's left). */
  private borrow(from: number, to: number, fromLeft: boolean): void {
    const fb = from * B;
    const tb = to * B;
    const fc = this.count[from];
    const tc = this.count[to];
    const k = fromLeft ? fc - 1 : 0;
    const at = fromLeft ? 0 : tc;
    const leaf = this.isLeaf[from] === 1;
    const key = this.keys[fb + k];
    const end = this.ends[fb + k];
    const item = this.items[fb + k];
    const kid = this.kids[fb + k];
    this.removeSlot(from, k);
    this.keys.copyWithin(tb + at + 1, tb + at, tb + tc);
    this.keys[tb + at] = key;
    if (leaf) {
      this.ends.copyWithin(tb + at + 1, tb + at, tb + tc);
      for (let j = tb + tc; j > tb + at; j--) this.items[j] = this.items[j - 1];
      this.ends[tb + at] = end;
      this.items[tb + at] = item;
      item!.leaf = to;
    } else {
      this.kids.copyWithin(tb + at + 1, tb + at, tb + tc);
      this.kids[tb + at] = kid;
      this.parent[kid] = to;
    }
    this.count[to] = tc + 1;
    this.fixUp(from);
    this.fixUp(to);
  }

  /** removeSlot: drop slot k of node n, closing the gap. */
  private removeSlot(n: number, k: number): void {
    const b = n * B;
    const c = this.count[n];
    this.keys.copyWithin(b + k, b + k + 1, b + c);
    if (this.isLeaf[n]) {
      this.ends.copyWithin(b + k, b + k + 1, b + c);
      for (let j = b + k; j < b + c - 1; j++) this.items[j] = this.items[j + 1];
      this.items[b + c - 1] = undefined;
    } else this.kids.copyWithin(b + k, b + k + 1, b + c);
    this.count[n] = c - 1;
  }

  /** merge: fold `right` (child i of parent p) into `left`, then rebalance the parent. */
  private merge(left: number, right: number, p: number, i: number): void {
    const lb = left * B;
    const rb = right * B;
    const lc = this.count[left];
    const rc = this.count[right];
    this.keys.copyWithin(lb + lc, rb, rb + rc);
    if (this.isLeaf[left]) {
      this.ends.copyWithin(lb + lc, rb, rb + rc);
      for (let k = 0; k < rc; k++) {
        const e = this.items[rb + k]!;
        this.items[lb + lc + k] = e;
        e.leaf = left;
      }
    } else {
      this.kids.copyWithin(lb + lc, rb, rb + rc);
      for (let k = 0; k < rc; k++) this.parent[this.kids[rb + k]] = left;
    }
    this.count[left] = lc + rc;
    this.removeSlot(p, i);
    this.freeNodeAt(right);
    this.recompute(left);
    this.keys[p * B + this.childSlot(p, left)] = this.lo[left];
    this.rebalance(p);
  }

  /**
   * firstFit: the lowest aligned address >= min where `size` bytes fit in a
   * gap between two entries of the tree, or -1.
   */
  firstFit(min: number, size: number, align: number): number {
    return this.count[this.root] === 0 ? -1 : this.fitUpIn(this.root, min, size, align);
  }

  /**
   * lastFit: the highest aligned address with [a, a+size) <= max inside a
   * gap between two entries of the tree, or -1.
   */
  lastFit(max: number, size: number, align: number): number {
    return this.count[this.root] === 0 ? -1 : this.fitDownIn(this.root, max, size, align);
  }

  private fitUpIn(n: number, min: number, size: number, align: number): number {
    if (this.hi[n] <= min || this.maxGap[n] < size) return -1;
    const base = n * B;
    const cnt = this.count[n];
    if (this.isLeaf[n]) {
      for (let k = base + 1; k < base + cnt; k++) {
        const gs = this.ends[k - 1];
        const ge = this.keys[k];
        if (ge - gs < size || ge <= min) continue;
        const a = fitUp(gs, ge, min, size, align);
        if (a >= 0) return a;
      }
      return -1;
    }
    for (let k = base; k < base + cnt; k++) {
      if (k > base) {
        const gs = this.hi[this.kids[k - 1]];
        const ge = this.lo[this.kids[k]];
        if (ge - gs >= size && ge > min) {
          const a = fitUp(gs, ge, min, size, align);
          if (a >= 0) return a;
        }
      }
      const a = this.fitUpIn(this.kids[k], min, size, align);
      if (a >= 0) return a;
    }
    return -1;
  }

  private fitDownIn(n: number, max: number, size: number, align: number): number {
    if (this.lo[n] >= max || this.maxGap[n] < size) return -1;
    const base = n * B;
    const cnt = this.count[n];
    if (this.isLeaf[n]) {
      for (let k = base + cnt - 1; k > base; k--) {
        const gs = this.ends[k - 1];
        const ge = this.keys[k];
        if (ge - gs < size || gs >= max) continue;
        const a = fitDown(gs, ge, max, size, align);
        if (a >= 0) return a;
      }
      return -1;
    }
    for (let k = base + cnt - 1; k >= base; k--) {
      const a = this.fitDownIn(this.kids[k], max, size, align);
      if (a >= 0) return a;
      if (k > base) {
        const gs = this.hi[this.kids[k - 1]];
        const ge = this.lo[this.kids[k]];
        if (ge - gs >= size && gs < max) {
          const b = fitDown(gs, ge, max, size, align);
          if (b >= 0) return b;
        }
      }
    }
    return -1;
  }

  /** audit: check the invariants listed at the top of this file. */
  audit(): void {
    if (this.parent[this.root] !== NONE) fail('root has a parent');
    const depth = { leaves: -1 };
    const count = this.auditNode(this.root, NONE, 0, depth, true);
    if (count !== this.size) fail(`size ${this.size} but ${count} entries`);
  }

  private auditNode(
    n: number,
    parent: number,
    level: number,
    depth: { leaves: number },
    rightmost: boolean,
  ): number {
    if (this.parent[n] !== parent) fail('bad parent link');
    const cnt = this.count[n];
    if (parent !== NONE && cnt < (rightmost ? 1 : HALF)) fail(`underfull node (${cnt})`);
    if (cnt >= B) fail('overfull node');
    const base = n * B;
    if (cnt > 0) {
      const [lo, hi, gap] = [this.lo[n], this.hi[n], this.maxGap[n]];
      this.recompute(n);
      if (this.lo[n] !== lo || this.hi[n] !== hi || this.maxGap[n] !== gap)
        fail('stale lo/hi/maxGap');
    }
    if (this.isLeaf[n]) {
      if (depth.leaves < 0) depth.leaves = level;
      if (depth.leaves !== level) fail('leaves at different depths');
      for (let k = base; k < base + cnt; k++) {
        const e = this.items[k]!;
        if (this.keys[k] !== e.start || this.ends[k] !== e.end)
          fail(`stale key for entry at ${e.start}`);
        if (e.leaf !== n) fail('entry.leaf is wrong');
        if (k > base && this.keys[k] < this.ends[k - 1])
          fail('entries overlap or are out of order');
      }
      return cnt;
    }
    let total = 0;
    for (let k = base; k < base + cnt; k++) {
      const c = this.kids[k];
      if (this.keys[k] !== this.lo[c]) fail('stale inner key');
      if (k > base && this.lo[c] < this.hi[this.kids[k - 1]]) fail('children overlap');
      total += this.auditNode(c, n, level + 1, depth, rightmost && k === base + cnt - 1);
    }
    return total;
  }
}

/** upper: index (from base) of the first key > x among keys[base .. base+n). */
function upper(keys: Float64Array, base: number, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[base + mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** fitUp: the aligned start of `size` bytes in gap [gs, ge) at or above min, or -1. */
export function fitUp(gs: number, ge: number, min: number, size: number, align: number): number {
  const a = Math.ceil(Math.max(gs, min) / align) * align;
  return a + size <= ge ? a : -1;
}

/** fitDown: the highest aligned start of `size` bytes in [gs, ge) ending by max, or -1. */
export function fitDown(gs: number, ge: number, max: number, size: number, align: number): number {
  const a = Math.floor((Math.min(ge, max) - size) / align) * align;
  return a >= gs ? a : -1;
}

function growF64(a: Float64Array, n: number): Float64Array {
  const b = new Float64Array(n);
  b.set(a);
  return b;
}

function growI32(a: Int32Array, n: number): Int32Array {
  const b = new Int32Array(n);
  b.set(a);
  return b;
}

function fail(what: string): never {
  throw new KernelPanic(`audit: maptree: ${what}`);
}
