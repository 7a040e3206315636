/*
 * cli/replay.ts: `uvm replay TRACE`: apply a recorded program and report.
 *
 *   TRACE is NAME.strace, streamed; beside it, the recording's snapshots:
 *     init/NAME.PID.maps        after each execve (NAME.PID.execK.maps for
 *                               a pid's earlier execs)
 *     exit/NAME.PID.maps        each process's maps as it called exit_group
 *     NAME.maps                 the main program's maps at its first
 *                               kill(getpid(), 0) (`uvm record --mark`)
 *   The report: per-process summaries, the files mapped (real or
 *   stand-in), mismatched calls, partial failures, overlapping calls
 *   reordered, snapshots missing, stacks grown, lines not understood,
 *   counters; --maps PID adds that process's maps at its compare point;
 *   --check-maps FILE [--pid PID] compares them with FILE, --check-maps
 *   alone every recorded final map with the replay's.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { diffMaps, type MapsDiff } from '../sys/procmaps.ts';
import { VmSystem } from '../sys/system.ts';
import { countersDump, plural, table } from '../tools/dump.ts';
import { Replay, type ReplayReport, type Snapshot } from '../tools/replay.ts';
import type { StraceEvent } from '../tools/strace.ts';
import { progressBar } from './progress.ts';
import { readMapsFile, straceEvents } from './tracefile.ts';
import { UsageError } from './usage.ts';

export interface ReplayCommandOptions {
  /** print this process's maps */
  maps?: number;
  /**
   * compare the maps of `pid` with this /proc/PID/maps dump; true: every
   * recorded final map (exit/NAME.PID.maps, NAME.maps) with the replay's
   */
  checkMaps?: string | true;
  pid?: number;
  /** physical memory of the replaying system, in pages */
  memory: number;
  /** the page replacement policy (default: the system's) */
  policy?: string;
  /** draw a progress bar (on a terminal) */
  progress: boolean;
}

/** One comparison of a replayed process's maps with real ones. */
export interface MapsCheck {
  pid: number;
  file: string;
  rows: number;
  differences: MapsDiff[];
}

/** The outcome of a replay, as --json prints it. */
export interface ReplayResult extends ReplayReport {
  trace: string;
  lines: number;
  /** the maps --maps asked for */
  maps?: { pid: number; rows: string[] };
  /** the comparisons --check-maps asked for */
  checks?: MapsCheck[];
}

/**
 * replayTrace: replay TRACE as `opts` asks, streaming the log.
 * => throws UsageError for unreadable, empty or malformed input files
 *    (naming the file) or an unknown pid; lines of the log it cannot use
 *    are listed in the report, and the rest is replayed.
 */
export function replayTrace(trace: string, opts: ReplayCommandOptions): ReplayResult {
  const files = new Recording(trace);
  const explicit = typeof opts.checkMaps === 'string' ? opts.checkMaps : null;
  const real = explicit === null ? null : readMapsFile(explicit, 'the maps to check');
  if (explicit !== null && (real === null || real.length === 0))
    throw new UsageError(
      `${explicit}: not a maps file (${real === null ? 'no such file' : 'empty'})`,
    );
  const sys = new VmSystem({ physPages: opts.memory, swapPages: opts.memory, policy: opts.policy });
  const bar = opts.progress ? progressBar('replay [{bar}] {percentage}% of the log') : null;
  bar?.start(statSync(trace).size, 0);
  const replay = new Replay(sys, {
    snapshot: (pid, exec) => files.snapshot(pid, exec),
    realMaps: (pid, at) => files.realMaps(pid, at),
  });
  let lines = 0;
  for (const ev of files.events(bar ? (done) => bar.update(done) : undefined)) {
    replay.feed(ev);
    lines = ev.line;
  }
  bar?.stop();
  if (lines === 0) throw new UsageError(`${trace}: empty: no strace lines to replay`);
  const report = replay.finish();
  const result: ReplayResult = { trace, lines, ...report };
  if (opts.maps !== undefined) result.maps = { pid: opts.maps, rows: mapsOf(replay, opts.maps) };
  if (explicit !== null) {
    const pid = opts.pid ?? report.processes[0]?.pid ?? 0;
    result.checks = [check(pid, explicit, real!, mapsOf(replay, pid))];
  } else if (opts.checkMaps === true) result.checks = files.checkAll(replay);
  replay.release();
  sys.close();
  return result;
}

function check(pid: number, file: string, real: string[], ours: string[]): MapsCheck {
  return { pid, file, rows: real.length, differences: diffMaps(ours, real) };
}

/** failed: did the replay or its check fail? */
export function replayFailed(r: ReplayResult): boolean {
  return r.mismatches.length > 0 || (r.checks ?? []).some((c) => c.differences.length > 0);
}

/** formatReplay: the report as the terminal shows it. */
export function formatReplay(r: ReplayResult): string[] {
  const out = [
    `${r.trace}: ${r.lines} lines, ${r.calls} calls, ${r.processes.length} processes, ` +
      `${r.mismatches.length} mismatched calls`,
    '',
    ...table(
      ['pid', 'parent', 'program', 'calls', 'mismatches', 'entries', 'rss', 'end'],
      r.processes.map((p) => [
        p.pid,
        p.parent ?? '-',
        programOf(p.execs),
        p.calls,
        p.mismatches,
        p.maps.length,
        p.rss,
        p.exited ? 'exited' : 'running',
      ]),
    ),
  ];
  if (r.files.length > 0) out.push('', ...formatFiles(r.files));
  section(
    out,
    'mismatched calls',
    r.mismatches.map(
      (m) => `line ${m.line}: pid ${m.pid} ${m.call}: log ${m.expected}, here ${m.got}`,
    ),
  );
  section(
    out,
    'failed calls Linux applied up to a hole',
    r.partial.map((n) => `line ${n.line}: ${n.text}`),
  );
  section(
    out,
    'overlapping calls of threads, applied in another order than completion',
    r.orders.map((n) => `line ${n.line}: ${n.text}`),
  );
  section(
    out,
    'snapshots missing or empty',
    r.snapshots.map((n) => `line ${n.line}: ${n.text}`),
  );
  section(
    out,
    'stacks grown by faults no log line shows',
    r.stacks.map((n) => n.text),
  );
  section(
    out,
    'lines not understood',
    r.unknown.map((n) => `line ${n.line}: ${n.text}`),
  );
  if (r.maps) out.push('', `maps of ${r.maps.pid}:`, ...r.maps.rows);
  for (const c of r.checks ?? []) out.push('', ...formatCheck(c));
  out.push('', 'counters:', ...countersDump(r.counters, 3, '  '));
  return out;
}

/** formatFiles: the files mapped; when many, only the stand-ins are listed. */
function formatFiles(files: ReplayReport['files']): string[] {
  const standIns = files.filter((f) => !f.real).length;
  const shown = files.length > 12 ? files.filter((f) => !f.real) : files;
  const head = `files mapped: ${files.length} (${files.length - standIns} real, ${plural(standIns, 'stand-in')})`;
  if (shown.length === 0) return [head];
  const rows = shown.map((f) => [f.path, f.size, f.real ? 'the real file' : 'a stand-in']);
  return [head, ...table(['path', 'bytes', 'from'], rows, '  ')];
}

/** programOf: what a process ran: its execs, the middle elided when many. */
function programOf(execs: string[]): string {
  const names = execs.map((x) => basename(x));
  if (names.length === 0) return '(no exec)';
  if (names.length <= 3) return names.join(' > ');
  return `${names[0]} > ... > ${names.at(-1)} (${names.length} execs)`;
}

function formatCheck(c: MapsCheck): string[] {
  if (c.differences.length === 0)
    return [`maps of ${c.pid} match ${c.file} (coalesced, ${c.rows} rows read)`];
  return [
    `maps of ${c.pid} differ from ${c.file} (coalesced): ${c.differences.length} rows`,
    ...c.differences.map((d) => `${d.kind === 'missing' ? '-' : '+'} ${d.row}`),
    '(- only in the file, + only in the replay)',
  ];
}

function section(out: string[], title: string, lines: string[]): void {
  if (lines.length === 0) return;
  out.push('', `${title}: ${lines.length}`, ...lines.map((l) => `  ${l}`));
}

function mapsOf(replay: Replay, pid: number): string[] {
  const rows = replay.mapsAt(pid);
  if (rows === undefined) throw new UsageError(`no process ${pid} in the trace`);
  return rows;
}

/**
 * Recording: the files of a recording beside NAME.strace, read as the
 * replay asks for them.
 */
export class Recording {
  readonly name: string;
  readonly dir: string;
  /** the first pid of the log: the one NAME.maps (the mark) is of */
  private main: number | null = null;

  constructor(readonly trace: string) {
    this.name = basename(trace).replace(/\.strace$/, '');
    this.dir = dirname(trace);
  }

  /** events: the log's events, streamed. */
  *events(progress?: (done: number, total: number) => void): Generator<StraceEvent> {
    for (const ev of straceEvents(this.trace, progress)) {
      if (this.main === null && ev.pid !== null) this.main = ev.pid;
      yield ev;
    }
  }

  /**
   * snapshot: init/NAME.PID.execK.maps for the K-th execve of a pid that
   * execs again later, NAME.PID.maps for its last; null when neither exists.
   * => throws UsageError naming the file when it is not a maps file.
   */
  snapshot(pid: number, exec: number): Snapshot | null {
    for (const f of [`${this.name}.${pid}.exec${exec}.maps`, `${this.name}.${pid}.maps`]) {
      const source = join(this.dir, 'init', f);
      const rows = readMapsFile(source, 'an init snapshot');
      if (rows !== null) return { rows, source };
    }
    return null;
  }

  /** realMaps: exit/NAME.PID.maps, or NAME.maps at the main program's mark. */
  realMaps(pid: number, at: 'mark' | 'exit'): string[] | null {
    if (at === 'exit') return readMapsFile(this.exitFile(pid), 'exit maps');
    return pid === this.main ? readMapsFile(this.markFile(), 'final maps') : null;
  }

  private exitFile(pid: number): string {
    return join(this.dir, 'exit', `${this.name}.${pid}.maps`);
  }

  private markFile(): string {
    return join(this.dir, `${this.name}.maps`);
  }

  /**
   * checkAll: every recorded final map against the replay's: each
   * exit/NAME.PID.maps with the pid's maps at its exit, NAME.maps with the
   * main program's at its mark.
   * => throws UsageError when the recording has none.
   */
  checkAll(replay: Replay): MapsCheck[] {
    const exitDir = join(this.dir, 'exit');
    const pids = existsSync(exitDir)
      ? readdirSync(exitDir)
          .filter((f) => f.startsWith(`${this.name}.`) && f.endsWith('.maps'))
          .map((f) => f.slice(this.name.length + 1, -'.maps'.length))
          .filter((mid) => /^\d+$/.test(mid))
          .map(Number)
          .sort((a, b) => a - b)
      : [];
    const out = pids.map((pid) =>
      check(pid, this.exitFile(pid), this.realMaps(pid, 'exit')!, replay.exitMaps(pid) ?? []),
    );
    const mark = readMapsFile(this.markFile(), 'final maps');
    if (mark !== null && this.main !== null)
      out.push(check(this.main, this.markFile(), mark, replay.mapsAt(this.main) ?? []));
    if (out.length === 0)
      throw new UsageError(
        `no recorded final maps beside ${this.trace} (exit/${this.name}.PID.maps or ${this.name}.maps)`,
      );
    return out;
  }
}
