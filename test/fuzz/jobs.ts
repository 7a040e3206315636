/*
 * fuzz/jobs.ts: what a campaign asks of a worker, and what it answers:
 * plain data, so it crosses a thread boundary.
 *
 *   runJob({ kind: 'run', seed, ops })                 a seed's run: Report
 *   runJob({ kind: 'shrink', seed, ops, budgetMs })    its minimal scenario:
 *                                                      ShrinkReport
 */
import { performance } from 'node:perf_hooks';
import type { Divergence } from '../world.ts';
import { configFor } from './config.ts';
import { runSeed, scenarioOf, shrink } from './run.ts';

export type Job =
  | { kind: 'run'; seed: number; ops: number }
  | { kind: 'shrink'; seed: number; ops: number; budgetMs: number };

/** A failure, as data. */
export interface FailureInfo {
  kind: string;
  signature: string;
  message: string;
  detail: string;
  /** the command (counted from 1) that showed it */
  step: number;
}

export interface Report {
  kind: 'run';
  seed: number;
  ops: number;
  ms: number;
  failure: FailureInfo | null;
}

export interface ShrinkReport {
  kind: 'shrink';
  seed: number;
  /** commands before and after */
  from: number;
  to: number;
  tries: number;
  timedOut: boolean;
  /** the scenario file's text, its last lines showing the failure ('' when none) */
  text: string;
  /** `uvm run` of the text fails at its last line */
  reproduces: boolean;
  /** the shrunk run's failure (the original's signature) */
  failure: FailureInfo | null;
  ms: number;
}

/** infoOf: a divergence as data. */
export function infoOf(d: Divergence | null, step: number): FailureInfo | null {
  if (d === null) return null;
  return { kind: d.kind, signature: d.signature(), message: d.message, detail: d.detail, step };
}

/**
 * runJob: do one job.
 * => a shrink job reruns the seed to find its failure; a seed that no
 *    longer fails gives an empty text.
 */
export function runJob(job: Job): Report | ShrinkReport {
  const t0 = performance.now();
  const r = runSeed(job.seed, job.ops);
  const failure = infoOf(r.failure, r.cmds.length);
  if (job.kind === 'run')
    return { kind: 'run', seed: job.seed, ops: r.steps, ms: performance.now() - t0, failure };
  const out: ShrinkReport = {
    kind: 'shrink',
    seed: job.seed,
    from: r.cmds.length,
    to: 0,
    tries: 0,
    timedOut: false,
    text: '',
    reproduces: false,
    failure: null,
    ms: 0,
  };
  if (failure !== null) {
    const cfg = configFor(job.seed);
    const s = shrink(cfg, r.cmds, failure.signature, job.budgetMs);
    const sc = scenarioOf(cfg, s.cmds);
    Object.assign(out, {
      to: s.cmds.length,
      tries: s.tries,
      timedOut: s.timedOut,
      text: sc.text,
      reproduces: sc.reproduces,
    });
    out.failure = infoOf(sc.failure, s.cmds.length);
  }
  out.ms = performance.now() - t0;
  return out;
}
