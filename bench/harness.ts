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

export interface Row {
  workload: string;
  ours_ns: number;
  reference?: string;
  reference_ns?: number | null;
  ratio?: number | null;
  target?: number | null;
  met?: boolean | null;
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
