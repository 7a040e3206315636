/*
 * fuzz/worker.ts: a campaign worker thread: runs the seeds and shrinks the
 * failures the main thread sends, one job at a time.
 *
 *   { kind: 'run', seed, ops }            => Report
 *   { kind: 'shrink', seed, ops, budgetMs } => ShrinkReport
 */
import { parentPort } from 'node:worker_threads';
import { type Job, runJob } from './jobs.ts';

parentPort!.on('message', (job: Job) => {
  parentPort!.postMessage(runJob(job));
});
