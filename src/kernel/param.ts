/*
 * param.ts: the system's constants and errors (uvm_param.h, sys/mman.h).
 *
 * Names a user sees (PROT_*, MAP_*, MADV_*, MREMAP_*, MS_*, MCL_*) carry
 * Linux's values so that real Linux programs can be replayed; MAP_INHERIT_*
 * is BSD's minherit(2) and carries NetBSD's values.
 *
 * Two kinds of failure:
 *   VmError      bad input or an expected outcome a caller must handle
 *                (POSIX errno name in `code`, the call and the argument);
 *                the system is unchanged after it.
 *   KernelPanic  a broken invariant: a bug in this code, never the caller's.
 */

/* protection bits (vm_prot_t) */
export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_EXEC = 4;
export const PROT_ALL = PROT_READ | PROT_WRITE | PROT_EXEC;

/* mmap(2) flags (Linux x86-64 values) */
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_TYPE = 0x0f;
export const MAP_FIXED = 0x10;
export const MAP_ANON = 0x20;
export const MAP_ANONYMOUS = MAP_ANON;
export const MAP_GROWSDOWN = 0x0100;
export const MAP_DENYWRITE = 0x0800;
export const MAP_NORESERVE = 0x4000;
export const MAP_POPULATE = 0x8000;
export const MAP_STACK = 0x20000;
export const MAP_FIXED_NOREPLACE = 0x100000;
/* DragonFly's: the mapping is governed by a virtual page table (Linux's
   MAP_LOCKED has the bit there, which this system does not define) */
export const MAP_VPAGETABLE = 0x2000;

/* minherit(2) (NetBSD values) */
export const MAP_INHERIT_SHARE = 0;
export const MAP_INHERIT_COPY = 1;
export const MAP_INHERIT_NONE = 2;

/* madvise(2) (Linux values) */
export const MADV_NORMAL = 0;
export const MADV_RANDOM = 1;
export const MADV_SEQUENTIAL = 2;
export const MADV_WILLNEED = 3;
export const MADV_DONTNEED = 4;
export const MADV_FREE = 8;
export const MADV_DONTFORK = 10;
export const MADV_DOFORK = 11;
/* DragonFly's entry flags by madvise: NOSYNC/AUTOSYNC at DragonFly's values
   (no Linux advice has them); NOCORE/CORE at Linux's DONTDUMP/DODUMP */
export const MADV_NOSYNC = 6;
export const MADV_AUTOSYNC = 7;
export const MADV_NOCORE = 16;
export const MADV_CORE = 17;
/* DragonFly's virtual page table advice (mcontrol's), at DragonFly's 10
   and 11 plus 0x100: 10 and 11 are Linux's MADV_DONTFORK / MADV_DOFORK */
export const MADV_INVAL = 0x10a;
export const MADV_SETMAP = 0x10b;

/* a virtual page table entry (DragonFly's vpte_t: 64 bits, little-endian,
   512 to a page); the frame is a byte offset into the backing object */
export const VPTE_V = 0x1;
export const VPTE_RW = 0x2;
export const VPTE_U = 0x4;
export const VPTE_A = 0x20;
export const VPTE_M = 0x40;
export const VPTE_PS = 0x80;
export const VPTE_FRAME = 0x000ffffffffff000;

/* mremap(2) */
export const MREMAP_MAYMOVE = 1;
export const MREMAP_FIXED = 2;
export const MREMAP_DONTUNMAP = 4;

/* msync(2) */
export const MS_ASYNC = 1;
export const MS_INVALIDATE = 2;
export const MS_SYNC = 4;

/* mlockall(2) */
export const MCL_CURRENT = 1;
export const MCL_FUTURE = 2;

/* the user address range (Linux x86-64) */
export const USER_MIN = 0x10000;
export const USER_MAX = 0x7ffffffff000;
/** the default base below which address-less mappings go (Linux's mmap_base, roughly) */
export const DEFAULT_MMAP_BASE = 0x7f0000000000;

/* defaults of the amap tunables (NetBSD's uvm_amap.h; UvmConfig changes them) */
export const UVM_AMAP_LARGE = 256;
export const UVM_AMAP_CHUNK = 16;

export const DEFAULT_PAGE_SIZE = 4096;

/**
 * truncPage: x rounded down to a multiple of the page size ps (trunc_page).
 * => a division, never `%`: addresses above 2^31 are doubles, and `%` of
 *    doubles is a slow fmod call.
 */
export function truncPage(x: number, ps: number): number {
  return Math.floor(x / ps) * ps;
}

/** roundPage: x rounded up to a multiple of the page size ps (round_page). */
export function roundPage(x: number, ps: number): number {
  return Math.ceil(x / ps) * ps;
}

/*
 * What a number is. Frames, anons and swap slots are all small integers;
 * branding them (at no cost at run time) makes passing one for another a
 * type error. A typed array of them reads and writes the branded type.
 */
declare const brand: unique symbol;
/** a physical page frame (NOPAGE: none) */
export type Frame = number & { readonly [brand]: 'Frame' };
/** an anon's handle (0: none) */
export type AnonId = number & { readonly [brand]: 'AnonId' };
/** a global swap slot (0: none) */
export type SwapSlot = number & { readonly [brand]: 'SwapSlot' };

/** no anon (an empty amap slot, the end of a to-free list) */
export const NOANON = 0 as AnonId;
/** no swap slot */
export const NOSLOT = 0 as SwapSlot;

/** An Int32Array whose elements are Ts. */
export interface Int32ArrayOf<T extends number> extends Int32Array {
  [index: number]: T;
}

/** int32ArrayOf: a zeroed Int32Array of n Ts. */
export function int32ArrayOf<T extends number>(n: number): Int32ArrayOf<T> {
  return new Int32Array(n) as Int32ArrayOf<T>;
}

/** every errno name a call reports */
export const ERRNOS = [
  'EINVAL',
  'ENOMEM',
  'EACCES',
  'EFAULT',
  'EEXIST',
  'EAGAIN',
  'EBUSY',
  'EIO',
  'ENODEV',
  'EBADF',
  'EPERM',
  'ENOENT',
  'E2BIG',
  'ESRCH',
  'ENOSPC',
  'EOVERFLOW',
  'EPIPE',
  'EFBIG',
] as const;

export type Errno = (typeof ERRNOS)[number];

export type Signal = 'SIGSEGV' | 'SIGBUS';

/**
 * What a failed call reports: errno name, the call, the offending argument
 * (and, for a fault, its signal and address; for an access that failed
 * part way, the bytes it had moved, as a short write(2) reports them).
 */
export class VmError extends Error {
  override readonly name = 'VmError';
  constructor(
    readonly code: Errno,
    readonly syscall: string,
    readonly arg: string | undefined,
    message: string,
    readonly signal?: Signal,
    readonly addr?: number,
    readonly moved = 0,
  ) {
    super(`${syscall}: ${code}: ${message}`);
  }
}

/** A broken invariant: our bug, never the caller's. */
export class KernelPanic extends Error {
  override readonly name = 'KernelPanic';
}

/**
 * kassert: the kernel's KASSERT.
 * => throws KernelPanic with `what` when `cond` is false.
 */
export function kassert(cond: boolean, what: string): asserts cond {
  if (!cond) kpanic(what);
}

/**
 * kpanic: a broken invariant. Hot paths test their condition first and
 * build the message only here: `if (!ok) kpanic(\`...${detail}\`)`.
 */
export function kpanic(what: string): never {
  throw new KernelPanic(`KASSERT failed: ${what}`);
}

/**
 * einval and friends: build the VmError for a bad argument.
 * => `syscall` names the call, `arg` the argument, `why` says what was wrong.
 */
export function vmerr(code: Errno, syscall: string, arg: string | undefined, why: string): VmError {
  return new VmError(code, syscall, arg, why);
}

/** hex: an address as the kernel prints it. */
export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** the most bytes one in-memory store holds: physical memory, a memory swap device */
export const MAX_MEMORY_BYTES = 2 ** 32;

/**
 * checkPageSize: validate a page size.
 * => returns log2(pageSize); throws EINVAL unless a power of two in [512, 65536].
 */
export function checkPageSize(pageSize: number): number {
  const ok =
    Number.isInteger(pageSize) &&
    pageSize >= 512 &&
    pageSize <= 65536 &&
    (pageSize & (pageSize - 1)) === 0;
  if (!ok)
    throw vmerr(
      'EINVAL',
      'config',
      'pageSize',
      `${pageSize} is not a power of two in [512, 65536]`,
    );
  return Math.log2(pageSize);
}

/* map entry flags (seed 001, vm_map.h MAP_ENTRY_*) */
export const MAP_ENTRY_NOSYNC = 0x0001;
export const MAP_ENTRY_STACK = 0x0002;
export const MAP_ENTRY_COW = 0x0004;
export const MAP_ENTRY_NEEDS_COPY = 0x0008;
export const MAP_ENTRY_NOFAULT = 0x0010;
export const MAP_ENTRY_USER_WIRED = 0x0020;
export const MAP_ENTRY_BEHAV_NORMAL = 0x0000;
export const MAP_ENTRY_BEHAV_SEQUENTIAL = 0x0040;
export const MAP_ENTRY_BEHAV_RANDOM = 0x0080;
export const MAP_ENTRY_BEHAV_RESERVED = 0x00c0;
export const MAP_ENTRY_BEHAV_MASK = 0x00c0;
export const MAP_ENTRY_IN_TRANSITION = 0x0100;
export const MAP_ENTRY_NEEDS_WAKEUP = 0x0200;
export const MAP_ENTRY_NOCOREDUMP = 0x0400;
export const MAP_ENTRY_KSTACK = 0x0800;
