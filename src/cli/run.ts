/*
 * cli/run.ts: `uvm run FILE` and `uvm demo`: run a scenario and print what
 * each command did, or the same as JSON.
 *
 *   echo lines become section headers; every other command is printed
 *   as `$ command` with its output indented under it
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ScenarioError, ScenarioRunner, type StepResult } from '../tools/scenario.ts';
import { formatEvent } from '../tools/trace.ts';
import { checkPolicy, readInput, UsageError } from './usage.ts';

/** where the bundled scenarios live (beside src/ and dist/ alike) */
export const SCENARIO_DIR = fileURLToPath(new URL('../../scenarios/', import.meta.url));

/** The outcome of a scenario run. */
export interface RunResult {
  file: string;
  steps: StepResult[];
  counters: Record<string, number>;
  /** the failure that stopped the run */
  error?: { file: string; line: number; what: string };
}

/**
 * runScenario: run the scenario in `file`, or the bundled one of that name.
 * => `policy`: the page replacement policy (default: the system's, clock).
 * => `trace`: each step carries the kernel's events (kernel/hist.ts).
 * => throws UsageError when the file cannot be read or is empty, or names
 *    no policy there is; a failing line ends the run with `error` set.
 */
export function runScenario(file: string, policy?: string, trace = false): RunResult {
  const path = existsSync(file) ? file : bundled(file);
  const text = readInput(path);
  if (text.split('\n').every((l) => l.replace(/(^|\s)#.*$/, '').trim() === ''))
    throw new UsageError(`${path}: empty: no commands to run`);
  if (policy !== undefined) checkPolicy(policy);
  const runner = new ScenarioRunner(file, policy);
  runner.trace = trace;
  const result: RunResult = { file, steps: runner.steps, counters: {} };
  try {
    runner.run(text);
  } catch (e) {
    if (!(e instanceof ScenarioError)) throw e;
    result.error = { file: e.file, line: e.line, what: e.what };
  }
  result.counters = runner.sys.counters;
  closeAfter(runner, result.error !== undefined);
  return result;
}

/**
 * closeAfter: end the scenario's system. After a failed line (a kernel
 * panic may have left locks held) a failure to close is not reported:
 * the line's failure is what the run reports.
 */
function closeAfter(runner: ScenarioRunner, failed: boolean): void {
  try {
    runner.sys.close();
  } catch (e) {
    if (!failed) throw e;
  }
}

/** bundled: scenarios/NAME.uvm, when `name` names a bundled scenario. */
function bundled(name: string): string {
  const path = join(SCENARIO_DIR, name.endsWith('.uvm') ? name : `${name}.uvm`);
  return existsSync(path) ? path : name;
}

/** bundledScenarios: the names of the scenarios the package ships. */
export function bundledScenarios(): string[] {
  return readdirSync(SCENARIO_DIR)
    .filter((f) => f.endsWith('.uvm'))
    .map((f) => f.slice(0, -4))
    .sort();
}

/** formatRun: a run as the terminal shows it. */
export function formatRun(r: RunResult): string[] {
  const out: string[] = [];
  for (const s of r.steps) {
    if (s.command.startsWith('echo ')) {
      if (out.length > 0) out.push('');
      out.push(...s.output);
      continue;
    }
    out.push(`$ ${s.command}`);
    for (const l of s.output) out.push(`    ${l}`);
    for (const e of s.events ?? []) out.push(`    | ${formatEvent(e)}`);
  }
  return out;
}
