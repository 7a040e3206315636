/*
 * reorder.ts: the order in which overlapping memory calls of one address
 * space took effect.
 *
 * strace writes a call cut by another thread's line as
 * `NAME(... <unfinished ...>` ... `<... NAME resumed>) = R`. Linux applies
 * the mmap family under the mmap lock, one call at a time, somewhere
 * between a call's entry and its return; completion order is only one of
 * the orders the log allows. Every call has an interval [startLine, line];
 * a call that returned before another entered went first; the others may
 * go in any order, and the log's results say which orders happened:
 *
 *   an mmap the kernel placed (no MAP_FIXED) found its range free
 *   mprotect, madvise, mlock, ... succeeded on a fully mapped range, and
 *   failed with ENOMEM on one with a hole
 *   a mremap found its old range mapped (and, growing, the room free)
 *
 *   Occupancy   the mapped ranges of the address span the calls touch
 *   serialOrder the first order, completion order first, in which every
 *               call's result holds (a bounded depth-first search)
 */
import { entryContains, type VmMap, vmMapLookupEntry } from '../kernel/map/index.ts';
import { roundPage } from '../kernel/param.ts';
import { type CallEvent, parseFlags, parseNumber } from './strace.ts';

/** The mapped ranges of an address span, as sorted [start, end) pairs. */
export class Occupancy {
  constructor(private ranges: number[] = []) {}

  /** of: the ranges `map` has mapped in [lo, hi). */
  static of(map: VmMap, lo: number, hi: number): Occupancy {
    const out: number[] = [];
    let e = vmMapLookupEntry(map, lo);
    if (!entryContains(map, e, lo)) e = e.next;
    for (; e !== map.header && e.start < hi; e = e.next) {
      if (out.length > 0 && out[out.length - 1] === e.start) out[out.length - 1] = e.end;
      else out.push(e.start, e.end);
    }
    return new Occupancy(out);
  }

  clone(): Occupancy {
    return new Occupancy(this.ranges.slice());
  }

  /** covered: how many bytes of [a, b) are mapped. */
  private covered(a: number, b: number): number {
    let n = 0;
    for (let i = 0; i < this.ranges.length; i += 2)
      n += Math.max(0, Math.min(b, this.ranges[i + 1]) - Math.max(a, this.ranges[i]));
    return n;
  }

  /** free: nothing of [a, b) is mapped. */
  free(a: number, b: number): boolean {
    return this.covered(a, b) === 0;
  }

  /** mapped: all of [a, b) is mapped. */
  mapped(a: number, b: number): boolean {
    return this.covered(a, b) === b - a;
  }

  /** set: [a, b) becomes mapped (true) or unmapped (false). */
  set(a: number, b: number, mapped: boolean): void {
    const before: number[] = [];
    const after: number[] = [];
    for (let i = 0; i < this.ranges.length; i += 2) {
      const [s, e] = [this.ranges[i], this.ranges[i + 1]];
      if (s < a) before.push(s, Math.min(e, a));
      if (e > b) after.push(Math.max(s, b), e);
    }
    const all = [...before, ...(mapped ? [a, b] : []), ...after];
    this.ranges = [];
    for (let i = 0; i < all.length; i += 2) {
      if (this.ranges.at(-1) === all[i]) this.ranges[this.ranges.length - 1] = all[i + 1];
      else this.ranges.push(all[i], all[i + 1]);
    }
  }
}

/** the calls whose results say something about which ranges were mapped */
const RANGE_CALLS = new Set([
  'mprotect',
  'pkey_mprotect',
  'madvise',
  'mlock',
  'mlock2',
  'munlock',
  'msync',
  'mincore',
]);

/**
 * span: the addresses a call's result speaks of, [lo, hi) page-rounded,
 * or null for none.
 */
export function span(ev: CallEvent, pageSize: number): [number, number] | null {
  const up = (n: number) => roundPage(n, pageSize);
  const a = parseNumber(ev.args[0] ?? '');
  const r = ev.errno === null && ev.result !== null ? ev.result : a;
  if (ev.name === 'mmap') return r === a && a === 0 ? null : [r, r + up(parseNumber(ev.args[1]))];
  if (ev.name === 'mremap')
    return [
      Math.min(a, r),
      Math.max(a + up(parseNumber(ev.args[1])), r + up(parseNumber(ev.args[2]))),
    ];
  if (ev.name === 'munmap' || RANGE_CALLS.has(ev.name))
    return [a, a + up(parseNumber(ev.args[1] ?? ''))];
  return null;
}

/**
 * step: apply `ev` to the occupancy if its result agrees with it.
 * => false (occ then undefined) when the result cannot have happened.
 */
export function step(occ: Occupancy, ev: CallEvent, pageSize: number): boolean {
  const up = (n: number) => roundPage(n, pageSize);
  const ok = ev.errno === null && ev.result !== null && ev.result !== -1;
  const a = parseNumber(ev.args[0] ?? '');
  if (ev.name === 'mmap') {
    if (!ok) return true;
    const end = ev.result! + up(parseNumber(ev.args[1]));
    const flags = parseFlags(ev.args[3] ?? '');
    if (!flags.includes('MAP_FIXED') && !occ.free(ev.result!, end)) return false;
    occ.set(ev.result!, end, true);
    return true;
  }
  if (ev.name === 'munmap') {
    if (ok) occ.set(a, a + up(parseNumber(ev.args[1])), false);
    return true;
  }
  if (RANGE_CALLS.has(ev.name)) {
    const whole = occ.mapped(a, a + up(parseNumber(ev.args[1])));
    return ok ? whole : ev.errno !== 'ENOMEM' || !whole;
  }
  if (ev.name === 'mremap' && ok) return remapStep(occ, ev, up);
  return true;
}

function remapStep(occ: Occupancy, ev: CallEvent, up: (n: number) => number): boolean {
  const a = parseNumber(ev.args[0]);
  const oldEnd = a + up(parseNumber(ev.args[1]));
  const len = up(parseNumber(ev.args[2]));
  const r = ev.result!;
  if (oldEnd > a && !occ.mapped(a, oldEnd)) return false;
  const flags = parseFlags(ev.args[3] ?? '0');
  if (r === a) {
    if (a + len > oldEnd && !occ.free(oldEnd, a + len)) return false;
    occ.set(Math.min(oldEnd, a + len), Math.max(oldEnd, a + len), a + len > oldEnd);
    return true;
  }
  if (!flags.includes('MREMAP_DONTUNMAP')) occ.set(a, oldEnd, false);
  if (!flags.includes('MREMAP_FIXED') && !occ.free(r, r + len)) return false;
  occ.set(r, r + len, true);
  return true;
}

/** how many steps the search may take before it gives up: this many, or 20 per call if more */
const BUDGET = 20000;
/** windows of more calls are only checked in completion order (no search) */
export const MAX_SEARCH = 8192;

/**
 * serialOrder: an order of `calls` (in completion order, each with its
 * [startLine, line]) in which a call that returned before another entered
 * goes first and every result holds, starting from `occ`.
 * => completion order itself when it holds; null when no order holds (or
 *    the search ran out of its budget, or the window is too long to search).
 * => a depth-first search, completion order first at every depth, kept on
 *    an explicit stack: a window of threads that never all rest at once
 *    can hold thousands of calls, and most of them place at the first try.
 */
export function serialOrder(
  calls: CallEvent[],
  occ: Occupancy,
  pageSize: number,
): CallEvent[] | null {
  const n = calls.length;
  if (n > MAX_SEARCH) {
    const all = occ.clone();
    return calls.every((c) => step(all, c, pageSize)) ? calls : null;
  }
  const used = new Uint8Array(n);
  /* placed[d]: the call at depth d (-1: none tried yet); states[d]: the occupancy before it */
  const placed = new Int32Array(n).fill(-1);
  const states: Occupancy[] = [occ];
  /* the first call not yet placed (it returned first: none may go before it that entered after it) */
  let first = 0;
  let budget = Math.max(BUDGET, 20 * n);
  for (let d = 0; d < n; ) {
    if (--budget < 0) return null;
    const from = Math.max(placed[d] + 1, first);
    const i = nextCandidate(calls, used, from, calls[first].line, states, d, pageSize);
    if (i >= 0) {
      placed[d] = i;
      used[i] = 1;
      while (first < n && used[first]) first++;
      if (++d < n) placed[d] = -1;
    } else {
      if (d === 0) return null;
      const j = placed[--d];
      used[j] = 0;
      if (j < first) first = j;
    }
  }
  return Array.from(placed, (i) => calls[i]);
}

/**
 * nextCandidate: from index `from` on, the first call not placed that
 * entered by line `limit` and whose result holds after states[d]; its
 * occupancy becomes states[d + 1] => its index, or -1.
 */
function nextCandidate(
  calls: CallEvent[],
  used: Uint8Array,
  from: number,
  limit: number,
  states: Occupancy[],
  d: number,
  pageSize: number,
): number {
  for (let i = from; i < calls.length; i++) {
    if (used[i] || calls[i].startLine > limit) continue;
    const next = states[d].clone();
    if (!step(next, calls[i], pageSize)) continue;
    states[d + 1] = next;
    return i;
  }
  return -1;
}
