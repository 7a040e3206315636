/*
 * Bad input: every call throws a VmError with the errno Linux gives (the
 * arg it names, too) and leaves the system exactly as it was: the maps and
 * every counter compared before and after.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MADV_DONTNEED,
  MAP_ANON,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_PRIVATE,
  MCL_CURRENT,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  MS_ASYNC,
  MS_SYNC,
  PROT_READ,
  PROT_WRITE,
  USER_MAX,
  VmError,
} from '../src/kernel/param.ts';
import type { Process } from '../src/sys/proc.ts';
import { VmSystem } from '../src/sys/system.ts';

const PS = 4096;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANON;
const A = 0x200000000; /* 4 pages mapped at A, 2 at A + 6 pages; a hole between */

type Case = [string, (p: Process) => unknown, string, string?];

const CASES: Case[] = [
  ['mmap: 2^64 bytes (as Linux: ENOMEM)', (p) => p.mmap(0, 2n ** 64n, RW, ANON), 'ENOMEM', 'len'],
  ['mmap: 2^53 bytes as a number', (p) => p.mmap(0, 2 ** 53, RW, ANON), 'ENOMEM', 'len'],
  [
    'mmap: an offset past 2^53',
    (p) => p.mmap(0, PS, RW, MAP_PRIVATE, null, 2n ** 60n),
    'EOVERFLOW',
    'offset',
  ],
  ['munmap: 2^64 - 1 bytes', (p) => p.munmap(A, 2n ** 64n - 1n), 'EINVAL', 'len'],
  ['mprotect: 2^70 bytes', (p) => p.mprotect(A, 2n ** 70n, PROT_READ), 'ENOMEM', 'len'],
  ['mlock: 2^64 bytes', (p) => p.mlock(A, 2n ** 64n), 'ENOMEM', 'len'],
  [
    'mremap: a new length past 2^53',
    (p) => p.mremap(A, PS, 2n ** 64n, MREMAP_MAYMOVE),
    'EINVAL',
    'new_len',
  ],
  ['mmap: a negative bigint', (p) => p.mmap(0, -1n, RW, ANON), 'EINVAL', 'len'],
  [
    'mmap: unaligned fixed address',
    (p) => p.mmap(A + 1, PS, RW, ANON | MAP_FIXED),
    'EINVAL',
    'addr',
  ],
  ['mmap: length 0', (p) => p.mmap(0, 0, RW, ANON), 'EINVAL', 'len'],
  ['mmap: 1 PiB', (p) => p.mmap(0, 2 ** 50, RW, ANON), 'ENOMEM', 'len'],
  [
    'mmap: fixed range past the user range',
    (p) => p.mmap(USER_MAX - PS, 2 * PS, RW, ANON | MAP_FIXED),
    'ENOMEM',
    'addr',
  ],
  [
    'mmap: fixed below the lowest mappable address',
    (p) => p.mmap(0x1000, PS, RW, ANON | MAP_FIXED),
    'EPERM',
    'addr',
  ],
  [
    'mmap: MAP_FIXED_NOREPLACE over a mapping',
    (p) => p.mmap(A + PS, PS, RW, ANON | MAP_FIXED_NOREPLACE),
    'EEXIST',
    'addr',
  ],
  [
    'mmap: neither MAP_PRIVATE nor MAP_SHARED',
    (p) => p.mmap(0, PS, RW, MAP_ANON),
    'EINVAL',
    'flags',
  ],
  ['mmap: unknown protection bits', (p) => p.mmap(0, PS, 0x40, ANON), 'EINVAL', 'prot'],
  ['mmap: a file mapping without a file', (p) => p.mmap(0, PS, RW, MAP_PRIVATE), 'EBADF', 'fd'],
  ['mmap: unaligned offset', (p) => p.mmap(0, PS, RW, ANON, null, 100), 'EINVAL', 'offset'],
  ['mmap: negative length', (p) => p.mmap(0, -PS, RW, ANON), 'EINVAL', 'len'],
  ['munmap: unaligned address', (p) => p.munmap(A + 1, PS), 'EINVAL', 'addr'],
  ['munmap: length 0', (p) => p.munmap(A, 0), 'EINVAL', 'len'],
  ['munmap: past the user range', (p) => p.munmap(USER_MAX - PS, 4 * PS), 'EINVAL', 'len'],
  ['mprotect: unaligned address', (p) => p.mprotect(A + 1, PS, PROT_READ), 'EINVAL', 'addr'],
  ['mprotect: unmapped range', (p) => p.mprotect(A + 4 * PS, PS, PROT_READ), 'ENOMEM', 'addr'],
  ['mprotect: a hole inside', (p) => p.mprotect(A, 8 * PS, PROT_READ), 'ENOMEM', 'len'],
  ['mprotect: unknown protection bits', (p) => p.mprotect(A, PS, 0x10), 'EINVAL', 'prot'],
  ['minherit: unknown inheritance', (p) => p.minherit(A, PS, 9), 'EINVAL', 'inherit'],
  ['madvise: unaligned address', (p) => p.madvise(A + 1, PS, MADV_DONTNEED), 'EINVAL', 'addr'],
  ['madvise: unknown advice', (p) => p.madvise(A, PS, 99), 'EINVAL', 'advice'],
  ['madvise: a hole inside', (p) => p.madvise(A, 8 * PS, MADV_DONTNEED), 'ENOMEM', 'len'],
  ['mlock: beyond the lock limit', (p) => p.mlock(A, 4 * PS), 'ENOMEM', 'len'],
  ['mlock: unmapped range', (p) => p.mlock(A + 4 * PS, PS), 'ENOMEM', 'addr'],
  ['munlock: a hole inside', (p) => p.munlock(A, 8 * PS), 'ENOMEM', 'len'],
  ['mlockall: no flags', (p) => p.mlockall(0), 'EINVAL', 'flags'],
  ['mlockall: beyond the lock limit', (p) => p.mlockall(MCL_CURRENT), 'ENOMEM', 'flags'],
  ['msync: MS_ASYNC with MS_SYNC', (p) => p.msync(A, PS, MS_ASYNC | MS_SYNC), 'EINVAL', 'flags'],
  ['msync: unmapped range', (p) => p.msync(A + 4 * PS, PS, MS_SYNC), 'ENOMEM', 'addr'],
  ['mincore: unaligned address', (p) => p.mincore(A + 1, PS), 'EINVAL', 'addr'],
  ['mincore: unmapped range', (p) => p.mincore(A + 4 * PS, PS), 'ENOMEM', 'addr'],
  ['mremap: unknown flags', (p) => p.mremap(A, PS, 2 * PS, 8), 'EINVAL', 'flags'],
  [
    'mremap: MREMAP_FIXED without MAYMOVE',
    (p) => p.mremap(A, PS, PS, MREMAP_FIXED, A + 20 * PS),
    'EINVAL',
    'flags',
  ],
  [
    'mremap: an unmapped old address',
    (p) => p.mremap(A + 4 * PS, PS, 2 * PS, MREMAP_MAYMOVE),
    'EFAULT',
    'old_address',
  ],
  ['mremap: no room and no MAYMOVE', (p) => p.mremap(A, 4 * PS, 8 * PS, 0), 'ENOMEM', 'new_len'],
  ['mremap: new length 0', (p) => p.mremap(A, PS, 0, 0), 'EINVAL', 'new_len'],
  ['read: unmapped', (p) => p.read(A + 4 * PS, 1), 'EFAULT', 'va'],
  ['read: a range running into a hole', (p) => p.read(A + 3 * PS, 2 * PS), 'EFAULT', 'va'],
  ['write: read-only memory', (p) => p.write(A + 6 * PS, [1]), 'EFAULT', 'va'],
  ['read: negative length', (p) => p.read(A, -1), 'EINVAL', 'n'],
  ['exec: a malformed row', (p) => p.exec(['not a maps row']), 'EINVAL', 'line 1'],
];

function setup(): { sys: VmSystem; p: Process } {
  const sys = new VmSystem({ physPages: 256, swapPages: 256 });
  const p = sys.spawn();
  p.vm.memlockLimit = 2 * PS;
  p.mmap(A, 4 * PS, RW, ANON | MAP_FIXED);
  p.mmap(A + 6 * PS, 2 * PS, PROT_READ, ANON | MAP_FIXED);
  p.write(A, [1, 2, 3]);
  return { sys, p };
}

describe('bad input gets the Linux errno and changes nothing', () => {
  for (const [what, call, code, arg] of CASES) {
    it(what, () => {
      const { sys, p } = setup();
      const maps = p.maps().join('\n');
      const counters = JSON.stringify(sys.counters);
      assert.throws(
        () => call(p),
        (e: unknown) =>
          e instanceof VmError && e.code === code && (arg === undefined || e.arg === arg),
      );
      assert.equal(p.maps().join('\n'), maps, 'maps changed');
      assert.equal(JSON.stringify(sys.counters), counters, 'counters changed');
      assert.deepEqual(Array.from(p.read(A, 3)), [1, 2, 3]);
      sys.audit();
    });
  }

  it('a process that exited refuses every call with ESRCH', () => {
    const { p } = setup();
    p.exit();
    assert.throws(
      () => p.mmap(0, PS, RW, ANON),
      (e: unknown) => e instanceof VmError && e.code === 'ESRCH',
    );
  });

  it('a fault reports the signal: SIGSEGV for a bad address', () => {
    const { p } = setup();
    assert.throws(
      () => p.read(A + 5 * PS, 1),
      (e: unknown) => e instanceof VmError && e.signal === 'SIGSEGV' && e.addr === A + 5 * PS,
    );
  });
});

describe('a system that cannot be built says which setting is wrong', () => {
  const cases: [string, ConstructorParameters<typeof VmSystem>[0], string][] = [
    ['too little memory', { physPages: 8 }, 'physPages'],
    ['a fractional page count', { physPages: 100.5 }, 'physPages'],
    ['more memory than one buffer holds', { physPages: 2 ** 21, pageSize: 4096 }, 'physPages'],
    ['a page size that is no power of two', { pageSize: 1000 }, 'pageSize'],
    ['negative swap', { swapPages: -1 }, 'swapPages'],
    ['more swap than memory can hold', { swapPages: 2 ** 21 }, 'pages'],
  ];
  for (const [what, config, arg] of cases)
    it(what, () => {
      assert.throws(
        () => new VmSystem(config),
        (e: unknown) => e instanceof VmError && e.code === 'EINVAL' && e.arg === arg,
      );
    });
});

describe('numbers no address space holds', () => {
  it('are printed exactly, not rounded', () => {
    const p = new VmSystem({ physPages: 64, swapPages: 0 }).spawn();
    assert.throws(
      () => p.mmap(0, 2n ** 64n + 1n, RW, ANON),
      (e: unknown) => e instanceof VmError && e.message.includes('0x10000000000000001'),
    );
  });
});
