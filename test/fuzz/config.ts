/*
 * fuzz/config.ts: what a seed decides before its first operation: the
 * machine (page size, frames, swap, page replacement policy), the files,
 * the lock limit, how many processes, which risky features (I/O errors),
 * and the mix of operations; and the small PRNG everything random comes
 * from.
 *
 *   configFor(seed)     the seed's configuration (pure)
 *   Rand                sfc32 seeded by splitmix32: a seed fully determines a run
 */
import { PD_POLICIES } from '../../src/kernel/pdpolicy/index.ts';

/** A source of choices: a PRNG in campaigns, fast-check's numbers in property tests. */
export interface Pick {
  /** int: an integer in [0, n) */
  int(n: number): number;
}

/** Rand: the sfc32 generator, seeded through splitmix32. */
export class Rand implements Pick {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** u32: the next 32 random bits. */
  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  int(n: number): number {
    return n <= 1 ? 0 : Math.floor((this.u32() / 2 ** 32) * n);
  }
}

/** The operations a run draws from. */
export const OPS = [
  'mmap',
  'munmap',
  'mprotect',
  'minherit',
  'madvise',
  'mlock',
  'munlock',
  'mlockall',
  'msync',
  'fork',
  'vfork',
  'exit',
  'exec',
  'mremap',
  'shm',
  'read',
  'write',
  'paging',
  'inject',
  'pipe',
] as const;
export type OpKind = (typeof OPS)[number];

/** A file the run maps: its path, size and first contents. */
export interface FileSpec {
  path: string;
  size: number;
  bytes: Uint8Array;
}

/** Everything a seed fixes before its operations. */
export interface FuzzConfig {
  seed: number;
  pageSize: number;
  physPages: number;
  /** the first swap device (0: none at first) */
  swapPages: number;
  /** memory is 4-10x overcommitted: ENOMEM may legitimately come from faults */
  pressure: boolean;
  /** RLIMIT_MEMLOCK of every process, bytes */
  lockLimit: number;
  maxProcs: number;
  /** pages of the window MAP_FIXED mappings go to */
  windowPages: number;
  files: FileSpec[];
  /** I/O errors are injected on swap devices and files */
  inject: boolean;
  /** the weight of each of OPS */
  weights: number[];
  /** the page replacement policy (one of PD_POLICIES) */
  policy: string;
}

/** Where MAP_FIXED mappings go. */
export const WINDOW = 0x100000000;

const BASE_WEIGHTS: Record<OpKind, number> = {
  mmap: 8,
  munmap: 3,
  mprotect: 4,
  minherit: 4,
  madvise: 5,
  mlock: 3,
  munlock: 2,
  mlockall: 0.3,
  msync: 2,
  fork: 3,
  vfork: 0.7,
  exit: 1.5,
  exec: 0.4,
  mremap: 2,
  shm: 1.5,
  read: 16,
  write: 16,
  paging: 2,
  inject: 1,
  pipe: 5,
};

/** weightOf: op's weight for a run: its base weight times 1/4 .. 2. */
function weightOf(r: Rand, op: OpKind): number {
  return BASE_WEIGHTS[op] * (0.25 + r.int(8) / 4);
}

/** fileBytes: a file's first contents: a fill byte per 2 KiB block, never zero. */
export function fileBytes(seed: number, index: number, size: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let at = 0; at < size; at += 2048)
    b.fill(0x40 + ((seed * 31 + index * 57 + (at / 2048) * 13) % 0xbf), at, at + 2048);
  return b;
}

/**
 * configFor: the configuration seed `seed` runs with.
 * => `pressure` forces memory pressure on or off (the rest as the seed says).
 */
export function configFor(seed: number, pressure?: boolean): FuzzConfig {
  const r = new Rand(seed ^ 0x5eed);
  const pageSize = r.int(3) === 0 ? 2048 : 4096;
  const drawn = r.int(2) === 0;
  pressure ??= drawn;
  const maxProcs = 2 + r.int(5);
  const windowPages = 24 + r.int(41);
  const working = Math.ceil((windowPages * maxProcs) / 2);
  /* without pressure, memory holds twice the largest working set seen (222 frames in 60 runs) */
  const physPages = pressure ? Math.max(16, Math.floor(working / (4 + r.int(7)))) : 512;
  const swapPages = pressure ? [0, working, 4 * working][r.int(3)] : 512;
  const nfiles = 1 + r.int(3);
  const files: FileSpec[] = [];
  for (let i = 0; i < nfiles; i++) {
    const size = 4096 * (2 + r.int(7));
    files.push({ path: `/f${i}`, size, bytes: fileBytes(seed, i, size) });
  }
  const weights = OPS.map((op) => (op === 'pipe' ? 0 : weightOf(r, op)));
  const inject = r.int(3) === 0;
  if (!inject) weights[OPS.indexOf('inject')] = 0;
  const lockLimit = pageSize * (pressure ? 1 + r.int(3) : 4 + r.int(16));
  /* drawn last, so the draws above stay what they were before policies */
  const policies = Object.keys(PD_POLICIES);
  const policy = policies[r.int(policies.length)];
  /* and the pipes' weight after it, so that the draws above stay what they were before pipes */
  weights[OPS.indexOf('pipe')] = weightOf(r, 'pipe');
  return {
    seed,
    pageSize,
    physPages,
    swapPages,
    pressure,
    lockLimit,
    maxProcs,
    windowPages,
    files,
    inject,
    weights,
    policy,
  };
}
