/*
 * workingset.ts: Linux's active and inactive lists with refault distance
 * (mm/workingset.c, Johannes Weiner, Linux 3.15): an evicted page leaves a
 * shadow entry, and a page that comes back soon enough is activated at
 * once instead of starting over on the inactive list.
 *
 *   lists     clock's two queues (clock.ts), balanced the same way; a new
 *             page starts on the inactive list, as Linux's do; a page used
 *             there, or seen referenced by the scan, is activated
 *   age       the inactive list's clock (lruvec->nonresident_age): one tick
 *             per eviction and per activation, each of which used up a
 *             slot of the inactive list
 *   shadow    at eviction (the mechanism frees the page the scan offered):
 *             the page's key -> the age then
 *   refault   a page queued anew whose key has a shadow: its refault
 *             distance, age now - shadow, is how many more inactive slots
 *             would have kept it. If that is at most the active list's
 *             length, taking those slots from the active list would have
 *             kept it resident: it is activated at once
 *             (WORKINGSET_ACTIVATE); otherwise it starts inactive
 *
 * Tunable: inactivepct (50): the inactive list's share of the queued
 * pages; Linux keeps inactive * inactive_ratio >= active, its ratio being
 * 1 for memories under 1 GiB.
 *
 * Simplified from Linux: one list pair (no anon/file split, no memory
 * cgroups, no per-node lists); the active list's length alone is the
 * workingset size compared against; a page referenced on the inactive
 * list is activated at once (Linux's rule for swap-backed pages; file
 * pages wait for a second reference); shadows are a map of at most one
 * per frame, the oldest dropped first (Linux's shrinker bounds the radix
 * tree nodes holding them).
 */
import { NOPAGE } from '../page.ts';
import { type Frame, KernelPanic } from '../param.ts';
import { ClockPolicy, PQ_ACTIVE, PQ_INACTIVE } from './clock.ts';
import type { PdParams, PdPolicy, PdPolicyHost, PdQueueCounts } from './policy.ts';
import { tunable } from './tunables.ts';

/** The workingset policy. */
export class WorkingsetPolicy implements PdPolicy {
  readonly name = 'workingset';
  /** the active and inactive lists */
  readonly lists: ClockPolicy;
  /** the inactive list's age: evictions and activations so far */
  age = 0;
  /** shadow entries: an evicted page's key -> the age at its eviction, oldest first */
  readonly shadows = new Map<number, number>();
  /** the page selectVictim last offered, until it is freed or kept */
  private victim: Frame = NOPAGE;

  constructor(
    private readonly host: PdPolicyHost,
    params: PdParams,
  ) {
    const { inactivepct } = tunable('workingset', params, { inactivepct: [50, 1, 99] });
    this.lists = new ClockPolicy(host, { inactivepct });
  }

  /*
   * activate: an active page goes to the active tail; an inactive one, or
   * a refault within distance, is activated (the list ages); any other
   * page comes in inactive.
   */
  activate(pg: Frame): void {
    if (pg === this.victim) this.victim = NOPAGE;
    const f = this.host.pqflags[pg];
    if ((f & PQ_ACTIVE) === 0) {
      if ((f & PQ_INACTIVE) === 0 && !this.refault(pg)) {
        this.lists.deactivate(pg);
        return;
      }
      this.age++;
    }
    this.lists.activate(pg);
  }

  deactivate(pg: Frame): void {
    this.lists.deactivate(pg);
  }

  /* dequeue: the page leaves; the victim leaves a shadow (workingset_eviction). */
  dequeue(pg: Frame): void {
    if (pg === this.victim) this.evicted(this.host.pageKey(pg));
    this.lists.dequeue(pg);
  }

  isQueued(pg: Frame): boolean {
    return this.lists.isQueued(pg);
  }

  forget(key: number): void {
    this.shadows.delete(key);
  }

  tune(): void {
    this.lists.tune();
  }

  needsScan(): boolean {
    return this.lists.needsScan();
  }

  scanInit(): void {
    this.victim = NOPAGE;
    this.lists.scanInit();
  }

  /* selectVictim: clock's; the pages its scan activated age the list too. */
  selectVictim(): Frame {
    const react = this.host.exp.pdreact;
    this.victim = this.lists.selectVictim();
    this.age += this.host.exp.pdreact - react;
    return this.victim;
  }

  balance(): void {
    this.victim = NOPAGE;
    this.lists.balance();
  }

  counts(): PdQueueCounts {
    return { ...this.lists.counts(), shadows: this.shadows.size };
  }

  pageState(pg: Frame): string {
    return this.lists.pageState(pg);
  }

  hand(): Frame {
    return this.lists.hand();
  }

  audit(): void {
    this.lists.audit();
    if (this.shadows.size > this.host.npages)
      bad(`${this.shadows.size} shadows for ${this.host.npages} frames`);
    for (const [key, at] of this.shadows)
      if (at >= this.age) bad(`shadow of ${key} at age ${at}, not before ${this.age}`);
  }

  /**
   * refault: pg comes in: its shadow, if any, goes; true if its refault
   * distance is at most the active list's length (workingset_refault).
   */
  private refault(pg: Frame): boolean {
    const key = this.host.pageKey(pg);
    const at = this.shadows.get(key);
    if (at === undefined) return false;
    this.shadows.delete(key);
    return this.age - at <= this.lists.activeq.length;
  }

  /** evicted: the shadow of `key`, the newest; the oldest goes past one per frame. */
  private evicted(key: number): void {
    this.victim = NOPAGE;
    this.shadows.delete(key);
    this.shadows.set(key, this.age++);
    if (this.shadows.size > this.host.npages)
      this.shadows.delete(this.shadows.keys().next().value!);
  }
}

function bad(what: string): never {
  throw new KernelPanic(`audit: policy workingset: ${what}`);
}

/** workingset: make the workingset policy (uvmpdpol_init). */
export function workingsetPolicy(host: PdPolicyHost, params: PdParams): PdPolicy {
  return new WorkingsetPolicy(host, params);
}
