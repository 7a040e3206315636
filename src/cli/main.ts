/*
 * cli/main.ts: the `uvm` command.
 *
 *   uvm demo                     the bundled workload (scenarios/demo.uvm)
 *   uvm run FILE                 a scenario (docs/scenarios.md)
 *   uvm replay TRACE             a recorded real program
 *   uvm record -- PROGRAM ARGS   record a real program for replay
 *   uvm explain [WORD]           what the dumps and counters mean
 *   uvm explore [--port N]       the explorer: the VM in a web page, step by step
 *   uvm pdsim TRACE              replacement policies compared on a memory trace
 *
 * Exit status: 0 success, 1 a failed run or check, 2 bad usage.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { DEFAULT_PD_POLICY, PD_POLICIES } from '../kernel/pdpolicy/index.ts';
import { explain } from '../tools/legend.ts';
import { EXPLORE_PORT, explore, portNumber } from './explore.ts';
import { type PdsimFlags, pdsimCommand } from './pdsim.ts';
import { type RecordFlags, recordCommand } from './record.ts';
import { formatReplay, replayFailed, replayTrace } from './replay.ts';
import { bundledScenarios, formatRun, type RunResult, runScenario } from './run.ts';
import { CheckFailed, checkPolicy, UsageError } from './usage.ts';

/** The command's output streams (tests pass their own). */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** is the error stream a terminal (for progress bars)? */
  tty: boolean;
}

/** the package's version, from its package.json (beside dist/ and src/) */
const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

const processIo: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  tty: process.stderr.isTTY === true,
};

/**
 * main: run the command line `argv` (without node and the script).
 * => the exit status; output goes to `io`.
 */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    return failure(e, io);
  }
}

function failure(e: unknown, io: Io): number {
  if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
  if (e instanceof UsageError) {
    io.err(`uvm: ${e.message}\n`);
    return 2;
  }
  if (e instanceof CheckFailed) return 1;
  /* our bug (a KernelPanic) or the machine's: one line, no stack trace */
  io.err(`uvm: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}\n`);
  return 1;
}

function buildProgram(io: Io): Command {
  const program = new Command('uvm')
    .description('The BSD/UVM virtual memory system in TypeScript: scenarios, replays, recordings.')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .version(VERSION, '-V, --version', 'print the version')
    .exitOverride()
    .showHelpAfterError('(uvm --help for usage)');
  program
    .command('explain')
    .argument('[WORD]', 'only the terms and counters whose name contains WORD')
    .description('what each column and flag of a dump means, and every counter')
    .action((word?: string) => {
      const lines = explain(word);
      if (lines.length === 0) throw new UsageError(`explain: nothing is named like ${word}`);
      io.out(`${lines.join('\n')}\n`);
    });
  program
    .command('explore')
    .description(
      'serve the explorer on 127.0.0.1: a web page that runs the VM in your browser, steps ' +
        'through a scenario or a recording and draws every layer (Ctrl-C stops it)',
    )
    .option('--port <n>', 'the port (0: any free one)', portNumber, EXPLORE_PORT)
    .action((o: { port: number }) => explore(o.port, io));
  program
    .command('demo')
    .description(
      'run the bundled workload: a shell that forks children, copy-on-write, shared memory, ' +
        'a file mapping, pageout and swap-in under memory pressure, exits',
    )
    .option('--json', 'print the steps and counters as JSON')
    .option('--policy <name>', POLICY_HELP)
    .action((o: RunFlags) => printRun(runScenario('demo', o.policy), o.json === true, io));
  program
    .command('run')
    .description(
      `run a scenario file (docs/scenarios.md); bundled ones by name: ${bundledScenarios().join(', ')}`,
    )
    .argument('<file>', 'a scenario file, or the name of a bundled scenario')
    .option('--json', 'print the steps and counters as JSON')
    .option('--policy <name>', POLICY_HELP)
    .option(
      '--trace',
      "print the kernel's events under each step (with --json: each step's events)",
    )
    .action((file: string, o: RunFlags) =>
      printRun(runScenario(file, o.policy, o.trace === true), o.json === true, io),
    );
  program
    .command('replay')
    .description(
      'replay a recorded program (NAME.strace, with init/NAME.PID.maps beside it) and report ' +
        'per-process summaries, mismatched calls and counters',
    )
    .argument('<trace>', 'the NAME.strace log')
    .option('--maps <pid>', "print the process's maps (/proc/PID/maps form) at its mark", pid)
    .option(
      '--check-maps [file]',
      "compare the process's maps at its mark (or exit) with this maps dump; without FILE, " +
        'every final map the recording holds (exit/NAME.PID.maps, NAME.maps)',
    )
    .option('--pid <pid>', 'the process --check-maps FILE compares (default: the first)', pid)
    .option('--memory <pages>', 'physical memory of the replaying system, in pages', pages, 16384)
    .option('--policy <name>', POLICY_HELP)
    .option('--json', 'print the report as JSON')
    .option('--no-progress', 'no progress bar, even on a terminal')
    .action((trace: string, o: ReplayFlags) => printReplay(trace, o, io));
  program
    .command('record')
    .description(
      'record a real program under strace into OUT/NAME.strace, OUT/init/NAME.PID.maps (after ' +
        'each execve) and OUT/exit/NAME.PID.maps (at each exit_group), for `uvm replay`; ' +
        'with --mem, its memory accesses under valgrind into OUT/NAME.lackey.gz instead',
    )
    .argument('<program>', 'the program to run')
    .argument('[args...]', 'its arguments (put -- before the program)')
    .option('--out <dir>', 'where to write the recording', '.')
    .option('--name <name>', "the recording's name (default: the program's)")
    .option('--mark', "also OUT/NAME.maps: the program's maps at its first kill(getpid(), 0)")
    .option('--mem', 'record memory accesses (valgrind --tool=lackey --trace-mem=yes)')
    .action((prog: string, args: string[], o: RecordFlags) => recordCommand(prog, args, o, io));
  program
    .command('pdsim')
    .description(
      'compare page replacement policies on a memory trace (valgrind lackey or hex addresses, ' +
        'gzip or not, - for stdin): faults at each frame count (docs/policies.md)',
    )
    .argument('<trace>', 'the trace file, or - for stdin')
    .option(
      '--policy <list>',
      'comma-separated policies (lru, opt, fifo, ..., kernel ones)',
      'lru,opt',
    )
    .option('--frames <list>', 'comma-separated frame counts (default 1, 2, 4, ... to the pages)')
    .option('--json', 'print {references, distinct, results} as JSON')
    .option('--plot <file>', 'write the curves (faults by frames) as SVG')
    .option('--seed <n>', 'the seed of random', count, 1)
    .option('--page-size <bytes>', 'bytes per page, a power of two', pageSize, 4096)
    .option('--vm', 'run the kernel policies in a real VmSystem (with swap)')
    .option('--no-progress', 'no progress bar, even on a terminal')
    .action((trace: string, o: PdsimFlags) => pdsimCommand(trace, o, io));
  return program;
}

const POLICY_HELP = `the page replacement policy (${Object.keys(PD_POLICIES).join(', ')}; default ${DEFAULT_PD_POLICY})`;

interface RunFlags {
  json?: boolean;
  policy?: string;
  trace?: boolean;
}

interface ReplayFlags {
  policy?: string;
  maps?: number;
  checkMaps?: string | true;
  pid?: number;
  memory: number;
  json?: boolean;
  progress: boolean;
}

function printRun(r: RunResult, json: boolean, io: Io): void {
  io.out(json ? `${JSON.stringify(runJson(r), null, 2)}\n` : `${formatRun(r).join('\n')}\n`);
  if (r.error) {
    io.err(`uvm: ${r.error.file}:${r.error.line}: ${r.error.what}\n`);
    throw new CheckFailed(r.error.what);
  }
}

/**
 * runJson: a run as --json prints it: each step with its output lines, or,
 * for a `show`, its picture as fields instead (rows, entry, amap, pages).
 */
function runJson(r: RunResult): unknown {
  const steps = r.steps.map(({ line, command, data, output, ...s }) =>
    data === undefined ? { line, command, output, ...s } : { line, command, data, ...s },
  );
  return { ...r, steps };
}

function printReplay(trace: string, o: ReplayFlags, io: Io): void {
  if (o.pid !== undefined && typeof o.checkMaps !== 'string')
    throw new UsageError('--pid goes with --check-maps FILE');
  if (o.policy !== undefined) checkPolicy(o.policy);
  const r = replayTrace(trace, { ...o, progress: o.progress && io.tty && o.json !== true });
  io.out(o.json ? `${JSON.stringify(r, null, 2)}\n` : `${formatReplay(r).join('\n')}\n`);
  if (replayFailed(r)) throw new CheckFailed('the replay differs from the log');
}

function count(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)))
    throw new InvalidArgumentError(`${value} is not a non-negative integer`);
  return Number(value);
}

function pageSize(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 2 ** 30 || (n & (n - 1)) !== 0)
    throw new InvalidArgumentError(`${value} is not a power of two up to 2^30`);
  return n;
}

function pid(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${value} is not a process id`);
  return Number(value);
}

function pages(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 16 || n > 1 << 22)
    throw new InvalidArgumentError(`${value} is not a page count from 16 to 4194304`);
  return n;
}
