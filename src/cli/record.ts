/*
 * cli/record.ts: `uvm record -- PROGRAM ARGS...`: record a real program in
 * the form replay reads (the samples' form):
 *
 *   OUT/NAME.strace          strace -f -tt -y -s 0 -e trace=%memory,%process
 *                            -e inject=execve,kill:signal=SIGSTOP
 *   OUT/init/NAME.PID.maps   /proc/PID/maps right after each execve, read
 *                            while the injected SIGSTOP holds the process
 *                            (for a pid that execs again, the K-th image
 *                            moves to NAME.PID.execK.maps; the last stays)
 *   OUT/NAME.maps            the program's maps at its first
 *                            kill(getpid(), 0), the mark the samples use
 *
 * The recorder follows the log as strace writes it: at each "stopped by
 * SIGSTOP" line it reads the maps the line before asks for, then sends
 * SIGCONT. The program is started through native/launch.c, since strace
 * does not inject into the execve that starts its own child.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { fileURLToPath } from 'node:url';
import { type CallEvent, StraceError, type StraceEvent, StraceReader } from '../tools/strace.ts';
import { UsageError } from './usage.ts';

const LAUNCH_SOURCE = fileURLToPath(new URL('../../native/launch.c', import.meta.url));

export interface RecordOptions {
  out: string;
  name: string;
  program: string;
  args: string[];
}

/** What a recording produced. */
export interface RecordResult {
  trace: string;
  lines: number;
  snapshots: number;
  /** NAME.maps, or null when the program never marked its maps */
  finalMaps: string | null;
  /** the program's exit status (128+N when killed by signal N) */
  status: number;
}

/**
 * record: run PROGRAM under strace and write the recording.
 * => throws UsageError when strace or a C compiler is missing or the
 *    program cannot be found.
 */
export async function record(opts: RecordOptions): Promise<RecordResult> {
  requireTool('strace', ['-V'], 'uvm record needs strace (Debian: apt-get install strace)');
  const program = findProgram(opts.program);
  const work = mkdtempSync(join(tmpdir(), 'uvm-record-'));
  try {
    const launch = buildLaunch(work);
    const init = join(opts.out, 'init');
    mkdirSync(init, { recursive: true });
    clearOld(opts.out, opts.name);
    const trace = join(opts.out, `${opts.name}.strace`);
    const follower = new LogFollower(trace, opts);
    const status = await runStrace(trace, [launch, program, ...opts.args], follower).finally(() =>
      follower.close(),
    );
    return {
      trace,
      lines: follower.lines,
      snapshots: follower.snapshots,
      finalMaps: follower.finalMaps,
      status,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function requireTool(tool: string, args: string[], message: string): void {
  const r = spawnSync(tool, args, { stdio: 'ignore' });
  if (r.error) throw new UsageError(message);
}

/** findProgram: PROGRAM as an absolute path (launch's execve does not search PATH). */
function findProgram(program: string): string {
  const candidates = program.includes('/')
    ? [resolve(program)]
    : (process.env.PATH ?? '').split(delimiter).map((d) => join(d, program));
  const found = candidates.find((c) => existsSync(c));
  if (found === undefined) throw new UsageError(`no program ${program} (looked in PATH)`);
  return found;
}

/** buildLaunch: compile native/launch.c into `dir`. */
function buildLaunch(dir: string): string {
  requireTool('cc', ['--version'], 'uvm record needs a C compiler, cc, to build its launcher');
  const out = join(dir, 'launch');
  const r = spawnSync('cc', ['-O2', '-static', '-nostdlib', '-o', out, LAUNCH_SOURCE], {
    encoding: 'utf8',
  });
  if (r.status !== 0)
    throw new UsageError(`cannot build the launcher from ${LAUNCH_SOURCE}:\n${r.stderr}`);
  return out;
}

/** clearOld: remove an earlier recording of the same name. */
function clearOld(out: string, name: string): void {
  rmSync(join(out, `${name}.maps`), { force: true });
  const init = join(out, 'init');
  for (const f of readdirSync(init))
    if (f.startsWith(`${name}.`) && f.endsWith('.maps')) rmSync(join(init, f));
}

/** runStrace: run the program under strace, following the log; resolves to its status. */
function runStrace(trace: string, command: string[], follower: LogFollower): Promise<number> {
  const args = ['-f', '-tt', '-y', '-s', '0', '-e', 'trace=%memory,%process'];
  args.push('-e', 'inject=execve,kill:signal=SIGSTOP', '-o', trace, ...command);
  return new Promise((done, fail) => {
    const child = spawn('strace', args, { stdio: 'inherit' });
    const timer = setInterval(() => follower.poll(), 5);
    child.on('error', (e) => {
      clearInterval(timer);
      fail(e);
    });
    child.on('exit', (code, signal) => {
      clearInterval(timer);
      done(code ?? 128 + (signal === null ? 0 : constants.signals[signal]));
    });
  });
}

/**
 * LogFollower: reads the log as strace writes it and serves each stop:
 * a snapshot after an execve, the final maps at the main program's first
 * kill(getpid(), 0); then SIGCONT.
 */
class LogFollower {
  lines = 0;
  /** how many snapshots were taken */
  snapshots = 0;
  /** successful execves per pid, and which of them its NAME.PID.maps holds */
  private readonly execs = new Map<number, number>();
  private readonly lastExec = new Map<number, number>();
  finalMaps: string | null = null;
  private fd = -1;
  /** what poll reads into, every 5 ms while the program runs */
  private readonly buf = Buffer.alloc(1 << 16);
  /** keeps a UTF-8 character split across two reads whole (paths may hold any) */
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  private main = -1;
  private readonly reader = new StraceReader();
  private readonly lastCall = new Map<number, CallEvent>();

  constructor(
    private readonly trace: string,
    private readonly opts: RecordOptions,
  ) {}

  /** poll: read what strace wrote since the last poll. */
  poll(): void {
    if (this.fd < 0) {
      if (!existsSync(this.trace)) return;
      this.fd = openSync(this.trace, 'r');
    }
    const buf = this.buf;
    for (let n = readSync(this.fd, buf); n > 0; n = readSync(this.fd, buf))
      this.pending += this.decoder.write(buf.subarray(0, n));
    const parts = this.pending.split('\n');
    this.pending = parts.pop()!;
    for (const line of parts) this.line(line);
  }

  /** close: read the rest of the log and let it go. */
  close(): void {
    this.poll();
    if (this.fd >= 0) closeSync(this.fd);
  }

  private line(line: string): void {
    this.lines++;
    for (const ev of this.events(line)) {
      if (this.main < 0) this.main = ev.pid;
      if (ev.kind === 'call') this.lastCall.set(ev.pid, ev);
      if (ev.kind === 'call' && ev.name === 'execve' && ev.result === 0)
        this.execs.set(ev.pid, (this.execs.get(ev.pid) ?? 0) + 1);
      if (ev.kind !== 'stopped') continue;
      this.serveStop(ev.pid, this.lastCall.get(ev.pid));
      this.lastCall.delete(ev.pid);
    }
  }

  /** events: a line's events; a line the parser rejects is left for the replay to report. */
  private events(line: string): StraceEvent[] {
    try {
      return this.reader.line(line);
    } catch (e) {
      if (e instanceof StraceError) return [];
      throw e;
    }
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
    const maps = () => readFileSync(`/proc/${pid}/maps`, 'utf8');
    const succeeded = before !== undefined && before.result === 0 && before.errno === null;
    if (succeeded && before.name === 'execve') this.snapshot(pid, maps());
    const selfMark = succeeded && before.name === 'kill' && before.args.join() === `${pid},0`;
    if (selfMark && pid === this.main && this.finalMaps === null) {
      this.finalMaps = join(this.opts.out, `${this.opts.name}.maps`);
      writeFileSync(this.finalMaps, maps());
    }
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      /* it was killed while stopped: nothing to continue */
    }
  }
}
