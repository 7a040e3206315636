/*
 * harness.ts: how the benchmarks measure.
 *
 * A workload runs `batch` operations per call; tinybench times the calls
 * (after its warm-up) and we report the median per operation in ns, so the
 * timer's own cost is spread over the batch. Benchmarks are never tests:
 * nothing in `npm test` depends on these figures.
 */
import { Bench } from 'tinybench';

export interface Workload {
  name: string;
  /** operations one call of `run` performs */
  batch: number;
  /** prepare state; called once before timing */
  setup?: () => void;
  run: () => void;
  /** undo what setup made; called once after timing */
  teardown?: () => void;
}

/** A row of the report (bench/results.json holds an array of them). */
export interface Row {
  workload: string;
  /** ns per operation; null for a size row */
  ours_ns: number | null;
  /** the Linux kernel doing the same, ns per operation, when measured */
  linux_ns: number | null;
  /** ours / Linux (or ours / reference) */
  ratio: number | null;
  /** the largest ratio allowed; for a size row, the most bytes */
  target: number | null;
  met: boolean | null;
  /** what the ratio compares with when it is not Linux */
  reference?: string;
  reference_ns?: number;
  /** a size row: bytes */
  ours_bytes?: number;
}

/**
 * compare: a row of ours beside another figure (Linux, or a named
 * reference), with its target ratio.
 */
export function compare(
  workload: string,
  ours: number,
  other: number | null,
  target: number | null,
  reference?: string,
): Row {
  const ratio = other === null || other === 0 ? null : round(ours / other, 3);
  const row: Row = {
    workload,
    ours_ns: round(ours, 1),
    linux_ns: reference === undefined ? other : null,
    ratio,
    target,
    met: target === null || ratio === null ? null : ratio <= target,
  };
  if (reference !== undefined && other !== null) {
    row.reference = reference;
    row.reference_ns = round(other, 1);
  }
  return row;
}

export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * measure: median ns per operation of a workload.
 * => `quick` shortens the timing window.
 */
export async function measure(w: Workload, quick: boolean): Promise<number> {
  w.setup?.();
  const bench = new Bench({ time: quick ? 150 : 600, warmupTime: quick ? 50 : 200 });
  bench.add(w.name, w.run);
  await bench.run();
  w.teardown?.();
  const result = bench.tasks[0].result;
  if (result?.state !== 'completed') throw new Error(`benchmark ${w.name} did not complete`);
  return (result.latency.p50 * 1e6) / w.batch;
}

/** formatNs: a duration in ns, readable. */
export function formatNs(ns: number | null | undefined): string {
  if (ns === null || ns === undefined) return '-';
  if (ns < 1000) return `${ns.toFixed(1)} ns`;
  if (ns < 1e6) return `${(ns / 1000).toFixed(2)} us`;
  return `${(ns / 1e6).toFixed(2)} ms`;
}
