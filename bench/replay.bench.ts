/*
 * Replay throughput: the largest bundled recording (samples/memops), parsed
 * and replayed onto one system again and again (the system is emptied
 * after each pass), in calls per second.
 */
import { readFileSync } from 'node:fs';
import { snapshotReader } from '../src/cli/replay.ts';
import { VmSystem } from '../src/sys/system.ts';
import { Replay } from '../src/tools/replay.ts';
import { parseStrace } from '../src/tools/strace.ts';
import type { Workload } from './harness.ts';

const SAMPLES = new URL('../samples/', import.meta.url).pathname;

export function replayWorkloads(): Workload[] {
  const name = 'memops';
  const text = readFileSync(`${SAMPLES}${name}.strace`, 'utf8');
  /* the snapshots are read once, not inside the timed replays */
  const read = snapshotReader(`${SAMPLES}${name}.strace`);
  const snapshots = new Map<string, string[] | null>();
  const snapshot = (pid: number, exec: number) => {
    const key = `${pid}.${exec}`;
    if (!snapshots.has(key)) snapshots.set(key, read(pid, exec));
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
        const replay = new Replay(sys, parseStrace(text), { snapshot });
        replay.run();
        replay.release();
        sys.close();
      },
      teardown: () => sys.audit(),
    },
  ];
}
