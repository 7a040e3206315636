/*
 * The world of the system property tests: a real system and the naive
 * model side by side. Random programs of spawn, mmap (fixed and not), munmap, mprotect,
 * minherit, madvise, mlock, munlock, fork, vfork, exit, read and write,
 * run on the real system and on the naive model (test/model.ts). Every
 * byte read, every errno and the coalesced maps of every process must
 * agree, and the full audit must pass after every step.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MADV_DOFORK,
  MADV_DONTFORK,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  MAP_ANON,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
  VmError,
} from '../src/param.ts';
import type { Process } from '../src/proc.ts';
import { VmSystem } from '../src/system.ts';
import { coalesce, Model } from './model.ts';

const PS = 4096;
const WINDOW = 0x100000000;
const WPAGES = 48;
const LOCK_LIMIT = 24 * PS;
const ADVICE = [
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_DONTFORK,
  MADV_DOFORK,
];

/* operations, weighted: accesses and forks are what copy-on-write is about */
const OPS = [
  ...Array(6).fill('write'),
  ...Array(4).fill('read'),
  ...Array(2).fill('mmap'),
  ...Array(2).fill('mmapfixed'),
  ...Array(2).fill('fork'),
  'vfork',
  'munmap',
  'mprotect',
  'minherit',
  'madvise',
  'madvise',
  'mlock',
  'munlock',
  'exit',
] as const;
type OpName =
  | 'mmap'
  | 'mmapfixed'
  | 'munmap'
  | 'mprotect'
  | 'minherit'
  | 'madvise'
  | 'mlock'
  | 'munlock'
  | 'fork'
  | 'vfork'
  | 'exit'
  | 'read'
  | 'write'
  | 'spawn'
  | 'pagedaemon'
  | 'swapon'
  | 'swapoff';
type Op = { op: OpName; p: number; a: number; b: number; c: number; d: number };
/* under memory pressure, the pagedaemon and swap devices come and go too */
const PRESSURE_OPS: readonly OpName[] = [
  ...(OPS as readonly OpName[]),
  'pagedaemon',
  'swapon',
  'swapoff',
];

export class World {
  readonly sys: VmSystem;
  readonly model = new Model(PS);
  readonly procs: Process[] = [];
  readonly lockLimit: number;
  steps = 0;

  /**
   * pressure: physical memory a small fraction of the working set, one
   * swap device to start, and a small lock limit (wired pages cannot be
   * paged out).
   */
  constructor(readonly pressure = false) {
    this.sys = new VmSystem({
      physPages: pressure ? 16 : 2048,
      swapPages: pressure ? 1024 : 4096,
      poisonFreed: true,
    });
    this.lockLimit = pressure ? PS : LOCK_LIMIT;
    this.spawn();
  }

  spawn(): void {
    const p = this.sys.spawn();
    p.vm.memlockLimit = this.lockLimit;
    this.model.spawn(p.pid);
    this.procs.push(p);
  }

  /** addr: a page address in the window, or near one of the process's mappings. */
  addr(p: Process, a: number, b: number): number {
    const mapped = [...this.model.space(p.pid).pages.keys()];
    if (a % 2 === 0 || mapped.length === 0) return WINDOW + (b % WPAGES) * PS;
    return (mapped[b % mapped.length] + (a % 5) - 2) * PS;
  }

  /** call: run fn on the real system; return the errno or 0. */
  call(fn: () => void): string | 0 {
    try {
      fn();
      return 0;
    } catch (e) {
      if (!(e instanceof VmError)) throw e;
      return e.code;
    }
  }

  run(o: Op): void {
    this.steps++;
    if (o.op === 'spawn') {
      this.spawn();
      return;
    }
    if (o.op === 'pagedaemon' || o.op === 'swapon' || o.op === 'swapoff') {
      this.paging(o);
      return;
    }
    const p = this.procs[o.p % this.procs.length];
    const m = this.model;
    const pages = 1 + (o.c % 6);
    const len = pages * PS;
    const at = this.addr(p, o.a, o.b);
    switch (o.op) {
      case 'mmap':
      case 'mmapfixed': {
        const prot = [
          PROT_READ,
          PROT_READ | PROT_WRITE,
          0,
          PROT_READ | PROT_WRITE,
          PROT_READ | PROT_WRITE,
        ][o.d % 5];
        const shared = o.d % 7 === 0;
        const flags =
          (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANON | (o.op === 'mmapfixed' ? MAP_FIXED : 0);
        const got = p.mmap(o.op === 'mmapfixed' ? at : 0, len, prot, flags);
        if (o.op === 'mmapfixed') assert.equal(got, at);
        else assert.ok(!m.anyMapped(p.pid, got, len), 'mmap placed over a mapping');
        m.munmap(p.pid, got, len);
        m.mmap(p.pid, got, len, prot, shared);
        return;
      }
      case 'munmap':
        p.munmap(at, len);
        m.munmap(p.pid, at, len);
        return;
      case 'mprotect': {
        const prot = [PROT_READ, PROT_READ | PROT_WRITE, 0, PROT_READ | PROT_WRITE][o.d % 4];
        const want = m.holes(p.pid, at, len) ? 'ENOMEM' : 0;
        assert.equal(
          this.call(() => p.mprotect(at, len, prot)),
          want,
        );
        if (want === 0)
          m.each(p.pid, at, len, (pg) => {
            pg.prot = prot;
          });
        return;
      }
      case 'minherit': {
        const inh = o.d % 4;
        assert.equal(
          this.call(() => p.minherit(at, len, inh)),
          inh === 3 ? 'EINVAL' : 0,
        );
        if (inh !== 3)
          m.each(p.pid, at, len, (pg) => {
            pg.inherit = inh;
          });
        return;
      }
      case 'madvise':
        this.madvise(p, at, len, ADVICE[o.d % ADVICE.length]);
        return;
      case 'mlock':
      case 'munlock':
        this.lock(p, at, len, o.op === 'mlock');
        return;
      case 'fork':
      case 'vfork': {
        if (this.procs.length >= 5) return;
        const c = o.op === 'fork' ? p.fork() : p.vfork();
        if (o.op === 'fork') m.fork(p.pid, c.pid);
        else m.vfork(p.pid, c.pid);
        this.procs.push(c);
        return;
      }
      case 'exit':
        p.exit();
        m.exit(p.pid);
        this.procs.splice(this.procs.indexOf(p), 1);
        if (this.procs.length === 0) this.spawn();
        return;
      case 'read':
      case 'write': {
        const mapped = [...m.space(p.pid).pages.keys()];
        const va = o.a % 8 !== 0 && mapped.length > 0 ? mapped[o.b % mapped.length] * PS : at;
        this.access(p, va + (o.d % PS), 1 + ((o.d * 7919) % (2 * PS)), o.op === 'write', o.d);
        return;
      }
    }
  }

  /** paging: run the pagedaemon, add a swap device, or take one away (keeping one). */
  paging(o: Op): void {
    const sys = this.sys;
    const devs = sys.uvm.swap.devices;
    if (o.op === 'pagedaemon') sys.pagedaemon();
    else if (o.op === 'swapon' && devs.length < 4) sys.swapon({ pages: 512, priority: o.d % 3 });
    else if (o.op === 'swapoff' && devs.length > 1) {
      const r = this.call(() => sys.swapoff(devs[o.d % devs.length]));
      assert.ok(r === 0 || r === 'ENOMEM', `swapoff: ${r}`);
    }
  }

  madvise(p: Process, at: number, len: number, advice: number): void {
    if (this.pressure && advice === MADV_FREE) advice = MADV_WILLNEED;
    const m = this.model;
    let want: string | 0 = 0;
    const pages: { locked: boolean; shared: boolean }[] = [];
    m.each(p.pid, at, len, (pg) => pages.push(pg));
    if (m.holes(p.pid, at, len)) want = 'ENOMEM';
    else if (advice === MADV_DONTNEED && pages.some((pg) => pg.locked)) want = 'EINVAL';
    else if (advice === MADV_FREE && pages.some((pg) => pg.shared)) want = 'EINVAL';
    assert.equal(
      this.call(() => p.madvise(at, len, advice)),
      want,
      `madvise ${advice}`,
    );
    if (want === 0) m.madvise(p.pid, at, len, advice);
  }

  lock(p: Process, at: number, len: number, lock: boolean): void {
    const m = this.model;
    let want: string | 0 = 0;
    let more = 0;
    m.each(p.pid, at, len, (pg) => {
      if (!pg.locked) more += PS;
    });
    if (m.holes(p.pid, at, len)) want = 'ENOMEM';
    else if (lock && m.lockedBytes(p.pid) + more > this.lockLimit) want = 'ENOMEM';
    assert.equal(
      this.call(() => (lock ? p.mlock(at, len) : p.munlock(at, len))),
      want,
      lock ? 'mlock' : 'munlock',
    );
    if (want === 0)
      m.each(p.pid, at, len, (pg) => {
        pg.locked = lock;
      });
  }

  access(p: Process, va: number, n: number, write: boolean, seed: number): void {
    const m = this.model;
    const ok = m.canAccess(p.pid, va, n, write);
    if (write) {
      const data = new Uint8Array(n);
      for (let i = 0; i < n; i++) data[i] = (seed + i * 31 + this.steps) & 0xff;
      assert.equal(
        this.call(() => p.write(va, data)),
        ok ? 0 : 'EFAULT',
        `write ${va.toString(16)}+${n}`,
      );
      if (ok) m.write(p.pid, va, data);
      return;
    }
    let got: Uint8Array | null = null;
    assert.equal(
      this.call(() => {
        got = p.read(va, n);
      }),
      ok ? 0 : 'EFAULT',
      `read ${va.toString(16)}+${n}`,
    );
    if (ok) assert.deepEqual(got, m.read(p.pid, va, n), `bytes at ${va.toString(16)}`);
  }

  /** check: audit; every process's coalesced maps match the model's. */
  check(): void {
    this.sys.audit();
    for (const p of this.procs)
      assert.deepEqual(coalesce(p.maps()), this.model.rows(p.pid), `maps of ${p.pid}`);
  }

  /** sweep: read every readable mapped page of every process and compare. */
  sweep(): void {
    for (const p of this.procs) {
      for (const [vpn, pg] of this.model.space(p.pid).pages) {
        if (pg.prot === 0) continue;
        assert.deepEqual(
          p.read(vpn * PS, PS),
          this.model.read(p.pid, vpn * PS, PS),
          `page ${vpn.toString(16)} of ${p.pid}`,
        );
      }
    }
  }

  teardown(): void {
    this.sys.close();
    this.sys.swapoff();
    this.sys.audit();
    const uvm = this.sys.uvm;
    assert.equal(uvm.swap.devices.length, 0, 'every swap device is off');
    assert.equal(uvm.objects.size, 0, 'no object is left');
    assert.equal(uvm.pages.freeCount, uvm.pages.npages, 'every frame is free');
    assert.equal(uvm.anons.nlive, 0);
    assert.equal(uvm.amaps.size, 0);
    assert.equal(uvm.exp.swpginuse, 0);
  }
}

export const pressureOpArb = fc.record({
  op: fc.constantFrom(...PRESSURE_OPS),
  p: fc.nat(100),
  a: fc.nat(100),
  b: fc.nat(1000),
  c: fc.nat(100),
  d: fc.nat(100000),
});

export const opArb = fc.record({
  op: fc.constantFrom(...(OPS as readonly OpName[])),
  p: fc.nat(100),
  a: fc.nat(100),
  b: fc.nat(1000),
  c: fc.nat(100),
  d: fc.nat(100000),
});
