/*
 * cli/replay.ts: `uvm replay TRACE`: apply a recorded program and report.
 *
 *   TRACE is NAME.strace; the post-execve snapshots are init/NAME.PID.maps
 *   beside it (and NAME.PID.execK.maps for a pid's earlier execs). The report: per-process summaries, the files mapped (real
 *   or stand-in), mismatched calls, partial failures, lines not
 *   understood, counters; --maps PID adds that process's maps at its
 *   compare point; --check-maps FILE --pid PID compares them with FILE.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { SingleBar } from 'cli-progress';
import { diffMaps, type MapsDiff } from '../sys/procmaps.ts';
import { VmSystem } from '../sys/system.ts';
import { countersDump, plural, table } from '../tools/dump.ts';
import { Replay, type ReplayReport } from '../tools/replay.ts';
import { parseStrace, StraceError } from '../tools/strace.ts';
import { readInput, UsageError } from './usage.ts';

export interface ReplayCommandOptions {
  /** print this process's maps */
  maps?: number;
  /** compare the maps of `pid` with this /proc/PID/maps dump */
  checkMaps?: string;
  pid?: number;
  /** physical memory of the replaying system, in pages */
  memory: number;
  /** draw a progress bar (on a terminal) */
  progress: boolean;
}

/** The outcome of a replay, as --json prints it. */
export interface ReplayResult extends ReplayReport {
  trace: string;
  lines: number;
  /** the maps --maps asked for */
  maps?: { pid: number; rows: string[] };
  /** the comparison --check-maps asked for */
  check?: { pid: number; file: string; rows: number; differences: MapsDiff[] };
}

/**
 * replayTrace: replay TRACE as `opts` asks.
 * => throws UsageError for unreadable files or an unknown pid,
 *    StraceError (with the line) for a malformed log.
 */
export function replayTrace(trace: string, opts: ReplayCommandOptions): ReplayResult {
  const text = readInput(trace, 'trace');
  const real = opts.checkMaps === undefined ? null : readInput(opts.checkMaps, 'maps file');
  let events: ReturnType<typeof parseStrace>;
  try {
    events = parseStrace(text);
  } catch (e) {
    if (e instanceof StraceError) throw new StraceError(e.line, `${trace}: ${e.message}`);
    throw e;
  }
  const sys = new VmSystem({ physPages: opts.memory, swapPages: opts.memory });
  const bar = opts.progress ? progressBar() : null;
  const replay = new Replay(sys, events, {
    snapshot: snapshotReader(trace),
    progress: bar ? (done, total) => bar.update(done, { total }) : undefined,
  });
  bar?.start(events.length, 0);
  const report = replay.run();
  bar?.stop();
  const result: ReplayResult = { trace, lines: text.split('\n').length - 1, ...report };
  if (opts.maps !== undefined) result.maps = { pid: opts.maps, rows: mapsOf(replay, opts.maps) };
  if (real !== null) {
    const pid = opts.pid ?? report.processes[0]?.pid ?? 0;
    const rows = real.trimEnd().split('\n');
    const differences = diffMaps(mapsOf(replay, pid), rows);
    result.check = { pid, file: opts.checkMaps!, rows: rows.length, differences };
  }
  replay.release();
  sys.close();
  return result;
}

/** failed: did the replay or its check fail? */
export function replayFailed(r: ReplayResult): boolean {
  return r.mismatches.length > 0 || (r.check !== undefined && r.check.differences.length > 0);
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
    'lines not understood',
    r.unknown.map((n) => `line ${n.line}: ${n.text}`),
  );
  if (r.maps) out.push('', `maps of ${r.maps.pid}:`, ...r.maps.rows);
  if (r.check) out.push('', ...formatCheck(r.check));
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

function formatCheck(c: NonNullable<ReplayResult['check']>): string[] {
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
 * snapshotReader: init/ beside NAME.strace: NAME.PID.execK.maps for the
 * K-th execve of a pid that execs again later, NAME.PID.maps for its last.
 */
export function snapshotReader(trace: string): (pid: number, exec: number) => string[] | null {
  const name = basename(trace).replace(/\.strace$/, '');
  const dir = join(dirname(trace), 'init');
  const read = (f: string) => readFileSync(f, 'utf8').trimEnd().split('\n');
  return (pid, exec) => {
    const kth = join(dir, `${name}.${pid}.exec${exec}.maps`);
    if (existsSync(kth)) return read(kth);
    const last = join(dir, `${name}.${pid}.maps`);
    return existsSync(last) ? read(last) : null;
  };
}

function progressBar(): SingleBar {
  return new SingleBar({
    format: 'replay [{bar}] {percentage}% {value}/{total} events',
    stream: process.stderr,
    noTTYOutput: false,
    clearOnComplete: true,
  });
}
