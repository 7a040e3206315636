/*
 * clock.ts: the two-handed clock of uvm_pdpolicy_clock.c, NetBSD's
 * default policy (and BSD's since 4.3BSD-Reno's vm_pageout).
 *
 *   active queue     pages in use, oldest at the head
 *   inactive queue   candidates: their referenced bit was cleared when
 *                    they came here, so a page used since shows it
 *
 *   activate     to the tail of active
 *   deactivate   to the tail of inactive, referenced bit cleared
 *   selectVictim walk inactive from the head: a referenced page goes back
 *                to active (pdreact), the first one not referenced is the
 *                victim
 *   balance      after a scan: move pages from the head of active to
 *                inactive until inactive holds inactarg
 *   tune         inactarg = inactivepct% of active + inactive, and more
 *                than freetarg
 *
 * Tunable: inactivepct (default 33, as CLOCK_INACTIVEPCT).
 */
import { NOPAGE, PageQueue, PQ_PRIVATE, PQ_PRIVATE1, PQ_PRIVATE2 } from '../page.ts';
import type { Frame } from '../param.ts';
import type { PdParams, PdPolicy, PdPolicyHost, PdQueueCounts } from './policy.ts';
import { auditQueues, tunable } from './tunables.ts';

/** pqflags bits: which of clock's queues a page is on */
export const PQ_INACTIVE = PQ_PRIVATE1;
export const PQ_ACTIVE = PQ_PRIVATE2;

/** The clock policy. */
export class ClockPolicy implements PdPolicy {
  readonly name = 'clock';
  readonly activeq: PageQueue;
  readonly inactiveq: PageQueue;
  /** the inactive queue's target length, set by tune */
  inactarg = 0;
  private readonly inactivepct: number;
  private first = true;
  private nextpg: Frame = NOPAGE;

  constructor(
    private readonly host: PdPolicyHost,
    params: PdParams,
  ) {
    this.inactivepct = tunable('clock', params, { inactivepct: [33, 1, 99] }).inactivepct;
    this.activeq = new PageQueue(host, 'active');
    this.inactiveq = new PageQueue(host, 'inactive');
  }

  activate(pg: Frame): void {
    this.dequeue(pg);
    this.activeq.append(pg);
    this.host.pqflags[pg] |= PQ_ACTIVE;
  }

  deactivate(pg: Frame): void {
    const f = this.host.pqflags;
    if (f[pg] & PQ_ACTIVE) {
      this.activeq.remove(pg);
      f[pg] &= ~PQ_ACTIVE;
    }
    if ((f[pg] & PQ_INACTIVE) === 0) {
      this.host.clearReference(pg);
      this.inactiveq.append(pg);
      f[pg] |= PQ_INACTIVE;
    }
  }

  dequeue(pg: Frame): void {
    const f = this.host.pqflags;
    if (f[pg] & PQ_ACTIVE) this.activeq.remove(pg);
    else if (f[pg] & PQ_INACTIVE) this.inactiveq.remove(pg);
    f[pg] &= ~(PQ_ACTIVE | PQ_INACTIVE);
  }

  isQueued(pg: Frame): boolean {
    return (this.host.pqflags[pg] & (PQ_ACTIVE | PQ_INACTIVE)) !== 0;
  }

  forget(_key: number): void {}

  tune(): void {
    const queued = this.activeq.length + this.inactiveq.length;
    this.inactarg = Math.floor((queued * this.inactivepct) / 100);
    const freetarg = this.host.freetarg();
    if (this.inactarg <= freetarg) this.inactarg = freetarg + 1;
  }

  needsScan(): boolean {
    return this.inactiveq.length < this.inactarg;
  }

  scanInit(): void {
    this.first = true;
  }

  selectVictim(): Frame {
    const h = this.host;
    for (;;) {
      let pg = this.first ? this.inactiveq.head : this.nextpg;
      if (!this.first && pg >= 0 && (h.pqflags[pg] & PQ_INACTIVE) === 0) pg = this.inactiveq.head;
      this.first = false;
      if (pg < 0) return NOPAGE;
      this.nextpg = this.inactiveq.after(pg);
      h.exp.pdscans++;
      if (!h.isReferenced(pg)) return pg;
      this.activate(pg);
      h.exp.pdreact++;
    }
  }

  balance(): void {
    let shortage = this.inactarg - this.inactiveq.length;
    let pg = this.activeq.head;
    while (pg >= 0 && shortage > 0) {
      const next = this.activeq.after(pg);
      this.deactivate(pg);
      this.host.exp.pddeact++;
      shortage--;
      pg = next;
    }
  }

  counts(): PdQueueCounts {
    return { active: this.activeq.length, inactive: this.inactiveq.length };
  }

  pageState(pg: Frame): string {
    return this.host.pqflags[pg] & PQ_INACTIVE ? 'inactive' : 'active';
  }

  hand(): Frame {
    return this.inactiveq.head;
  }

  audit(): void {
    const f = this.host.pqflags;
    auditQueues(this.host, [
      [this.activeq, (pg) => (f[pg] & PQ_PRIVATE) === PQ_ACTIVE],
      [this.inactiveq, (pg) => (f[pg] & PQ_PRIVATE) === PQ_INACTIVE],
    ]);
  }
}

/** clock: make the clock policy (uvmpdpol_init). */
export function clockPolicy(host: PdPolicyHost, params: PdParams): PdPolicy {
  return new ClockPolicy(host, params);
}
