/*
 * linux.ts: build bench/native/linux.c with cc -O2 and run it; its figures
 * are the Linux kernel of this machine doing our workloads.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SOURCE = new URL('native/linux.c', import.meta.url).pathname;

/**
 * linuxFigures: ns per operation of each workload, by name; empty (with
 * the reason on stderr) when there is no C compiler or the program fails.
 */
export function linuxFigures(quick: boolean): Map<string, number> {
  const dir = mkdtempSync(join(tmpdir(), 'uvm-linux-'));
  const out = new Map<string, number>();
  try {
    const bin = join(dir, 'linux');
    const cc = spawnSync('cc', ['-O2', '-o', bin, SOURCE], { encoding: 'utf8' });
    if (cc.error || cc.status !== 0) {
      process.stderr.write(`no Linux figures: cc failed: ${cc.error?.message ?? cc.stderr}\n`);
      return out;
    }
    const run = spawnSync(bin, quick ? ['--quick'] : [], { encoding: 'utf8' });
    if (run.status !== 0) {
      process.stderr.write(`no Linux figures: ${bin} failed: ${run.stderr}\n`);
      return out;
    }
    for (const line of run.stdout.trim().split('\n')) {
      const [name, ns] = line.split(' ');
      out.set(name, Number(ns));
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
