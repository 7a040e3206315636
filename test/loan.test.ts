/*
 * Page loanout (issue 15, kernel/loan.ts) and the pipes that use it
 * (sys/pipe.ts): loans to the kernel, to anons, each way a loan breaks,
 * and the page-copy counts of a zero-copy pipe.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryHost } from '../src/kernel/host.ts';
import { uvmLoanPage, uvmLoanuobjpages, uvmUnloan } from '../src/kernel/loan.ts';
import { objectDetach } from '../src/kernel/object.ts';
import {
  type Frame,
  KernelPanic,
  MADV_FREE,
  MADV_SETMAP,
  MAP_ANON,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_VPAGETABLE,
  PROT_READ,
  PROT_WRITE,
  VPTE_RW,
  VPTE_V,
} from '../src/kernel/param.ts';
import { PTE_W, pteFrame } from '../src/kernel/pmap.ts';
import { PIPE_SIZE } from '../src/sys/pipe.ts';
import type { Process } from '../src/sys/proc.ts';
import { VmSystem } from '../src/sys/system.ts';
import { ScenarioRunner } from '../src/tools/scenario.ts';
import { throwsVm } from './helpers.ts';

const PS = 4096;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANON;

function system(physPages = 512, swapPages = 1024): VmSystem {
  return new VmSystem({ physPages, swapPages, poisonFreed: true });
}

/** fill: page i of [a, a+n pages) holds byte (seed + i) throughout. */
function fill(p: Process, a: number, n: number, seed: number): void {
  for (let i = 0; i < n; i++) p.write(a + i * PS, new Uint8Array(PS).fill((seed + i) & 0xff));
}

/** holds: page i of [a, a+n pages) holds byte (seed + i) throughout. */
function holds(p: Process, a: number, n: number, seed: number): void {
  const got = p.read(a, n * PS);
  for (let i = 0; i < n; i++)
    assert.deepEqual(
      got.subarray(i * PS, (i + 1) * PS),
      new Uint8Array(PS).fill((seed + i) & 0xff),
      `page ${i}`,
    );
}

/** hosted: a system over an in-memory host holding `path`, and a process in it. */
function hosted(
  path: string,
  bytes: Uint8Array,
  physPages = 256,
): { host: MemoryHost; sys: VmSystem; p: Process } {
  const host = new MemoryHost();
  host.put(path, bytes);
  const sys = new VmSystem({ physPages, swapPages: physPages, host });
  return { host, sys, p: sys.spawn() };
}

/** frame: the frame p's page at va maps. */
function frame(p: Process, va: number): Frame {
  return pteFrame(p.vm.pmap.lookup(va));
}

describe('pipes: zero-copy through loans', () => {
  it('16 aligned pages writer -> pipe -> reader copy no page', () => {
    const sys = system();
    const w = sys.spawn();
    const [rfd, wfd] = w.pipe();
    const r = w.fork();
    const src = w.mmap(0, 16 * PS, RW, ANON);
    fill(w, src, 16, 1);
    const dst = r.mmap(0, 16 * PS, RW, ANON);
    sys.audit();
    const copies = sys.counters.pagecopies;
    assert.equal(w.writeFd(wfd, src, 16 * PS), 16 * PS);
    sys.audit();
    for (let i = 0; i < 16; i++) {
      assert.equal(sys.uvm.pages.loanCount(frame(w, src + i * PS)), 1, `page ${i} lent`);
      assert.equal(w.vm.pmap.lookup(src + i * PS) & PTE_W, 0, `page ${i} read-only`);
    }
    assert.equal(r.readFd(rfd, dst, 16 * PS), 16 * PS);
    sys.audit();
    holds(r, dst, 16, 1);
    for (let i = 0; i < 16; i++) assert.equal(frame(r, dst + i * PS), frame(w, src + i * PS));
    assert.equal(sys.counters.pagecopies - copies, 0);
    assert.equal(r.readFd(rfd, dst, PS), 0, 'the pipe is empty');
    sys.audit();
  });

  it('a write by the writer before the read breaks one loan: 1 copy, the reader gets the old bytes', () => {
    const sys = system();
    const w = sys.spawn();
    const [rfd, wfd] = w.pipe();
    const r = w.fork();
    const src = w.mmap(0, 16 * PS, RW, ANON);
    fill(w, src, 16, 1);
    const dst = r.mmap(0, 16 * PS, RW, ANON);
    const copies = sys.counters.pagecopies;
    w.writeFd(wfd, src, 16 * PS);
    const lent = frame(w, src + 5 * PS);
    w.write(src + 5 * PS, new Uint8Array([0xee]));
    sys.audit();
    assert.notEqual(frame(w, src + 5 * PS), lent, 'the writer has a new page');
    assert.equal(sys.uvm.pages.uanon(lent), 0, 'the old page is the pipe’s alone');
    assert.equal(sys.counters.pagecopies - copies, 1);
    r.readFd(rfd, dst, 16 * PS);
    sys.audit();
    holds(r, dst, 16, 1);
    assert.equal(w.read(src + 5 * PS, 2)[0], 0xee);
    assert.equal(w.read(src + 5 * PS, 2)[1], 6);
    assert.equal(sys.counters.pagecopies - copies, 1);
    sys.audit();
  });

  it('the reader writing a handed-over page copies it; the writer keeps its bytes', () => {
    const sys = system();
    const w = sys.spawn();
    const [rfd, wfd] = w.pipe();
    const src = w.mmap(0, 2 * PS, RW, ANON);
    fill(w, src, 2, 7);
    const dst = w.mmap(0, 2 * PS, RW, ANON);
    w.writeFd(wfd, src, 2 * PS);
    w.readFd(rfd, dst, 2 * PS);
    const copies = sys.counters.pagecopies;
    w.write(dst, new Uint8Array([1, 2, 3]));
    sys.audit();
    assert.equal(sys.counters.pagecopies - copies, 1);
    holds(w, src, 2, 7);
    assert.deepEqual(w.read(dst, 4), new Uint8Array([1, 2, 3, 7]));
    w.write(src + PS, new Uint8Array([9]));
    sys.audit();
    assert.equal(w.read(dst + PS, 1)[0], 8, 'the reader keeps the bytes it read');
    sys.audit();
  });

  it('the MMU fast path honours a loan: its write copies the page', () => {
    const sys = system();
    const p = sys.spawn();
    const a = p.mmap(0, PS, RW, ANON);
    p.mmu.writeU8(a, 7);
    assert.equal(p.mmu.readU8(a), 7, 'the TLB holds a writable entry');
    const [rfd, wfd] = p.pipe();
    p.writeFd(wfd, a, PS);
    const copies = sys.counters.pagecopies;
    p.mmu.writeU8(a, 9);
    sys.audit();
    assert.equal(sys.counters.pagecopies - copies, 1);
    const b = p.mmap(0, PS, RW, ANON);
    p.readFd(rfd, b, PS);
    assert.equal(p.mmu.readU8(b), 7);
    assert.equal(p.mmu.readU8(a), 9);
    sys.audit();
  });

  it('mlock of a lent page copies it: a loaned page is never wired', () => {
    const sys = system();
    const p = sys.spawn();
    const [rfd, wfd] = p.pipe();
    const a = p.mmap(0, 2 * PS, RW, ANON);
    fill(p, a, 2, 50);
    p.writeFd(wfd, a, 2 * PS);
    const c = p.fork(); /* page 1 shared copy-on-write (an_ref 2) */
    p.mprotect(a, PS, PROT_READ);
    const copies = sys.counters.pagecopies;
    p.mlock(a, 2 * PS);
    sys.audit();
    assert.equal(sys.counters.pagecopies - copies, 2, 'both pages copied, one read-only');
    for (const va of [a, a + PS]) assert.equal(sys.uvm.pages.loanCount(frame(p, va)), 0);
    p.munlock(a, 2 * PS);
    p.mprotect(a, PS, RW);
    p.write(a + PS, new Uint8Array([1]));
    const b = p.mmap(0, 2 * PS, RW, ANON);
    p.readFd(rfd, b, 2 * PS);
    sys.audit();
    holds(p, b, 2, 50);
    holds(c, a, 2, 50);
    sys.audit();
  });

  it('unaligned parts are copied, aligned pages lent', () => {
    const sys = system();
    const w = sys.spawn();
    const [rfd, wfd] = w.pipe();
    const src = w.mmap(0, 4 * PS, RW, ANON);
    fill(w, src, 4, 20);
    const dst = w.mmap(0, 4 * PS, RW, ANON);
    const n = 2 * PS + 200;
    assert.equal(w.writeFd(wfd, src + 100, n), n);
    sys.audit();
    assert.equal(sys.uvm.pages.loanCount(frame(w, src + PS)), 1, 'the whole page is lent');
    assert.equal(sys.uvm.pages.loanCount(frame(w, src)), 0, 'the head is copied');
    assert.equal(w.readFd(rfd, dst + 1, 50), 50);
    assert.equal(w.readFd(rfd, dst + 51, n), n - 50);
    sys.audit();
    assert.deepEqual(w.read(dst + 1, n), w.read(src + 100, n));
    assert.equal(sys.uvm.pages.loanCount(frame(w, src + PS)), 0, 'copied out: loan ended');
    sys.audit();
  });

  it('bad descriptors are EBADF, bad buffers EFAULT, nothing changed', () => {
    const sys = system();
    const p = sys.spawn();
    const [rfd, wfd] = p.pipe();
    const a = p.mmap(0, 2 * PS, RW, ANON);
    fill(p, a, 2, 3);
    const ro = p.mmap(0, PS, PROT_READ, ANON);
    p.writeFd(wfd, a, PS);
    const before = JSON.stringify(sys.counters);
    const free = sys.uvm.pages.freeCount;
    throwsVm(() => p.writeFd(rfd, a, PS), 'EBADF', 'fd');
    throwsVm(() => p.readFd(wfd, a, PS), 'EBADF', 'fd');
    throwsVm(() => p.readFd(99, a, PS), 'EBADF', 'fd');
    throwsVm(() => p.writeFd(-1, a, PS), 'EBADF', 'fd');
    throwsVm(() => p.writeFd(wfd, a + PS, 2 * PS), 'EFAULT');
    throwsVm(() => p.readFd(rfd, ro, PS), 'EFAULT');
    throwsVm(() => p.readFd(rfd, a + 2 * PS, PS), 'EFAULT');
    assert.equal(sys.uvm.pages.freeCount, free);
    assert.equal(JSON.stringify(sys.counters), before.replace(/"ticks":\d+/, ''), 'counters');
    sys.audit();
    assert.equal(p.readFd(rfd, a + PS, PS), PS, 'the pipe kept its page');
    holds(p, a + PS, 1, 3);
    sys.audit();
  });

  it('fork inherits the descriptors; the last exit ends the loans, no frame leaked', () => {
    const sys = system();
    const free = sys.uvm.pages.freeCount;
    const p = sys.spawn();
    const [rfd, wfd] = p.pipe();
    const a = p.mmap(0, 8 * PS, RW, ANON);
    fill(p, a, 8, 40);
    const c = p.fork();
    assert.equal(c.writeFd(wfd, a, 8 * PS), 8 * PS, "the child writes the parent's pipe");
    sys.audit();
    const b = p.mmap(0, 4 * PS, RW, ANON);
    assert.equal(p.readFd(rfd, b, 4 * PS), 4 * PS);
    holds(p, b, 4, 40);
    sys.audit();
    c.exit();
    sys.audit();
    throwsVm(() => c.readFd(rfd, a, PS), 'ESRCH');
    p.munmap(a, 8 * PS);
    sys.audit();
    holds(p, b, 4, 40);
    p.exit();
    sys.audit();
    assert.equal(sys.uvm.pages.freeCount, free, 'every frame free again');
    assert.equal(sys.uvm.pages.loans.total(), 0);
  });

  it('a pipe holds PIPE_SIZE bytes: a write takes what fits, a full pipe is EAGAIN', () => {
    const sys = system();
    const p = sys.spawn();
    const [rfd, wfd] = p.pipe();
    const a = p.mmap(0, 20 * PS, RW, ANON);
    fill(p, a, 20, 30);
    assert.equal(p.writeFd(wfd, a, 100), 100);
    assert.equal(p.writeFd(wfd, a + PS, 20 * PS - PS), PIPE_SIZE - 100);
    const free = sys.uvm.pages.freeCount;
    throwsVm(() => p.writeFd(wfd, a, PS), 'EAGAIN', 'fd');
    assert.equal(p.writeFd(wfd, a, 0), 0);
    assert.equal(sys.uvm.pages.freeCount, free);
    sys.audit();
    const b = p.mmap(0, 20 * PS, RW, ANON);
    assert.equal(p.readFd(rfd, b, 20 * PS), PIPE_SIZE);
    assert.deepEqual(p.read(b + 100, PIPE_SIZE - 100), p.read(a + PS, PIPE_SIZE - 100));
    sys.audit();
  });

  it('closeFd: a write with no read end open is EPIPE; the last close ends the loans', () => {
    const sys = system();
    const free = sys.uvm.pages.freeCount;
    const p = sys.spawn();
    const [rfd, wfd] = p.pipe();
    const c = p.fork();
    const a = c.mmap(0, 2 * PS, RW, ANON);
    fill(c, a, 2, 9);
    c.closeFd(rfd);
    throwsVm(() => c.closeFd(rfd), 'EBADF', 'fd');
    throwsVm(() => c.readFd(rfd, a, PS), 'EBADF', 'fd');
    assert.equal(c.writeFd(wfd, a, 2 * PS), 2 * PS, "the parent's read end is open");
    p.closeFd(rfd);
    throwsVm(() => c.writeFd(wfd, a, PS), 'EPIPE', 'fd');
    sys.audit();
    c.munmap(a, 2 * PS);
    sys.audit();
    assert.equal(sys.uvm.pages.freeCount, free - 2, 'the pipe holds 2');
    p.closeFd(wfd);
    c.closeFd(wfd);
    sys.audit();
    assert.equal(sys.uvm.pages.loans.total(), 0);
    p.exit();
    c.exit();
    sys.audit();
    assert.equal(sys.uvm.pages.freeCount, free);
  });

  it('pageout under pressure passes over loaned pages: the borrower keeps its bytes', () => {
    const sys = system(128, 1024);
    const w = sys.spawn();
    const [rfd, wfd] = w.pipe();
    const src = w.mmap(0, 16 * PS, RW, ANON);
    fill(w, src, 16, 60);
    w.writeFd(wfd, src, 16 * PS);
    const lent = Array.from({ length: 16 }, (_, i) => frame(w, src + i * PS));
    w.munmap(src + 8 * PS, 8 * PS); /* the owner frees half: they stay for the pipe */
    sys.audit();
    const hog = w.mmap(0, 300 * PS, RW, ANON);
    fill(w, hog, 300, 0);
    sys.audit();
    assert.ok(sys.counters.pageouts > 0, 'memory pressure paged out');
    for (const pg of lent) assert.equal(sys.uvm.pages.loanCount(pg), 1, `frame ${pg} still lent`);
    const dst = w.mmap(0, 16 * PS, RW, ANON);
    assert.equal(w.readFd(rfd, dst, 16 * PS), 16 * PS);
    sys.audit();
    holds(w, dst, 16, 60);
    sys.audit();
  });

  it('a read is all or nothing: past a file end, a partly bad buffer, an I/O error', () => {
    const { host, sys, p } = hosted('/f', new Uint8Array(PS).fill(0x41));
    const [rfd, wfd] = p.pipe();
    const src = p.mmap(0, 2 * PS, RW, ANON);
    fill(p, src, 2, 0xab);
    const fh = sys.open('/f', 'r+');
    const dst = p.mmap(0, 2 * PS, RW, MAP_PRIVATE, fh);
    throwsVm(() => p.write(dst + PS, new Uint8Array([1])), 'EFAULT');
    /* a whole lent page is not handed to a page past the file's end */
    p.writeFd(wfd, src, PS);
    throwsVm(() => p.readFd(rfd, dst + PS, PS), 'EFAULT');
    sys.audit();
    /* the first page could take its bytes, the second cannot: none move */
    p.writeFd(wfd, src + PS, PS);
    throwsVm(() => p.readFd(rfd, dst, 2 * PS), 'EFAULT');
    assert.deepEqual(p.read(dst, 1), new Uint8Array([0x41]), 'the first page kept its bytes');
    const tmp = p.mmap(0, 2 * PS, RW, ANON);
    assert.equal(p.readFd(rfd, tmp, 2 * PS), 2 * PS, 'the pipe kept them');
    holds(p, tmp, 2, 0xab);
    sys.audit();
    /* an I/O error on the second page leaves the first untouched */
    host.put('/g', new Uint8Array(PS));
    const anon = p.mmap(0x40000000, PS, RW, ANON | MAP_FIXED);
    p.mmap(0x40000000 + PS, PS, RW, MAP_SHARED | MAP_FIXED, sys.open('/g', 'r+'));
    p.writeFd(wfd, src, 2 * PS);
    host.faults('/g').failReads = 1;
    throwsVm(() => p.readFd(rfd, anon, 2 * PS), 'EIO');
    sys.audit();
    assert.deepEqual(p.read(anon, 1), new Uint8Array([0]), 'nothing was stored');
    assert.equal(p.readFd(rfd, anon, 2 * PS), 2 * PS, 'the pipe kept every byte');
    holds(p, anon, 1, 0xab);
    sys.audit();
  });

  it("MADV_FREE of a page a read handed over leaves its owner's dirt alone", () => {
    const { host, sys, p } = hosted('/f', new Uint8Array(PS).fill(0x41), 64);
    const m = p.mmap(0, PS, RW, MAP_SHARED, sys.open('/f', 'r+'));
    p.write(m, new Uint8Array([0x42]));
    const [rfd, wfd] = p.pipe();
    p.writeFd(wfd, m, PS);
    const dst = p.mmap(0, PS, RW, ANON);
    assert.equal(p.readFd(rfd, dst, PS), PS);
    p.madvise(dst, PS, MADV_FREE);
    sys.audit();
    p.exit();
    sys.close();
    assert.equal(host.get('/f')![0], 0x42, 'the file got its write');
  });

  it('fork keeps the descriptor numbers (fdcopy)', () => {
    const sys = system();
    const p = sys.spawn();
    assert.deepEqual(p.pipe(), [0, 1]);
    assert.deepEqual(p.pipe(), [2, 3]);
    p.closeFd(0);
    const c = p.fork();
    assert.equal(c.writeFd(3, 0, 0), 0, 'descriptor 3 is still the second write end');
    throwsVm(() => c.readFd(0, 0, 0), 'EBADF', 'fd');
    assert.deepEqual(c.pipe(), [0, 4], 'the hole is the lowest free number');
    sys.audit();
  });

  it('object pages: a shared file page is lent, a write through the mapping breaks the loan', () => {
    const { sys, p } = hosted('/f', new Uint8Array(2 * PS).fill(0x41));
    const fh = sys.open('/f', 'r+');
    const [rfd, wfd] = p.pipe();
    const m = p.mmap(0, 2 * PS, RW, MAP_SHARED, fh);
    p.write(m, new Uint8Array([0x42]));
    p.writeFd(wfd, m, 2 * PS);
    sys.audit();
    const copies = sys.counters.pagecopies;
    p.write(m, new Uint8Array([0x43]));
    sys.audit();
    assert.equal(sys.counters.pagecopies - copies, 1, 'the file got a copy');
    const dst = p.mmap(0, 2 * PS, RW, ANON);
    p.readFd(rfd, dst, 2 * PS);
    sys.audit();
    assert.deepEqual(p.read(dst, 2), new Uint8Array([0x42, 0x41]), 'the old bytes');
    assert.equal(p.read(m, 1)[0], 0x43);
    p.write(dst + PS, new Uint8Array([0x44]));
    sys.audit();
    assert.equal(p.read(m + PS, 1)[0], 0x41, "the reader's write stays private (O->A loan broken)");
    p.exit();
    sys.audit();
  });

  it('a write through a virtual page table breaks the loan of the page it names', () => {
    /* /vm: pages 0..3 tables (each level's entry 0 -> the next), level 4 entry 0 -> page 8 */
    const img = new Uint8Array(9 * PS).fill(0x58, 8 * PS);
    const dv = new DataView(img.buffer);
    for (let level = 0; level < 4; level++) {
      const next = level === 3 ? 8 : level + 1;
      dv.setBigUint64(level * PS, BigInt(next * PS + VPTE_V + VPTE_RW), true);
    }
    const { sys, p } = hosted('/vm', img, 64);
    const f = sys.open('/vm', 'r+');
    const VA = 0x200000000;
    const plain = p.mmap(0, 9 * PS, RW, MAP_SHARED, f);
    p.mmap(VA, PS, RW, MAP_SHARED | MAP_VPAGETABLE | MAP_FIXED, f);
    p.madvise(VA, PS, MADV_SETMAP, VPTE_V | VPTE_RW);
    assert.equal(p.read(VA, 1)[0], 0x58);
    const [rfd, wfd] = p.pipe();
    p.writeFd(wfd, plain + 8 * PS, PS);
    sys.audit();
    const copies = sys.counters.pagecopies;
    p.write(VA, new Uint8Array([0x59]));
    sys.audit();
    assert.equal(sys.counters.pagecopies - copies, 1);
    assert.equal(p.read(plain + 8 * PS, 1)[0], 0x59, 'the file has the new byte');
    const dst = p.mmap(0, PS, RW, ANON);
    p.readFd(rfd, dst, PS);
    assert.equal(p.read(dst, 1)[0], 0x58, 'the pipe kept the old one');
    sys.audit();
  });
});

describe('loans to the kernel', () => {
  it('an anon page lent read-only; freed by its owner it stays until the last unloan', () => {
    const sys = system();
    const p = sys.spawn();
    const a = p.mmap(0, PS, RW, ANON);
    p.write(a, new Uint8Array([5]));
    const pg = frame(p, a);
    uvmLoanPage(sys.uvm, pg);
    uvmLoanPage(sys.uvm, pg);
    assert.equal(sys.uvm.pages.loanCount(pg), 2);
    assert.equal(p.vm.pmap.lookup(a) & PTE_W, 0);
    const free = sys.uvm.pages.freeCount;
    p.munmap(a, PS);
    assert.equal(sys.uvm.pages.freeCount, free, 'the lent frame stays');
    assert.equal(sys.uvm.pages.bytes[pg * PS], 5);
    uvmUnloan(sys.uvm, [pg]);
    assert.equal(sys.uvm.pages.freeCount, free);
    uvmUnloan(sys.uvm, [pg]);
    assert.equal(sys.uvm.pages.freeCount, free + 1, 'the last unloan frees it');
    sys.audit();
  });

  it('uvmLoanuobjpages lends object pages; an unloan leaves the object its pages', () => {
    const host = new MemoryHost();
    host.put('/g', new Uint8Array(3 * PS).fill(7));
    const sys = new VmSystem({ physPages: 256, swapPages: 256, host });
    const obj = sys.fileObject('/g', 3 * PS);
    const pgs = uvmLoanuobjpages(sys.uvm, obj, 0, 3);
    assert.ok(Array.isArray(pgs));
    for (const pg of pgs) assert.equal(sys.uvm.pages.loanCount(pg), 1);
    assert.equal(uvmLoanuobjpages(sys.uvm, obj, 2, 2), 'SIGBUS', 'beyond the end: nothing lent');
    assert.equal(sys.uvm.pages.loanCount(pgs[2]), 1);
    uvmUnloan(sys.uvm, pgs);
    for (const pg of pgs) assert.equal(sys.uvm.pages.uobject(pg), obj.id);
    const p = sys.spawn();
    const m = p.mmap(0, 3 * PS, PROT_READ, MAP_SHARED, sys.open('/g', 'r'));
    p.mlock(m + PS, PS);
    assert.equal(uvmLoanuobjpages(sys.uvm, obj, 0, 3), 'EBUSY', 'a wired page is not lent');
    assert.throws(() => uvmLoanPage(sys.uvm, pgs[1]), KernelPanic);
    for (const pg of pgs) assert.equal(sys.uvm.pages.loanCount(pg), 0);
    p.exit();
    sys.audit();
    objectDetach(sys.uvm, obj);
    sys.audit();
  });
});

describe('pipes against a model', () => {
  /** a small deterministic generator (mulberry32) */
  function rng(seed: number): (n: number) => number {
    let t = seed;
    return (n) => {
      t = (t + 0x6d2b79f5) | 0;
      let x = Math.imul(t ^ (t >>> 15), 1 | t);
      x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
      return (((x ^ (x >>> 14)) >>> 0) % n) as number;
    };
  }
  const VA = 0x100000000;
  const LEN = 8 * PS;

  /** the system, its processes, the model of each one's region and of the pipe */
  interface World {
    sys: VmSystem;
    procs: Process[];
    mem: Map<Process, Uint8Array>;
    pipe: number[];
    r: (n: number) => number;
    /** the region's mmap flags: private, or shared (forks share the model's bytes too) */
    flags: number;
  }

  /** one random operation on the processes and their pipe; the model follows */
  function step(w: World): void {
    const { procs, mem, pipe, r } = w;
    const p = procs[r(procs.length)];
    const m = mem.get(p)!;
    const pages = r(3) === 0;
    const off = pages ? r(8) * PS : r(LEN);
    const len = pages ? (1 + r(8 - off / PS)) * PS : r(LEN - off + 1);
    switch (r(9)) {
      case 0: {
        const bytes = Uint8Array.from({ length: 1 + r(64) }, () => r(256));
        const at = r(LEN - bytes.length + 1);
        p.write(VA + at, bytes);
        m.set(bytes, at);
        return;
      }
      case 1: {
        const room = PIPE_SIZE - pipe.length;
        if (len > 0 && room === 0) {
          throwsVm(() => p.writeFd(1, VA + off, len), 'EAGAIN');
          return;
        }
        const n = p.writeFd(1, VA + off, len);
        assert.equal(n, Math.min(len, room));
        pipe.push(...m.subarray(off, off + n));
        return;
      }
      case 2: {
        const n = p.readFd(0, VA + off, len);
        assert.equal(n, Math.min(len, pipe.length));
        m.set(pipe.splice(0, n), off);
        return;
      }
      case 3:
        if (procs.length < 4) {
          const c = p.fork();
          procs.push(c);
          mem.set(c, w.flags & MAP_SHARED ? m : m.slice());
        }
        return;
      case 4:
        if (procs.length > 1) {
          p.exit();
          procs.splice(procs.indexOf(p), 1);
        }
        return;
      case 5:
        p.munmap(VA, LEN);
        p.mmap(VA, LEN, RW, w.flags | MAP_FIXED);
        mem.set(p, new Uint8Array(LEN));
        return;
      case 6:
        p.mlock(VA + off - (off % PS), PS);
        return;
      case 7:
        p.munlock(VA, LEN);
        return;
      default:
        w.sys.pagedaemon();
    }
  }

  for (const [kind, flags] of [
    ['private', ANON],
    ['shared', MAP_SHARED | MAP_ANON],
  ] as const)
    for (const seed of [1, 2, 3, 4])
      it(`${kind} memory, seed ${seed}: 300 random writes, pipe writes and reads, forks, exits, unmaps, mlocks, pageouts`, () => {
        const sys = system(64, 1024);
        const free = sys.uvm.pages.freeCount;
        const p0 = sys.spawn();
        assert.deepEqual(p0.pipe(), [0, 1]);
        p0.mmap(VA, LEN, RW, flags | MAP_FIXED);
        const w: World = {
          sys,
          procs: [p0],
          mem: new Map([[p0, new Uint8Array(LEN)]]),
          pipe: [],
          r: rng(seed),
          flags,
        };
        for (let i = 0; i < 300; i++) {
          step(w);
          sys.audit();
          const q = w.procs[w.r(w.procs.length)];
          assert.deepEqual(q.read(VA, LEN), w.mem.get(q), `step ${i}: memory`);
        }
        for (const p of w.procs) p.exit();
        sys.audit();
        assert.equal(sys.uvm.pages.freeCount, free, 'no frame leaked');
      });
});

describe('scenario commands pipe, writefd, readfd', () => {
  it('runs a zero-copy pipe', () => {
    const r = new ScenarioRunner('pipe.uvm');
    const steps = r.run(`
spawn w
pipe w r0 w0
fork w r
mmap w src 4p rw private,anon
write w src "hello"
mmap r dst 4p rw private,anon
writefd w w0 src 4p
expect EBADF writefd w r0 src 1p
readfd r r0 dst 4p
read r dst 5 expect "hello"
check pagecopies = 0
readfd r r0 dst 1p
closefd r r0
expect EBADF readfd r r0 dst 1p
`);
    const out = steps.map((s) => s.output.join(' '));
    assert.deepEqual(out.slice(-8), [
      '16384 bytes',
      'writefd failed as expected: writeFd: EBADF: 0 is not open for writing',
      '16384 bytes',
      '"hello"',
      'pagecopies = 0 (= 0)',
      '0 bytes',
      'fd 0 closed',
      'readfd failed as expected: readFd: EBADF: 0 is not open for reading',
    ]);
  });
});
