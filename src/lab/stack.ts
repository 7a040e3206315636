/*
 * stack.ts: Mattson's stack algorithms (Mattson, Gecsei, Slutz and
 * Traiger, "Evaluation techniques for storage hierarchies", IBM Systems
 * Journal 9(2), 1970): LRU and OPT are stack algorithms (the pages a
 * cache of k frames holds are always among those k+1 frames hold), so one
 * pass over the reference string gives each reference's stack distance d
 * (it hits with d frames or more), and the faults at every frame count.
 *
 *   LRU  d = 1 + the distinct pages referenced since x's last use:
 *        a Fenwick tree over use times marks each page's last use, so
 *        d = 1 + the marks after it (O(log D) a reference). The times are
 *        renumbered in order when they run past 4D, so the tree has 4D
 *        slots, D = distinct pages, and stays in cache.
 *   OPT  Belady's MIN: the stack ordered by priority, a page's next use
 *        (sooner is higher). On a reference to x at depth d, x goes to the
 *        top and the old top is carried down: at each depth above d the
 *        carried page and the one there compare, the one used sooner
 *        stays, the other is carried on, and lands at depth d. O(d) a
 *        reference; next uses are found first in one backward pass.
 *
 *   memory: LRU 36 bytes a distinct page; OPT 4 bytes a reference (next
 *   uses) and 12 a distinct page.
 */

/** The faults of a stack algorithm at every frame count. */
export class StackCurve {
  /** hitsWithin[k]: references that hit with k frames (k = 0..distinct) */
  private readonly hitsWithin: Float64Array;

  constructor(
    readonly references: number,
    /** hist[d]: references at stack distance d (1..distinct); first uses are in none */
    hist: Float64Array,
  ) {
    this.hitsWithin = new Float64Array(hist.length);
    for (let d = 1; d < hist.length; d++) this.hitsWithin[d] = this.hitsWithin[d - 1] + hist[d];
  }

  /** faults: the faults with `frames` frames (demand paging, starting empty). */
  faults(frames: number): number {
    return this.references - this.hitsWithin[Math.min(frames, this.hitsWithin.length - 1)];
  }
}

/**
 * lruCurve: LRU's faults at every frame count, in one pass.
 * => `refs` holds page ids below `distinct`.
 */
export function lruCurve(refs: Int32Array, distinct: number): StackCurve {
  const size = Math.max(64, 4 * distinct);
  const tree = new Int32Array(size + 1);
  const pageAt = new Int32Array(size);
  const last = new Int32Array(distinct).fill(-1);
  const hist = new Float64Array(distinct + 1);
  let now = 0;
  let live = 0;
  for (let t = 0; t < refs.length; t++) {
    if (now === size) now = renumber(tree, pageAt, last, size);
    const x = refs[t];
    const p = last[x];
    if (p < 0) live++;
    else {
      let before = 0;
      for (let i = p + 1; i > 0; i -= i & -i) before += tree[i];
      hist[live - before + 1]++;
      for (let i = p + 1; i <= size; i += i & -i) tree[i]--;
    }
    for (let i = now + 1; i <= size; i += i & -i) tree[i]++;
    last[x] = now;
    pageAt[now++] = x;
  }
  return new StackCurve(refs.length, hist);
}

/**
 * renumber: give the live last-use times the numbers 0..live-1 in order
 * and rebuild the tree over them.
 * => the next free time.
 */
function renumber(tree: Int32Array, pageAt: Int32Array, last: Int32Array, size: number): number {
  let k = 0;
  for (let s = 0; s < size; s++) {
    const x = pageAt[s];
    if (last[x] !== s) continue;
    last[x] = k;
    pageAt[k++] = x;
  }
  tree.fill(0);
  for (let i = 1; i <= size; i++) {
    if (i <= k) tree[i]++;
    const j = i + (i & -i);
    if (j <= size) tree[j] += tree[i];
  }
  return k;
}

/**
 * optCurve: OPT's (Belady's MIN) faults at every frame count, in one pass.
 * => `refs` holds page ids below `distinct`.
 */
export function optCurve(refs: Int32Array, distinct: number): StackCurve {
  const next = nextUses(refs, distinct);
  const stack = new Int32Array(distinct);
  const prio = new Int32Array(distinct);
  const hist = new Float64Array(distinct + 1);
  let depth = 0;
  for (let t = 0; t < refs.length; t++) {
    const x = refs[t];
    const cp = stack[0];
    const cq = prio[0];
    stack[0] = x;
    prio[0] = next[t];
    if (depth === 0) depth = 1;
    else if (cp === x) hist[1]++;
    else depth = carryDown(stack, prio, depth, x, cp, cq, hist);
  }
  return new StackCurve(refs.length, hist);
}

/**
 * carryDown: OPT's stack update below the top, down to x's old depth
 * (or the bottom, for a first use: the stack grows).
 * => the stack's new depth; x's distance counted in hist.
 */
function carryDown(
  stack: Int32Array,
  prio: Int32Array,
  depth: number,
  x: number,
  cp: number,
  cq: number,
  hist: Float64Array,
): number {
  let i = 1;
  for (; i < depth; i++) {
    const e = stack[i];
    if (e === x) break;
    const q = prio[i];
    if (q > cq) {
      stack[i] = cp;
      prio[i] = cq;
      cp = e;
      cq = q;
    }
  }
  stack[i] = cp;
  prio[i] = cq;
  if (i === depth) return depth + 1;
  hist[i + 1]++;
  return depth;
}

/** nextUses: for each reference, the time of the next one to its page (or refs.length). */
function nextUses(refs: Int32Array, distinct: number): Int32Array {
  const next = new Int32Array(refs.length);
  const seen = new Int32Array(distinct).fill(refs.length);
  for (let t = refs.length - 1; t >= 0; t--) {
    next[t] = seen[refs[t]];
    seen[refs[t]] = t;
  }
  return next;
}
