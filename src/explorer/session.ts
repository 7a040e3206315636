/*
 * explorer/session.ts: stepping through a scenario or a recorded program,
 * forwards and back, with no DOM (the page drives it; the tests too).
 *
 *   Session      pos: the commands run so far (0: none, after Load)
 *                step, back, reset, runToEnd; back re-runs the first
 *                pos - 1 commands on a fresh system: runs are
 *                deterministic, so the state is exactly that after them
 *   Stepper      one kind of source: a scenario's command lines
 *                (ScenarioRunner.step), or a recording's log lines fed to
 *                a Replay (StraceReader, the replay of `uvm replay`)
 *
 * A failing line stops the session there with `error` ("line N: what").
 */
import { type HistEvent, histRecord } from '../kernel/hist.ts';
import { MemoryHost } from '../kernel/host.ts';
import type { Process } from '../sys/proc.ts';
import { readMapsRow } from '../sys/procmaps.ts';
import { type Counters, VmSystem } from '../sys/system.ts';
import { Replay, type Snapshot } from '../tools/replay.ts';
import { commandText, ScenarioError, ScenarioRunner } from '../tools/scenario.ts';
import { StraceReader } from '../tools/strace.ts';

/** What one step did, as the Step and Events regions show it. */
export interface Shown {
  line: number;
  command: string;
  output: string[];
  events: HistEvent[];
}

/** A source the session steps through. */
export interface Stepper {
  /** how many steps there are */
  readonly total: number;
  /** run step i (0-based; steps run in order) => what it did; throws on a failing line */
  step(i: number): Shown;
  readonly sys: VmSystem;
  /** the live processes by name */
  processes(): [string, Process][];
  /** the line step i comes from */
  lineOf(i: number): number;
}

/** A failed line. */
export interface StepError {
  line: number;
  what: string;
}

/** A scenario or a recording, stepped forwards and back. */
export class Session {
  pos = 0;
  stepper: Stepper;
  shown: Shown | null = null;
  error: StepError | null = null;

  constructor(private readonly make: () => Stepper) {
    this.stepper = make();
  }

  get total(): number {
    return this.stepper.total;
  }

  get counters(): Counters {
    return this.stepper.sys.counters;
  }

  /** step: run the next command => false when at the end or stopped by an error. */
  step(): boolean {
    if (this.error !== null || this.pos >= this.total) return false;
    try {
      this.shown = this.stepper.step(this.pos);
      this.pos++;
      return true;
    } catch (e) {
      const line = e instanceof ScenarioError ? e.line : this.stepper.lineOf(this.pos);
      const what =
        e instanceof ScenarioError ? e.what : `${(e as Error).name}: ${(e as Error).message}`;
      this.error = { line, what };
      return false;
    }
  }

  /** goto: the state after the first k commands, re-run on a fresh system. */
  goto(k: number): void {
    this.stepper = this.make();
    this.pos = 0;
    this.shown = null;
    this.error = null;
    while (this.pos < k && this.step());
  }

  /**
   * back: undo one command: the state is exactly that after the ones
   * before it. After a failed line, undo the failure (the commands before
   * it stay).
   */
  back(): void {
    this.goto(this.error !== null ? this.pos : Math.max(0, this.pos - 1));
  }

  /** reset: before the first command. */
  reset(): void {
    this.goto(0);
  }

  /** runToEnd: every command left, up to a failing one. */
  runToEnd(): void {
    while (this.step());
  }
}

/** A scenario's command lines, run one by one. */
export class ScenarioStepper implements Stepper {
  private readonly runner = new ScenarioRunner('scenario');
  private readonly lines: { no: number; raw: string }[];

  constructor(text: string) {
    this.runner.trace = true;
    this.lines = text
      .split('\n')
      .map((raw, i) => ({ no: i + 1, raw }))
      .filter((l) => commandText(l.raw) !== '');
  }

  get total(): number {
    return this.lines.length;
  }

  get sys(): VmSystem {
    return this.runner.sys;
  }

  step(i: number): Shown {
    const { raw, no } = this.lines[i];
    const s = this.runner.step(raw, no)!;
    return { line: no, command: s.command, output: s.output, events: s.events ?? [] };
  }

  processes(): [string, Process][] {
    return this.runner.processes();
  }

  lineOf(i: number): number {
    return this.lines[i]?.no ?? 0;
  }
}

/** A recording as the page holds it: its log and its init/ snapshots by file name. */
export interface RecordingFiles {
  /** NAME of NAME.strace */
  name: string;
  log: string;
  /** init snapshots: file name (NAME.PID.maps, NAME.PID.execK.maps) -> text */
  snapshots: Map<string, string>;
}

/** the physical memory a recording replays in, in pages (what the page can draw) */
export const RECORDING_PAGES = 4096;

/** A recorded program, stepped line by line of its log. */
export class RecordingStepper implements Stepper {
  readonly sys = new VmSystem({
    physPages: RECORDING_PAGES,
    swapPages: RECORDING_PAGES,
    host: new MemoryHost(),
  });
  private readonly replay: Replay;
  private readonly reader = new StraceReader();
  private readonly lines: { no: number; raw: string }[];

  constructor(private readonly rec: RecordingFiles) {
    this.replay = new Replay(this.sys, { snapshot: (pid, exec) => this.snapshot(pid, exec) });
    this.lines = rec.log
      .split('\n')
      .map((raw, i) => ({ no: i + 1, raw }))
      .filter((l) => l.raw.trim() !== '');
  }

  get total(): number {
    return this.lines.length;
  }

  step(i: number): Shown {
    const { raw, no } = this.lines[i];
    const output: string[] = [];
    const events = histRecord(this.sys.uvm, () => {
      const evs = this.reader.line(raw);
      if (i === this.lines.length - 1) evs.push(...this.reader.end());
      for (const ev of evs) {
        this.replay.feed(ev);
        if (ev.kind === 'note') output.push(`not understood: ${ev.text}`);
      }
      if (i === this.lines.length - 1) output.push(...this.summary());
    });
    return { line: no, command: raw, output, events };
  }

  /** summary: the end of the log: the replay's report in a few lines. */
  private summary(): string[] {
    const r = this.replay.finish();
    const lines = [`the log is over: ${r.calls} calls, ${r.mismatches.length} mismatches`];
    for (const m of r.mismatches)
      lines.push(`line ${m.line}: pid ${m.pid} ${m.call}: expected ${m.expected}, got ${m.got}`);
    return lines;
  }

  processes(): [string, Process][] {
    return [...this.sys.processes.values()].map((p) => [`pid ${p.pid}`, p]);
  }

  lineOf(i: number): number {
    return this.lines[i]?.no ?? 0;
  }

  /** snapshot: NAME.PID.execK.maps, else NAME.PID.maps, as Recording.snapshot reads them. */
  private snapshot(pid: number, exec: number): Snapshot | null {
    const { name, snapshots } = this.rec;
    for (const f of [`${name}.${pid}.exec${exec}.maps`, `${name}.${pid}.maps`]) {
      const text = snapshots.get(f);
      if (text === undefined) continue;
      const rows = text.split('\n').filter((l) => l.trim() !== '');
      const bad = rows.findIndex((l) => readMapsRow(l) === null);
      if (bad >= 0) throw new Error(`${f}: line ${bad + 1} is not a /proc/PID/maps row`);
      return { rows, source: `init/${f}` };
    }
    return null;
  }
}
