/*
 * adaptive.ts: policies that keep history beyond the resident pages
 * (ghost lists of pages recently evicted), one frame count c a run:
 *
 *   arc     ARC (Megiddo and Modha, "ARC: A Self-Tuning, Low Overhead
 *           Replacement Cache", FAST 2003): T1 (seen once) and T2 (seen
 *           twice or more) resident, B1 and B2 their ghosts, c pages of
 *           history each side; the target p of T1 grows on a hit in B1,
 *           shrinks on a hit in B2 (the paper's Fig. 4, cases I-IV)
 *   2q      2Q, the full version (Johnson and Shasha, "2Q: A Low Overhead
 *           High Performance Buffer Management Replacement Algorithm",
 *           VLDB 1994): A1in a FIFO of new pages (Kin = c/4), A1out the
 *           ghosts of pages evicted from it (Kout = c/2), Am an LRU of
 *           pages referenced again after leaving A1in
 *   s3fifo  S3-FIFO (Yang, Zhang, Qiu, Yue, Rashmi, "FIFO queues are all
 *           you need for cache eviction", SOSP 2023, Algorithm 1): a small
 *           FIFO S (c/10), a main FIFO M, a ghost FIFO G as long as M, a
 *           2-bit frequency per page
 */
import type { SizedPolicy } from './classic.ts';
import { PageLists } from './lists.ts';

const T1 = 0;
const T2 = 1;
const B1 = 2;
const B2 = 3;

/** arc: Adaptive Replacement Cache. */
export const arc: SizedPolicy = (refs, distinct, c) => {
  const q = new PageLists(distinct, 4);
  const len = q.length;
  let p = 0;
  let faults = 0;
  const replace = (inB2: boolean) => {
    const t1 = len[T1];
    if (t1 >= 1 && ((inB2 && t1 === p) || t1 > p)) q.push(B1, q.shift(T1));
    else q.push(B2, q.shift(T2));
  };
  for (let t = 0; t < refs.length; t++) {
    const x = refs[t];
    const on = q.on[x];
    if (on === T1 || on === T2) {
      q.move(T2, x);
      continue;
    }
    faults++;
    if (on === B1) {
      p = Math.min(c, p + Math.max(len[B2] / len[B1], 1));
      replace(false);
    } else if (on === B2) {
      p = Math.max(0, p - Math.max(len[B1] / len[B2], 1));
      replace(true);
    } else {
      missed(q, c, replace);
      q.push(T1, x);
      continue;
    }
    q.move(T2, x);
  }
  return faults;
};

/** missed: ARC's case IV, a page in no list: make room in the directory and the cache. */
function missed(q: PageLists, c: number, replace: (inB2: boolean) => void): void {
  const len = q.length;
  if (len[T1] + len[B1] === c) {
    if (len[T1] < c) {
      q.shift(B1);
      replace(false);
    } else q.shift(T1);
  } else if (len[T1] + len[T2] + len[B1] + len[B2] >= c) {
    if (len[T1] + len[T2] + len[B1] + len[B2] === 2 * c) q.shift(B2);
    replace(false);
  }
}

const A1IN = 0;
const A1OUT = 1;
const AM = 2;

/** twoq: 2Q (full version). */
export const twoq: SizedPolicy = (refs, distinct, c) => {
  const q = new PageLists(distinct, 3);
  const len = q.length;
  const kin = Math.max(1, Math.floor(c / 4));
  const kout = Math.max(1, Math.floor(c / 2));
  let faults = 0;
  for (let t = 0; t < refs.length; t++) {
    const x = refs[t];
    const on = q.on[x];
    if (on === AM) q.move(AM, x);
    if (on === AM || on === A1IN) continue;
    faults++;
    if (len[A1IN] + len[AM] === c) {
      if (len[A1IN] > kin || len[AM] === 0) {
        q.push(A1OUT, q.shift(A1IN));
        if (len[A1OUT] > kout) q.shift(A1OUT);
      } else q.shift(AM);
    }
    q.move(on === A1OUT ? AM : A1IN, x);
  }
  return faults;
};

const S = 0;
const M = 1;
const G = 2;

/** s3fifo: S3-FIFO. */
export const s3fifo: SizedPolicy = (refs, distinct, c) => {
  const q = new PageLists(distinct, 3);
  const len = q.length;
  const freq = new Uint8Array(distinct);
  const small = Math.max(1, Math.floor(c / 10));
  const main = Math.max(1, c - small);
  let faults = 0;
  const evictM = () => {
    for (;;) {
      const y = q.shift(M);
      if (freq[y] === 0) return;
      freq[y]--;
      q.push(M, y);
    }
  };
  const evictS = () => {
    while (len[S] > 0) {
      const y = q.shift(S);
      if (freq[y] <= 1) {
        q.push(G, y);
        if (len[G] > main) q.shift(G);
        return;
      }
      q.push(M, y);
      if (len[M] > main) evictM();
    }
  };
  for (let t = 0; t < refs.length; t++) {
    const x = refs[t];
    const on = q.on[x];
    if (on === S || on === M) {
      if (freq[x] < 3) freq[x]++;
      continue;
    }
    faults++;
    while (len[S] + len[M] >= c) {
      if (len[S] >= small || len[M] === 0) evictS();
      else evictM();
    }
    freq[x] = 0;
    q.move(on === G ? M : S, x);
  }
  return faults;
};
