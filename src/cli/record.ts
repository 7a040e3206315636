/*
 * cli/record.ts: `uvm record -- PROGRAM ARGS...`: record a real program in
 * the form replay reads (the samples' form):
 *
 *   OUT/NAME.strace          strace -f -tt -y -s 0 -e trace=%memory,%process
 *                            and the calls that delete a mapped file
 *                            (unlink, unlinkat, rename*, memfd_create);
 *                            a SIGSTOP injected after each execve, a delay
 *                            at each exit_group's entry
 *   OUT/init/NAME.PID.maps   /proc/PID/maps right after each execve, read
 *                            while the injected SIGSTOP holds the process
 *                            (for a pid that execs again, the K-th image
 *                            moves to NAME.PID.execK.maps; the last stays)
 *   OUT/exit/NAME.PID.maps   each process's maps on its way out: read while
 *                            strace holds it at the entry of exit_group
 *   OUT/NAME.maps            with --mark: the program's maps at its first
 *                            kill(getpid(), 0) (a SIGSTOP injected there)
 *
 * The recorder follows the log as strace writes it: at each "stopped by
 * SIGSTOP" line it reads the maps the line before asks for, then sends
 * SIGCONT; at an exit_group strace has begun to write (the line is
 * complete only once the process is gone), it reads that process's maps
 * while strace delays the call. A process gone before its maps are read
 * is normal: what could not be read is listed, nothing empty is written.
 * The program is started through native/launch.c, since strace does not
 * inject into the execve that starts its own child.
 *
 *   recordMem (--mem): OUT/NAME.lackey.gz, the program's memory accesses
 *   (valgrind --tool=lackey --trace-mem=yes), gzip'd as valgrind writes it.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGzip } from 'node:zlib';
import { plural } from '../tools/dump.ts';
import { type Followed, type FollowOptions, LogFollower, type RecordProgress } from './follower.ts';
import type { Io } from './main.ts';
import { progressBar } from './progress.ts';
import { CheckFailed, UsageError } from './usage.ts';

const LAUNCH_SOURCE = fileURLToPath(new URL('../../native/launch.c', import.meta.url));

/** how long strace holds a process at exit_group for its maps to be read, in microseconds */
const EXIT_DELAY_US = 100_000;

export interface RecordOptions extends FollowOptions {
  program: string;
  args: string[];
  /** called every quarter second while the program runs (a progress display) */
  progress?(state: RecordProgress): void;
}

/** What a recording produced. */
export interface RecordResult extends Followed {
  trace: string;
  /** the program's exit status (128+N when killed by signal N) */
  status: number;
  /** what strace itself wrote to its stderr (e.g. a ptrace race with a kill) */
  straceSaid: string[];
}

/**
 * record: run PROGRAM under strace and write the recording.
 * => throws UsageError when strace or a C compiler is missing, the
 *    program cannot be found, or OUT or NAME cannot hold a recording.
 */
export async function record(opts: RecordOptions): Promise<RecordResult> {
  requireTool('strace', ['-V'], 'uvm record needs strace (Debian: apt-get install strace)');
  const program = findProgram(opts.program);
  const trace = prepareOut(opts.out, opts.name, '.strace');
  for (const dir of ['init', 'exit']) makeDir(join(opts.out, dir));
  clearOld(opts.out, opts.name);
  const work = mkdtempSync(join(tmpdir(), 'uvm-record-'));
  try {
    const launch = buildLaunch(work);
    const follower = new LogFollower(trace, opts);
    const ran = await runStrace(trace, [launch, program, ...opts.args], follower, opts).finally(
      () => follower.close(),
    );
    if (follower.lines === 0) throw new UsageError(`strace wrote nothing to ${trace}`);
    return { trace, ...ran, ...follower.result() };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * recordMem: run PROGRAM under valgrind's lackey and write its memory
 * accesses to OUT/NAME.lackey.gz, compressed as they come.
 * => the file and the program's exit status; UsageError when valgrind is
 *    missing, the program cannot be found, or OUT or NAME cannot hold it.
 */
export async function recordMem(opts: RecordOptions): Promise<{ trace: string; status: number }> {
  requireTool(
    'valgrind',
    ['--version'],
    'uvm record --mem needs valgrind (Debian: apt-get install valgrind)',
  );
  const program = findProgram(opts.program);
  const trace = prepareOut(opts.out, opts.name, '.lackey.gz');
  const args = ['--tool=lackey', '--trace-mem=yes', '--log-fd=3', program, ...opts.args];
  const child = spawn('valgrind', args, { stdio: ['inherit', 'inherit', 'inherit', 'pipe'] });
  const written = pipeline(child.stdio[3] as Readable, createGzip(), createWriteStream(trace));
  const [status] = await Promise.all([exitStatus(child), written]);
  return { trace, status };
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
  const found = candidates.find((c) => existsSync(c) && statSync(c).isFile());
  if (found === undefined) throw new UsageError(`no program ${program} (looked in PATH)`);
  return found;
}

/**
 * prepareOut: OUT made, NAME checked, and
 * OUT/NAME+SUFFIX created empty (an earlier one is truncated before
 * anything follows it) => its path.
 * => throws UsageError naming --out or --name when they cannot be used.
 */
function prepareOut(out: string, name: string, suffix: string): string {
  if (name === '' || name === '.' || name === '..' || /[/\0]/.test(name))
    throw new UsageError(
      `--name ${JSON.stringify(name)}: a recording's name is a file name, without "/"`,
    );
  makeDir(out);
  const file = join(out, `${name}${suffix}`);
  try {
    writeFileSync(file, '');
  } catch (e) {
    throw new UsageError(`cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  return file;
}

/**
 * makeDir: dir and its missing parents, one at a time (Node's recursive
 * mkdir spins forever under /proc).
 */
function makeDir(dir: string): void {
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new UsageError(`--out: ${dir} is not a directory`);
    return;
  }
  const parent = dirname(resolve(dir));
  if (parent !== resolve(dir)) makeDir(parent);
  try {
    mkdirSync(dir);
  } catch (e) {
    throw new UsageError(`--out: cannot create ${dir}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

/** buildLaunch: compile native/launch.c into `dir`. */
function buildLaunch(dir: string): string {
  requireTool('cc', ['--version'], 'uvm record needs a C compiler, cc, to build its launcher');
  const out = join(dir, 'launch');
  const r = spawnSync('cc', ['-O2', '-static', '-nostdlib', '-o', out, LAUNCH_SOURCE], {
    encoding: 'utf8',
  });
  if (r.status !== 0)
    throw new UsageError(
      `cannot build the launcher from ${LAUNCH_SOURCE}: ${r.stderr.split('\n')[0]}`,
    );
  return out;
}

/** clearOld: remove the snapshots of an earlier recording of the same name. */
function clearOld(out: string, name: string): void {
  rmSync(join(out, `${name}.maps`), { force: true });
  for (const dir of [join(out, 'init'), join(out, 'exit')])
    for (const f of readdirSync(dir))
      if (f.startsWith(`${name}.`) && f.endsWith('.maps')) rmSync(join(dir, f));
}

/**
 * runStrace: run the program under strace, following the log.
 * => the program's status and strace's own messages; the program's stderr
 *    is ours (descriptor 3, which the launcher moves onto 2).
 */
async function runStrace(
  trace: string,
  command: string[],
  follower: LogFollower,
  opts: RecordOptions,
): Promise<{ status: number; straceSaid: string[] }> {
  const calls = '%memory,%process,unlink,unlinkat,rename,renameat,renameat2,memfd_create';
  const args = ['-f', '-tt', '-y', '-s', '0', '-e', `trace=${calls}`];
  args.push('-e', `inject=execve${opts.mark ? ',kill' : ''}:signal=SIGSTOP`);
  args.push('-e', `inject=exit_group:delay_enter=${EXIT_DELAY_US}`, '-o', trace, ...command);
  const child = spawn('strace', args, { stdio: ['inherit', 'inherit', 'pipe', 2] });
  let said = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (said += text));
  const saidAll = new Promise((done) => child.stderr!.on('close', done));
  const timer = setInterval(() => follower.poll(), 5);
  const shown = opts.progress
    ? setInterval(() => opts.progress!(follower.progress()), 250)
    : undefined;
  const status = await exitStatus(child).finally(() => {
    clearInterval(timer);
    clearInterval(shown);
  });
  await saidAll;
  return { status, straceSaid: said.split('\n').filter((line) => line !== '') };
}

/** exitStatus: a child's exit status (128+N when killed by signal N). */
function exitStatus(child: ReturnType<typeof spawn>): Promise<number> {
  return new Promise((done, fail) => {
    child.on('error', fail);
    child.on('exit', (code, signal) =>
      done(code ?? 128 + (signal === null ? 0 : constants.signals[signal])),
    );
  });
}

/** The options of `uvm record`. */
export interface RecordFlags {
  out: string;
  name?: string;
  mark?: boolean;
  mem?: boolean;
}

/**
 * recordCommand: `uvm record`: record, then say what was recorded and what
 * could not be (a progress display on a terminal meanwhile).
 * => throws UsageError for bad usage, CheckFailed when the program never
 *    started.
 */
export async function recordCommand(
  program: string,
  args: string[],
  o: RecordFlags,
  io: Io,
): Promise<void> {
  const opts = { out: o.out, name: o.name ?? program.split('/').pop()!, program, args };
  if (o.mem) {
    if (o.mark) throw new UsageError('--mark goes with a recording under strace, not --mem');
    const m = await recordMem(opts);
    io.err(`recorded the memory accesses of ${program} (exit status ${m.status}): ${m.trace}\n`);
    return;
  }
  const bar = io.tty
    ? progressBar('record: {lines} lines, {processes} processes, {snapshots} maps taken')
    : null;
  bar?.start(0, 0, { lines: 0, processes: 0, snapshots: 0 });
  const r = await record({ ...opts, mark: o.mark, progress: (p) => bar?.update(0, { ...p }) });
  bar?.stop();
  io.err(`${recordSummary(program, o.out, r).join('\n')}\n`);
  if (r.snapshots === 0) throw new CheckFailed('the program never started');
}

/** recordSummary: what a recording holds, what it misses, and how to replay it. */
function recordSummary(program: string, out: string, r: RecordResult): string[] {
  const missed = r.missed.slice(0, 10).map((m) => `  ${m}`);
  if (r.missed.length > 10) missed.push(`  ... and ${r.missed.length - 10} more`);
  return [
    `recorded ${program} (exit status ${r.status}): ${r.trace}, ${r.lines} lines; ` +
      `${plural(r.snapshots, 'snapshot')} in ${join(out, 'init')}, ` +
      `${plural(r.exits, 'exit map')} in ${join(out, 'exit')}` +
      (r.finalMaps === null ? '' : `; marked maps: ${r.finalMaps}`),
    ...(missed.length > 0 ? [`could not record: ${r.missed.length}`, ...missed] : []),
    ...(r.straceSaid.length > 0 ? ['strace said:', ...r.straceSaid.map((l) => `  ${l}`)] : []),
    `replay it with: uvm replay ${r.trace} --check-maps`,
  ];
}
