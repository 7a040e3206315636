/*
 * The workloads of bench/native/linux.c, done by this system: faults, fork
 * and exit, map calls. Each is timed as the C program times it (warm-up
 * once, then the median of `reps` runs), per operation.
 */
import { MAP_ANON, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../src/kernel/param.ts';
import type { Process } from '../src/sys/proc.ts';
import { VmSystem } from '../src/sys/system.ts';

const PS = 4096;
const MIB = 1 << 20;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANON;
const ONE = new Uint8Array([1]);

/** A workload both sides run: its name in linux.c, and ours. */
export interface KernelWorkload {
  /** the name linux.c prints */
  key: string;
  label: string;
  /** the largest ratio ours / Linux allowed; null: reported only */
  target: number | null;
  /** ns per operation, the median of `reps` runs after a warm-up */
  ours(reps: number, quick: boolean): number;
}

/** now: a monotonic clock in ns. */
function now(): number {
  return Number(process.hrtime.bigint());
}

/** median: of `reps` timings of fn (which returns the ns it measured), after one warm-up. */
export function median(fn: () => number, reps: number): number {
  fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) t.push(fn());
  return t.sort((a, b) => a - b)[Math.floor(reps / 2)];
}

/** touch: write one byte to every page of [a, a + bytes). */
function touch(p: Process, a: number, bytes: number): void {
  for (let o = 0; o < bytes; o += PS) p.write(a + o, ONE);
}

/** withSystem: run fn on a system of `pages` frames, closed afterwards. */
function withSystem<T>(pages: number, fn: (sys: VmSystem) => T): T {
  const sys = new VmSystem({ physPages: pages + 4096, swapPages: 0 });
  try {
    return fn(sys);
  } finally {
    sys.close();
  }
}

/** forkExit: fork + exit of a process with `entries` mappings of `pages` resident pages. */
function forkExit(entries: number, pages: number, reps: number): number {
  return withSystem(entries * pages, (sys) => {
    const p = sys.spawn();
    const bytes = pages * PS;
    for (let i = 0; i < entries; i++) {
      const a = 0x100000000 + i * (bytes + PS);
      p.mmap(a, bytes, RW, ANON | MAP_FIXED);
      touch(p, a, bytes);
    }
    return median(() => {
      const s = now();
      p.fork().exit();
      return now() - s;
    }, reps);
  });
}

export const KERNEL_WORKLOADS: KernelWorkload[] = [
  {
    key: 'zero-fill',
    label: 'zero-fill write fault, per page, 512 MiB',
    target: 0.5,
    ours: (reps) =>
      withSystem((512 * MIB) / PS, (sys) => {
        const p = sys.spawn();
        const bytes = 512 * MIB;
        const t = median(() => {
          const a = p.mmap(0, bytes, RW, ANON);
          const s = now();
          touch(p, a, bytes);
          const e = now() - s;
          p.munmap(a, bytes);
          return e;
        }, reps);
        return t / (bytes / PS);
      }),
  },
  {
    key: 'cow-fault',
    label: 'copy-on-write fault in a forked child, per page, 256 MiB',
    target: 0.5,
    ours: (reps) =>
      withSystem((512 * MIB) / PS, (sys) => {
        const bytes = 256 * MIB;
        const parent = sys.spawn();
        const a = parent.mmap(0, bytes, RW, ANON);
        touch(parent, a, bytes);
        const t = median(() => {
          const child = parent.fork();
          const s = now();
          touch(child, a, bytes);
          const e = now() - s;
          child.exit();
          return e;
        }, reps);
        return t / (bytes / PS);
      }),
  },
  {
    key: 'fork-exit-64m',
    label: 'fork + exit, 64 MiB resident',
    target: 0.5,
    ours: (reps) => forkExit(1, (64 * MIB) / PS, reps),
  },
  {
    key: 'fork-exit-1g',
    label: 'fork + exit, 1 GiB resident',
    target: 0.25,
    ours: (reps) => forkExit(1, (1024 * MIB) / PS, reps),
  },
  {
    key: 'fork-exit-10k-entries',
    label: 'fork + exit, 10,000 map entries',
    target: 0.5,
    ours: (reps) => forkExit(10000, 1, reps),
  },
  {
    key: 'fork-exit-1k-entries-64m',
    label: 'fork + exit, 1,000 entries of 64 KiB resident',
    target: null,
    ours: (reps) => forkExit(1000, 16, reps),
  },
  {
    key: 'mmap-munmap',
    label: 'mmap + munmap of 1 page, untouched',
    target: 0.5,
    ours: (reps, quick) =>
      withSystem(64, (sys) => {
        const p = sys.spawn();
        const n = quick ? 20000 : 100000;
        const t = median(() => {
          const s = now();
          for (let i = 0; i < n; i++) p.munmap(p.mmap(0, PS, RW, ANON), PS);
          return now() - s;
        }, reps);
        return t / n;
      }),
  },
  {
    key: 'mprotect-split-merge',
    label: 'mprotect of 1 page inside an entry and back (split + merge)',
    target: 0.5,
    ours: (reps, quick) =>
      withSystem(2048, (sys) => {
        const p = sys.spawn();
        const a = p.mmap(0, 1024 * PS, RW, ANON);
        touch(p, a, 1024 * PS);
        const mid = a + 512 * PS;
        const n = quick ? 20000 : 100000;
        const t = median(() => {
          const s = now();
          for (let i = 0; i < n; i++) {
            p.mprotect(mid, PS, PROT_READ);
            p.mprotect(mid, PS, RW);
          }
          return now() - s;
        }, reps);
        return t / n;
      }),
  },
];

/**
 * coldPage: ns per 4 KiB page to clear (`copy` false) or copy a page of a
 * buffer larger than any cache, one pass in page order: the memory bound
 * a zero-fill or copy-on-write fault cannot beat.
 */
export function coldPage(copy: boolean, reps: number): number {
  const bytes = 256 * MIB;
  const dst = new Uint8Array(bytes);
  const src = copy ? new Uint8Array(bytes).fill(1) : null;
  const t = median(() => {
    const s = now();
    for (let o = 0; o < bytes; o += PS) {
      if (src === null) dst.fill(0, o, o + PS);
      else dst.set(src.subarray(o, o + PS), o);
    }
    return now() - s;
  }, reps);
  return t / (bytes / PS);
}
