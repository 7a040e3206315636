/*
 * classic.ts: simple replacement policies over a page-reference string,
 * one frame count a run (demand paging from empty; every miss a fault):
 *
 *   fifo    evict the page loaded first (Belady's anomaly lives here)
 *   random  evict a frame chosen by a seeded generator (xorshift32)
 *   sieve   SIEVE (Zhang, Yang, Yue, Vigfusson, Rashmi, "SIEVE is simpler
 *           than LRU", NSDI 2024): a FIFO queue with a visited bit set on a
 *           hit; a hand walks from the oldest toward the newest, clearing
 *           set bits, and evicts the first page whose bit is clear; it
 *           stays where it stopped (wrapping to the oldest)
 *
 * Each returns the number of faults.
 */
import { PageLists } from './lists.ts';

/** A policy run at one frame count: => its faults. */
export type SizedPolicy = (
  refs: Int32Array,
  distinct: number,
  frames: number,
  seed: number,
) => number;

/** fifo: first in, first out. */
export const fifo: SizedPolicy = (refs, distinct, frames) =>
  slotted(refs, distinct, frames, () => {
    let hand = -1;
    return () => (hand = (hand + 1) % frames);
  });

/** random: a victim frame at random, from `seed`. */
export const random: SizedPolicy = (refs, distinct, frames, seed) =>
  slotted(refs, distinct, frames, () => {
    let x = seed >>> 0 || 0x9e3779b9;
    return () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) % frames;
    };
  });

/**
 * slotted: frames as slots, filled in order, then a victim slot from the
 * picker `makeVictim` builds.
 */
function slotted(
  refs: Int32Array,
  distinct: number,
  frames: number,
  makeVictim: () => () => number,
): number {
  const slotOf = new Int32Array(distinct).fill(-1);
  const pageIn = new Int32Array(frames);
  const victim = makeVictim();
  let used = 0;
  let faults = 0;
  for (let t = 0; t < refs.length; t++) {
    const x = refs[t];
    if (slotOf[x] >= 0) continue;
    faults++;
    let s = used;
    if (used < frames) used++;
    else {
      s = victim();
      slotOf[pageIn[s]] = -1;
    }
    pageIn[s] = x;
    slotOf[x] = s;
  }
  return faults;
}

/** sieve: SIEVE's queue, visited bits and hand. */
export const sieve: SizedPolicy = (refs, distinct, frames) => {
  const q = new PageLists(distinct, 1);
  const visited = new Uint8Array(distinct);
  let hand = -1;
  let faults = 0;
  for (let t = 0; t < refs.length; t++) {
    const x = refs[t];
    if (q.on[x] === 0) {
      visited[x] = 1;
      continue;
    }
    faults++;
    if (q.length[0] === frames) {
      let h = hand < 0 ? q.head[0] : hand;
      for (; visited[h]; h = q.after(h) < 0 ? q.head[0] : q.after(h)) visited[h] = 0;
      hand = q.after(h);
      q.remove(h);
    }
    visited[x] = 0;
    q.push(0, x);
  }
  return faults;
};
