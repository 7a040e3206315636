/*
 * The page replacement policies (src/kernel/pdpolicy/): every policy of
 * the registry on a small simulated machine (random activate, deactivate,
 * dequeue, scans and balance, the audit after each) and in the kernel
 * (the fuzzer's random programs under memory pressure against the naive
 * model); then what each policy is for: CLOCK-Pro keeps a hot set through
 * a scan that clock loses it to, test periods, a bounded history, forget;
 * workingset activates a refault within its distance.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { NOPAGE } from '../src/kernel/page.ts';
import {
  type Frame,
  type Int32ArrayOf,
  int32ArrayOf,
  MAP_ANON,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
} from '../src/kernel/param.ts';
import { PQ_ACTIVE } from '../src/kernel/pdpolicy/clock.ts';
import type { ClockProPolicy } from '../src/kernel/pdpolicy/clockpro.ts';
import {
  makePdPolicy,
  PD_POLICIES,
  type PdParams,
  type PdPolicy,
  type PdPolicyHost,
} from '../src/kernel/pdpolicy/index.ts';
import type { WorkingsetPolicy } from '../src/kernel/pdpolicy/workingset.ts';
import { VmSystem } from '../src/sys/system.ts';
import { configFor } from './fuzz/config.ts';
import { runSeed } from './fuzz/run.ts';

/** What a policy sees of a machine, simulated: referenced bits and keys per frame. */
class SimHost implements PdPolicyHost {
  readonly pqflags: Uint8Array;
  readonly next: Int32ArrayOf<Frame>;
  readonly prev: Int32ArrayOf<Frame>;
  readonly exp = { pdscans: 0, pdreact: 0, pddeact: 0 };
  readonly ref: Uint8Array;
  readonly keys: Float64Array;

  constructor(readonly npages: number) {
    this.pqflags = new Uint8Array(npages);
    this.next = int32ArrayOf<Frame>(npages);
    this.prev = int32ArrayOf<Frame>(npages);
    this.ref = new Uint8Array(npages);
    this.keys = new Float64Array(npages);
  }

  isReferenced(pg: Frame): boolean {
    return this.ref[pg] === 1;
  }

  clearReference(pg: Frame): boolean {
    const was = this.ref[pg] === 1;
    this.ref[pg] = 0;
    return was;
  }

  pageKey(pg: Frame): number {
    return this.keys[pg];
  }

  freetarg(): number {
    return 1;
  }
}

/** What a victim offered to the simulated mechanism becomes. */
type Fate = 'free' | 'keep' | 'pass';

/**
 * A simulated machine: pages named by keys come into frames (a fault,
 * then the access sets the referenced bit), and a pagedaemon takes
 * victims as pdaemon.ts does.
 */
class Machine {
  readonly host: SimHost;
  readonly pol: PdPolicy;
  /** key -> frame of the resident pages */
  readonly resident = new Map<number, Frame>();
  private readonly free: Frame[] = [];

  constructor(policy: string, npages: number, params: PdParams = {}) {
    this.host = new SimHost(npages);
    this.pol = makePdPolicy(policy, this.host, params);
    for (let pg = npages - 1; pg >= 0; pg--) this.free.push(pg as Frame);
  }

  /** fault: page `key` comes in (reclaiming one frame if none is free). => its frame */
  fault(key: number): Frame {
    if (this.free.length === 0) this.reclaim(1);
    const pg = this.free.pop();
    assert.ok(pg !== undefined, `${this.pol.name}: no frame could be freed`);
    this.host.keys[pg] = key;
    this.resident.set(key, pg);
    this.pol.activate(pg);
    this.host.ref[pg] = 1;
    return pg;
  }

  /** touch: the resident page `key` is used (its referenced bit). */
  touch(key: number): void {
    this.host.ref[this.resident.get(key)!] = 1;
  }

  /** release: frame pg is freed or wired: it leaves the queues. */
  release(pg: Frame): void {
    this.pol.dequeue(pg);
    this.resident.delete(this.host.keys[pg]);
    this.free.push(pg);
  }

  /**
   * reclaim: one pagedaemon run (pdaemon.ts): up to four passes of a scan
   * and a balance until `want` frames were freed; each victim's fate from
   * `fate` (a kept one is activated again).
   */
  reclaim(want: number, fate: (i: number) => Fate = () => 'free'): void {
    const { pol } = this;
    for (let pass = 0, freed = 0; pass < 4 && freed < want; pass++) {
      pol.tune();
      pol.scanInit();
      for (let i = 0; freed < want && i <= this.host.npages + 1; i++) {
        const pg = pol.selectVictim();
        if (pg === NOPAGE) break;
        assert.ok(pol.isQueued(pg), `${pol.name} offered frame ${pg}, which is not queued`);
        const f = fate(i);
        if (f === 'free') {
          this.release(pg);
          freed++;
        } else if (f === 'keep') pol.activate(pg);
      }
      pol.balance();
    }
  }

  /** check: the audit, and the queues hold exactly the resident pages. */
  check(): void {
    const { pol, host } = this;
    pol.audit();
    const frames = new Set(this.resident.values());
    for (let pg = 0 as Frame; pg < host.npages; pg++)
      assert.equal(pol.isQueued(pg), frames.has(pg), `${pol.name}: frame ${pg} queued?`);
    const words = [...frames].map((pg) => pol.pageState(pg));
    assert.ok(
      words.every((w) => /^[a-z]+$/.test(w)),
      `${pol.name}: page states ${words}`,
    );
    const hand = pol.hand();
    assert.ok(
      hand === NOPAGE || frames.has(hand),
      `${pol.name}: its hand ${hand} is on no queued page`,
    );
    const c = pol.counts();
    if (pol.name === 'clock' || pol.name === 'workingset')
      assert.equal(
        words.filter((w) => w === 'inactive').length,
        c.inactive,
        `${pol.name}: inactive words`,
      );
    assert.equal(c.active + c.inactive, frames.size, `${pol.name}: counts ${JSON.stringify(c)}`);
    for (const k of ['nonresident', 'shadows'])
      assert.ok((c[k] ?? 0) <= host.npages, `${pol.name}: ${k} ${c[k]} > ${host.npages} frames`);
  }
}

/** A key of page number n: anon-like (positive) or object-like (negative), never 0. */
function keyOf(n: number): number {
  return n % 2 === 0 ? n + 1 : -1 - ((n * 2654435761) >>> 0);
}

/** step: one random operation on the machine, from three numbers. */
function step(m: Machine, op: number, a: number, b: number): void {
  const frames = [...m.resident.values()];
  const pg = frames.length > 0 ? frames[a % frames.length] : NOPAGE;
  const fates: Fate[] = ['free', 'free', 'keep', 'pass'];
  switch (op) {
    case 0:
    case 1:
      if (m.resident.has(keyOf(a))) m.touch(keyOf(a));
      else m.fault(keyOf(a));
      return;
    case 2:
      if (pg !== NOPAGE) m.pol.activate(pg);
      return;
    case 3:
      if (pg !== NOPAGE) m.pol.deactivate(pg);
      return;
    case 4:
      if (pg !== NOPAGE) m.release(pg);
      return;
    case 5:
      m.reclaim(1 + (b % 4), (i) => fates[(b >> (2 * (i % 8))) & 3]);
      return;
    default:
      if (!m.resident.has(keyOf(a))) m.pol.forget(keyOf(a));
  }
}

describe('every policy of the registry', () => {
  for (const name of Object.keys(PD_POLICIES)) {
    it(`${name}: its audit holds and its queues hold the resident pages after random operations`, () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 4, max: 20 }),
          fc.array(fc.tuple(fc.nat(6), fc.nat(60), fc.nat()), { maxLength: 300 }),
          (frames, ops) => {
            const m = new Machine(name, frames);
            for (const [op, a, b] of ops) {
              step(m, op, a, b);
              m.check();
            }
          },
        ),
        { numRuns: 60 },
      );
    });

    it(`${name}: the kernel under it agrees with the naive model under memory pressure`, () => {
      for (const seed of [6, 12]) {
        const r = runSeed(seed, 500, { ...configFor(seed, true), policy: name });
        assert.equal(r.failure, null, `seed ${seed}: ${r.failure?.message} ${r.failure?.detail}`);
        assert.equal(r.world.sys.uvm.pdpol.name, name);
        assert.ok(r.world.sys.counters.pageouts > 0, `seed ${seed} paged nothing out`);
      }
    });
  }
});

const PS = 4096;

/**
 * hotAndScan: a process writes a hot set of `hot` pages, then `gap` pages
 * of a scan over `scan` pages used once per pass, round after round, in
 * 64 frames; => per round, the hot pages resident when it began, and the
 * pageins.
 */
function hotAndScan(policy: string, rounds: number): { resident: number[]; pageins: number } {
  const [hot, scan, gap] = [8, 200, 64];
  const sys = new VmSystem({ physPages: 64, swapPages: 1024, policy });
  const p = sys.spawn();
  const base = Number(p.mmap(0, (hot + scan) * PS, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE));
  const resident: number[] = [];
  for (let r = 0, s = 0; r < rounds; r++) {
    resident.push(p.mincore(base, hot * PS).reduce((n, v) => n + (v & 1), 0));
    for (let h = 0; h < hot; h++) p.write(base + h * PS, [r]);
    for (let i = 0; i < gap; i++, s = (s + 1) % scan) p.write(base + (hot + s) * PS, [r]);
    sys.audit();
  }
  return { resident, pageins: sys.counters.pageins };
}

describe('clockpro', () => {
  /*
   * A round uses 8 + 64 = 72 distinct pages, more than 64 frames hold, and
   * the scan's pages come back only every 200 / 64 rounds: by recency
   * (clock) each hot page is gone before its next use, every round. Under
   * CLOCK-Pro the hot pages, evicted in their test period in round 0, are
   * in the history when they fault in round 1: they come back hot and stay
   * (their reuse distance, 72, is shorter than the scan's, 200), so from
   * round 2 on all 8 are resident and clock's 8 pageins a round are saved.
   */
  it('keeps a hot set resident through a scan of cold pages that clock loses it to', () => {
    const rounds = 30;
    const clock = hotAndScan('clock', rounds);
    const pro = hotAndScan('clockpro', rounds);
    assert.deepEqual(clock.resident.slice(1), Array(rounds - 1).fill(0));
    assert.deepEqual(pro.resident.slice(2), Array(rounds - 2).fill(8));
    assert.equal(clock.pageins - pro.pageins, 8 * (rounds - 2));
  });

  /*
   * 8 frames, cold target 1, newq 1: after pages 1..8 come in, 1..7 are on
   * coldq with the faults' references cleared (they do not count).
   */
  it('a page used again in its test period turns hot; one not used is evicted into the history and comes back hot', () => {
    const m = new Machine('clockpro', 8);
    for (let k = 1; k <= 8; k++) m.fault(k);
    m.touch(1);
    m.reclaim(1);
    m.check();
    assert.ok(m.resident.has(1), 'page 1 was used in its test: it stays');
    assert.ok(!m.resident.has(2), 'page 2 was not used since it came in: the victim');
    assert.deepEqual(pick(m.pol.counts()), { active: 1, inactive: 6, nonresident: 1 });
    m.fault(2);
    m.check();
    assert.deepEqual(pick(m.pol.counts()), { active: 2, inactive: 6, nonresident: 0 });
  });

  it('keeps at most one history entry per frame', () => {
    for (const frames of [5, 16, 20, 64]) {
      const m = new Machine('clockpro', frames);
      const pol = m.pol as ClockProPolicy;
      assert.ok(pol.history.capacity <= frames);
      for (let k = 1; k <= 20 * frames; k++) {
        m.fault(k);
        assert.ok(pol.history.size() <= frames, `${frames} frames: ${pol.history.size()} entries`);
      }
      assert.ok(pol.history.size() > 0);
      m.check();
    }
  });
});

describe('workingset', () => {
  /*
   * 8 frames, pages 1..8 in (inactive), 1..4 used again (active). Page 5
   * is evicted; its refault distance is then 1 (its own eviction), within
   * the active pages: it comes back active. Page 6 is evicted next and
   * stays out while new pages pass through the inactive list until its
   * distance exceeds the active list's length: it starts inactive.
   */
  it('activates a refault within its distance at once, and not one beyond it', () => {
    const m = new Machine('workingset', 8);
    const pol = m.pol as WorkingsetPolicy;
    for (let k = 1; k <= 8; k++) m.fault(k);
    for (let k = 1; k <= 4; k++) pol.activate(m.resident.get(k)!);
    m.host.ref.fill(0);
    m.reclaim(1);
    assert.ok(!m.resident.has(5));
    assert.equal(pol.age - pol.shadows.get(5)!, 1);
    assert.ok(isActive(m, m.fault(5)), 'page 5 refaults within distance: active');
    m.host.ref.fill(0);
    m.reclaim(1);
    assert.ok(!m.resident.has(6));
    const distance = () => pol.age - pol.shadows.get(6)!;
    for (let k = 100; distance() <= pol.lists.activeq.length; k++) m.fault(k);
    assert.ok(pol.shadows.has(6), `page 6's shadow is kept at distance ${distance()}`);
    assert.ok(!isActive(m, m.fault(6)), 'page 6 refaults beyond distance: inactive');
    assert.ok(!pol.shadows.has(6), 'a refault consumes its shadow');
    m.check();
  });
});

/** the policies that remember evicted pages, and the count that says how many */
const HISTORIES = [
  ['clockpro', 'nonresident'],
  ['workingset', 'shadows'],
] as const;

describe('forget: an identity that dies takes its history with it', () => {
  for (const [policy, what] of HISTORIES) {
    it(`${policy}: a forgotten page comes back as a new one, not from its history`, () => {
      const m = new Machine(policy, 8);
      for (let k = 1; k <= 9; k++) m.fault(k);
      const gone = [1, 2, 3, 4, 5, 6, 7, 8].find((k) => !m.resident.has(k))!;
      assert.equal(m.pol.counts()[what], 1);
      m.pol.forget(gone);
      assert.equal(m.pol.counts()[what], 0);
      const active = m.pol.counts().active;
      m.fault(gone);
      assert.equal(m.pol.counts().active, active);
      m.check();
    });

    it(`${policy}: unmapping paged-out anons empties its ${what}`, () => {
      const sys = new VmSystem({ physPages: 32, swapPages: 256, policy });
      const p = sys.spawn();
      const va = Number(p.mmap(0, 96 * PS, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE));
      for (let i = 0; i < 96; i++) p.write(va + i * PS, [i + 1]);
      assert.ok(sys.uvm.pdpol.counts()[what] > 0);
      p.munmap(va, 96 * PS);
      assert.equal(sys.uvm.pdpol.counts()[what], 0);
      sys.audit();
    });
  }
});

function pick(c: Record<string, number>): Record<string, number> {
  return { active: c.active, inactive: c.inactive, nonresident: c.nonresident };
}

function isActive(m: Machine, pg: Frame): boolean {
  return (m.host.pqflags[pg] & PQ_ACTIVE) !== 0;
}
