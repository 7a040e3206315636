/*
 * The policy lab (src/lab/): the textbook cases on Belady's string, the
 * one-pass LRU and OPT stack algorithms against naive simulators at every
 * frame count, every policy against OPT's optimum, the kernel's policies
 * through the PdPolicy interface and in a real VmSystem, and `uvm pdsim`
 * run as a user (bin/uvm.js, from the build `npm test` makes first).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { VmError } from '../src/kernel/param.ts';
import { PD_POLICIES } from '../src/kernel/pdpolicy/index.ts';
import { arc, s3fifo, twoq } from '../src/lab/adaptive.ts';
import { fifo, random, type SizedPolicy, sieve } from '../src/lab/classic.ts';
import { kernelPolicy } from '../src/lab/kernelsim.ts';
import { pdsim, pdsimPolicies, pdsimTasks } from '../src/lab/pdsim.ts';
import { lruCurve, optCurve } from '../src/lab/stack.ts';
import { type RefTrace, TraceDecoder } from '../src/lab/trace.ts';
import { vmPolicy } from '../src/lab/vmsim.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/uvm.js');
const SAMPLE = join(ROOT, 'samples/sort.lackey.gz');

/** Belady's anomaly string, pages 1..5 as ids 0..4 */
const BELADY = Int32Array.from([1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5], (p) => p - 1);

function traceOf(text: string): RefTrace {
  const d = new TraceDecoder('t');
  d.push(new TextEncoder().encode(text));
  return d.end();
}

const BELADY_HEX = `${Array.from(BELADY, (id) => ((id + 1) * 4096).toString(16)).join('\n')}\n`;

/** naiveLru: LRU with `k` frames, an array as the stack. */
function naiveLru(refs: Int32Array, k: number): number {
  const stack: number[] = [];
  let faults = 0;
  for (const x of refs) {
    const i = stack.indexOf(x);
    if (i >= 0) stack.splice(i, 1);
    else {
      faults++;
      if (stack.length === k) stack.shift();
    }
    stack.push(x);
  }
  return faults;
}

/** naiveOpt: Belady's MIN with `k` frames: evict the page next used farthest ahead. */
function naiveOpt(refs: Int32Array, k: number): number {
  const resident = new Set<number>();
  let faults = 0;
  refs.forEach((x, t) => {
    if (resident.has(x)) return;
    faults++;
    if (resident.size === k) {
      let victim = -1;
      let farthest = -1;
      for (const y of resident) {
        const n = refs.indexOf(y, t + 1);
        const when = n < 0 ? Number.POSITIVE_INFINITY : n;
        if (when > farthest) [victim, farthest] = [y, when];
      }
      resident.delete(victim);
    }
    resident.add(x);
  });
  return faults;
}

function faultsOf(policy: string, refs: Int32Array, distinct: number, frames: number): number {
  const trace = {
    refs,
    distinct,
    writes: new Uint8Array(),
    pages: new Float64Array(),
    pageSize: 4096,
  };
  return pdsim(trace, [policy], [frames])[0].faults;
}

describe("Belady's anomaly string 1,2,3,4,1,2,5,1,2,3,4,5", () => {
  it('FIFO: 9 faults with 3 frames, 10 with 4', () => {
    assert.equal(faultsOf('fifo', BELADY, 5, 3), 9);
    assert.equal(faultsOf('fifo', BELADY, 5, 4), 10);
  });

  it('LRU: 10 with 3 frames, 8 with 4 (a stack algorithm has no anomaly)', () => {
    /* 3 frames: only 1 and 2 at 1,2 (after 5) hit; 4 frames: 1,2 twice, then 1,2 */
    const lru = lruCurve(BELADY, 5);
    assert.equal(lru.faults(3), 10);
    assert.equal(lru.faults(4), 8);
    assert.equal(lru.faults(5), 5);
  });

  it('OPT: 7 with 3 frames, 6 with 4', () => {
    /* 3: faults at 1,2,3,4(-3),5(-4... ) - 1,2 hit twice, 3 refaults, 4 refaults */
    const opt = optCurve(BELADY, 5);
    assert.equal(opt.faults(3), 7);
    assert.equal(opt.faults(4), 6);
    assert.equal(opt.faults(1), 12);
  });

  it("the kernel's clock through PdPolicy: 10 with 3 frames (checked by hand)", () => {
    /*
     * Pure demand (freetarg 1). 1,2,3 fill the frames (active, referenced).
     * 4: the first pass finds inactive empty; balance deactivates 1,2
     * (references cleared); the second pass evicts 1, balance moves 3.
     * 1 evicts 2, 2 evicts 3, 5 evicts 4 (each fault: head of inactive
     * unreferenced, balance refills inactive from active): 7 faults so far;
     * 1 and 2 hit (inactive, referenced again). 3: the scan reactivates 1
     * and 2, balance deactivates 5 and 1, the second pass evicts 5; 4
     * evicts 1, 5 evicts 2: 10 faults.
     */
    assert.equal(kernelPolicy('clock', BELADY, 5, 3), 10);
  });

  it('every policy, kernel ones included, is between OPT and a fault per reference', () => {
    for (const policy of pdsimPolicies())
      for (const k of [1, 2, 3, 4, 5, 6]) {
        const f = faultsOf(policy, BELADY, 5, k);
        assert.ok(f >= optCurve(BELADY, 5).faults(k) && f <= 12, `${policy} at ${k}: ${f}`);
        if (k >= 5) assert.equal(f, 5, `${policy} with every page resident faults once a page`);
        if (k === 1) assert.equal(f, 12, `${policy} with one frame`);
      }
  });
});

/** refString: random reference strings with locality (a few hot pages). */
const refString = fc
  .record({
    distinct: fc.integer({ min: 1, max: 12 }),
    picks: fc.array(fc.tuple(fc.nat(99), fc.nat(11)), { minLength: 1, maxLength: 400 }),
  })
  .map(({ distinct, picks }) => {
    const refs = Int32Array.from(picks, ([r, p]) =>
      r < 60 ? p % Math.min(3, distinct) : p % distinct,
    );
    /* ids in order of first use, as the decoder makes them */
    const ids = new Map<number, number>();
    for (const p of refs) if (!ids.has(p)) ids.set(p, ids.size);
    return Int32Array.from(refs, (p) => ids.get(p)!);
  });

const distinctOf = (refs: Int32Array) => new Set(refs).size;

/** the simulators themselves (pdsim answers frames >= distinct without them) */
const RAW: [string, SizedPolicy][] = [
  ...Object.entries({ fifo, random, sieve, arc, twoq, s3fifo }),
  ...Object.keys(PD_POLICIES).map((name): [string, SizedPolicy] => [
    name,
    (refs, d, k) => kernelPolicy(name, refs, d, k),
  ]),
];

describe('one-pass stack algorithms against naive simulators', () => {
  const pairs = [
    ['LRU', lruCurve, naiveLru],
    ['OPT', optCurve, naiveOpt],
  ] as const;
  for (const [name, onePass, naive] of pairs)
    it(`${name} at every frame count`, () => {
      fc.assert(
        fc.property(refString, (refs) => {
          const d = distinctOf(refs);
          const curve = onePass(refs, d);
          for (let k = 1; k <= d + 1; k++) assert.equal(curve.faults(k), naive(refs, k), `k=${k}`);
        }),
        { numRuns: 300 },
      );
    });

  it('LRU renumbers its use times (traces far longer than 4 x distinct pages)', () => {
    const refs = Int32Array.from({ length: 20_000 }, (_, i) => (i * 7 + ((i * i) % 13)) % 20);
    const curve = lruCurve(refs, 20);
    for (const k of [1, 5, 10, 19, 20]) assert.equal(curve.faults(k), naiveLru(refs, k));
  });
});

describe('every policy against the optimum', () => {
  it('no policy faults less than OPT, more than once a reference, or more than once a page with room for all', () => {
    fc.assert(
      fc.property(refString, fc.integer({ min: 1, max: 13 }), (refs, k) => {
        const d = distinctOf(refs);
        const opt = optCurve(refs, d).faults(k);
        for (const policy of pdsimPolicies()) {
          const f = faultsOf(policy, refs, d, k);
          assert.ok(f >= opt && f <= refs.length, `${policy} k=${k}: ${f} < OPT ${opt}`);
          if (k >= d) assert.equal(f, d, `${policy} k=${k}`);
        }
        for (const [name, run] of RAW)
          assert.equal(run(refs, d, d, 1), d, `${name} with room for every page`);
      }),
      { numRuns: 60 },
    );
  });

  it('random is repeatable by its seed', () => {
    const refs = Int32Array.from({ length: 2000 }, (_, i) => (i * 31 + (i >> 3)) % 40);
    const trace = {
      refs,
      distinct: 40,
      writes: new Uint8Array(),
      pages: new Float64Array(),
      pageSize: 4096,
    };
    const run = (seed: number) => pdsim(trace, ['random'], [10], { seed })[0].faults;
    assert.equal(run(7), run(7));
    assert.notDeepEqual([1, 2, 3, 4, 5].map(run), [1, 1, 1, 1, 1].map(run));
  });
});

describe('the sweep', () => {
  it('rows in the order of the policies, then the frame counts', () => {
    const r = pdsim(traceOf(BELADY_HEX), ['opt', 'fifo'], [4, 3]);
    assert.deepEqual(
      r.map((x) => [x.policy, x.frames, x.faults, x.missRatio]),
      [
        ['opt', 4, 6, 0.5],
        ['opt', 3, 7, 7 / 12],
        ['fifo', 4, 10, 10 / 12],
        ['fifo', 3, 9, 0.75],
      ],
    );
  });

  it('an unknown policy names the known ones; a frame count must be a positive integer', () => {
    assert.throws(
      () => pdsimTasks(['lru', 'nope'], [4]),
      (e) =>
        e instanceof VmError && /nope: no such policy \(there are: lru, opt, fifo/.test(e.message),
    );
    for (const f of [0, -1, 1.5]) assert.throws(() => pdsimTasks(['lru'], [f]), VmError);
  });

  it('names every kernel policy of PD_POLICIES', () => {
    for (const name of Object.keys(PD_POLICIES)) assert.ok(pdsimPolicies().includes(name), name);
  });
});

/* 40 pages written then read round-robin: with 16 frames, pages go to swap and back */
const ROUND_ROBIN = Array.from(
  { length: 400 },
  (_, i) => `${i < 40 ? ' S' : ' L'} ${((i % 40) + 16).toString(16)}000,8`,
).join('\n');

describe('--vm: a real VmSystem', () => {
  const text = ROUND_ROBIN;

  it("every page faults in once at least; swap traffic under pressure; the kernel's counters", () => {
    for (const name of Object.keys(PD_POLICIES)) {
      const c = vmPolicy(name, traceOf(text), 16);
      assert.ok(c.faults >= 40 && c.faults <= 400, `${name}: ${c.faults}`);
      assert.ok(c.pageouts >= 24 && c.pageins > 0, `${name}: ${JSON.stringify(c)}`);
    }
    const roomy = vmPolicy('clock', traceOf(text), 64);
    assert.deepEqual(roomy, { faults: 40, pageouts: 0, pageins: 0 });
  });

  it('rows named vm:NAME with pageouts and pageins', () => {
    const r = pdsim(traceOf(text), ['lru', 'clock'], [16], { vm: true });
    assert.deepEqual(
      r.map((x) => x.policy),
      ['lru', 'vm:clock'],
    );
    assert.ok(r[1].pageouts !== undefined && r[1].pageins !== undefined);
  });
});

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

function uvm(args: string[], input?: string): Ran {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: ROOT, input });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('uvm pdsim', () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvm-pdsim-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const belady = join(dir, 'belady.hex');
  writeFileSync(belady, BELADY_HEX);
  const rr = join(dir, 'rr.lackey');
  writeFileSync(rr, ROUND_ROBIN);

  it('prints the table: policy, frames, faults, miss ratio', () => {
    const r = uvm(['pdsim', belady, '--policy', 'fifo,lru', '--frames', '3,4']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /12 references, 5 distinct pages of 4096 bytes/);
    assert.match(r.stdout, /policy +frames +faults +miss ratio/);
    assert.match(r.stdout, /fifo +3 +9 +0\.7500\n/);
    assert.match(r.stdout, /fifo +4 +10 +0\.8333\n/);
    assert.match(r.stdout, /lru +4 +8 +0\.6667\n/);
  });

  it('--json gives references, distinct and the results, read from stdin', () => {
    const r = uvm(['pdsim', '-', '--policy', 'opt,clock', '--frames', '3', '--json'], BELADY_HEX);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      references: 12,
      distinct: 5,
      results: [
        { policy: 'opt', frames: 3, faults: 7, missRatio: 7 / 12 },
        { policy: 'clock', frames: 3, faults: 10, missRatio: 10 / 12 },
      ],
    });
  });

  it('--plot writes the curves as SVG, one line per policy', () => {
    const svg = join(dir, 'plot.svg');
    const r = uvm([
      'pdsim',
      SAMPLE,
      '--policy',
      'lru,opt,fifo',
      '--frames',
      '4,8,16,32',
      '--plot',
      svg,
    ]);
    assert.equal(r.status, 0, r.stderr);
    const text = readFileSync(svg, 'utf8');
    assert.match(text, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.equal(text.match(/<polyline/g)?.length, 3);
    for (const name of ['lru', 'opt', 'fifo', 'frames', 'faults'])
      assert.ok(text.includes(`>${name}<`), name);
  });

  it('--vm runs the kernel policy in a VmSystem beside the ideal ones', () => {
    const r = uvm([
      'pdsim',
      SAMPLE,
      '--policy',
      'opt,clock',
      '--frames',
      '16,32',
      '--vm',
      '--json',
    ]);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as {
      distinct: number;
      results: Record<string, number | string>[];
    };
    const vm = j.results.filter((x) => x.policy === 'vm:clock');
    assert.equal(vm.length, 2);
    for (const x of vm) {
      const opt = j.results.find((y) => y.policy === 'opt' && y.frames === x.frames)!;
      assert.ok(x.faults >= opt.faults && (x.pageins as number) > 0, JSON.stringify(x));
    }
  });

  it('bad input is one line and exit 2', () => {
    const cases: [string[], RegExp][] = [
      [[belady, '--policy', 'lru,nope'], /nope: no such policy \(there are: lru, opt, .*clock/],
      [[belady, '--frames', '3,x'], /--frames: x is not a positive integer/],
      [[belady, '--frames', '0'], /--frames: 0 is not a positive integer/],
      [[join(dir, 'missing')], /cannot read the trace .*missing: ENOENT/],
      [[belady, '--policy', 'clock', '--frames', '8', '--vm'], /--vm: 8 frames/],
    ];
    for (const [args, why] of cases) {
      const r = uvm(['pdsim', ...args]);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, why);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    const size = uvm(['pdsim', belady, '--page-size', '1000']);
    assert.equal(size.status, 2);
    assert.match(size.stderr, /1000 is not a power of two/);
    const bad = join(dir, 'bad.lackey');
    writeFileSync(bad, 'I  1000,4\n L 2000;8\n');
    const r = uvm(['pdsim', bad]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^uvm: .*bad\.lackey:2: no comma after the address: " L 2000;8"\n$/);
  });

  it('the bundled sample is a real lackey trace', () => {
    assert.ok(existsSync(SAMPLE));
    const r = uvm(['pdsim', SAMPLE, '--policy', 'lru', '--frames', '1000', '--json']);
    const j = JSON.parse(r.stdout) as {
      references: number;
      distinct: number;
      results: { faults: number }[];
    };
    assert.ok(j.references > 1_000_000 && j.distinct > 100, r.stdout);
    assert.equal(j.results[0].faults, j.distinct);
  });
});
