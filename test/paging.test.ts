import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  MADV_FREE,
  MAP_ANON,
  MAP_PRIVATE,
  MAP_SHARED,
  MS_INVALIDATE,
  MS_SYNC,
  PROT_READ,
  PROT_WRITE,
  VmError,
} from '../src/kernel/param.ts';
import type { MemoryStore } from '../src/kernel/swap.ts';
import { vmspaceSwapCount } from '../src/kernel/vmspace.ts';
import { NodeHost } from '../src/node/host.ts';
import type { Process } from '../src/sys/proc.ts';
import { VmSystem } from '../src/sys/system.ts';
import { throwsVm } from './helpers.ts';

const PS = 4096;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANON;
const dir = mkdtempSync(join(tmpdir(), 'uvm-ts-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** fill: write page i of [a, a+pages) with the byte (i + seed) & 0xff, all over. */
function fill(p: Process, a: number, pages: number, seed: number): void {
  for (let i = 0; i < pages; i++) p.write(a + i * PS, new Uint8Array(PS).fill((i + seed) & 0xff));
}

/** verify: every page still holds what fill wrote. */
function verify(p: Process, a: number, pages: number, seed: number): void {
  for (let i = 0; i < pages; i++) {
    const got = p.read(a + i * PS, PS);
    assert.ok(
      got.every((b) => b === ((i + seed) & 0xff)),
      `page ${i}`,
    );
  }
}

describe('pageout and swap-in', () => {
  it('runs a working set four times larger than memory without losing a byte', () => {
    const sys = new VmSystem({ physPages: 64, swapPages: 1024 });
    const p = sys.spawn();
    const a = p.mmap(0, 256 * PS, RW, ANON);
    fill(p, a, 256, 7);
    verify(p, a, 256, 7);
    const k = sys.counters;
    assert.ok(k.pageouts >= 192, `pageouts ${k.pageouts}`);
    assert.ok(k.pageins >= 192, `pageins ${k.pageins}`);
    assert.ok(vmspaceSwapCount(p.vm) > 0);
    sys.audit();
  });

  it('never takes wired pages', () => {
    const sys = new VmSystem({ physPages: 32, swapPages: 512 });
    const p = sys.spawn();
    const locked = p.mmap(0, 4 * PS, RW, ANON);
    p.mlock(locked, 4 * PS);
    const a = p.mmap(0, 100 * PS, RW, ANON);
    fill(p, a, 100, 1);
    assert.deepEqual(Array.from(p.mincore(locked, 4 * PS)), [1, 1, 1, 1]);
    sys.audit();
  });

  it('MADV_FREE pages are discarded by the pagedaemon unless written again', () => {
    const sys = new VmSystem({ physPages: 32, swapPages: 512 });
    const p = sys.spawn();
    const a = p.mmap(0, 2 * PS, RW, ANON);
    p.write(a, [1]);
    p.write(a + PS, [2]);
    p.madvise(a, 2 * PS, MADV_FREE);
    p.write(a + PS, [3]);
    const b = p.mmap(0, 64 * PS, RW, ANON);
    fill(p, b, 64, 0);
    assert.equal(p.read(a, 1)[0], 0, 'discarded: reads as zeros');
    assert.equal(p.read(a + PS, 1)[0], 3, 'written again: kept');
    assert.ok(sys.counters.pdlazyfreed >= 1);
    sys.audit();
  });

  it('shared anonymous memory and System V segments survive pageout and swapoff', () => {
    const sys = new VmSystem({ physPages: 48, swapPages: 1024 });
    const p = sys.spawn();
    const s = p.mmap(0, 16 * PS, RW, MAP_SHARED | MAP_ANON);
    const id = sys.shmget(16 * PS);
    const m = p.shmat(id);
    const c = p.fork();
    const cm = c.shmat(id);
    fill(c, s, 16, 3);
    fill(c, cm, 16, 4);
    const big = p.mmap(0, 128 * PS, RW, ANON);
    fill(p, big, 128, 0);
    verify(p, s, 16, 3);
    verify(p, m, 16, 4);
    p.munmap(big, 128 * PS);
    sys.swapon({ pages: 256 });
    sys.swapoff(sys.uvm.swap.devices.find((d) => d.npages === 1024));
    verify(c, s, 16, 3);
    verify(c, cm, 16, 4);
    sys.shmctlRemove(id);
    p.shmdt(m);
    assert.equal(sys.shm.segments.size, 1, 'still attached in the child');
    c.shmdt(cm);
    assert.equal(sys.shm.segments.size, 1, "the child also inherited the parent's attachment");
    c.shmdt(m);
    assert.equal(sys.shm.segments.size, 0);
    throwsVm(() => p.shmat(id), 'EINVAL', 'shmid');
    sys.audit();
  });
});

describe('swap devices', () => {
  it('a swap file is made, sized, used, and removed by close', () => {
    const file = join(dir, 'swap0');
    const sys = new VmSystem({
      physPages: 32,
      swapPages: 256,
      swapFile: file,
      host: new NodeHost(),
    });
    assert.equal(statSync(file).size, 256 * PS);
    const p = sys.spawn();
    const a = p.mmap(0, 96 * PS, RW, ANON);
    fill(p, a, 96, 9);
    verify(p, a, 96, 9);
    assert.ok(sys.counters.pageouts > 0);
    sys.close();
    assert.equal(existsSync(file), false);
  });

  it('uses higher-priority devices first', () => {
    const sys = new VmSystem({ physPages: 32, swapPages: 256 });
    const fast = sys.swapon({ pages: 256, priority: 5 });
    const p = sys.spawn();
    fill(p, p.mmap(0, 64 * PS, RW, ANON), 64, 0);
    const slow = sys.uvm.swap.devices.find((d) => d !== fast)!;
    assert.ok(fast.inuseCount > 0);
    assert.equal(slow.inuseCount, 0);
  });

  it('swapoff of a device memory cannot hold fails with ENOMEM and changes nothing', () => {
    const sys = new VmSystem({ physPages: 32, swapPages: 256 });
    const p = sys.spawn();
    const a = p.mmap(0, 96 * PS, RW, ANON);
    fill(p, a, 96, 2);
    const dev = sys.uvm.swap.devices[0];
    const before = {
      used: dev.inuseCount,
      maps: p.maps().join('\n'),
      devs: sys.uvm.swap.devices.length,
    };
    throwsVm(() => sys.swapoff(dev), 'ENOMEM', 'device');
    assert.deepEqual(
      { used: dev.inuseCount, maps: p.maps().join('\n'), devs: sys.uvm.swap.devices.length },
      before,
    );
    verify(p, a, 96, 2);
    sys.audit();
  });

  it('with swap full, pageout skips pages and a fault that cannot be met gets ENOMEM', () => {
    const sys = new VmSystem({ physPages: 32, swapPages: 16 });
    const p = sys.spawn();
    const a = p.mmap(0, 96 * PS, RW, ANON);
    let err: unknown;
    let written = 0;
    try {
      for (; written < 96; written++) p.write(a + written * PS, new Uint8Array(PS).fill(written));
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof VmError && err.code === 'ENOMEM');
    assert.ok(sys.counters.pdnoswap > 0);
    sys.audit();
    /* memory and swap are full of dirty pages: free half, then every byte is there */
    const half = Math.floor(written / 2);
    p.munmap(a, half * PS);
    for (let i = half; i < written; i++) assert.equal(p.read(a + i * PS, 1)[0], i);
    sys.audit();
  });

  it('a failing swap write keeps the page dirty and resident; a failing read is EIO and loses nothing', () => {
    const sys = new VmSystem({ physPages: 32, swapPages: 512 });
    const store = sys.uvm.swap.devices[0].store as MemoryStore;
    const p = sys.spawn();
    const a = p.mmap(0, 24 * PS, RW, ANON);
    fill(p, a, 24, 5);
    store.faults.failWrites = 1000;
    const more = p.mmap(0, 16 * PS, RW, ANON);
    let werr: unknown;
    try {
      fill(p, more, 16, 0);
    } catch (e) {
      werr = e;
    }
    assert.ok(
      werr instanceof VmError && werr.code === 'EIO',
      'a fault with no memory but failing pageouts says EIO',
    );
    assert.ok(sys.counters.swapioerrs > 0);
    assert.ok(sys.pagedaemon().ioErrors > 0, 'the pagedaemon reports the errors');
    sys.audit();
    store.faults.failWrites = 0;
    verify(p, a, 24, 5);
    p.munmap(more, 16 * PS);
    const b = p.mmap(0, 64 * PS, RW, ANON);
    fill(p, b, 64, 0);
    store.faults.failReads = 1;
    let err: unknown;
    try {
      verify(p, a, 24, 5);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof VmError && err.code === 'EIO');
    verify(p, a, 24, 5);
    sys.audit();
  });

  it('after every process exits and swap is off, nothing is left', () => {
    const sys = new VmSystem({ physPages: 32, swapPages: 256 });
    const p = sys.spawn();
    fill(p, p.mmap(0, 80 * PS, RW, ANON), 80, 0);
    p.fork().exit();
    sys.close();
    sys.swapoff();
    sys.audit();
    const uvm = sys.uvm;
    assert.equal(uvm.pages.freeCount, uvm.pages.npages);
    assert.equal(uvm.swap.devices.length, 0);
    assert.equal(uvm.objects.size, 0);
    assert.equal(uvm.anons.nlive, 0);
  });
});

describe('file mappings', () => {
  function file(name: string, bytes: Uint8Array): string {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return path;
  }

  function sys(physPages = 256): VmSystem {
    return new VmSystem({ physPages, swapPages: 512, host: new NodeHost() });
  }

  it("reads the file's bytes; the tail of the last page is zeros; a page past the end is SIGBUS", () => {
    const path = file('read.dat', new Uint8Array(PS + 100).fill(0x61));
    const s = sys();
    const p = s.spawn();
    const f = s.open(path, 'r');
    const a = p.mmap(0, 3 * PS, PROT_READ, MAP_PRIVATE, f);
    assert.equal(p.read(a + PS + 99, 1)[0], 0x61);
    assert.equal(p.read(a + PS + 100, 1)[0], 0);
    assert.throws(
      () => p.read(a + 2 * PS, 1),
      (e: unknown) => e instanceof VmError && e.code === 'EFAULT' && e.signal === 'SIGBUS',
    );
    s.audit();
  });

  it('MAP_SHARED writes reach the file on msync and on pageout; MAP_PRIVATE writes never do', () => {
    const path = file('shared.dat', new Uint8Array(8 * PS));
    const s = sys(64);
    const p = s.spawn();
    const f = s.open(path, 'r+');
    const sh = p.mmap(0, 8 * PS, RW, MAP_SHARED, f);
    const pr = p.mmap(0, 8 * PS, RW, MAP_PRIVATE, f);
    const c = p.fork();
    c.write(sh, [1, 2, 3]);
    c.write(pr + PS, [9]);
    assert.deepEqual(
      Array.from(p.read(sh, 3)),
      [1, 2, 3],
      "the parent sees the child's shared write",
    );
    c.msync(sh, 8 * PS, MS_SYNC);
    assert.deepEqual(Array.from(readFileSync(path).subarray(0, 3)), [1, 2, 3]);
    p.write(sh + 5 * PS, [7]);
    const big = p.mmap(0, 160 * PS, RW, MAP_PRIVATE | MAP_ANON);
    fill(p, big, 160, 0);
    assert.equal(readFileSync(path)[5 * PS], 7, 'written back by the pagedaemon');
    assert.equal(readFileSync(path)[PS], 0, 'the private write stayed private');
    assert.equal(p.read(sh + 5 * PS, 1)[0], 7);
    s.audit();
  });

  it('processes mapping the same file share its pages', () => {
    const path = file('share.dat', new Uint8Array(PS).fill(5));
    const s = sys();
    const a = s.spawn();
    const b = s.spawn();
    const fa = s.open(path, 'r');
    const fb = s.open(path, 'r');
    const va = a.mmap(0, PS, PROT_READ, MAP_SHARED, fa);
    const vb = b.mmap(0, PS, PROT_READ, MAP_SHARED, fb);
    a.read(va, 1);
    b.read(vb, 1);
    const { pteFrame } = { pteFrame: (pte: number) => (pte >>> 4) - 1 };
    assert.equal(pteFrame(a.vm.pmap.lookup(va)), pteFrame(b.vm.pmap.lookup(vb)));
    s.audit();
  });

  it('the open mode bounds MAP_SHARED: writing a file opened r is EACCES, now or later', () => {
    const path = file('ro.dat', new Uint8Array(PS));
    const s = sys();
    const p = s.spawn();
    const f = s.open(path, 'r');
    throwsVm(() => p.mmap(0, PS, RW, MAP_SHARED, f), 'EACCES', 'prot');
    const a = p.mmap(0, PS, PROT_READ, MAP_SHARED, f);
    throwsVm(() => p.mprotect(a, PS, RW), 'EACCES', 'prot');
    const pr = p.mmap(0, PS, RW, MAP_PRIVATE, f);
    p.write(pr, [1]);
    throwsVm(() => s.open(join(dir, 'missing.dat'), 'r'), 'ENOENT', 'path');
    s.audit();
  });

  it('MS_INVALIDATE drops clean pages so the file is read again', () => {
    const path = file('inval.dat', new Uint8Array(PS).fill(1));
    const s = sys();
    const p = s.spawn();
    const a = p.mmap(0, PS, PROT_READ, MAP_SHARED, s.open(path, 'r'));
    assert.equal(p.read(a, 1)[0], 1);
    writeFileSync(path, new Uint8Array(PS).fill(2));
    p.msync(a, PS, MS_SYNC | MS_INVALIDATE);
    assert.equal(p.read(a, 1)[0], 2);
    s.audit();
  });
});
