/*
 * fuzz/pool.ts: worker threads for the fuzzer's jobs (fuzz/jobs.ts): a
 * campaign's seeds, the CI slice's seeds, shrinking.
 *
 *   new Pool(size, limitMs, broken)
 *   pool.run(i, job)     do the job on worker i; its Report or ShrinkReport
 *   pool.close()
 */
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type { FailureInfo, Job, Report, ShrinkReport } from './jobs.ts';

/** A worker thread and the job it is doing. */
interface Slot {
  worker: Worker;
  /** it finished a job (a worker that dies before its first cannot start at all) */
  started: boolean;
  busy: { job: Job; since: number; done: (r: Report | ShrinkReport) => void } | null;
}

/**
 * A pool of worker threads. A job past its time limit (a hang) or whose
 * worker dies ends as a failure, and a new worker takes the slot; a
 * worker that cannot start at all calls `broken`.
 */
export class Pool {
  private readonly slots: Slot[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(
    size: number,
    private readonly limitMs: (job: Job) => number,
    private readonly broken: (e: Error) => void,
  ) {
    for (let i = 0; i < size; i++) {
      const s: Slot = { worker: null as unknown as Worker, started: false, busy: null };
      this.spawn(s);
      this.slots.push(s);
    }
    this.timer = setInterval(() => this.watch(), 1000);
  }

  /** spawn: a new worker thread for slot s (TypeScript through tsx, as this thread runs). */
  private spawn(s: Slot): void {
    const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
    const entry = JSON.stringify(new URL('./worker.ts', import.meta.url).href);
    const boot = `import(${tsx}).then((t) => { t.register(); return import(${entry}); });`;
    s.worker = new Worker(boot, { eval: true });
    s.worker.on('message', (r: Report | ShrinkReport) => {
      const b = s.busy;
      s.busy = null;
      s.started = true;
      b?.done(r);
    });
    s.worker.on('error', (e) => {
      if (!s.started) this.broken(e);
      this.fail(s, 'worker', `the worker died: ${e.message}`);
    });
  }

  /** fail: the slot's job ends as a failure (kind timeout or worker); a new worker takes its place. */
  private fail(s: Slot, kind: string, why: string): void {
    const b = s.busy;
    s.busy = null;
    void s.worker.terminate();
    this.spawn(s);
    if (b === null) return;
    const failure: FailureInfo = {
      kind,
      signature: `${kind}: ${why.replace(/\d+/g, 'N')}`,
      message: why,
      detail: '',
      step: 0,
    };
    const ms = performance.now() - b.since;
    const seed = b.job.seed;
    if (b.job.kind === 'run') b.done({ kind: 'run', seed, ops: 0, ms, failure });
    else
      b.done({
        kind: 'shrink',
        seed,
        from: 0,
        to: 0,
        tries: 0,
        timedOut: true,
        text: '',
        reproduces: false,
        failure,
        ms,
      });
  }

  private watch(): void {
    for (const s of this.slots) {
      const limit = s.busy === null ? 0 : this.limitMs(s.busy.job);
      if (s.busy && performance.now() - s.busy.since > limit)
        this.fail(s, 'timeout', `no answer in ${Math.round(limit / 1000)} s (a hang?)`);
    }
  }

  /** run: do `job` on slot `i`. */
  run(i: number, job: Job): Promise<Report | ShrinkReport> {
    return new Promise((done) => {
      const s = this.slots[i];
      s.busy = { job, since: performance.now(), done };
      s.worker.postMessage(job);
    });
  }

  /** map: do every job, on whichever worker is free; the answers in the jobs' order. */
  async map(jobs: Job[]): Promise<(Report | ShrinkReport)[]> {
    const out: (Report | ShrinkReport)[] = [];
    let next = 0;
    const work = async (i: number) => {
      for (let j = next++; j < jobs.length; j = next++) out[j] = await this.run(i, jobs[j]);
    };
    await Promise.all(this.slots.map((_s, i) => work(i)));
    return out;
  }

  get size(): number {
    return this.slots.length;
  }

  close(): void {
    clearInterval(this.timer);
    for (const s of this.slots) void s.worker.terminate();
  }
}
