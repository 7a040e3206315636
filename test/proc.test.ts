import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import {
  MADV_DOFORK,
  MADV_DONTFORK,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MAP_ANON,
  MAP_FIXED,
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
  MS_SYNC,
  PROT_READ,
  PROT_WRITE,
  VmError,
} from '../src/kernel/param.ts';
import { PTE_W } from '../src/kernel/pmap.ts';
import { VmSystem } from '../src/sys/system.ts';
import { throwsVm } from './helpers.ts';
import { coalesce } from './model.ts';

const PS = 4096;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANON;
const SAMPLES = new URL('../samples/', import.meta.url);

function system(physPages = 1024): VmSystem {
  return new VmSystem({ physPages, swapPages: 1024 });
}

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

describe('copy-on-write across fork', () => {
  it("neither side sees the other's writes after the fork, for private memory", () => {
    const sys = system();
    const p = sys.spawn();
    const a = p.mmap(0, 2 * PS, RW, ANON);
    p.write(a, text('before'));
    const c = p.fork();
    p.write(a, text('parent'));
    c.write(a + PS, text('child.'));
    assert.equal(str(p.read(a, 6)), 'parent');
    assert.equal(str(c.read(a, 6)), 'before');
    assert.deepEqual(p.read(a + PS, 6), new Uint8Array(6));
    assert.equal(str(c.read(a + PS, 6)), 'child.');
    assert.ok(sys.counters.flt_acow >= 1, 'a copy-on-write fault happened');
    sys.audit();
  });

  it('shared anonymous memory is shared both ways; MAP_INHERIT_SHARE shares private memory', () => {
    const sys = system();
    const p = sys.spawn();
    const s = p.mmap(0, PS, RW, MAP_SHARED | MAP_ANON);
    const a = p.mmap(0, PS, RW, ANON);
    p.minherit(a, PS, MAP_INHERIT_SHARE);
    const c = p.fork();
    c.write(s, [7]);
    p.write(a, [9]);
    assert.equal(p.read(s, 1)[0], 7);
    assert.equal(c.read(a, 1)[0], 9);
    sys.audit();
  });

  it('MAP_INHERIT_NONE and MADV_DONTFORK leave a range out of the child; DOFORK brings it back', () => {
    const sys = system();
    const p = sys.spawn();
    const a = p.mmap(0, 3 * PS, RW, ANON);
    p.minherit(a, PS, MAP_INHERIT_NONE);
    p.madvise(a + PS, PS, MADV_DONTFORK);
    const c = p.fork();
    throwsVm(() => c.read(a, 1), 'EFAULT');
    throwsVm(() => c.read(a + PS, 1), 'EFAULT');
    assert.equal(c.read(a + 2 * PS, 1)[0], 0);
    p.madvise(a + PS, PS, MADV_DOFORK);
    const c2 = p.fork();
    assert.equal(c2.read(a + PS, 1)[0], 0);
    sys.audit();
  });

  it('a wired parent is not write-protected at fork: the child gets copies (amap_cow_now)', () => {
    const sys = system();
    const p = sys.spawn();
    const a = p.mmap(0, 2 * PS, RW, ANON);
    p.write(a, text('locked'));
    p.mlock(a, 2 * PS);
    const copies = sys.counters.amapcownow;
    const c = p.fork();
    assert.ok(sys.counters.amapcownow > copies);
    assert.notEqual(p.vm.pmap.lookup(a) & PTE_W, 0, 'the parent can still write without faulting');
    p.write(a, text('LOCKED'));
    assert.equal(str(c.read(a, 6)), 'locked');
    sys.audit();
  });
});

describe('zero fill', () => {
  it("never shows a previous owner's data, even without poisoning freed frames", () => {
    const sys = new VmSystem({ physPages: 64, swapPages: 0 });
    const p = sys.spawn();
    const a = p.mmap(0, 48 * PS, RW, ANON);
    p.write(a, new Uint8Array(48 * PS).fill(0xab));
    p.exit();
    const q = sys.spawn();
    const b = q.mmap(0, 48 * PS, RW, ANON);
    assert.ok(q.read(b, 48 * PS).every((x) => x === 0));
    sys.audit();
  });
});

describe('madvise', () => {
  it('DONTNEED zeroes private memory, keeps shared memory; FREE keeps data until reclaimed', () => {
    const sys = system();
    const p = sys.spawn();
    const a = p.mmap(0, PS, RW, ANON);
    const s = p.mmap(0, PS, RW, MAP_SHARED | MAP_ANON);
    const f = p.mmap(0, PS, RW, ANON);
    p.write(a, [1]);
    p.write(s, [2]);
    p.write(f, [3]);
    const c = p.fork();
    p.madvise(a, PS, MADV_DONTNEED);
    p.madvise(s, PS, MADV_DONTNEED);
    p.madvise(f, PS, MADV_FREE);
    assert.equal(p.read(a, 1)[0], 0);
    assert.equal(c.read(a, 1)[0], 1, "the child's copy is untouched");
    assert.equal(p.read(s, 1)[0], 2);
    assert.equal(p.read(f, 1)[0], 3);
    throwsVm(() => p.madvise(s, PS, MADV_FREE), 'EINVAL');
    sys.audit();
  });

  it('advice sets the fault-ahead window: NORMAL 3+4, RANDOM none, SEQUENTIAL 8+7', () => {
    for (const [advice, ahead] of [
      [-1, 7],
      [MADV_RANDOM, 0],
      [MADV_SEQUENTIAL, 15],
    ] as const) {
      const sys = system();
      const p = sys.spawn();
      const a = p.mmap(0, 32 * PS, RW, ANON);
      p.write(a, new Uint8Array(32 * PS).fill(1));
      const c = p.fork();
      if (advice >= 0) c.madvise(a, 32 * PS, advice);
      const before = sys.counters.fltnamap;
      c.read(a + 16 * PS, 1);
      assert.equal(sys.counters.fltnamap - before, ahead, `advice ${advice}`);
    }
  });
});

describe('mlock', () => {
  it('wires the pages, respects the lock limit, and munlock unwires them', () => {
    const sys = system();
    const p = sys.spawn();
    p.vm.memlockLimit = 4 * PS;
    const a = p.mmap(0, 8 * PS, RW, ANON);
    p.mlock(a, 3 * PS);
    assert.equal(sys.uvm.exp.wired, 3);
    throwsVm(() => p.mlock(a, 5 * PS), 'ENOMEM', 'len');
    assert.equal(sys.uvm.exp.wired, 3, 'nothing changed');
    p.munlock(a, 8 * PS);
    assert.equal(sys.uvm.exp.wired, 0);
    sys.audit();
  });

  it('mlockall(MCL_CURRENT | MCL_FUTURE) wires what exists and what comes; munlockall undoes it', () => {
    const sys = system();
    const p = sys.spawn();
    p.mmap(0, 2 * PS, RW, ANON);
    p.mlockall(MCL_CURRENT | MCL_FUTURE);
    assert.equal(sys.uvm.exp.wired, 2);
    p.mmap(0, 3 * PS, RW, ANON);
    assert.equal(sys.uvm.exp.wired, 5);
    p.munlockall();
    assert.equal(sys.uvm.exp.wired, 0);
    p.mmap(0, PS, RW, ANON);
    assert.equal(sys.uvm.exp.wired, 0);
    sys.audit();
  });
});

describe('brk, mremap, mincore, msync, populate', () => {
  it('brk grows and shrinks the heap, refuses below its start, and maps show [heap]', () => {
    const sys = system();
    const p = sys.spawn();
    p.vm.brkStart = p.vm.brk = 0x5000000;
    assert.equal(p.brk(0), 0x5000000);
    assert.equal(p.brk(0x5000000 + 3 * PS + 5), 0x5000000 + 3 * PS + 5);
    p.write(0x5000000 + 3 * PS, [4]);
    assert.ok(p.maps().some((l) => l.startsWith('05000000-05004000 rw-p') && l.endsWith('[heap]')));
    assert.equal(p.brk(0x1000), 0x5000000 + 3 * PS + 5, 'refused: below the start');
    assert.equal(p.brk(0x5000000 + PS), 0x5000000 + PS);
    throwsVm(() => p.read(0x5000000 + 2 * PS, 1), 'EFAULT');
    p.mmap(0x5000000 + 4 * PS, PS, RW, ANON | MAP_FIXED);
    assert.equal(p.brk(0x5000000 + 8 * PS), 0x5000000 + PS, 'refused: a mapping is in the way');
    sys.audit();
  });

  it('mremap shrinks, grows in place, moves (keeping the data), and DONTUNMAP leaves zeros behind', () => {
    const sys = system();
    const p = sys.spawn();
    const a = p.mmap(0x200000000, 4 * PS, RW, ANON | MAP_FIXED);
    p.write(a, text('data'));
    assert.equal(p.mremap(a, 4 * PS, 2 * PS, 0), a);
    assert.equal(p.mremap(a, 2 * PS, 6 * PS, 0), a, 'grown in place');
    p.mmap(a + 6 * PS, PS, PROT_READ, ANON | MAP_FIXED);
    throwsVm(() => p.mremap(a, 6 * PS, 8 * PS, 0), 'ENOMEM', 'new_len');
    const b = p.mremap(a, 6 * PS, 8 * PS, MREMAP_MAYMOVE);
    assert.notEqual(b, a);
    assert.equal(str(p.read(b, 4)), 'data');
    throwsVm(() => p.read(a, 1), 'EFAULT');
    const f = p.mremap(b, 8 * PS, 8 * PS, MREMAP_MAYMOVE | MREMAP_FIXED, 0x300000000);
    assert.equal(f, 0x300000000);
    assert.equal(str(p.read(f, 4)), 'data');
    const d = p.mremap(f, 8 * PS, 8 * PS, MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
    assert.equal(str(p.read(d, 4)), 'data');
    assert.deepEqual(p.read(f, 4), new Uint8Array(4), 'the old range stays mapped, empty');
    sys.audit();
  });

  it('mincore reports resident pages; MAP_POPULATE makes them all resident; msync on memory is fine', () => {
    const sys = system();
    const p = sys.spawn();
    const a = p.mmap(0, 4 * PS, RW, ANON);
    p.write(a + PS, [1]);
    assert.deepEqual(Array.from(p.mincore(a, 4 * PS)), [0, 1, 0, 0]);
    const b = p.mmap(0, 3 * PS, RW, ANON | MAP_POPULATE);
    assert.deepEqual(Array.from(p.mincore(b, 3 * PS)), [1, 1, 1]);
    p.msync(a, 4 * PS, MS_SYNC);
    sys.audit();
  });

  it('MAP_FIXED replaces what was there; a write-only page can be read (x86, as Linux)', () => {
    const sys = system();
    const p = sys.spawn();
    const a = p.mmap(0, 2 * PS, RW, ANON);
    p.write(a, [5, 5]);
    p.mmap(a, PS, PROT_WRITE, ANON | MAP_FIXED);
    assert.deepEqual(Array.from(p.read(a, 2)), [0, 0]);
    sys.audit();
  });
});

describe('exec, vfork, exit', () => {
  it('exec builds the space of a real init snapshot, row for row', () => {
    const sys = system();
    const p = sys.spawn();
    const rows = readFileSync(new URL('init/memops.12768.maps', SAMPLES), 'utf8')
      .trimEnd()
      .split('\n');
    p.exec(rows);
    const want = rows.filter((r) => !r.startsWith('ffffffffff'));
    const fields = (l: string) => {
      const f = l.split(/\s+/);
      return [f[0], f[1], f[2], f.slice(5).join(' ')];
    };
    assert.deepEqual(p.maps().map(fields), want.map(fields));
    sys.audit();
  });

  it('the stack grows down on access, within the stack limit', () => {
    const sys = system();
    const p = sys.spawn();
    p.exec(['7ffedc41f000-7ffedc440000 rw-p 00000000 00:00 0                          [stack]']);
    p.write(0x7ffedc41f000 - 5 * PS, [1]);
    assert.deepEqual(coalesce(p.maps()), [[0x7ffedc41f000 - 5 * PS, 0x7ffedc440000, 'rw-p']]);
    assert.ok(
      p.maps().every((l) => l.endsWith('[stack]')),
      'every piece is [stack]',
    );
    throwsVm(() => p.write(0x7ffedc440000 - 9 * 1024 * 1024, [1]), 'EFAULT');
    sys.audit();
  });

  it('a vfork child shares the space until it execs, then the parent is intact', () => {
    const sys = system();
    const p = sys.spawn();
    const a = p.mmap(0, PS, RW, ANON);
    const v = p.vfork();
    v.write(a, [6]);
    assert.equal(p.read(a, 1)[0], 6, 'shared');
    assert.equal(p.vm.refcnt, 2);
    v.exec(['7ffedc41f000-7ffedc440000 rw-p 00000000 00:00 0                          [stack]']);
    assert.equal(p.vm.refcnt, 1);
    assert.equal(p.read(a, 1)[0], 6);
    v.exit();
    sys.audit();
  });

  it('exec starts from a registered resident executable when there is one', () => {
    const sys = system();
    const p = sys.spawn();
    p.exec(['00400000-00401000 rw-p 00000000 fe:00 1                          /bin/app']);
    p.write(0x400000, text('warm'));
    sys.residents.register(p.vm, '/bin/app', 0x400000);
    const q = sys.spawn();
    q.exec(['00400000-00401000 rw-p 00000000 fe:00 1                          /bin/app']);
    assert.equal(str(q.read(0x400000, 4)), 'warm');
    sys.close();
    sys.audit();
  });

  it('after every process exits, every frame is free', () => {
    const sys = system();
    const p = sys.spawn();
    const a = p.mmap(0, 8 * PS, RW, ANON);
    p.write(a, new Uint8Array(8 * PS).fill(1));
    const c = p.fork();
    c.write(a, [2]);
    c.exit();
    p.exit();
    assert.equal(sys.uvm.pages.freeCount, sys.uvm.pages.npages);
    throwsVm(() => p.read(a, 1), 'ESRCH');
    sys.audit();
  });
});

describe('out of memory', () => {
  it('a fault that finds no frame throws ENOMEM and corrupts nothing', () => {
    const sys = new VmSystem({ physPages: 32, swapPages: 0 });
    const p = sys.spawn();
    const a = p.mmap(0, 64 * PS, RW, ANON);
    let err: unknown;
    try {
      for (let i = 0; i < 64; i++) p.write(a + i * PS, [i]);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof VmError && err.code === 'ENOMEM');
    sys.audit();
    assert.equal(p.read(a + 3 * PS, 1)[0], 3);
  });
});

describe('counters and maps', () => {
  it('counts faults by kind and reports rss and pss', () => {
    const sys = system();
    const p = sys.spawn();
    const a = p.mmap(0, 4 * PS, RW, ANON);
    p.write(a, new Uint8Array(4 * PS));
    const c = p.fork();
    c.read(a, 1);
    c.write(a, [1]);
    const k = sys.counters;
    assert.equal(k.flt_przero, 4);
    assert.equal(k.flt_acow, 1);
    assert.ok(k.flt_anon >= 1);
    assert.equal(p.rss, 4);
    assert.ok(c.pss > 0 && c.pss < c.rss);
    assert.deepEqual(coalesce(c.maps()), coalesce(p.maps()));
  });
});

describe('a newcomer looking at a process', () => {
  it('console.log shows a process and a system in a line, not the kernel behind them', () => {
    const sys = new VmSystem({ physPages: 64, swapPages: 64 });
    const p = sys.spawn();
    p.write(p.mmap(0, 8192, 3, 0x22), [1]);
    assert.equal(inspect(p), 'Process 1 (parent 0): 1 entries, 1 pages resident');
    assert.equal(inspect(sys), 'VmSystem: 1 processes, 63 of 64 frames free, swap 0:0/64');
    p.exit();
    assert.equal(inspect(p), 'Process 1 (parent 0): exited');
  });

  it('counters are named one way: lower case, as NetBSD names uvmexp', () => {
    const names = Object.keys(new VmSystem({ physPages: 64, swapPages: 0 }).counters);
    assert.ok(names.length > 50);
    assert.deepEqual(
      names.filter((n) => n !== n.toLowerCase()),
      [],
    );
    for (const n of ['pga_zerohit', 'flt_acow', 'fltnoram', 'pdpageouts', 'swpginuse'])
      assert.ok(names.includes(n), n);
  });
});
