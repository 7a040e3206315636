/*
 * The fuzzer's slice for CI: fixed seeds, run exactly as `npm run fuzz`
 * runs them (test/fuzz/, on worker threads, one per core), chosen to
 * cover every kind of configuration: 2 KiB and 4 KiB pages, with and
 * without memory pressure, with injected I/O errors. Every seed maps
 * files. Deterministic: the same seeds, the same commands, every time.
 *
 * A failing seed names its failure; the first seed of each failure class
 * is shrunk (briefly) and printed as a scenario file for `uvm run`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { configFor, type FuzzConfig } from './fuzz/config.ts';
import type { Job, Report, ShrinkReport } from './fuzz/jobs.ts';
import { Pool } from './fuzz/pool.ts';

/** commands per seed, as in a campaign */
const OPS = 2000;
/** seeds per kind of configuration */
const PER_KIND = 40;
/** time to shrink the first failure of each class */
const SHRINK_MS = 15_000;

const KINDS: [string, (c: FuzzConfig) => boolean][] = [
  ['4 KiB pages, no pressure', (c) => c.pageSize === 4096 && !c.pressure && !c.inject],
  ['2 KiB pages, no pressure', (c) => c.pageSize === 2048 && !c.pressure && !c.inject],
  ['4 KiB pages, 4-10x overcommitted', (c) => c.pageSize === 4096 && c.pressure && !c.inject],
  ['2 KiB pages, 4-10x overcommitted', (c) => c.pageSize === 2048 && c.pressure && !c.inject],
  ['injected I/O errors, overcommitted', (c) => c.pressure && c.inject],
  ['injected I/O errors, no pressure', (c) => !c.pressure && c.inject],
];

/** seedsOf: the first PER_KIND seeds from 1 whose configuration is of this kind. */
function seedsOf(kind: (c: FuzzConfig) => boolean): number[] {
  const out: number[] = [];
  for (let s = 1; out.length < PER_KIND; s++) if (kind(configFor(s))) out.push(s);
  return out;
}

/** explain: a failing seed's report, with the scenario of its class when it has one. */
function explain(r: Report, shrunk: Map<string, ShrinkReport>): string {
  const f = r.failure!;
  const head = `seed ${r.seed}: ${f.kind}: ${f.message}${f.detail ? ` (${f.detail})` : ''}\nrerun: npm run fuzz -- --seed ${r.seed}`;
  const s = shrunk.get(f.signature);
  if (s === undefined || s.seed !== r.seed || s.text === '') return head;
  const check = s.reproduces ? 'uvm run FILE reproduces it' : 'uvm run FILE does NOT reproduce it';
  return `${head}\nshrunk to ${s.to} commands (${check}):\n${s.text}`;
}

describe('the fuzzer: fixed seeds of every kind', () => {
  const seeds = KINDS.map(([, kind]) => seedsOf(kind));
  const reports = new Map<number, Report>();
  const shrunk = new Map<string, ShrinkReport>();
  const pool = new Pool(
    availableParallelism(),
    () => 300_000,
    () => {},
  );

  before(async () => {
    const jobs: Job[] = seeds.flat().map((seed) => ({ kind: 'run', seed, ops: OPS }));
    for (const r of (await pool.map(jobs)) as Report[]) reports.set(r.seed, r);
    const first = new Map<string, number>();
    for (const r of reports.values())
      if (r.failure !== null && !first.has(r.failure.signature))
        first.set(r.failure.signature, r.seed);
    const shrinks: Job[] = [...first.values()].map((seed) => ({
      kind: 'shrink',
      seed,
      ops: OPS,
      budgetMs: SHRINK_MS,
    }));
    for (const s of (await pool.map(shrinks)) as ShrinkReport[])
      if (s.failure) shrunk.set(s.failure.signature, s);
  });

  after(() => pool.close());

  KINDS.forEach(([name], k) => {
    it(name, () => {
      const mine = seeds[k].map((seed) => reports.get(seed)!);
      const failed = mine.filter((r) => r.failure !== null).map((r) => explain(r, shrunk));
      assert.deepEqual(failed, [], failed.join('\n\n'));
      const ops = mine.reduce((n, r) => n + r.ops, 0);
      assert.ok(ops >= PER_KIND * OPS * 0.95, `only ${ops} operations ran`);
    });
  });
});

describe('npm run fuzz', () => {
  const fuzz = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'test/fuzz/campaign.ts', ...args], {
      encoding: 'utf8',
      cwd: new URL('..', import.meta.url).pathname,
    });

  it('bad usage: one line on stderr, exit 2', () => {
    for (const args of [[], ['--seconds', 'x'], ['--bogus', '1'], ['--seed', '1.5']]) {
      const r = fuzz(...args);
      assert.equal(r.status, 2, args.join(' '));
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^fuzz: .*\(usage: npm run fuzz -- --seconds N .*\)\n$/);
    }
  });

  it('--seed S reruns one seed: its configuration, its operations, its outcome', () => {
    const r = fuzz('--seed', '3', '--ops', '200', '--shrink-seconds', '0');
    assert.ok(r.status === 0 || r.status === 1, r.stderr);
    assert.match(r.stdout, /^seed 3: pageSize (2048|4096), \d+ frames, .* files, /);
    assert.match(r.stdout, /\n\d+ operations in [\d.]+ s \([\d,]+\/s\)\n/);
    assert.match(r.stdout, r.status === 0 ? /\nno failure\n$/ : /\nfailure at command \d+: /);
  });

  it('a campaign: seeds, operations, operations per second, failures', () => {
    const r = fuzz(
      '--seconds',
      '2',
      '--seed',
      '1',
      '--ops',
      '100',
      '--jobs',
      '1',
      '--shrink-seconds',
      '0',
    );
    assert.ok(r.status === 0 || r.status === 1, r.stderr);
    assert.match(r.stdout, /^seeds run: \d+ \(1 \.\. \d+\)\noperations: [\d,]+ in [\d.]+ s\n/);
    assert.match(
      r.stdout,
      /\noperations per second: [\d,]+ \(1 workers, the audit after every operation\)\nfailures: \d+\n/,
    );
  });
});
