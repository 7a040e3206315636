/*
 * The fast access path (src/sys/mmu.ts, src/kernel/tlb.ts): typed reads
 * and writes through a software TLB must see exactly what the slow path
 * sees. Two systems run the same random programs (fork, copy-on-write,
 * mprotect, munmap, mmap over a mapping, madvise, pageout, swapoff and
 * swapon, exit); one accesses memory through proc.mmu, the other through
 * proc.read/write; every value and every error must agree, and the audit
 * (which checks every TLB entry's promise) holds after every step.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MemoryHost } from '../src/kernel/host.ts';
import {
  MADV_DONTNEED,
  MADV_FREE,
  MAP_ANON,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MS_SYNC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  VmError,
} from '../src/kernel/param.ts';
import { uvmPageout } from '../src/kernel/pdaemon.ts';
import type { Process } from '../src/sys/proc.ts';
import { VmSystem } from '../src/sys/system.ts';
import { throwsVm } from './helpers.ts';

const PS = 4096;
const A = 0x10000000;
const PAGES = 12;
const RW = PROT_READ | PROT_WRITE;
const WIDTHS = [1, 2, 4, 8] as const;

type Op =
  | { k: 'write'; p: number; at: number; w: number; v: number }
  | { k: 'read'; p: number; at: number; w: number }
  | { k: 'bulk'; p: number; at: number; n: number; write: boolean; v: number }
  | { k: 'fork'; p: number }
  | { k: 'exit'; p: number }
  | { k: 'mprotect'; p: number; page: number; n: number; prot: number }
  | { k: 'munmap'; p: number; page: number; n: number }
  | { k: 'mmap'; p: number; page: number; n: number; shared: boolean }
  | { k: 'madvise'; p: number; page: number; n: number; advice: number }
  | { k: 'pageout' }
  | { k: 'swapcycle' };

const proc = fc.nat({ max: 3 });
const page = fc.nat({ max: PAGES - 1 });
const at = fc.integer({ min: 0, max: PAGES * PS - 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant('write' as const),
      p: proc,
      at,
      w: fc.constantFrom(...WIDTHS),
      v: fc.nat(),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant('read' as const),
      p: proc,
      at,
      w: fc.constantFrom(...WIDTHS),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('bulk' as const),
      p: proc,
      at,
      n: fc.integer({ min: 1, max: 2 * PS }),
      write: fc.boolean(),
      v: fc.nat({ max: 255 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('fork' as const), p: proc }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('exit' as const), p: proc }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('mprotect' as const),
      p: proc,
      page,
      n: fc.integer({ min: 1, max: 3 }),
      prot: fc.constantFrom(PROT_NONE, PROT_READ, RW),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('munmap' as const),
      p: proc,
      page,
      n: fc.integer({ min: 1, max: 2 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('mmap' as const),
      p: proc,
      page,
      n: fc.integer({ min: 1, max: 3 }),
      shared: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('madvise' as const),
      p: proc,
      page,
      n: fc.integer({ min: 1, max: 3 }),
      advice: fc.constantFrom(MADV_DONTNEED, MADV_FREE),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ k: 'pageout' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'swapcycle' as const }) },
);

/** One side of the comparison: a system, its processes, and how it accesses memory. */
class Side {
  readonly sys = new VmSystem({ physPages: 16, swapPages: 512 });
  readonly procs: Process[];

  constructor(readonly fast: boolean) {
    const p = this.sys.spawn();
    p.mmap(A, PAGES * PS, RW, MAP_PRIVATE | MAP_ANON | MAP_FIXED);
    this.procs = [p];
  }

  pick(i: number): Process {
    return this.procs[i % this.procs.length];
  }

  /** run: one operation; its outcome as text (a value or an errno). */
  run(o: Op): string {
    try {
      return String(this.apply(o));
    } catch (e) {
      if (!(e instanceof VmError)) throw e;
      return `${e.code}${e.signal ? `/${e.signal}` : ''}`;
    }
  }

  private apply(o: Op): unknown {
    const sys = this.sys;
    switch (o.k) {
      case 'write':
        return this.write(this.pick(o.p), A + o.at, o.w, o.v);
      case 'read':
        return this.read(this.pick(o.p), A + o.at, o.w);
      case 'bulk':
        return this.bulk(this.pick(o.p), A + o.at, o.n, o.write, o.v);
      case 'fork':
        if (this.procs.length < 4) this.procs.push(this.pick(o.p).fork());
        return this.procs.length;
      case 'exit':
        if (this.procs.length > 1) this.procs.splice(o.p % this.procs.length, 1)[0].exit();
        return this.procs.length;
      case 'mprotect':
        return this.pick(o.p).mprotect(A + o.page * PS, o.n * PS, o.prot);
      case 'munmap':
        return this.pick(o.p).munmap(A + o.page * PS, o.n * PS);
      case 'mmap':
        return this.pick(o.p).mmap(
          A + o.page * PS,
          o.n * PS,
          RW,
          (o.shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANON | MAP_FIXED,
        );
      case 'madvise':
        return this.pick(o.p).madvise(A + o.page * PS, o.n * PS, o.advice);
      case 'pageout':
        return uvmPageout(sys.uvm, sys.uvm.pages.npages).freed;
      case 'swapcycle': {
        const dev = sys.swapon({ pages: 512 });
        sys.swapoff(sys.uvm.swap.devices[0]);
        return dev.id;
      }
    }
  }

  private write(p: Process, va: number, w: number, v: number): string {
    const x = BigInt(v) * 0x10001n;
    if (!this.fast) {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, x, true);
      p.write(va, b.subarray(0, w));
      return 'ok';
    }
    const m = p.mmu;
    if (w === 1) m.writeU8(va, Number(x & 0xffn));
    else if (w === 2) m.writeU16(va, Number(x & 0xffffn));
    else if (w === 4) m.writeU32(va, Number(x & 0xffffffffn));
    else m.writeBigU64(va, x);
    return 'ok';
  }

  private read(p: Process, va: number, w: number): string {
    if (!this.fast) {
      const b = new Uint8Array(8);
      b.set(p.read(va, w));
      return new DataView(b.buffer).getBigUint64(0, true).toString(16);
    }
    const m = p.mmu;
    const v =
      w === 1 ? m.readU8(va) : w === 2 ? m.readU16(va) : w === 4 ? m.readU32(va) : m.readBigU64(va);
    return v.toString(16);
  }

  private bulk(p: Process, va: number, n: number, write: boolean, v: number): string {
    const buf = new Uint8Array(n).fill(v);
    if (write) {
      if (this.fast) p.mmu.writeFrom(va, buf);
      else p.write(va, buf);
      return 'ok';
    }
    if (this.fast) p.mmu.readInto(va, buf);
    else buf.set(p.read(va, n));
    return buf.reduce((h, b) => (h * 31 + b) >>> 0, 7).toString(16);
  }
}

describe('the MMU fast path against the slow path', () => {
  it('random programs agree on every value and every error; the audit holds after every step', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 20, maxLength: 120 }), (ops) => {
        const slow = new Side(false);
        const fast = new Side(true);
        for (const [n, o] of ops.entries()) {
          const want = slow.run(o);
          const got = fast.run(o);
          assert.equal(got, want, `step ${n}: ${JSON.stringify(o)}`);
          fast.sys.audit();
        }
        slow.sys.close();
        fast.sys.close();
      }),
      { numRuns: 60 },
    );
  });
});

describe('the software TLB', () => {
  it('a hit reads what was written; a COW fault, mprotect and pageout shoot entries down', () => {
    const sys = new VmSystem({ physPages: 64, swapPages: 64 });
    const p = sys.spawn();
    p.mmap(A, 2 * PS, RW, MAP_PRIVATE | MAP_ANON | MAP_FIXED);
    const m = p.mmu;
    m.writeU32(A, 0x11223344);
    assert.equal(m.readU32(A), 0x11223344);
    assert.equal(m.readU8(A), 0x44, 'little-endian');
    m.writeF64(A + 8, Math.PI);
    assert.equal(m.readF64(A + 8), Math.PI);
    const before = sys.counters.tlbshootdowns;
    const c = p.fork();
    assert.ok(sys.counters.tlbshootdowns > before, 'fork write-protects the parent: shootdown');
    m.writeU32(A, 0x55);
    assert.equal(c.mmu.readU32(A), 0x11223344, 'the child keeps the old bytes');
    assert.equal(m.readU32(A), 0x55);
    p.mprotect(A, PS, PROT_READ);
    throwsVm(() => m.writeU8(A, 1), 'EFAULT', 'va');
    assert.equal(m.readU32(A), 0x55);
    sys.pagedaemon();
    sys.audit();
    const out = sys.uvm.exp.pdpageouts;
    for (let i = 0; i < 3; i++) sys.pagedaemon();
    assert.equal(m.readU32(A), 0x55, 'read back after pageout');
    assert.ok(sys.uvm.exp.pdpageouts >= out);
    sys.audit();
    sys.close();
  });

  it('an access across a page boundary goes the slow way, all or nothing', () => {
    const sys = new VmSystem({ physPages: 64, swapPages: 64 });
    const p = sys.spawn();
    p.mmap(A, PS, RW, MAP_PRIVATE | MAP_ANON | MAP_FIXED);
    const m = p.mmu;
    throwsVm(() => m.writeBigU64(A + PS - 4, 1n), 'EFAULT', 'va');
    assert.equal(m.readU32(A + PS - 4), 0, 'nothing was written');
    p.mmap(A + PS, PS, RW, MAP_PRIVATE | MAP_ANON | MAP_FIXED);
    m.writeBigU64(A + PS - 4, 0x0102030405060708n);
    assert.equal(m.readBigU64(A + PS - 4), 0x0102030405060708n);
    assert.deepEqual(Array.from(p.read(A + PS - 4, 8)), [8, 7, 6, 5, 4, 3, 2, 1]);
    sys.audit();
  });

  it('msync cleans a file page: its write entry goes, so the next write marks it modified again', () => {
    const host = new MemoryHost();
    host.put('/f', new Uint8Array(PS));
    const sys = new VmSystem({ physPages: 64, swapPages: 64, host });
    const p = sys.spawn();
    const a = p.mmap(0, PS, RW, MAP_SHARED, sys.open('/f', 'r+'));
    p.mmu.writeU8(a, 1);
    p.msync(a, PS, MS_SYNC);
    assert.equal(host.get('/f')![0], 1);
    p.mmu.writeU8(a + 1, 2);
    sys.audit();
    p.msync(a, PS, MS_SYNC);
    assert.equal(host.get('/f')![1], 2, 'the second write reached the file');
    sys.close();
  });

  it('the audit catches an entry that outlived its translation', () => {
    const sys = new VmSystem({ physPages: 64, swapPages: 64 });
    const p = sys.spawn();
    p.mmap(A, PS, RW, MAP_PRIVATE | MAP_ANON | MAP_FIXED);
    p.mmu.writeU8(A, 1);
    const tlb = p.vm.pmap.tlb!;
    const i = Math.floor(A / PS) & tlb.mask;
    tlb.base[i] += PS;
    assert.throws(() => sys.audit(), /TLB entry .* maps a page the pmap does not/);
  });

  it('exec gives the process a new TLB; exit forgets it', () => {
    const sys = new VmSystem({ physPages: 64, swapPages: 64 });
    const p = sys.spawn();
    p.mmap(A, PS, RW, MAP_PRIVATE | MAP_ANON | MAP_FIXED);
    p.mmu.writeU8(A, 9);
    assert.equal(sys.uvm.pv.tlbs, 1);
    p.exit();
    assert.equal(sys.uvm.pv.tlbs, 0);
    throwsVm(() => p.mmu.readU8(A), 'ESRCH', 'pid');
    sys.audit();
  });
});
