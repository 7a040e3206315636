/*
 * Paging benchmarks: pageout and page-in throughput to a swap file,
 * beside a plain sequential write and read of as many 4 KiB blocks to a
 * file in the same run; and the counts of a workload four times larger
 * than physical memory.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAP_ANON, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../src/kernel/param.ts';
import { NodeHost } from '../src/node/host.ts';
import { VmSystem } from '../src/sys/system.ts';
import { compare, type Row } from './harness.ts';

const PS = 4096;

/** median of a few timings of fn, in ns. */
function time(fn: () => void, reps: number): number {
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const s = process.hrtime.bigint();
    fn();
    t.push(Number(process.hrtime.bigint() - s));
  }
  return t.sort((a, b) => a - b)[Math.floor(t.length / 2)];
}

export interface PagingResult {
  rows: Row[];
  workload: Record<string, number>;
}

export function pagingBench(quick: boolean): PagingResult {
  const dir = mkdtempSync(join(tmpdir(), 'uvm-bench-'));
  const phys = quick ? 2048 : 8192;
  const pages = phys * 4;
  const reps = quick ? 3 : 5;
  try {
    /* reference: sequential 4 KiB writes and reads of a file of the same size */
    const block = new Uint8Array(PS).fill(7);
    const ref = join(dir, 'ref.dat');
    const refWrite = time(() => {
      const fd = openSync(ref, 'w');
      for (let i = 0; i < pages; i++) writeSync(fd, block, 0, PS, i * PS);
      closeSync(fd);
    }, reps);
    const refRead = time(() => {
      const fd = openSync(ref, 'r');
      for (let i = 0; i < pages; i++) readSync(fd, block, 0, PS, i * PS);
      closeSync(fd);
    }, reps);
    /* ours: a working set of 4x memory, written then read back, swapping to a file */
    let out = 0;
    let inn = 0;
    let counters: Record<string, number> = {};
    const outTimes: number[] = [];
    const inTimes: number[] = [];
    for (let r = 0; r < reps; r++) {
      const sys = new VmSystem({
        physPages: phys,
        swapPages: pages + phys,
        swapFile: join(dir, `swap${r}`),
        host: new NodeHost(),
      });
      const p = sys.spawn();
      const a = p.mmap(0, pages * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON);
      const page = new Uint8Array(PS);
      let s = process.hrtime.bigint();
      for (let i = 0; i < pages; i++) {
        page[0] = i & 0xff;
        p.write(a + i * PS, page);
      }
      outTimes.push(Number(process.hrtime.bigint() - s));
      out = sys.counters.pageouts;
      s = process.hrtime.bigint();
      for (let i = 0; i < pages; i++)
        if (p.read(a + i * PS, 1)[0] !== (i & 0xff)) throw new Error('lost a byte');
      inTimes.push(Number(process.hrtime.bigint() - s));
      inn = sys.counters.pageins;
      counters = { ...sys.counters };
      sys.close();
    }
    const med = (a: number[]) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)];
    const perOut = med(outTimes) / out;
    const perIn = med(inTimes) / inn;
    const row = (workload: string, ours: number, reference: string, refNs: number): Row =>
      compare(workload, ours, refNs, null, reference);
    return {
      rows: [
        row(
          `pageout to a swap file (per page; ${Math.round(1e9 / perOut)} pages/s)`,
          perOut,
          'sequential 4 KiB file write',
          refWrite / pages,
        ),
        row(
          `page-in from a swap file (per page; ${Math.round(1e9 / perIn)} pages/s)`,
          perIn,
          'sequential 4 KiB file read',
          refRead / pages,
        ),
      ],
      workload: {
        physPages: phys,
        workingSetPages: pages,
        faults: counters.faults,
        zeroFills: counters.flt_przero,
        faultPageins: counters.fltanget,
        pageouts: counters.pageouts,
        pageins: counters.pageins,
        pagedaemonRuns: counters.pdwoke,
        pagesFreed: counters.pdfreed,
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
