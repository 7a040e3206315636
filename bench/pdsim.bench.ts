/*
 * pdsim's one-pass LRU (src/lab/stack.ts, lruCurve) in references per
 * second, beside the same algorithm in C (bench/native/lrustack.c, built
 * with cc -O2) on the same reference string: 10^7 references (10^6 with
 * --quick) over 4096 pages, nine in ten a short step from the last page,
 * one in ten anywhere (written to a file the C program reads).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lruCurve } from '../src/lab/stack.ts';
import { compare, type Row } from './harness.ts';

/** the row's name: run.ts prints its references per second */
export const PDSIM_ROW = 'pdsim one-pass LRU stack distances (per reference)';
const SOURCE = new URL('native/lrustack.c', import.meta.url).pathname;
const DISTINCT = 4096;
const CHECK_FRAMES = [1, 16, 256, 4096];

/**
 * pdsimRow: ns per reference of ours and of C, with target ours <= 3x C.
 * => throws if the two disagree on the faults (they run one algorithm).
 */
export function pdsimRow(quick: boolean): Row {
  const refs = referenceString(quick ? 1_000_000 : 10_000_000);
  lruCurve(refs.subarray(0, refs.length / 10), DISTINCT);
  const t0 = process.hrtime.bigint();
  const curve = lruCurve(refs, DISTINCT);
  const ours = Number(process.hrtime.bigint() - t0) / refs.length;
  const c = runC(refs);
  if (c !== null && CHECK_FRAMES.some((f, i) => curve.faults(f) !== c.faults[i]))
    throw new Error(
      `pdsim and lrustack.c disagree: ${c.faults} vs ${CHECK_FRAMES.map((f) => curve.faults(f))}`,
    );
  return compare(PDSIM_ROW, ours, c?.ns ?? null, 3, 'C (bench/native/lrustack.c)');
}

/** referencesPerSecond: a per-reference time as references per second. */
export function referencesPerSecond(ns: number): string {
  return `${Math.round(1e9 / ns).toLocaleString('en-US')} references/s`;
}

function referenceString(n: number): Int32Array {
  let x = 12345;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  const refs = new Int32Array(n);
  let page = 0;
  for (let i = 0; i < n; i++) {
    const r = next();
    page = r % 10 === 0 ? (r >>> 8) % DISTINCT : (page + ((r >>> 8) % 9) - 4 + DISTINCT) % DISTINCT;
    refs[i] = page;
  }
  return refs;
}

/** runC: build and run lrustack.c on refs => ns per reference and its faults, or null. */
function runC(refs: Int32Array): { ns: number; faults: number[] } | null {
  const dir = mkdtempSync(join(tmpdir(), 'uvm-lrustack-'));
  try {
    const bin = join(dir, 'lrustack');
    const file = join(dir, 'refs.bin');
    const cc = spawnSync('cc', ['-O2', '-o', bin, SOURCE], { encoding: 'utf8' });
    if (cc.error || cc.status !== 0) {
      process.stderr.write(`no C figure: cc failed: ${cc.error?.message ?? cc.stderr}\n`);
      return null;
    }
    writeFileSync(file, new Uint8Array(refs.buffer, refs.byteOffset, refs.byteLength));
    const run = spawnSync(bin, [file, String(DISTINCT)], { encoding: 'utf8' });
    if (run.status !== 0) {
      process.stderr.write(`no C figure: ${bin} failed: ${run.stderr}\n`);
      return null;
    }
    const [ns, ...faults] = run.stdout.trim().split(' ').map(Number);
    return { ns, faults };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
