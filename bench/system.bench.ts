/*
 * System benchmarks: faults, memory access through the pmap, fork.
 * Each figure is ns per operation (per page for faults).
 */
import { MAP_ANON, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../src/param.ts';
import type { Process } from '../src/proc.ts';
import { VmSystem } from '../src/system.ts';
import type { Workload } from './harness.ts';

const PS = 4096;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANON;
const ONE = new Uint8Array([1]);

/** touch: write one byte to every page of [a, a+pages). */
function touch(p: Process, a: number, pages: number): void {
  for (let i = 0; i < pages; i++) p.write(a + i * PS, ONE);
}

/** bigProcess: a process with `entries` mappings holding `mib` MiB resident in all. */
function bigProcess(sys: VmSystem, entries: number, mib: number): Process {
  const p = sys.spawn();
  const pages = (mib * 1024 * 1024) / PS;
  const per = Math.max(1, Math.floor(pages / entries));
  for (let i = 0; i < entries; i++) {
    const a = 0x100000000 + i * (per + 1) * PS;
    p.mmap(a, per * PS, RW, ANON | MAP_FIXED);
    touch(p, a, per);
  }
  return p;
}

export function systemWorkloads(quick: boolean): Workload[] {
  const pages = quick ? 2048 : 16384;
  const sys = new VmSystem({ physPages: pages * 2 + 20000, swapPages: 0 });
  const zp = sys.spawn();
  const cowParent = sys.spawn();
  const cowArea = cowParent.mmap(0, pages * PS, RW, ANON);
  touch(cowParent, cowArea, pages);
  const res = sys.spawn();
  const ra = res.mmap(0, PS, RW, ANON);
  res.write(ra, new Uint8Array(8));
  const eight = new Uint8Array(8);
  const big = bigProcess(sys, 1000, 64);
  const tiny = sys.spawn();
  tiny.write(tiny.mmap(0, PS, RW, ANON), ONE);
  return [
    {
      name: 'zero-fill write fault (per page)',
      batch: pages,
      run() {
        const a = zp.mmap(0, pages * PS, RW, ANON);
        touch(zp, a, pages);
        zp.munmap(a, pages * PS);
      },
    },
    {
      name: 'copy-on-write fault in a forked child (per page)',
      batch: pages,
      run() {
        const c = cowParent.fork();
        touch(c, cowArea, pages);
        c.exit();
      },
    },
    {
      name: 'read 8 bytes of a resident page',
      batch: 1000,
      run() {
        for (let i = 0; i < 1000; i++) res.read(ra, 8);
      },
    },
    {
      name: 'write 8 bytes to a resident page',
      batch: 1000,
      run() {
        for (let i = 0; i < 1000; i++) res.write(ra, eight);
      },
    },
    {
      name: 'fork + exit, 1,000 entries, 64 MiB resident',
      batch: 1,
      run() {
        big.fork().exit();
      },
    },
    {
      name: 'fork + exit, tiny process',
      batch: 100,
      run() {
        for (let i = 0; i < 100; i++) tiny.fork().exit();
      },
    },
  ];
}
