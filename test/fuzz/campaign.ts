/*
 * fuzz/campaign.ts: the differential fuzzer's command line.
 *
 *   npm run fuzz -- --seconds N [--seed S] [--ops K] [--jobs J]
 *                   [--shrink-seconds T] [--out DIR]
 *   npm run fuzz -- --seed S [--ops K]        rerun one seed, verbosely
 *
 * A campaign runs seeds S, S+1, ... on every core (worker threads) until
 * the time is up, printing progress; then it shrinks one seed of each
 * class of failure to a scenario file (DIR/seed-N.uvm, for `uvm run`)
 * and prints: seeds run, operations, operations per second, and each
 * failure (seed and first message). Exit status: 0 no failure, 1 a
 * failure, 2 bad usage.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { configFor } from './config.ts';
import { type Job, type Report, runJob, type ShrinkReport } from './jobs.ts';
import { Pool } from './pool.ts';

const USAGE =
  'usage: npm run fuzz -- --seconds N [--seed S] [--ops K] [--jobs J] [--shrink-seconds T] [--out DIR], or --seed S alone';

/** The command line, checked. */
interface Options {
  seconds: number | null;
  seed: number | null;
  ops: number;
  jobs: number;
  shrinkSeconds: number;
  out: string;
}

class UsageError extends Error {}

/** options: the parsed command line. => UsageError when it is not one. */
function options(argv: string[]): Options {
  let v: Record<string, string | undefined>;
  try {
    v = parseArgs({
      args: argv,
      options: {
        seconds: { type: 'string' },
        seed: { type: 'string' },
        ops: { type: 'string' },
        jobs: { type: 'string' },
        'shrink-seconds': { type: 'string' },
        out: { type: 'string' },
      },
      strict: true,
    }).values as Record<string, string | undefined>;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const num = (name: string, min: number, def: number | null): number | null => {
    const s = v[name];
    if (s === undefined) return def;
    const n = Number(s);
    if (!/^\d+(\.\d+)?$/.test(s) || n < min)
      throw new UsageError(`--${name} ${s}: not a number >= ${min}`);
    return n;
  };
  const o: Options = {
    seconds: num('seconds', 0.001, null),
    seed: num('seed', 0, null),
    ops: num('ops', 1, 2000)!,
    jobs: num('jobs', 1, availableParallelism())!,
    shrinkSeconds: num('shrink-seconds', 0, 60)!,
    out: v.out ?? 'fuzz-failures',
  };
  if (o.seed !== null && !Number.isSafeInteger(o.seed))
    throw new UsageError(`--seed ${o.seed}: not an integer`);
  if (!Number.isInteger(o.ops) || !Number.isInteger(o.jobs))
    throw new UsageError('--ops and --jobs are integers');
  if (o.seconds === null && o.seed === null) throw new UsageError('give --seconds N, or --seed S');
  return o;
}

/** failures listed one by one (the rest by class) */
const LISTED = 30;

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** campaign: run seeds from `start` for `seconds` on the pool, then shrink each failure class. */
async function campaign(o: Options): Promise<number> {
  const start = o.seed ?? Math.floor(Math.random() * 1e9);
  const pool = new Pool(
    o.jobs,
    (job) => (job.kind === 'run' ? 120_000 : job.budgetMs * 3 + 120_000),
    (e) => {
      process.stderr.write(`fuzz: a worker thread cannot start: ${e.message}\n`);
      process.exit(1);
    },
  );
  const t0 = performance.now();
  const deadline = t0 + o.seconds! * 1000;
  const reports: Report[] = [];
  let next = start;
  let ops = 0;
  let failed = 0;
  const progress = setInterval(() => {
    const s = (performance.now() - t0) / 1000;
    process.stderr.write(
      `[${s.toFixed(0)}s] seeds ${reports.length}, operations ${fmt(ops)} (${fmt(ops / s)}/s), failures ${failed}\n`,
    );
  }, 5000);
  process.stderr.write(
    `fuzz: seeds from ${start}, ${o.ops} operations each, ${pool.size} workers, ${o.seconds} s\n`,
  );
  const work = async (i: number) => {
    while (performance.now() < deadline) {
      const r = (await pool.run(i, { kind: 'run', seed: next++, ops: o.ops })) as Report;
      reports.push(r);
      ops += r.ops;
      if (r.failure && ++failed <= LISTED)
        process.stderr.write(`seed ${r.seed}: ${r.failure.kind}: ${r.failure.message}\n`);
    }
  };
  await Promise.all(Array.from({ length: pool.size }, (_x, i) => work(i)));
  clearInterval(progress);
  summary(reports, ops, (performance.now() - t0) / 1000, pool.size);
  const failures = reports.filter((r) => r.failure !== null).sort((a, b) => a.seed - b.seed);
  await shrinkClasses(pool, failures, o);
  pool.close();
  return failures.length > 0 ? 1 : 0;
}

/** summary: seeds run, operations, operations per second, failures (seed and first message). */
function summary(reports: Report[], ops: number, secs: number, workers: number): void {
  const failures = reports.filter((r) => r.failure !== null).sort((a, b) => a.seed - b.seed);
  const seeds = reports.map((r) => r.seed);
  console.log(`seeds run: ${fmt(reports.length)} (${Math.min(...seeds)} .. ${Math.max(...seeds)})`);
  console.log(`operations: ${fmt(ops)} in ${secs.toFixed(1)} s`);
  console.log(
    `operations per second: ${fmt(ops / secs)} (${workers} workers, the audit after every operation)`,
  );
  console.log(`failures: ${failures.length}`);
  for (const r of failures.slice(0, LISTED))
    console.log(`  seed ${r.seed}: ${r.failure!.kind}: ${r.failure!.message}`);
  if (failures.length > LISTED)
    console.log(`  ... and ${failures.length - LISTED} more (by class below)`);
}

/** shrinkClasses: for each failure class, shrink its first seed and write the scenario. */
async function shrinkClasses(pool: Pool, failures: Report[], o: Options): Promise<void> {
  const classes = new Map<string, Report[]>();
  for (const r of failures)
    classes.set(r.failure!.signature, [...(classes.get(r.failure!.signature) ?? []), r]);
  if (classes.size === 0) return;
  console.log(`failure classes: ${classes.size}`);
  const todo = [...classes.entries()];
  const lines = new Map<string, string>();
  const shrinkOne = async (i: number) => {
    for (let c = todo.shift(); c !== undefined; c = todo.shift()) {
      const [sig, rs] = c;
      let where = 'not shrunk';
      if (
        o.shrinkSeconds > 0 &&
        rs[0].failure!.kind !== 'timeout' &&
        rs[0].failure!.kind !== 'worker'
      ) {
        const job: Job = {
          kind: 'shrink',
          seed: rs[0].seed,
          ops: o.ops,
          budgetMs: o.shrinkSeconds * 1000,
        };
        where = describeShrunk((await pool.run(i, job)) as ShrinkReport, o.out);
      }
      const seeds =
        rs
          .slice(0, 12)
          .map((r) => r.seed)
          .join(', ') + (rs.length > 12 ? ', ...' : '');
      lines.set(sig, `  ${sig}\n    ${rs.length} seeds: ${seeds}\n    ${where}`);
    }
  };
  await Promise.all(Array.from({ length: pool.size }, (_x, i) => shrinkOne(i)));
  for (const [sig] of classes) console.log(lines.get(sig));
}

/** describeShrunk: write the shrunk scenario; a line saying where it is. */
function describeShrunk(s: ShrinkReport, out: string): string {
  if (s.text === '') return `seed ${s.seed} did not fail again: not shrunk`;
  mkdirSync(out, { recursive: true });
  const file = join(out, `seed-${s.seed}.uvm`);
  writeFileSync(file, s.text);
  const how = `${s.from} -> ${s.to} commands, ${s.tries} replays, ${(s.ms / 1000).toFixed(0)} s${s.timedOut ? ' (time budget spent)' : ''}`;
  const check = s.reproduces ? 'uvm run reproduces it' : 'uvm run does NOT reproduce it';
  return `shrunk (${how}; ${check}): ${file}`;
}

/** one: rerun one seed verbosely; shrink it if it fails. */
function one(o: Options): number {
  const seed = o.seed!;
  const cfg = configFor(seed);
  console.log(
    `seed ${seed}: pageSize ${cfg.pageSize}, ${cfg.physPages} frames, swap ${cfg.swapPages} pages, ` +
      `${cfg.pressure ? 'memory pressure' : 'no pressure'}, lock limit ${cfg.lockLimit}, ` +
      `${cfg.maxProcs} processes at most, window ${cfg.windowPages} pages, ${cfg.files.length} files, ` +
      `${cfg.inject ? 'injected I/O errors' : 'no injected errors'}`,
  );
  const r = runJob({ kind: 'run', seed, ops: o.ops }) as Report;
  console.log(
    `${fmt(r.ops)} operations in ${(r.ms / 1000).toFixed(2)} s (${fmt((r.ops / r.ms) * 1000)}/s)`,
  );
  if (r.failure === null) {
    console.log('no failure');
    return 0;
  }
  console.log(`failure at command ${r.failure.step}: ${r.failure.kind}: ${r.failure.message}`);
  if (r.failure.detail) console.log(`  ${r.failure.detail}`);
  if (o.shrinkSeconds === 0) return 1;
  const s = runJob({
    kind: 'shrink',
    seed,
    ops: o.ops,
    budgetMs: o.shrinkSeconds * 1000,
  }) as ShrinkReport;
  console.log(describeShrunk(s, o.out));
  process.stdout.write(s.text);
  return 1;
}

async function main(): Promise<number> {
  let o: Options;
  try {
    o = options(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`fuzz: ${e.message} (${USAGE})\n`);
    return 2;
  }
  return o.seconds === null ? one(o) : campaign(o);
}

process.exitCode = await main();
