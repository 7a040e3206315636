/*
 * The event stream (src/kernel/hist.ts): nothing is listening by default,
 * a subscriber sees what each layer did, in order, with the fields that
 * name it (the fault's path, the amap copied, the swap slot of a pageout
 * and of the pagein that brings it back), and unsubscribing silences it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { uvmFault } from '../src/kernel/fault.ts';
import { type HistEvent, histRecord, histSubscribe } from '../src/kernel/hist.ts';
import { MAP_ANON, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../src/kernel/param.ts';
import { VmSystem } from '../src/sys/system.ts';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANON;
const PS = 4096;

function types(events: HistEvent[]): string[] {
  return events.map((e) => e.type);
}

function only<T extends HistEvent['type']>(
  events: HistEvent[],
  type: T,
): Extract<HistEvent, { type: T }>[] {
  return events.filter((e): e is Extract<HistEvent, { type: T }> => e.type === type);
}

describe('hist: subscribing', () => {
  it('is null with no subscriber, set while one listens, null again after the last leaves', () => {
    const sys = new VmSystem({ physPages: 64, swapPages: 64 });
    assert.equal(sys.uvm.hist, null);
    const a = histSubscribe(sys.uvm, () => {});
    const b = histSubscribe(sys.uvm, () => {});
    assert.notEqual(sys.uvm.hist, null);
    assert.equal(sys.uvm.pv.hist, sys.uvm.hist);
    a();
    assert.notEqual(sys.uvm.hist, null);
    b();
    assert.equal(sys.uvm.hist, null);
    assert.equal(sys.uvm.pv.hist, null);
  });

  it('every subscriber gets every event; none after it unsubscribed', () => {
    const sys = new VmSystem({ physPages: 64, swapPages: 64 });
    const p = sys.spawn();
    const seen: string[] = [];
    const off = histSubscribe(sys.uvm, (e) => seen.push(e.type));
    const second = histRecord(sys.uvm, () => p.mmap(0, PS, RW, ANON));
    off();
    assert.deepEqual(seen, types(second));
    assert.ok(seen.includes('map-insert'));
    const before = seen.length;
    p.write(p.mmap(0, PS, RW, ANON), new Uint8Array([1]));
    assert.equal(seen.length, before);
  });
});

describe('hist: faults', () => {
  it('a first write is a zero-fill: fault, amap, anon, page, pmap enter, activate, done', () => {
    const sys = new VmSystem({ physPages: 64, swapPages: 64 });
    const p = sys.spawn();
    const a = p.mmap(0, 4 * PS, RW, ANON);
    const ev = histRecord(sys.uvm, () => p.write(a + PS, new Uint8Array([7])));
    const t = types(ev);
    assert.equal(t[0], 'fault');
    assert.equal(t[t.length - 1], 'fault-done');
    for (const want of ['amap-alloc', 'anon-alloc', 'page-alloc', 'pmap-enter', 'page-activate'])
      assert.ok(t.includes(want), want);
    const [fault] = only(ev, 'fault');
    assert.equal(fault.va, a + PS);
    assert.equal(fault.access, PROT_WRITE);
    assert.equal(fault.pmap, p.vm.pmap.id);
    const [path] = only(ev, 'fault-path');
    assert.equal(path.path, 'zero-fill');
    assert.equal(only(ev, 'pmap-enter')[0].frame, path.frame);
    assert.equal(only(ev, 'page-alloc')[0].anon, path.anon);
    assert.deepEqual(only(ev, 'fault-done')[0], { type: 'fault-done', va: a + PS, result: 'ok' });
  });

  it("a fork child's write copies the amap and promotes the shared anon (COW)", () => {
    const sys = new VmSystem({ physPages: 64, swapPages: 64 });
    const p = sys.spawn();
    const a = p.mmap(0, 4 * PS, RW, ANON);
    p.write(a, new Uint8Array([1]));
    const parentAmap = p.vm.map.header.next.aref.amap!.id;
    const c = p.fork();
    const ev = histRecord(sys.uvm, () => c.write(a, new Uint8Array([2])));
    const [copy] = only(ev, 'amap-copy');
    assert.equal(copy.from, parentAmap);
    assert.equal(copy.slots, 4);
    const [path] = only(ev, 'fault-path');
    assert.equal(path.path, 'cow-promote');
    assert.equal(c.vm.map.header.next.aref.amap!.anon[0], path.anon);
    assert.ok(types(ev).indexOf('amap-copy') < types(ev).indexOf('fault-path'));
  });

  it('a read of a resident anon takes the upper path; a bad address ends EFAULT', () => {
    const sys = new VmSystem({ physPages: 64, swapPages: 64 });
    const p = sys.spawn();
    const a = p.mmap(0, PS, RW, ANON);
    p.write(a, new Uint8Array([1]));
    const c = p.fork();
    const ev = histRecord(sys.uvm, () => c.read(a, 1));
    assert.equal(only(ev, 'fault-path')[0].path, 'upper');
    const bad = histRecord(sys.uvm, () =>
      assert.equal(uvmFault(sys.uvm, p.vm.map, a + 64 * PS, PROT_READ), 'EFAULT'),
    );
    assert.deepEqual(types(bad), ['fault', 'fault-done']);
    assert.equal(only(bad, 'fault-done')[0].result, 'EFAULT');
  });
});

describe('hist: paging', () => {
  it('a pageout names its swap slot, and the pagein that brings the page back the same one', () => {
    const sys = new VmSystem({ physPages: 32, swapPages: 256 });
    const p = sys.spawn();
    const a = p.mmap(0, 64 * PS, RW, ANON);
    const ev = histRecord(sys.uvm, () => {
      for (let i = 0; i < 64; i++) p.write(a + i * PS, new Uint8Array([i + 1]));
    });
    const outs = only(ev, 'pageout');
    assert.ok(outs.length > 0);
    assert.ok(outs.every((o) => o.slot > 0 && o.anon > 0));
    assert.ok(only(ev, 'pdaemon-scan').some((s) => s.freed > 0));
    const first = outs[0];
    const back = histRecord(sys.uvm, () => p.read(a, 1));
    const ins = only(back, 'pagein');
    assert.equal(ins.length, 1);
    assert.equal(ins[0].anon, first.anon);
    assert.equal(ins[0].slot, first.slot);
    assert.equal(only(back, 'fault-path')[0].path, 'upper');
  });
});

describe('hist: maps and pmaps', () => {
  it('mprotect of a middle page clips twice and protects; restoring it merges back', () => {
    const sys = new VmSystem({ physPages: 64, swapPages: 64 });
    const p = sys.spawn();
    const a = p.mmap(0, 3 * PS, RW, ANON);
    const ev = histRecord(sys.uvm, () => p.mprotect(a + PS, PS, PROT_READ));
    assert.deepEqual(
      only(ev, 'map-clip').map((e) => e.at),
      [a + PS, a + 2 * PS],
    );
    assert.deepEqual(only(ev, 'pmap-protect')[0], {
      type: 'pmap-protect',
      pmap: p.vm.pmap.id,
      start: a + PS,
      end: a + 2 * PS,
      prot: PROT_READ,
    });
    const back = histRecord(sys.uvm, () => p.mprotect(a + PS, PS, RW));
    const merges = only(back, 'map-merge');
    assert.ok(merges.length >= 1);
    assert.deepEqual(
      [merges[merges.length - 1].start, merges[merges.length - 1].end],
      [a, a + 3 * PS],
    );
  });

  it('munmap deletes the entry, removes its translations and frees its amap, anon and page', () => {
    const sys = new VmSystem({ physPages: 64, swapPages: 64 });
    const p = sys.spawn();
    const a = p.mmap(0, PS, RW, ANON);
    p.write(a, new Uint8Array([1]));
    const ev = histRecord(sys.uvm, () => p.munmap(a, PS));
    const t = types(ev);
    for (const want of ['pmap-remove', 'map-delete', 'anon-free', 'page-free', 'amap-free'])
      assert.ok(t.includes(want), want);
    assert.deepEqual(only(ev, 'map-delete')[0], {
      type: 'map-delete',
      pmap: p.vm.pmap.id,
      start: a,
      end: a + PS,
    });
  });
});
