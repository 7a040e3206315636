/*
 * The memory system calls (src/sys/mmap.ts), driven through a Process as a
 * program makes them: what each call does, its argument checks and errnos
 * (Linux's; minherit is NetBSD's), and that a failing call changes nothing:
 * the maps, every entry's attributes, the counters and the bytes are
 * compared before and after.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryHost } from '../src/kernel/host.ts';
import { type VmMapEntry, vmMapLookupEntry } from '../src/kernel/map/index.ts';
import {
  DEFAULT_MMAP_BASE,
  hex,
  MADV_DOFORK,
  MADV_DONTFORK,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  MAP_ANON,
  MAP_ENTRY_BEHAV_NORMAL,
  MAP_ENTRY_BEHAV_RANDOM,
  MAP_ENTRY_BEHAV_SEQUENTIAL,
  MAP_ENTRY_USER_WIRED,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_GROWSDOWN,
  MAP_INHERIT_COPY,
  MAP_INHERIT_NONE,
  MAP_INHERIT_SHARE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MCL_CURRENT,
  MCL_FUTURE,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  MS_ASYNC,
  MS_INVALIDATE,
  MS_SYNC,
  PROT_EXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  USER_MAX,
  USER_MIN,
} from '../src/kernel/param.ts';
import type { Process } from '../src/sys/proc.ts';
import { VmSystem } from '../src/sys/system.ts';
import { throwsVm } from './helpers.ts';

const PS = 4096;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANON;
const A = 0x200000000;
const HEAP = 0x10000000;

/** the file /f: 4 pages, page i filled with 0xf0 + i */
const FILE = Uint8Array.from({ length: 4 * PS }, (_, i) => 0xf0 + Math.floor(i / PS));

function world(physPages = 256) {
  const host = new MemoryHost();
  host.put('/f', FILE);
  const sys = new VmSystem({ physPages, swapPages: 256, host });
  return { sys, host, p: sys.spawn() };
}

/** entry: the map entry holding va. */
function entry(p: Process, va: number): VmMapEntry {
  const e = vmMapLookupEntry(p.vm.map, va);
  assert.ok(e.start <= va && va < e.end, `no entry at ${hex(va)}`);
  return e;
}

/** entries: the number of map entries. */
function entries(p: Process): number {
  return p.vm.map.nentries;
}

/** state: everything about a space a failing call must leave as it was. */
function state(p: Process): string {
  const map = p.vm.map;
  const rows = [...p.maps()];
  for (let e = map.header.next; e !== map.header; e = e.next)
    rows.push(
      [
        `${hex(e.start)}-${hex(e.end)}`,
        `prot=${e.protection}/${e.maxProtection}`,
        `inh=${e.inheritance} adv=${e.behavior()} wired=${e.wiredCount} eflags=${e.eflags}`,
        `amap=${e.amap?.id ?? '-'}@${e.pageoff} obj=${e.object?.id ?? '-'}@${e.offset}`,
      ].join(' '),
    );
  rows.push(`brk=${p.vm.brk} mapflags=${map.flags} rss=${p.rss}`);
  return rows.join('\n');
}

/**
 * fails: `call` throws a VmError with `code` (naming `arg`), and changes
 * nothing: state, counters, and the bytes of the `watch` ranges.
 */
function fails(
  p: Process,
  call: () => unknown,
  code: string,
  arg?: string,
  watch: [number, number][] = [],
): void {
  const bytes = watch.map(([a, n]) => p.read(a, n));
  const before = state(p);
  const counters = JSON.stringify(p.sys.counters);
  throwsVm(call, code, arg);
  assert.equal(JSON.stringify(p.sys.counters), counters, 'the counters changed');
  assert.equal(state(p), before, 'the space changed');
  for (const [i, [a, n]] of watch.entries())
    assert.deepEqual(p.read(a, n), bytes[i], `bytes at ${hex(a)}`);
}

/** fill: write page i of [a, a + n pages) with seed + i. */
function fill(p: Process, a: number, n: number, seed: number): void {
  for (let i = 0; i < n; i++) p.write(a + i * PS, new Uint8Array(PS).fill(seed + i));
}

/** firsts: the first byte of each of n pages from a. */
function firsts(p: Process, a: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => p.read(a + i * PS, 1)[0]);
}

describe('mmap', () => {
  it('rounds the length up to pages and places mappings top-down below the mmap base', () => {
    const { sys, p } = world();
    const a = p.mmap(0, 5000, RW, ANON);
    assert.equal(a % PS, 0);
    assert.ok(a + 2 * PS <= DEFAULT_MMAP_BASE);
    assert.equal(entry(p, a).end - a, 2 * PS);
    const b = p.mmap(0, PS, RW, ANON);
    assert.equal(b, a - PS, 'right below the last one');
    assert.deepEqual(Array.from(p.read(a, 2 * PS)), new Array(2 * PS).fill(0));
    sys.audit();
  });

  it('takes a free hint, rounded down to a page; an occupied or too low one is ignored', () => {
    const { sys, p } = world();
    assert.equal(p.mmap(A + 123, PS, RW, ANON), A);
    p.write(A, [1]);
    const b = p.mmap(A, PS, RW, ANON);
    assert.notEqual(b, A);
    assert.equal(p.read(A, 1)[0], 1, 'the hint did not replace anything');
    const c = p.mmap(0x1000, PS, RW, ANON);
    assert.ok(c >= USER_MIN);
    assert.notEqual(c, 0x1000);
    sys.audit();
  });

  it('MAP_FIXED replaces what is there; MAP_FIXED_NOREPLACE maps only a free range', () => {
    const { sys, p } = world();
    p.mmap(A, 2 * PS, RW, ANON | MAP_FIXED);
    fill(p, A, 2, 5);
    assert.equal(p.mmap(A + PS, PS, PROT_READ, ANON | MAP_FIXED), A + PS);
    assert.deepEqual(firsts(p, A, 2), [5, 0]);
    throwsVm(() => p.write(A + PS, [1]), 'EFAULT', 'va');
    assert.equal(p.mmap(A + 2 * PS, PS, RW, ANON | MAP_FIXED_NOREPLACE), A + 2 * PS);
    fails(p, () => p.mmap(A - PS, 2 * PS, RW, ANON | MAP_FIXED_NOREPLACE), 'EEXIST', 'addr', [
      [A, PS],
    ]);
    sys.audit();
  });

  it('MAP_FIXED_NOREPLACE checks its address as MAP_FIXED does', () => {
    const { p } = world();
    p.mmap(A, PS, RW, ANON | MAP_FIXED);
    p.write(A, [3]);
    const w: [number, number][] = [[A, PS]];
    const NR = ANON | MAP_FIXED_NOREPLACE;
    fails(p, () => p.mmap(A + 10, PS, RW, NR), 'EINVAL', 'addr', w);
    fails(p, () => p.mmap(USER_MIN - PS, PS, RW, NR), 'EPERM', 'addr', w);
    fails(p, () => p.mmap(0, PS, RW, NR), 'EPERM', 'addr', w);
    fails(p, () => p.mmap(USER_MAX, PS, RW, NR), 'ENOMEM', 'addr', w);
  });

  it('MAP_SHARED | MAP_PRIVATE (MAP_SHARED_VALIDATE) maps shared memory', () => {
    const { sys, p } = world();
    const a = p.mmap(0, PS, RW, MAP_SHARED | MAP_PRIVATE | MAP_ANON);
    const c = p.fork();
    c.write(a, [9]);
    assert.equal(p.read(a, 1)[0], 9);
    assert.equal(entry(p, a).inheritance, MAP_INHERIT_SHARE);
    sys.audit();
  });

  it('numbers that are not non-negative integers are EINVAL; a length no space holds is ENOMEM', () => {
    const { sys, p } = world();
    p.mmap(A, PS, RW, ANON | MAP_FIXED);
    p.write(A, [4]);
    const f = sys.open('/f', 'r');
    const w: [number, number][] = [[A, PS]];
    fails(p, () => p.mmap(0, 1.5, RW, ANON), 'EINVAL', 'len', w);
    fails(p, () => p.mmap(-PS, PS, RW, ANON), 'EINVAL', 'addr', w);
    fails(p, () => p.mmap(Number.NaN, PS, RW, ANON), 'EINVAL', 'addr', w);
    fails(p, () => p.mmap(0, PS, 1.5, ANON), 'EINVAL', 'prot', w);
    fails(p, () => p.mmap(0, PS, PROT_READ, MAP_PRIVATE, f, -PS), 'EINVAL', 'offset', w);
    fails(p, () => p.mmap(0, PS, PROT_READ, MAP_PRIVATE, f, 10), 'EINVAL', 'offset', w);
    fails(p, () => p.mmap(0, PS, PROT_READ, 0, f), 'EINVAL', 'flags', w);
    fails(p, () => p.mmap(0, 2 ** 47, RW, ANON), 'ENOMEM', 'len', w);
    fails(p, () => p.mmap(0, PS, PROT_READ, MAP_SHARED), 'EBADF', 'fd', w);
  });

  it('maps a file from its offset; a file opened r refuses a shared writable mapping (EACCES)', () => {
    const { sys, host, p } = world();
    const f = sys.open('/f', 'r');
    const a = p.mmap(0, 2 * PS, PROT_READ, MAP_PRIVATE, f, PS);
    assert.deepEqual(firsts(p, a, 2), [0xf1, 0xf2]);
    const x = p.mmap(0, PS, PROT_READ | PROT_EXEC, MAP_SHARED, f, 3 * PS);
    assert.equal(p.read(x, 1)[0], 0xf3);
    fails(p, () => p.mmap(0, PS, RW, MAP_SHARED, f), 'EACCES', 'prot', [[a, PS]]);
    fails(p, () => p.mmap(x, PS, RW, MAP_SHARED | MAP_FIXED, f), 'EACCES', 'prot', [[x, PS]]);
    const priv = p.mmap(0, PS, RW, MAP_PRIVATE, f);
    p.write(priv, [1]);
    assert.equal(host.get('/f')![0], 0xf0, 'a private write never reaches the file');
    sys.audit();
  });

  it('MAP_POPULATE faults the range in; a private writable mapping gets its own pages', () => {
    const { sys, p } = world();
    const a = p.mmap(0, 3 * PS, RW, ANON | MAP_POPULATE);
    assert.deepEqual(Array.from(p.mincore(a, 3 * PS)), [1, 1, 1]);
    assert.equal(entry(p, a).amap?.nused, 3);
    const f = sys.open('/f', 'r');
    const s = p.mmap(0, 2 * PS, PROT_READ, MAP_SHARED | MAP_POPULATE, f);
    assert.deepEqual(Array.from(p.mincore(s, 2 * PS)), [1, 1]);
    assert.equal(entry(p, s).amap, null, 'shared: the file pages themselves');
    const pr = p.mmap(0, 2 * PS, RW, MAP_PRIVATE | MAP_POPULATE, f);
    assert.equal(entry(p, pr).amap?.nused, 2, 'private and writable: copies');
    assert.deepEqual(firsts(p, pr, 2), [0xf0, 0xf1]);
    const none = p.mmap(0, PS, PROT_NONE, ANON | MAP_POPULATE);
    assert.deepEqual(Array.from(p.mincore(none, PS)), [0], 'nothing to fault in PROT_NONE');
    sys.audit();
  });

  it('MAP_GROWSDOWN maps a stack that grows down when touched below', () => {
    const { sys, p } = world();
    const top = A + 64 * PS;
    assert.equal(p.mmap(top, PS, RW, ANON | MAP_FIXED | MAP_GROWSDOWN), top);
    p.write(top - 3 * PS, [7]);
    assert.equal(p.read(top - 3 * PS, 1)[0], 7);
    assert.equal(vmMapLookupEntry(p.vm.map, top - 3 * PS).start, top - 3 * PS);
    assert.equal(p.read(top - 2 * PS, 1)[0], 0);
    sys.audit();
  });

  it('under mlockall(MCL_FUTURE) a new mapping is locked; past the lock limit it is EAGAIN', () => {
    const { sys, p } = world();
    p.vm.memlockLimit = 4 * PS;
    p.mlockall(MCL_FUTURE);
    const a = p.mmap(0, 2 * PS, RW, ANON);
    assert.deepEqual(Array.from(p.mincore(a, 2 * PS)), [1, 1]);
    assert.equal(sys.counters.wired, 2);
    assert.ok(entry(p, a).eflags & MAP_ENTRY_USER_WIRED);
    fails(p, () => p.mmap(0, 3 * PS, RW, ANON), 'EAGAIN', 'len', [[a, PS]]);
    p.mmap(0, 2 * PS, RW, ANON);
    assert.equal(sys.counters.wired, 4, 'up to the limit');
    sys.audit();
  });

  it('MAP_FIXED with a closed file is EBADF and leaves the mapping it would replace', () => {
    const { sys, p } = world();
    const a = p.mmap(A, PS, RW, ANON | MAP_FIXED);
    p.write(a, [42]);
    const f = sys.open('/f', 'r');
    f.close();
    fails(p, () => p.mmap(A, PS, PROT_READ, MAP_SHARED | MAP_FIXED, f), 'EBADF', 'fd', [[a, 1]]);
    assert.equal(p.read(a, 1)[0], 42);
    sys.audit();
  });

  it('under MCL_FUTURE a mapping memory cannot hold now is made and locked, as Linux does', () => {
    const host = new MemoryHost();
    const sys = new VmSystem({ physPages: 64, swapPages: 0, host });
    const p = sys.spawn();
    p.vm.memlockLimit = 2 ** 30;
    p.mlockall(MCL_FUTURE);
    const a = p.mmap(0, 200 * PS, RW, ANON);
    assert.ok(entry(p, a).eflags & MAP_ENTRY_USER_WIRED, 'the mapping is locked');
    assert.equal(entry(p, a).end - entry(p, a).start, 200 * PS);
    p.write(a, [7]);
    assert.equal(p.read(a, 1)[0], 7);
    assert.ok(sys.counters.wired >= 1, 'a page faulted in later is wired');
    sys.audit();
  });
});

describe('munmap', () => {
  it('unmaps part of a mapping, rounding the length up; a hole is no error', () => {
    const { sys, p } = world();
    p.mmap(A, 4 * PS, RW, ANON | MAP_FIXED);
    fill(p, A, 4, 1);
    p.munmap(A + PS, PS + 1);
    assert.equal(entries(p), 2);
    throwsVm(() => p.read(A + PS, 1), 'EFAULT', 'va');
    throwsVm(() => p.read(A + 2 * PS, 1), 'EFAULT', 'va');
    assert.deepEqual([p.read(A, 1)[0], p.read(A + 3 * PS, 1)[0]], [1, 4]);
    p.munmap(A + PS, 2 * PS);
    p.munmap(0, PS);
    p.munmap(A, 8 * PS);
    assert.equal(entries(p), 0);
    sys.audit();
  });

  it('refuses a bad address or length (EINVAL), changing nothing', () => {
    const { p } = world();
    p.mmap(A, 2 * PS, RW, ANON | MAP_FIXED);
    fill(p, A, 2, 1);
    const w: [number, number][] = [[A, 2 * PS]];
    fails(p, () => p.munmap(A, -PS), 'EINVAL', 'len', w);
    fails(p, () => p.munmap(A, 0), 'EINVAL', 'len', w);
    fails(p, () => p.munmap(A + 1, PS), 'EINVAL', 'addr', w);
    fails(p, () => p.munmap(-PS, PS), 'EINVAL', 'addr', w);
    fails(p, () => p.munmap(A, 2 ** 48), 'EINVAL', 'len', w);
  });
});

describe('mprotect', () => {
  it('changes part of a mapping and back: the entry splits, then merges', () => {
    const { sys, p } = world();
    p.mmap(A, 3 * PS, RW, ANON | MAP_FIXED);
    fill(p, A, 3, 1);
    p.mprotect(A + PS, PS, PROT_READ);
    assert.equal(entries(p), 3);
    throwsVm(() => p.write(A + PS, [0]), 'EFAULT', 'va');
    assert.equal(p.read(A + PS, 1)[0], 2);
    p.mprotect(A + PS, PS, RW);
    assert.equal(entries(p), 1);
    p.write(A + PS, [9]);
    p.mprotect(A, PS, PROT_NONE);
    throwsVm(() => p.read(A, 1), 'EFAULT', 'va');
    p.mprotect(A + 100 * PS, 0, PROT_READ);
    sys.audit();
  });

  it('is all or nothing: a range whose last part refuses the protection changes nowhere', () => {
    const { sys, p } = world();
    p.mmap(A, 2 * PS, PROT_READ, ANON | MAP_FIXED);
    p.mmap(A + 2 * PS, PS, PROT_READ, MAP_SHARED | MAP_FIXED, sys.open('/f', 'r'));
    fails(p, () => p.mprotect(A, 3 * PS, RW), 'EACCES', 'prot', [[A, 3 * PS]]);
    throwsVm(() => p.write(A, [1]), 'EFAULT', 'va');
    fails(p, () => p.mprotect(A, 4 * PS, PROT_READ), 'ENOMEM', undefined, [[A, 3 * PS]]);
    fails(p, () => p.mprotect(A, PS, 8), 'EINVAL', 'prot');
    fails(p, () => p.mprotect(A, -1, PROT_READ), 'EINVAL', 'len');
    p.mprotect(A, 2 * PS, RW);
    p.write(A, [1]);
    sys.audit();
  });
});

describe('minherit', () => {
  it('rounds the address down, skips holes, and decides what a fork child gets', () => {
    const { sys, p } = world();
    p.mmap(A, 3 * PS, RW, ANON | MAP_FIXED);
    p.mmap(A + 5 * PS, PS, RW, ANON | MAP_FIXED);
    fill(p, A, 3, 1);
    p.minherit(A + 100, 10, MAP_INHERIT_NONE);
    p.minherit(A + PS, 6 * PS, MAP_INHERIT_SHARE);
    assert.deepEqual(
      [A, A + PS, A + 5 * PS].map((va) => entry(p, va).inheritance),
      [MAP_INHERIT_NONE, MAP_INHERIT_SHARE, MAP_INHERIT_SHARE],
    );
    const c = p.fork();
    throwsVm(() => c.read(A, 1), 'EFAULT', 'va');
    c.write(A + PS, [0x22]);
    assert.equal(p.read(A + PS, 1)[0], 0x22, 'shared');
    p.minherit(A + PS, PS, MAP_INHERIT_COPY);
    const d = p.fork();
    d.write(A + PS, [0x33]);
    assert.equal(p.read(A + PS, 1)[0], 0x22, 'copied');
    sys.audit();
  });

  it('refuses an unknown inheritance or a bad number (EINVAL), changing nothing', () => {
    const { p } = world();
    p.mmap(A, PS, RW, ANON | MAP_FIXED);
    fails(p, () => p.minherit(A, PS, 3), 'EINVAL', 'inherit');
    fails(p, () => p.minherit(-1, PS, MAP_INHERIT_NONE), 'EINVAL', 'addr');
    fails(p, () => p.minherit(A, 0.5, MAP_INHERIT_NONE), 'EINVAL', 'len');
  });
});

describe('madvise', () => {
  it('NORMAL, RANDOM and SEQUENTIAL set the behaviour of the range', () => {
    const { sys, p } = world();
    p.mmap(A, 4 * PS, RW, ANON | MAP_FIXED);
    p.madvise(A + PS, 2 * PS, MADV_RANDOM);
    p.madvise(A + 2 * PS, PS, MADV_SEQUENTIAL);
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => entry(p, A + i * PS).behavior()),
      [
        MAP_ENTRY_BEHAV_NORMAL,
        MAP_ENTRY_BEHAV_RANDOM,
        MAP_ENTRY_BEHAV_SEQUENTIAL,
        MAP_ENTRY_BEHAV_NORMAL,
      ],
    );
    p.madvise(A, 4 * PS, MADV_NORMAL);
    assert.equal(entries(p), 1);
    sys.audit();
  });

  it('WILLNEED brings swapped-out pages back in', () => {
    const { sys, p } = world(32);
    p.mmap(A, 8 * PS, RW, ANON | MAP_FIXED);
    fill(p, A, 8, 0x40);
    const big = p.mmap(0, 48 * PS, RW, ANON);
    fill(p, big, 48, 0);
    assert.ok(
      p.mincore(A, 8 * PS).some((x) => x === 0),
      'some pages went to swap',
    );
    p.munmap(big, 48 * PS);
    const maps = p.maps();
    p.madvise(A, 8 * PS, MADV_WILLNEED);
    assert.deepEqual(Array.from(p.mincore(A, 8 * PS)), new Array(8).fill(1));
    assert.deepEqual(p.maps(), maps);
    assert.deepEqual(firsts(p, A, 8), [0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47]);
    sys.audit();
  });

  it('DONTNEED: private memory reads zeros or the file again; shared memory keeps its data', () => {
    const { sys, p } = world();
    const a = p.mmap(0, 2 * PS, RW, ANON);
    fill(p, a, 2, 1);
    const f = p.mmap(0, 2 * PS, RW, MAP_PRIVATE, sys.open('/f', 'r'));
    p.write(f, [0x11]);
    const s = p.mmap(0, PS, RW, MAP_SHARED | MAP_ANON);
    p.write(s, [0x22]);
    p.madvise(a, PS, MADV_DONTNEED);
    p.madvise(f, 2 * PS, MADV_DONTNEED);
    p.madvise(s, PS, MADV_DONTNEED);
    assert.deepEqual(firsts(p, a, 2), [0, 2]);
    assert.deepEqual(firsts(p, f, 2), [0xf0, 0xf1]);
    assert.equal(p.read(s, 1)[0], 0x22);
    sys.audit();
  });

  it('DONTNEED on locked memory and FREE on memory that is not private anonymous are EINVAL', () => {
    const { sys, p } = world();
    p.mmap(A, 2 * PS, RW, ANON | MAP_FIXED);
    fill(p, A, 2, 1);
    p.mmap(A + 2 * PS, PS, RW, MAP_PRIVATE | MAP_FIXED, sys.open('/f', 'r'));
    const s = p.mmap(0, PS, RW, MAP_SHARED | MAP_ANON);
    p.mlock(A + PS, PS);
    const w: [number, number][] = [[A, 3 * PS]];
    fails(p, () => p.madvise(A, 2 * PS, MADV_DONTNEED), 'EINVAL', 'addr', w);
    fails(p, () => p.madvise(A, 3 * PS, MADV_FREE), 'EINVAL', 'addr', w);
    fails(p, () => p.madvise(s, PS, MADV_FREE), 'EINVAL', 'addr');
    const an = entry(p, A).amap!.anon[entry(p, A).pageoff];
    assert.equal(sys.uvm.anons.lazyfree.has(an), false, 'the anonymous part was not made lazy');
    p.madvise(A, PS, MADV_FREE);
    assert.equal(sys.uvm.anons.lazyfree.has(an), true);
    sys.audit();
  });

  it('DONTFORK leaves a range out of fork children; DOFORK shares shared memory again', () => {
    const { sys, p } = world();
    const s = p.mmap(0, PS, RW, MAP_SHARED | MAP_ANON);
    const a = p.mmap(0, PS, RW, ANON);
    p.madvise(s, PS, MADV_DONTFORK);
    p.madvise(a, PS, MADV_DONTFORK);
    assert.equal(entry(p, s).inheritance, MAP_INHERIT_NONE);
    throwsVm(() => p.fork().read(s, 1), 'EFAULT', 'va');
    p.madvise(s, PS, MADV_DOFORK);
    p.madvise(a, PS, MADV_DOFORK);
    assert.deepEqual(
      [entry(p, s).inheritance, entry(p, a).inheritance],
      [MAP_INHERIT_SHARE, MAP_INHERIT_COPY],
    );
    p.fork().write(s, [5]);
    assert.equal(p.read(s, 1)[0], 5);
    sys.audit();
  });

  it('checks the advice even for length 0; length 0 is otherwise nothing, even where unmapped', () => {
    const { p } = world();
    p.mmap(A, PS, RW, ANON | MAP_FIXED);
    fails(p, () => p.madvise(A, 0, 99), 'EINVAL', 'advice');
    fails(p, () => p.madvise(A, PS, -1), 'EINVAL', 'advice');
    fails(p, () => p.madvise(A + PS, PS, MADV_WILLNEED), 'ENOMEM', 'addr');
    fails(p, () => p.madvise(A + 5, PS, MADV_NORMAL), 'EINVAL', 'addr');
    const before = state(p);
    p.madvise(A + 16 * PS, 0, MADV_DONTNEED);
    assert.equal(state(p), before);
  });
});

describe('mlock and munlock', () => {
  it('mlock rounds out to whole pages, faults them in and wires them; munlock undoes it', () => {
    const { sys, p } = world();
    p.mmap(A, 4 * PS, RW, ANON | MAP_FIXED);
    p.mlock(A + 100, 10);
    assert.deepEqual(Array.from(p.mincore(A, 4 * PS)), [1, 0, 0, 0]);
    assert.equal(sys.counters.wired, 1);
    assert.ok(entry(p, A).eflags & MAP_ENTRY_USER_WIRED);
    p.munlock(A + 5, 1);
    assert.equal(sys.counters.wired, 0);
    assert.equal(entries(p), 1, 'merged back');
    assert.equal(entry(p, A).eflags & MAP_ENTRY_USER_WIRED, 0);
    p.mlock(A + 2 * PS - 1, 2);
    assert.equal(sys.counters.wired, 2, 'a range over a page boundary locks both pages');
    assert.deepEqual(Array.from(p.mincore(A, 4 * PS)), [1, 1, 1, 0]);
    p.munlock(A, 4 * PS);
    assert.equal(sys.counters.wired, 0);
    sys.audit();
  });

  it('the lock limit counts memory already locked once', () => {
    const { sys, p } = world();
    p.vm.memlockLimit = 4 * PS;
    p.mmap(A, 8 * PS, RW, ANON | MAP_FIXED);
    p.mlock(A, 3 * PS);
    p.mlock(A + 2 * PS, 2 * PS);
    assert.equal(sys.counters.wired, 4);
    fails(p, () => p.mlock(A + 4 * PS, PS), 'ENOMEM', 'len');
    p.munlock(A, PS);
    p.mlock(A + 4 * PS, PS);
    assert.equal(sys.counters.wired, 4);
    sys.audit();
  });

  it('a range with a hole is ENOMEM, for mlock and munlock, and nothing is locked or unlocked', () => {
    const { sys, p } = world();
    p.mmap(A, 2 * PS, RW, ANON | MAP_FIXED);
    p.mmap(A + 3 * PS, PS, RW, ANON | MAP_FIXED);
    p.mlock(A + 3 * PS, PS);
    fails(p, () => p.mlock(A, 4 * PS), 'ENOMEM');
    fails(p, () => p.munlock(A, 4 * PS), 'ENOMEM');
    fails(p, () => p.mlock(A - PS, PS), 'ENOMEM');
    fails(p, () => p.mlock(-1, PS), 'EINVAL', 'addr');
    assert.equal(sys.counters.wired, 1);
    sys.audit();
  });

  it('mlockall locks what is mapped and, with MCL_FUTURE, what will be; munlockall ends both', () => {
    const { sys, p } = world();
    p.vm.brkStart = p.vm.brk = HEAP;
    const a = p.mmap(0, 2 * PS, RW, ANON);
    p.mlockall(MCL_CURRENT | MCL_FUTURE);
    assert.equal(sys.counters.wired, 2);
    const b = p.mmap(0, PS, RW, ANON);
    p.brk(HEAP + 2 * PS);
    assert.equal(sys.counters.wired, 5, 'the new mapping and the heap too');
    assert.deepEqual(Array.from(p.mincore(HEAP, 2 * PS)), [1, 1]);
    p.munlockall();
    assert.equal(sys.counters.wired, 0);
    const c = p.mmap(0, PS, RW, ANON);
    assert.deepEqual(Array.from(p.mincore(c, PS)), [0], 'no longer locked as mapped');
    assert.ok([a, b].every((va) => (entry(p, va).eflags & MAP_ENTRY_USER_WIRED) === 0));
    sys.audit();
  });

  it('mlockall refuses bad flags (EINVAL) and more than the limit (ENOMEM), locking nothing', () => {
    const { sys, p } = world();
    p.vm.memlockLimit = 2 * PS;
    p.mmap(A, 3 * PS, RW, ANON | MAP_FIXED);
    for (const flags of [0, 4, MCL_CURRENT | 8, 1.5])
      fails(p, () => p.mlockall(flags), 'EINVAL', 'flags');
    fails(p, () => p.mlockall(MCL_CURRENT | MCL_FUTURE), 'ENOMEM', 'flags');
    const b = p.mmap(0, PS, RW, ANON);
    assert.deepEqual(Array.from(p.mincore(b, PS)), [0], 'MCL_FUTURE was not set either');
    p.mlockall(MCL_FUTURE);
    fails(p, () => p.mmap(0, 3 * PS, RW, ANON), 'EAGAIN', 'len');
    assert.equal(sys.counters.wired, 0);
    sys.audit();
  });
});

describe('msync', () => {
  it('checks its flags; length 0 is nothing; anonymous memory has nothing to write', () => {
    const { p } = world();
    p.mmap(A, PS, RW, ANON | MAP_FIXED);
    for (const flags of [MS_ASYNC | MS_SYNC, 8, -1, 0.5])
      fails(p, () => p.msync(A, PS, flags), 'EINVAL', 'flags');
    fails(p, () => p.msync(A + 1, PS, MS_SYNC), 'EINVAL', 'addr');
    fails(p, () => p.msync(A, 2 * PS, MS_SYNC), 'ENOMEM');
    p.msync(A + 8 * PS, 0, MS_SYNC);
    p.msync(A, PS, MS_SYNC | MS_INVALIDATE);
    p.msync(A, PS, 0);
  });

  it('MS_INVALIDATE on locked memory is EBUSY, writing nothing', () => {
    const { sys, host, p } = world();
    const a = p.mmap(0, 2 * PS, RW, MAP_SHARED, sys.open('/f', 'r+'));
    p.write(a, [1]);
    p.mlock(a + PS, PS);
    fails(p, () => p.msync(a, 2 * PS, MS_SYNC | MS_INVALIDATE), 'EBUSY', 'flags', [[a, PS]]);
    assert.equal(host.get('/f')![0], 0xf0);
    p.msync(a, 2 * PS, MS_SYNC);
    assert.equal(host.get('/f')![0], 1);
    sys.audit();
  });

  it('EIO when the file cannot be written; the page stays dirty and a retry writes it', () => {
    const { sys, host, p } = world();
    const a = p.mmap(0, PS, RW, MAP_SHARED, sys.open('/f', 'r+'));
    p.write(a, [2]);
    host.faults('/f').failWrites = 1;
    throwsVm(() => p.msync(a, PS, MS_SYNC), 'EIO', 'addr');
    assert.equal(host.get('/f')![0], 0xf0);
    assert.equal(p.read(a, 1)[0], 2);
    p.msync(a, PS, MS_ASYNC);
    assert.equal(host.get('/f')![0], 2);
    sys.audit();
  });
});

describe('mincore', () => {
  it('one byte per page, 1 where resident, across entries and kinds of memory', () => {
    const { sys, p } = world();
    p.mmap(A, 3 * PS, RW, ANON | MAP_FIXED);
    p.mmap(A + 3 * PS, 2 * PS, PROT_READ, MAP_SHARED | MAP_FIXED, sys.open('/f', 'r'));
    p.write(A, [1]);
    p.write(A + 2 * PS, [1]);
    p.read(A + 4 * PS, 1);
    assert.deepEqual(Array.from(p.mincore(A, 5 * PS)), [1, 0, 1, 0, 1]);
    assert.deepEqual(Array.from(p.mincore(A + PS, PS + 1)), [0, 1], 'the length rounds up');
    assert.deepEqual(Array.from(p.mincore(A + 64 * PS, 0)), []);
    const maps = state(p);
    assert.deepEqual(Array.from(p.mincore(A + PS, PS)), [0]);
    assert.equal(state(p), maps, 'asking faults nothing in');
  });

  it('an unaligned address is EINVAL; a range with a hole is ENOMEM', () => {
    const { p } = world();
    p.mmap(A, PS, RW, ANON | MAP_FIXED);
    fails(p, () => p.mincore(A + 1, PS), 'EINVAL', 'addr');
    fails(p, () => p.mincore(A, 2 * PS), 'ENOMEM');
    fails(p, () => p.mincore(A, -PS), 'EINVAL', 'len');
  });
});

describe('brk', () => {
  it('brk(0), or below the start of the heap, returns the break; none is set at first', () => {
    const { p } = world();
    assert.equal(p.brk(0), 0);
    assert.equal(p.brk(HEAP), 0, 'no heap yet');
    p.vm.brkStart = p.vm.brk = HEAP;
    assert.equal(p.brk(0), HEAP);
    assert.equal(p.brk(HEAP - PS), HEAP);
    assert.equal(entries(p), 0);
  });

  it('growing maps memory up to the new break, shrinking unmaps, within a page just moves it', () => {
    const { sys, p } = world();
    p.vm.brkStart = p.vm.brk = HEAP;
    assert.equal(p.brk(HEAP + PS + 100), HEAP + PS + 100);
    assert.equal(entry(p, HEAP).end, HEAP + 2 * PS);
    assert.ok(p.maps()[0].endsWith('[heap]'));
    fill(p, HEAP, 2, 1);
    assert.equal(p.brk(HEAP + 2 * PS), HEAP + 2 * PS);
    assert.equal(entries(p), 1);
    assert.equal(p.brk(HEAP + 10), HEAP + 10);
    assert.equal(entry(p, HEAP).end, HEAP + PS);
    throwsVm(() => p.read(HEAP + PS, 1), 'EFAULT', 'va');
    assert.equal(p.read(HEAP, 1)[0], 1);
    assert.equal(p.brk(HEAP + 20), HEAP + 20);
    assert.equal(p.brk(HEAP + 2 * PS), HEAP + 2 * PS);
    assert.equal(p.read(HEAP + PS, 1)[0], 0, 'the heap grows back zeroed');
    sys.audit();
  });

  it('under MCL_FUTURE a break memory cannot hold now still moves, locked; the heap can shrink back', () => {
    const sys = new VmSystem({ physPages: 64, swapPages: 0, host: new MemoryHost() });
    const p = sys.spawn();
    p.vm.memlockLimit = 2 ** 30;
    p.vm.brkStart = p.vm.brk = HEAP;
    p.mlockall(MCL_FUTURE);
    assert.equal(p.brk(HEAP + 200 * PS), HEAP + 200 * PS);
    assert.ok(entry(p, HEAP).eflags & MAP_ENTRY_USER_WIRED);
    assert.equal(p.brk(HEAP + 2 * PS), HEAP + 2 * PS, 'shrinking works');
    assert.equal(entry(p, HEAP).end, HEAP + 2 * PS);
    assert.equal(entries(p), 1);
    sys.audit();
  });

  it('a break that would run into a mapping or a stack guard gap is refused, changing nothing', () => {
    const { sys, p } = world();
    p.vm.brkStart = p.vm.brk = HEAP;
    p.mmap(HEAP + 8 * PS, PS, RW, ANON | MAP_FIXED);
    const s = HEAP + 300 * PS;
    p.mmap(s, PS, RW, ANON | MAP_FIXED | MAP_GROWSDOWN);
    p.brk(HEAP + PS);
    const before = state(p);
    assert.equal(p.brk(HEAP + 9 * PS), HEAP + PS);
    assert.equal(state(p), before);
    p.munmap(HEAP + 8 * PS, PS);
    assert.equal(p.brk(HEAP + 100 * PS), HEAP + PS, 'within the guard gap below the stack');
    assert.equal(state(p).split('\n').length, before.split('\n').length - 2);
    assert.equal(p.brk(HEAP + 40 * PS), HEAP + 40 * PS, 'clear of the gap');
    assert.ok(s - (HEAP + 40 * PS) >= p.vm.map.stackGuard);
    sys.audit();
  });
});

describe('mremap', () => {
  it('shrinking unmaps the tail in place', () => {
    const { sys, p } = world();
    p.mmap(A, 4 * PS, RW, ANON | MAP_FIXED);
    fill(p, A, 4, 1);
    assert.equal(p.mremap(A, 4 * PS, PS + 1, 0), A);
    assert.equal(entry(p, A).end, A + 2 * PS);
    assert.deepEqual(firsts(p, A, 2), [1, 2]);
    throwsVm(() => p.read(A + 2 * PS, 1), 'EFAULT', 'va');
    sys.audit();
  });

  it('growing extends in place when the pages after are free, else moves with MREMAP_MAYMOVE', () => {
    const { sys, p } = world();
    p.mmap(A, 2 * PS, RW, ANON | MAP_FIXED);
    fill(p, A, 2, 1);
    assert.equal(p.mremap(A, 2 * PS, 3 * PS, 0), A);
    assert.deepEqual(firsts(p, A, 3), [1, 2, 0]);
    assert.equal(entries(p), 1);
    p.mmap(A + 3 * PS, PS, PROT_READ, ANON | MAP_FIXED);
    fails(p, () => p.mremap(A, 3 * PS, 4 * PS, 0), 'ENOMEM', 'new_len', [[A, 3 * PS]]);
    const b = p.mremap(A, 3 * PS, 5 * PS, MREMAP_MAYMOVE);
    assert.notEqual(b, A);
    assert.deepEqual(firsts(p, b, 5), [1, 2, 0, 0, 0], 'the data went along');
    throwsVm(() => p.read(A, 1), 'EFAULT', 'va');
    assert.equal(entry(p, A + 3 * PS).end, A + 4 * PS, 'the neighbour stays');
    sys.audit();
  });

  it('MREMAP_FIXED moves to new_addr, replacing what is there; the ranges may not overlap', () => {
    const { sys, p } = world();
    p.mmap(A, 2 * PS, RW, ANON | MAP_FIXED);
    fill(p, A, 2, 1);
    const T = A + 16 * PS;
    p.mmap(T, 4 * PS, PROT_READ, ANON | MAP_FIXED);
    const w: [number, number][] = [[A, 2 * PS]];
    const M = MREMAP_MAYMOVE | MREMAP_FIXED;
    fails(p, () => p.mremap(A, 2 * PS, 2 * PS, M, A + PS), 'EINVAL', 'new_addr', w);
    fails(p, () => p.mremap(A, 2 * PS, 2 * PS, M, A - PS), 'EINVAL', 'new_addr', w);
    fails(p, () => p.mremap(A, 2 * PS, 2 * PS, M, T + 1), 'EINVAL', 'new_addr', w);
    fails(p, () => p.mremap(A, 2 * PS, 2 * PS, M, USER_MIN - PS), 'EINVAL', 'new_addr', w);
    fails(p, () => p.mremap(A, 2 * PS, 2 * PS, M, USER_MAX - PS), 'EINVAL', 'new_addr', w);
    assert.equal(p.mremap(A, 2 * PS, 3 * PS, M, T), T);
    assert.deepEqual(firsts(p, T, 4), [1, 2, 0, 0]);
    throwsVm(() => p.write(T + 3 * PS, [1]), 'EFAULT', 'va');
    throwsVm(() => p.read(A, 1), 'EFAULT', 'va');
    sys.audit();
  });

  it('MREMAP_DONTUNMAP moves the pages and leaves the old range mapped and empty', () => {
    const { sys, p } = world();
    p.mmap(A, 2 * PS, RW, ANON | MAP_FIXED);
    fill(p, A, 2, 1);
    const D = MREMAP_MAYMOVE | MREMAP_DONTUNMAP;
    const w: [number, number][] = [[A, 2 * PS]];
    fails(p, () => p.mremap(A, 2 * PS, 3 * PS, D), 'EINVAL', 'new_len', w);
    fails(p, () => p.mremap(A, 2 * PS, 2 * PS, MREMAP_DONTUNMAP), 'EINVAL', 'flags', w);
    const b = p.mremap(A, 2 * PS, 2 * PS, D);
    assert.notEqual(b, A);
    assert.deepEqual(firsts(p, b, 2), [1, 2]);
    assert.deepEqual(firsts(p, A, 2), [0, 0], 'still mapped, empty');
    const s = p.mmap(0, PS, RW, MAP_SHARED | MAP_ANON);
    fails(p, () => p.mremap(s, PS, PS, D), 'EINVAL', 'flags');
    const f = p.mmap(0, PS, RW, MAP_PRIVATE, sys.open('/f', 'r'));
    fails(p, () => p.mremap(f, PS, PS, D), 'EINVAL', 'flags');
    sys.audit();
  });

  it('the old range must be one mapping as Linux sees it (EFAULT), however many entries it has', () => {
    const { sys, p } = world();
    p.mmap(A, 2 * PS, RW, ANON | MAP_FIXED);
    p.mmap(A + 2 * PS, 2 * PS, PROT_READ, ANON | MAP_FIXED);
    fails(p, () => p.mremap(A, 4 * PS, 8 * PS, MREMAP_MAYMOVE), 'EFAULT', 'old_len');
    fails(p, () => p.mremap(A + 4 * PS, PS, PS, 0), 'EFAULT', 'old_address');
    fails(p, () => p.mremap(A + 2 * PS, 3 * PS, PS, 0), 'EFAULT', 'old_len');
    const f = sys.open('/f', 'r');
    const B = A + 32 * PS;
    p.mmap(B, PS, PROT_READ, MAP_PRIVATE | MAP_FIXED, f, 0);
    p.mmap(B + PS, PS, PROT_READ, MAP_PRIVATE | MAP_FIXED, f, 2 * PS);
    fails(p, () => p.mremap(B, 2 * PS, PS, 0), 'EFAULT', 'old_len');
    const C = A + 64 * PS;
    p.mmap(C, 4 * PS, RW, ANON | MAP_FIXED);
    p.mlock(C, PS);
    p.mlock(C + PS, PS);
    p.munlock(C, 2 * PS);
    fill(p, C, 4, 1);
    p.mmap(C + 4 * PS, PS, PROT_READ, ANON | MAP_FIXED);
    assert.ok(entry(p, C + 3 * PS).start > C, 'more than one entry');
    const to = p.mremap(C, 4 * PS, 6 * PS, MREMAP_MAYMOVE);
    assert.deepEqual(firsts(p, to, 6), [1, 2, 3, 4, 0, 0]);
    sys.audit();
  });

  it('growing locked memory locks the new part; past the lock limit it is EAGAIN', () => {
    const { sys, p } = world();
    p.vm.memlockLimit = 4 * PS;
    p.mmap(A, 2 * PS, RW, ANON | MAP_FIXED);
    fill(p, A, 2, 1);
    p.mlock(A, 2 * PS);
    fails(p, () => p.mremap(A, 2 * PS, 5 * PS, MREMAP_MAYMOVE), 'EAGAIN', 'new_len', [[A, 2 * PS]]);
    assert.equal(p.mremap(A, 2 * PS, 4 * PS, 0), A);
    assert.equal(sys.counters.wired, 4);
    assert.deepEqual(Array.from(p.mincore(A, 4 * PS)), [1, 1, 1, 1]);
    sys.audit();
  });

  it('refuses bad lengths and flags (EINVAL), changing nothing', () => {
    const { p } = world();
    p.mmap(A, 2 * PS, RW, ANON | MAP_FIXED);
    const w: [number, number][] = [[A, 2 * PS]];
    fails(p, () => p.mremap(A, 0, PS, MREMAP_MAYMOVE), 'EINVAL', 'old_len', w);
    fails(p, () => p.mremap(A, PS, 0, MREMAP_MAYMOVE), 'EINVAL', 'new_len', w);
    fails(p, () => p.mremap(A, -PS, PS, 0), 'EINVAL', 'old_len', w);
    fails(p, () => p.mremap(A + 1, PS, PS, 0), 'EINVAL', 'addr', w);
    fails(p, () => p.mremap(A, PS, PS, MREMAP_MAYMOVE | 0x10), 'EINVAL', 'flags', w);
    fails(p, () => p.mremap(A, PS, 2 * PS, MREMAP_FIXED, A + 8 * PS), 'EINVAL', 'flags', w);
  });
});
