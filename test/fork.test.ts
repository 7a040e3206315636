/*
 * fork (src/kernel/map/fork.ts, vmspaceFork, Process.fork): a failing fork
 * changes nothing, on every path it can fail by (a submap, no pmap id, no
 * frames for the wired pages amap_cow_now copies): the parent's maps,
 * entry flags, amaps (references, flags), translations, counters and bytes
 * are compared before and after, and the whole-system audit holds.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  vmMapCreate,
  vmMapInsert,
  vmMapLock,
  vmMapSubmap,
  vmMapUnlock,
} from '../src/kernel/map/index.ts';
import {
  hex,
  MAP_ANON,
  MAP_INHERIT_SHARE,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
} from '../src/kernel/param.ts';
import { Pmap } from '../src/kernel/pmap.ts';
import type { Process } from '../src/sys/proc.ts';
import { VmSystem } from '../src/sys/system.ts';
import { throwsVm } from './helpers.ts';

const PS = 4096;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANON;
const PRIV = 0x100000000;
const SHAR = 0x110000000;
const SHARE_INH = 0x120000000;
const WIRED = 0x130000000;
const SUB = 0x140000000;
const AREAS = [PRIV, SHAR, SHARE_INH, WIRED];

/** state: everything of a parent a failing fork must leave as it was. */
function state(p: Process): string {
  const map = p.vm.map;
  const rows = [...p.maps()];
  for (let e = map.header.next; e !== map.header; e = e.next) {
    const a = e.amap;
    rows.push(
      `${hex(e.start)}-${hex(e.end)} prot=${e.protection}/${e.maxProtection} inh=${e.inheritance}` +
        ` eflags=${e.eflags} wired=${e.wiredCount} maptype=${e.maptype}` +
        ` amap=${a === null ? '-' : `${a.id}@${e.pageoff} ref=${a.ref} flags=${a.flags} nused=${a.nused}`}`,
    );
    for (let va = e.start; va < e.end; va += PS)
      rows.push(`  pte ${hex(va)} ${p.vm.pmap.lookup(va)}`);
  }
  const sys = p.sys;
  rows.push(
    `spaces=${sys.uvm.vmspaces.size} maps=${sys.uvm.maps.size} procs=${sys.processes.size}`,
  );
  return rows.join('\n');
}

/**
 * counters: the system's counters but the pagedaemon's own (its pd*
 * counts and how it balanced its queues): a fork short of frames wakes it.
 */
function counters(sys: VmSystem): string {
  return JSON.stringify(
    Object.entries(sys.counters).filter(([k]) => !/^pd|^active$|^inactive$/.test(k)),
  );
}

/** failsToFork: p.fork() throws `code` and changes nothing, the audit holding after. */
function failsToFork(p: Process, code: string): void {
  const bytes = AREAS.map((a) => p.read(a, 2 * PS));
  const before = state(p);
  const c = counters(p.sys);
  throwsVm(() => p.fork(), code);
  assert.equal(state(p), before, 'the parent changed');
  assert.equal(counters(p.sys), c, 'the counters changed');
  for (const [i, a] of AREAS.entries()) assert.deepEqual(p.read(a, 2 * PS), bytes[i]);
  p.sys.audit();
}

/**
 * parent: a process with every kind of entry fork treats apart: private
 * memory with an amap only it uses, shared anonymous memory, private
 * memory inherited SHARE while it still needs a copy (a child forked
 * earlier shares its amap), and 2 locked pages; every page is written
 * (page i of area k holds k * 16 + i).
 */
function parent(physPages = 64, swapPages = 0) {
  const sys = new VmSystem({ physPages, swapPages });
  const p = sys.spawn();
  p.mmap(PRIV, 2 * PS, RW, ANON);
  p.mmap(SHAR, 2 * PS, RW, MAP_SHARED | MAP_ANON);
  p.mmap(SHARE_INH, 2 * PS, RW, ANON);
  p.mmap(WIRED, 2 * PS, RW, ANON);
  for (const [k, a] of AREAS.entries())
    for (let i = 0; i < 2; i++) p.write(a + i * PS, [k * 16 + i]);
  const old = p.fork();
  p.minherit(SHARE_INH, 2 * PS, MAP_INHERIT_SHARE);
  p.mlock(WIRED, 2 * PS);
  return { sys, p, old };
}

describe('fork that fails', () => {
  it('over a submap is EINVAL, leaves no child, and the parent is as it was', () => {
    const { sys, p } = parent();
    const map = p.vm.map;
    vmMapLock(map);
    vmMapInsert(map, null, 0, SUB, SUB + PS, RW, RW, 0);
    vmMapUnlock(map);
    const sub = vmMapCreate(sys.uvm, new Pmap(sys.uvm.pv, PS), SUB, SUB + PS);
    vmMapSubmap(map, SUB, SUB + PS, sub);
    failsToFork(p, 'EINVAL');
    p.munmap(SUB, PS);
    const child = p.fork();
    assert.deepEqual(Array.from(child.read(PRIV + PS, 1)), [1]);
    sys.audit();
  });

  it('when no frame can be had for the locked pages it must copy is ENOMEM, changing nothing', () => {
    const { sys, p } = parent();
    const hog = sys.spawn();
    const n = sys.counters.free - 1;
    const h = hog.mmap(0, n * PS, RW, ANON);
    hog.mlock(h, n * PS);
    assert.equal(sys.counters.free, 1, 'one frame left, two to copy');
    failsToFork(p, 'ENOMEM');
    hog.munlock(h, PS);
    hog.munmap(h, PS);
    const copies = sys.counters.amapcownow;
    const child = p.fork();
    assert.equal(sys.counters.amapcownow, copies + 2, 'the child got its own copies of both');
    assert.deepEqual(Array.from(child.read(WIRED, 1)), [48]);
    p.write(WIRED, [8]);
    assert.deepEqual(Array.from(child.read(WIRED, 1)), [48]);
    sys.audit();
  });

  it('with every pmap id taken is EAGAIN, changing nothing', () => {
    const { sys, p } = parent();
    const pv = sys.uvm.pv;
    const ids: number[] = [];
    while (pv.pmaps.length <= pv.maxPmaps) ids.push(pv.attach(p.vm.pmap));
    const before = state(p);
    const c = counters(sys);
    throwsVm(() => p.fork(), 'EAGAIN');
    assert.equal(state(p), before);
    assert.equal(counters(sys), c);
    for (const id of ids) pv.detach(id);
    sys.audit();
    p.fork();
    sys.audit();
  });

  it('a fork short of frames lets the pagedaemon make room first, then succeeds', () => {
    const { sys, p } = parent(64, 256);
    const hog = sys.spawn();
    const n = sys.counters.free;
    const h = hog.mmap(0, n * PS, RW, ANON);
    for (let i = 0; i < n; i++) hog.write(h + i * PS, [i]);
    const child = p.fork();
    assert.ok(sys.counters.pdpageouts > 0, 'the daemon paged the hog out');
    assert.deepEqual(Array.from(child.read(WIRED + PS, 1)), [49]);
    assert.deepEqual(Array.from(hog.read(h + (n - 1) * PS, 1)), [(n - 1) & 255]);
    sys.audit();
  });
});
