/*
 * fuzz/run.ts: one seed's run, replays of command lists, and the
 * shrinker that turns a failing run into a minimal scenario file.
 *
 *   runSeed(seed, ops)         generate and run `ops` commands (then a
 *                              final sweep and close); the commands and
 *                              the first divergence
 *   replay(cfg, cmds, trace)   run given commands (those naming what does
 *                              not exist are skipped)
 *   shrink(cfg, cmds, sig)     delta debugging over the commands: keep a
 *                              candidate that fails with the same signature
 *   scenarioOf(cfg, cmds)      the run as a `uvm run` file ending with the
 *                              line that fails
 */
import { performance } from 'node:perf_hooks';
import { ScenarioError, ScenarioRunner } from '../../src/tools/scenario.ts';
import { type Cmd, Divergence, World } from '../world.ts';
import { configFor, type FuzzConfig, Rand } from './config.ts';
import { Generator } from './gen.ts';

/** What running commands gave. */
export interface Outcome {
  /** the commands run, the failing one last */
  cmds: Cmd[];
  /** for each command: its call failed (or it was skipped): it changed nothing */
  idle: boolean[];
  /** commands actually executed (not skipped) */
  steps: number;
  failure: Divergence | null;
  world: World;
}

/**
 * guarded: run `fn`; a divergence is returned, any other exception (a
 * bug of the harness) becomes a divergence of kind "harness".
 */
function guarded(fn: () => void): Divergence | null {
  try {
    fn();
    return null;
  } catch (e) {
    if (e instanceof Divergence) return e;
    const what = e instanceof Error ? (e.stack ?? e.message) : String(e);
    return new Divergence('harness', `the harness failed: ${String(e)}`, [], what);
  }
}

/**
 * runSeed: the run seed `seed` determines: its configuration, `ops`
 * generated commands, then a close (final sweep, teardown, file check).
 */
export function runSeed(seed: number, ops: number, cfg: FuzzConfig = configFor(seed)): Outcome {
  const gen = new Generator(cfg, new Rand(seed));
  return drive(new World(cfg), (w, i) =>
    i < ops ? gen.next(w, i) : i === ops ? { op: 'close' } : null,
  );
}

/**
 * runChoices: the commands the given choices make (one array of numbers
 * per command, cycled through by the generator's picks), then a close:
 * how fast-check's programs drive the fuzzer's operation mix.
 */
export function runChoices(cfg: FuzzConfig, choices: number[][]): Outcome {
  let tape = [0];
  let at = 0;
  const gen = new Generator(cfg, { int: (n) => (n <= 1 ? 0 : tape[at++ % tape.length] % n) });
  return drive(new World(cfg), (w, i) => {
    if (i >= choices.length) return i === choices.length ? { op: 'close' } : null;
    tape = choices[i];
    at = 0;
    return gen.next(w, i);
  });
}

/** replay: run `cmds` on a fresh world; stops at the first divergence. */
export function replay(cfg: FuzzConfig, cmds: Cmd[], trace = false): Outcome {
  return drive(new World(cfg, trace), (_w, i) => cmds[i] ?? null);
}

/** drive: step the world through the commands `next` gives until null or a divergence. */
function drive(world: World, next: (w: World, i: number) => Cmd | null): Outcome {
  const cmds: Cmd[] = [];
  const idle: boolean[] = [];
  const failure = guarded(() => {
    for (let c = next(world, 0); c !== null; c = next(world, cmds.length)) {
      cmds.push(c);
      const failed = world.failedCalls;
      idle.push(true);
      idle[idle.length - 1] = !world.step(c) || world.failedCalls > failed;
    }
  });
  return { cmds, idle, steps: world.steps, failure, world };
}

/** The result of shrinking. */
export interface Shrunk {
  cmds: Cmd[];
  /** replays tried */
  tries: number;
  /** stopped by the time budget before a fixed point */
  timedOut: boolean;
}

/**
 * shrink: a smallest command list (by delta debugging: ever smaller
 * complements, then one command at a time) whose replay fails with
 * signature `sig`; a failing sweep becomes the one read that failed.
 * => stops after `budgetMs` with the best so far.
 */
export function shrink(cfg: FuzzConfig, cmds: Cmd[], sig: string, budgetMs = 60_000): Shrunk {
  const deadline = performance.now() + budgetMs;
  const late = () => performance.now() >= deadline;
  let tries = 0;
  /* a candidate's failing prefix when it fails the same way */
  const fails = (cand: Cmd[]): Outcome | null => {
    tries++;
    const r = replay(cfg, cand);
    return r.failure?.signature() === sig ? r : null;
  };
  const same = (cand: Cmd[]): Cmd[] | null => {
    const r = fails(cand);
    if (r === null) return null;
    const read = narrow(r);
    return read !== null && fails(read) !== null ? read : r.cmds;
  };
  const first = fails(cmds);
  let cur = first?.cmds ?? cmds;
  /* what changed nothing first (failed calls), then every sweep but the last command */
  if (first !== null)
    cur = same(cur.filter((_c, i) => !first.idle[i] || i === cur.length - 1)) ?? cur;
  cur = same(cur.filter((c, i) => c.op !== 'sweep' || i === cur.length - 1)) ?? cur;
  for (let round = 0; round < 2 && !late(); round++) {
    cur = mergeAll(cur, same, late);
    cur = ddmin(cur, same, late);
  }
  cur = same(renamed(cur)) ?? cur;
  return { cmds: cur, tries, timedOut: late() };
}

/** ddmin: delta debugging: remove ever smaller chunks while `same` still fails. */
function ddmin(cur: Cmd[], same: (c: Cmd[]) => Cmd[] | null, late: () => boolean): Cmd[] {
  let n = 2;
  while (cur.length >= 2 && !late()) {
    const chunk = Math.ceil(cur.length / n);
    let found: Cmd[] | null = null;
    for (let i = 0; i < cur.length && !found && !late(); i += chunk)
      found = same([...cur.slice(0, i), ...cur.slice(i + chunk)]);
    if (found) {
      cur = found;
      n = Math.max(n - 1, 2);
    } else if (chunk === 1) break;
    else n = Math.min(cur.length, n * 2);
  }
  return cur;
}

/**
 * mergeAll: try each fork or vfork as no fork at all: the child's commands
 * go to its parent, and the parent's later exit goes.
 */
function mergeAll(cur: Cmd[], same: (c: Cmd[]) => Cmd[] | null, late: () => boolean): Cmd[] {
  for (let i = cur.length - 1; i >= 0 && !late(); i--) {
    const c = cur[i];
    if (c.op !== 'fork' && c.op !== 'vfork') continue;
    const parent = c.p;
    const child = c.child;
    const merged = cur
      .slice(i + 1)
      .filter((d) => !(d.op === 'exit' && d.p === parent))
      .map((d) => rename(d, (n) => (n === child ? parent : n)));
    cur = same([...cur.slice(0, i), ...merged]) ?? cur;
  }
  return cur;
}

/** rename: a command with its process names passed through `f`. */
function rename(c: Cmd, f: (name: string) => string): Cmd {
  const d = { ...c } as Cmd & { p?: string; child?: string };
  if (d.p !== undefined) d.p = f(d.p);
  if (d.child !== undefined) d.child = f(d.child);
  return d;
}

/** renamed: processes named p1, p2, ... in the order they appear. */
function renamed(cmds: Cmd[]): Cmd[] {
  const names = new Map<string, string>();
  const f = (n: string) => {
    if (!names.has(n)) names.set(n, `p${names.size + 1}`);
    return names.get(n)!;
  };
  return cmds.map((c) => rename(c, f));
}

/**
 * narrow: when a sweep (or close) failed on a read, the commands with
 * that read in its place; else null.
 */
function narrow(r: Outcome): Cmd[] | null {
  const cmds = r.cmds;
  const last = cmds[cmds.length - 1];
  const read = r.failure?.read ?? null;
  if (read === null || (last.op !== 'sweep' && last.op !== 'close')) return null;
  return [...cmds.slice(0, -1), read];
}

/** A run as a scenario file. */
export interface Scenario {
  text: string;
  /** the divergence the run ends with (null: the commands do not fail) */
  failure: Divergence | null;
  /** `uvm run` of the text fails at its last line, as it should */
  reproduces: boolean;
}

/**
 * scenarioOf: the replay of `cmds` as a scenario file: the system and the
 * files it uses, every command run, and the lines that show the
 * divergence; checked by running it as `uvm run` would.
 */
export function scenarioOf(cfg: FuzzConfig, cmds: Cmd[]): Scenario {
  const r = replay(cfg, cmds, true);
  const lines = [...r.world.lines!];
  if (r.failure !== null) {
    lines.splice(1, 0, `# ${r.failure.signature()}`);
    if (r.failure.detail !== '') lines.splice(2, 0, `# ${r.failure.detail.split('\n')[0]}`);
    lines.push(...r.failure.tail);
  }
  const full = `${lines.join('\n')}\n`;
  const lean = `${withoutUnusedFiles(lines).join('\n')}\n`;
  if (r.failure === null) return { text: full, failure: null, reproduces: false };
  if (failsAtEnd(lean)) return { text: lean, failure: r.failure, reproduces: true };
  return { text: full, failure: r.failure, reproduces: failsAtEnd(full) };
}

/** withoutUnusedFiles: the lines without the `file` and `open` lines of files nothing else names. */
function withoutUnusedFiles(lines: string[]): string[] {
  const named = (f: string, l: string) => new RegExp(`(^|[ "])(${f}|${f}r|/${f})( |$|")`).test(l);
  return lines.filter((l) => {
    const m = /^(?:file|open) (f\d+)r? /.exec(l);
    return m === null || lines.some((o) => !/^(?:file|open) /.test(o) && named(m[1], o));
  });
}

/** failsAtEnd: `uvm run` of the text stops at its last line. */
function failsAtEnd(text: string): boolean {
  try {
    new ScenarioRunner('shrunk.uvm').run(text);
    return false;
  } catch (e) {
    if (!(e instanceof ScenarioError)) return false;
    return e.line === text.trimEnd().split('\n').length;
  }
}
