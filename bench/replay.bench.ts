/*
 * Replay throughput:
 *   - the largest bundled recording (samples/memops), parsed and replayed
 *     onto one system again and again (emptied after each pass);
 *   - a generated log of 10^6 calls (a process and two threads mapping,
 *     protecting, advising and unmapping anonymous memory, with overlapping
 *     <unfinished ...> calls of the threads), written to a file and
 *     streamed from it as `uvm replay` does, in calls per second.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Recording } from '../src/cli/replay.ts';
import { straceEvents } from '../src/cli/tracefile.ts';
import { VmSystem } from '../src/sys/system.ts';
import { Replay, type Snapshot } from '../src/tools/replay.ts';
import { parseStrace } from '../src/tools/strace.ts';
import { compare, formatNs, type Row, type Workload } from './harness.ts';

const SAMPLES = new URL('../samples/', import.meta.url).pathname;

export function replayWorkloads(): Workload[] {
  const name = 'memops';
  const text = readFileSync(`${SAMPLES}${name}.strace`, 'utf8');
  /* the snapshots are read once, not inside the timed replays */
  const files = new Recording(`${SAMPLES}${name}.strace`);
  const snapshots = new Map<string, Snapshot | null>();
  const snapshot = (pid: number, exec: number) => {
    const key = `${pid}.${exec}`;
    if (!snapshots.has(key)) snapshots.set(key, files.snapshot(pid, exec));
    return snapshots.get(key)!;
  };
  const events = parseStrace(text);
  const calls = events.filter((e) => e.kind === 'call').length;
  const sys = new VmSystem({ physPages: 2048, swapPages: 0 });
  return [
    {
      name: `parse ${name}.strace (per call)`,
      batch: calls,
      run: () => parseStrace(text),
    },
    {
      name: `replay ${name}.strace (per call)`,
      batch: calls,
      run: () => {
        const replay = new Replay(sys, { snapshot });
        replay.run(parseStrace(text));
        replay.release();
        sys.close();
      },
      teardown: () => sys.audit(),
    },
  ];
}

/** the row's name: run.ts prints its calls per second */
export const GENERATED_ROW = 'replay a generated strace log of 10^6 calls (per call)';

/**
 * generatedLogRow: stream a generated log of 10^6 calls (10^5 with
 * --quick) through a replay, once after a warm-up on a tenth of it;
 * => its time per call. Throws if the replay disagrees with the log (the
 *    generator writes what Linux would).
 */
export function generatedLogRow(quick: boolean): Row {
  const dir = mkdtempSync(join(tmpdir(), 'uvm-bench-'));
  try {
    const calls = quick ? 100_000 : 1_000_000;
    const warm = join(dir, 'warm.strace');
    const log = join(dir, 'log.strace');
    writeLog(warm, calls / 10);
    writeLog(log, calls);
    replayFile(warm);
    const t0 = process.hrtime.bigint();
    const replayed = replayFile(log);
    const ns = Number(process.hrtime.bigint() - t0) / replayed;
    return compare(GENERATED_ROW, ns, null, null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** replayFile: stream a log through a replay => the calls replayed. */
function replayFile(file: string): number {
  const sys = new VmSystem({ physPages: 4096, swapPages: 0 });
  const replay = new Replay(sys, { snapshot: () => null });
  const report = replay.run(straceEvents(file));
  if (report.mismatches.length > 0 || report.unknown.length > 0)
    throw new Error(`the generated log does not replay: ${JSON.stringify(report.mismatches[0])}`);
  replay.release();
  sys.close();
  return report.calls;
}

/** A small deterministic generator (xorshift). */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/**
 * writeLog: a log of `calls` memory calls of pid 1000 and its threads 1001
 * and 1002, as strace -f -tt -y writes it: up to 64 live mappings of 1 to
 * 32 pages, each call valid for the state before it; every 50th step a
 * thread's munmap is cut by the main thread's mmap elsewhere.
 */
function writeLog(file: string, calls: number): void {
  const fd = openSync(file, 'w');
  const random = rng(12345);
  const live: [number, number][] = [];
  let next = 0x7f0000000000;
  let n = 0;
  let out: string[] = [];
  const line = (pid: number, text: string) => {
    const us = String(n % 1_000_000).padStart(6, '0');
    out.push(`${pid}  12:00:00.${us} ${text}`);
    if (out.length >= 4096) flush();
  };
  const flush = () => {
    writeSync(fd, `${out.join('\n')}\n`);
    out = [];
  };
  const hex = (a: number) => `0x${a.toString(16)}`;
  const mmap = () => {
    const len = (1 + Math.floor(random() * 32)) * 4096;
    next -= len + 4096;
    live.push([next, len]);
    return `mmap(NULL, ${len}, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = ${hex(next)}`;
  };
  line(1000, 'clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0}, 88) = 1001');
  line(1000, 'clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0}, 88) = 1002');
  n = 2;
  while (n < calls) {
    const pid = 1000 + Math.floor(random() * 3);
    const r = random();
    if (live.length > 8 && n % 50 === 0) {
      const [a, len] = live.splice(Math.floor(random() * live.length), 1)[0];
      line(1001, `munmap(${hex(a)}, ${len} <unfinished ...>`);
      line(1000, mmap());
      line(1001, '<... munmap resumed>) = 0');
      n += 2;
    } else if (live.length < 64 && (r < 0.4 || live.length === 0)) {
      line(pid, mmap());
      n++;
    } else {
      const [a, len] = live[Math.floor(random() * live.length)];
      const part = Math.max(4096, Math.floor((len * random()) / 4096) * 4096);
      if (r < 0.6) line(pid, `mprotect(${hex(a)}, ${part}, PROT_READ) = 0`);
      else if (r < 0.75) line(pid, `madvise(${hex(a)}, ${part}, MADV_DONTNEED) = 0`);
      else {
        live.splice(live.indexOf(live.find((m) => m[0] === a)!), 1);
        line(pid, `munmap(${hex(a)}, ${len}) = 0`);
      }
      n++;
    }
  }
  flush();
  closeSync(fd);
}

/** formatCallsPerSecond: a per-call time as calls per second. */
export function callsPerSecond(ns: number): string {
  return `${Math.round(1e9 / ns).toLocaleString('en-US')} calls/s (${formatNs(ns)} per call)`;
}
