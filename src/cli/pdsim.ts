/*
 * cli/pdsim.ts: `uvm pdsim TRACE --policy LIST --frames LIST`: page
 * replacement policies compared on a memory trace (lab/pdsim.ts).
 *
 *   the trace is streamed into a page-reference string held in
 *   SharedArrayBuffers (cli/memtrace.ts), the sweep's tasks run on a pool
 *   of worker threads (tinypool, one a core) that share it, and the rows
 *   are printed as a table (or --json), and drawn (--plot FILE.svg)
 *
 * A progress bar on stderr, on a terminal only: bytes read, then tasks done.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import Tinypool from 'tinypool';
import { VmError } from '../kernel/param.ts';
import { PD_POLICIES } from '../kernel/pdpolicy/index.ts';
import { type PdsimResult, type PdsimTask, pdsimTasks } from '../lab/pdsim.ts';
import { missRatioSvg } from '../lab/svg.ts';
import type { RefTrace } from '../lab/trace.ts';
import { table } from '../tools/dump.ts';
import type { Io } from './main.ts';
import { readTrace } from './memtrace.ts';
import { progressBar } from './progress.ts';
import { UsageError } from './usage.ts';

/** The command's flags, as commander gives them. */
export interface PdsimFlags {
  policy: string;
  frames?: string;
  json?: boolean;
  plot?: string;
  seed: number;
  pageSize: number;
  vm?: boolean;
  progress: boolean;
}

/** What --json prints. */
export interface PdsimReport {
  references: number;
  distinct: number;
  results: PdsimResult[];
}

/**
 * the workers' module: the build's pdsimworker.js, or, run from the
 * sources under tsx (a development tool), a module that registers tsx in
 * the worker (Node 20 gives workers no loader hooks of --import) and
 * loads pdsimworker.ts
 */
const WORKER = import.meta.url.endsWith('.ts')
  ? 'data:text/javascript,' +
    encodeURIComponent(
      `import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))};\n` +
        'register();\n' +
        `export default (await import(${JSON.stringify(new URL('pdsimworker.ts', import.meta.url).href)})).default;\n`,
    )
  : new URL('pdsimworker.js', import.meta.url).href;

/**
 * pdsimCommand: run the sweep the flags ask for over `file` and print it.
 * => throws UsageError (exit 2) for an unknown policy, a bad frame list,
 *    an unreadable, empty or malformed trace, or a plot it cannot write.
 */
export async function pdsimCommand(file: string, o: PdsimFlags, io: Io): Promise<void> {
  const policies = list(o.policy, '--policy');
  const frames = o.frames === undefined ? undefined : list(o.frames, '--frames').map(frameCount);
  const opts = { seed: o.seed, vm: o.vm === true };
  usage(() => pdsimTasks(policies, frames ?? [1], opts));
  if (opts.vm) checkVm(policies, frames ?? [], o.pageSize);
  const bar = o.progress && io.tty ? progressBar('pdsim [{bar}] {percentage}% {phase}') : null;
  bar?.start(1, 0, { phase: 'of the trace read' });
  const trace = await readTrace(file, {
    pageSize: o.pageSize,
    alloc: (bytes) => new SharedArrayBuffer(bytes),
    progress: (done, total) => {
      bar?.setTotal(total);
      bar?.update(done);
    },
  });
  if (trace.refs.length === 0) throw new UsageError(`${file}: no references in the trace`);
  const tasks = pdsimTasks(policies, frames ?? powersOfTwo(trace.distinct), opts);
  bar?.start(tasks.length, 0, { phase: 'of the runs done' });
  const results = await sweep(trace, tasks, () => bar?.increment());
  bar?.stop();
  const report = { references: trace.refs.length, distinct: trace.distinct, results };
  if (o.plot !== undefined) writePlot(o.plot, report, basename(file));
  io.out(o.json ? `${JSON.stringify(report)}\n` : formatPdsim(file, trace, report, opts.vm));
}

/** sweep: the tasks on a pool of worker threads => their rows, in task order. */
async function sweep(
  trace: RefTrace,
  tasks: PdsimTask[],
  done: () => void,
): Promise<PdsimResult[]> {
  const pool = new Tinypool({
    filename: WORKER,
    maxThreads: Math.max(1, Math.min(availableParallelism(), tasks.length)),
  });
  try {
    const parts = await Promise.all(
      tasks.map(async (task) => {
        const rows = (await pool.run({ trace, task })) as PdsimResult[];
        done();
        return rows;
      }),
    );
    return parts.flat();
  } finally {
    await pool.destroy();
  }
}

/** formatPdsim: the report as the terminal shows it. */
function formatPdsim(file: string, trace: RefTrace, r: PdsimReport, vm: boolean): string {
  const head = ['policy', 'frames', 'faults', 'miss ratio', ...(vm ? ['pageouts', 'pageins'] : [])];
  const rows = r.results.map((x) => [
    x.policy,
    x.frames,
    x.faults,
    x.missRatio.toFixed(4),
    ...(vm ? [x.pageouts ?? '-', x.pageins ?? '-'] : []),
  ]);
  const title =
    `${file}: ${r.references} references, ${r.distinct} distinct pages ` +
    `of ${trace.pageSize} bytes`;
  return `${[title, '', ...table(head, rows)].join('\n')}\n`;
}

function writePlot(file: string, r: PdsimReport, name: string): void {
  const title = `${name}: faults by frames (${r.references} references, ${r.distinct} pages)`;
  try {
    writeFileSync(file, missRatioSvg(r.results, title));
  } catch (e) {
    throw new UsageError(`cannot write the plot ${file}: ${(e as NodeJS.ErrnoException).code}`);
  }
}

/** checkVm: a VmSystem takes the frame counts and page size of every kernel run. */
function checkVm(policies: string[], frames: number[], pageSize: number): void {
  if (!policies.some((p) => Object.hasOwn(PD_POLICIES, p))) return;
  const small = frames.find((f) => f < 16);
  if (small !== undefined)
    throw new UsageError(`--vm: ${small} frames: a VmSystem has at least 16 frames`);
  if (pageSize < 512 || pageSize > 65536)
    throw new UsageError(`--vm: a VmSystem's page size is 512 to 65536 bytes, not ${pageSize}`);
}

/** powersOfTwo: the default frame counts, 1, 2, 4, ... up to the first >= n. */
function powersOfTwo(n: number): number[] {
  const out = [1];
  while (out[out.length - 1] < n) out.push(out[out.length - 1] * 2);
  return out;
}

function list(text: string, flag: string): string[] {
  const items = text.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new UsageError(`${flag}: an empty item in ${text}`);
  return items;
}

function frameCount(s: string): number {
  if (!/^\d+$/.test(s) || Number(s) < 1 || !Number.isSafeInteger(Number(s)))
    throw new UsageError(`--frames: ${s} is not a positive integer`);
  return Number(s);
}

/** usage: run f; a VmError it throws is bad input (UsageError). */
function usage<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof VmError) throw new UsageError(e.message.replace(': EINVAL', ''));
    throw e;
  }
}
