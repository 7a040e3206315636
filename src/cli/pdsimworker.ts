/*
 * cli/pdsimworker.ts: a worker thread of `uvm pdsim`'s pool: runs one
 * task of the sweep over the trace, whose arrays it shares with the
 * command (SharedArrayBuffer).
 */
import { type PdsimResult, type PdsimTask, runTask } from '../lab/pdsim.ts';
import type { RefTrace } from '../lab/trace.ts';

/** pdsimWorker: one task's rows (tinypool calls the default export). */
export default function pdsimWorker(job: { trace: RefTrace; task: PdsimTask }): PdsimResult[] {
  return runTask(job.trace, job.task);
}
