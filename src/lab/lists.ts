/*
 * lists.ts: doubly linked lists of page ids for the ideal policies, all
 * in one pair of link arrays: a page is on one list at most.
 *
 *   head  the oldest page of a list      tail  the newest
 *   on[x] the list x is on, or -1
 */

/** Lists of page ids over shared links. */
export class PageLists {
  readonly on: Int8Array;
  readonly head: Int32Array;
  readonly tail: Int32Array;
  readonly length: Int32Array;
  private readonly next: Int32Array;
  private readonly prev: Int32Array;

  constructor(distinct: number, lists: number) {
    this.on = new Int8Array(distinct).fill(-1);
    this.next = new Int32Array(distinct);
    this.prev = new Int32Array(distinct);
    this.head = new Int32Array(lists).fill(-1);
    this.tail = new Int32Array(lists).fill(-1);
    this.length = new Int32Array(lists);
  }

  /** push: put x at the tail of list l. => x is on no list. */
  push(l: number, x: number): void {
    const t = this.tail[l];
    this.prev[x] = t;
    this.next[x] = -1;
    if (t < 0) this.head[l] = x;
    else this.next[t] = x;
    this.tail[l] = x;
    this.on[x] = l;
    this.length[l]++;
  }

  /** remove: take x off its list. => x is on one. */
  remove(x: number): void {
    const l = this.on[x];
    const n = this.next[x];
    const p = this.prev[x];
    if (p < 0) this.head[l] = n;
    else this.next[p] = n;
    if (n < 0) this.tail[l] = p;
    else this.prev[n] = p;
    this.on[x] = -1;
    this.length[l]--;
  }

  /** shift: take the head (oldest) of list l off it. => l is not empty. */
  shift(l: number): number {
    const x = this.head[l];
    this.remove(x);
    return x;
  }

  /** move: x to the tail of list l, from whichever it is on. */
  move(l: number, x: number): void {
    if (this.on[x] >= 0) this.remove(x);
    this.push(l, x);
  }

  /** after: the page after x on its list (newer), or -1. */
  after(x: number): number {
    return this.next[x];
  }
}
