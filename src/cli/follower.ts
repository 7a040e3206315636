/*
 * cli/follower.ts: what `uvm record` does while strace runs: it follows the
 * log as strace writes it and reads each process's maps at the points
 * strace holds it (record.ts says which files they go to):
 *
 *   "--- stopped by SIGSTOP ---" after an execve (or, with --mark, a
 *   kill(getpid(), 0)): the snapshot, then SIGCONT
 *   "PID TIME exit_group(" begun and not ended (strace delays the call):
 *   the exit maps, if /proc/PID/syscall still shows exit_group
 *
 * A process gone before its maps are read is normal: it is listed in
 * `missed`, and no empty file is written.
 */
import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { type CallEvent, StraceReader } from '../tools/strace.ts';

/** exit_group's number on x86-64, as /proc/PID/syscall shows it */
const SYS_EXIT_GROUP = 231;

/** Where a recording goes, and what it takes. */
export interface FollowOptions {
  out: string;
  name: string;
  /** NAME.maps at the main program's first kill(getpid(), 0) */
  mark?: boolean;
}

/** How far a recording has come. */
export interface RecordProgress {
  lines: number;
  processes: number;
  snapshots: number;
}

/** What the follower took, and what it could not. */
export interface Followed {
  lines: number;
  /** how many snapshots were taken after an execve */
  snapshots: number;
  /** how many exit maps were taken */
  exits: number;
  /** NAME.maps, or null without --mark or when the program never marked its maps */
  finalMaps: string | null;
  /** what could not be recorded (processes gone before their maps were read) */
  missed: string[];
}

/** readMaps: /proc/PID/maps, or null when the process is gone (or going: empty). */
function readMaps(pid: number): string | null {
  try {
    const text = readFileSync(`/proc/${pid}/maps`, 'utf8');
    return text === '' ? null : text;
  } catch {
    return null;
  }
}

/** atExitGroup: is pid held at the entry of exit_group (/proc/PID/syscall)? */
function atExitGroup(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/syscall`, 'utf8').startsWith(`${SYS_EXIT_GROUP} `);
  } catch {
    return false;
  }
}

/** an exit_group strace has begun to write and not ended: "PID TIME exit_group(" */
const EXIT_GROUP_BEGUN = /^(\d+) +\S+ exit_group\(/;

/**
 * LogFollower: reads the log as strace writes it and serves each stop:
 * a snapshot after an execve, the final maps at the main program's first
 * kill(getpid(), 0) (with --mark), the exit maps at an exit_group; then
 * SIGCONT for the stops.
 */
export class LogFollower {
  lines = 0;
  private snapshots = 0;
  private exits = 0;
  private readonly missed: string[] = [];
  /** successful execves per pid, and which of them its NAME.PID.maps holds */
  private readonly execs = new Map<number, number>();
  private readonly lastExec = new Map<number, number>();
  private readonly pids = new Set<number>();
  /** pids whose exit maps were taken, or given up */
  private readonly exitSeen = new Set<number>();
  private finalMaps: string | null = null;
  private readonly fd: number;
  /** what poll reads into, every 5 ms while the program runs */
  private readonly buf = Buffer.alloc(1 << 16);
  /** keeps a UTF-8 character split across two reads whole (paths may hold any) */
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  private main = -1;
  private readonly reader = new StraceReader();
  private readonly lastCall = new Map<number, CallEvent>();

  /** follow `trace`, which exists (empty) before strace starts writing it */
  constructor(
    trace: string,
    private readonly opts: FollowOptions,
  ) {
    this.fd = openSync(trace, 'r');
  }

  /** poll: read what strace wrote since the last poll. */
  poll(): void {
    const buf = this.buf;
    for (let n = readSync(this.fd, buf); n > 0; n = readSync(this.fd, buf))
      this.pending += this.decoder.write(buf.subarray(0, n));
    const parts = this.pending.split('\n');
    this.pending = parts.pop()!;
    for (const line of parts) this.line(line);
    const begun = EXIT_GROUP_BEGUN.exec(this.pending);
    if (begun) this.exitMaps(Number(begun[1]));
  }

  /** close: read the rest of the log and let it go. */
  close(): void {
    this.poll();
    if (this.pending !== '') this.line(this.pending);
    closeSync(this.fd);
  }

  /** progress: what was read and taken so far. */
  progress(): RecordProgress {
    return { lines: this.lines, processes: this.pids.size, snapshots: this.snapshots + this.exits };
  }

  /** result: what the recording holds, and what it misses. */
  result(): Followed {
    return {
      lines: this.lines,
      snapshots: this.snapshots,
      exits: this.exits,
      finalMaps: this.finalMaps,
      missed: this.missed,
    };
  }

  private line(line: string): void {
    this.lines++;
    for (const ev of this.reader.line(line)) {
      if (ev.kind === 'note') continue;
      if (this.main < 0) this.main = ev.pid;
      this.pids.add(ev.pid);
      if ((ev.kind === 'start' || ev.kind === 'call') && ev.name === 'exit_group')
        this.exitMaps(ev.pid);
      if (ev.kind === 'exit' && ev.killedBy !== null && !this.exitSeen.has(ev.pid))
        this.missed.push(`no exit maps for pid ${ev.pid}: killed by ${ev.killedBy}`);
      if (ev.kind === 'call') this.lastCall.set(ev.pid, ev);
      if (ev.kind === 'call' && ev.name === 'execve' && ev.result === 0)
        this.execs.set(ev.pid, (this.execs.get(ev.pid) ?? 0) + 1);
      if (ev.kind !== 'stopped') continue;
      this.serveStop(ev.pid, this.lastCall.get(ev.pid));
      this.lastCall.delete(ev.pid);
    }
  }

  /** exitMaps: pid's maps while strace holds it at exit_group, once. */
  private exitMaps(pid: number): void {
    if (this.exitSeen.has(pid)) return;
    this.exitSeen.add(pid);
    const rows = readMaps(pid);
    if (rows === null || !atExitGroup(pid)) {
      this.missed.push(`no exit maps for pid ${pid}: it was gone before they were read`);
      return;
    }
    writeFileSync(join(this.opts.out, 'exit', `${this.opts.name}.${pid}.maps`), rows);
    this.exits++;
  }

  /** snapshot: the image of pid's latest execve; an earlier one of the pid moves aside. */
  private snapshot(pid: number, rows: string): void {
    const init = join(this.opts.out, 'init');
    const last = join(init, `${this.opts.name}.${pid}.maps`);
    const earlier = this.lastExec.get(pid);
    if (earlier !== undefined && existsSync(last))
      renameSync(last, join(init, `${this.opts.name}.${pid}.exec${earlier}.maps`));
    writeFileSync(last, rows);
    this.lastExec.set(pid, this.execs.get(pid) ?? 0);
    this.snapshots++;
  }

  /** serveStop: take the maps this stop is for, and let the process go on. */
  private serveStop(pid: number, before: CallEvent | undefined): void {
    const succeeded = before !== undefined && before.result === 0 && before.errno === null;
    const exec = succeeded && before.name === 'execve';
    const selfMark =
      succeeded && before.name === 'kill' && before.args.join() === `${pid},0` && pid === this.main;
    const rows = exec || (selfMark && this.finalMaps === null) ? readMaps(pid) : null;
    if (exec && rows !== null) this.snapshot(pid, rows);
    else if (exec)
      this.missed.push(`no init snapshot for pid ${pid}: it was gone before its maps were read`);
    if (selfMark && rows !== null) {
      this.finalMaps = join(this.opts.out, `${this.opts.name}.maps`);
      writeFileSync(this.finalMaps, rows);
    }
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      /* it was killed while stopped: nothing to continue */
    }
  }
}
