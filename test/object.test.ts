/*
 * The object layer on its own: the base object (src/kernel/object.ts),
 * anonymous objects paged to swap (aobj.ts), files (vnode.ts) with their
 * handles and cache, references, and the objects' audit.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { anonAlloc, anonFree } from '../src/kernel/anon.ts';
import { Aobj } from '../src/kernel/aobj.ts';
import { type FaultInjector, type HostFile, MemoryHost } from '../src/kernel/host.ts';
import {
  auditObjects,
  objectDetach,
  objectReference,
  type PagerError,
  UvmObject,
} from '../src/kernel/object.ts';
import {
  auditPages,
  NOPAGE,
  PG_BUSY,
  PG_CLEAN,
  PG_FAKE,
  PMAP_MODIFIED,
  PQ_AOBJ,
  PQ_FREE,
  PQ_PRIVATE,
  pageAlloc,
  pageFree,
  pageUnwire,
  pageWire,
} from '../src/kernel/page.ts';
import {
  type Frame,
  KernelPanic,
  MAP_PRIVATE,
  MAP_SHARED,
  MS_SYNC,
  NOANON,
  NOSLOT,
  PROT_ALL,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
} from '../src/kernel/param.ts';
import { PQ_ACTIVE } from '../src/kernel/pdpolicy/clock.ts';
import { auditSwap, MemoryStore } from '../src/kernel/swap.ts';
import { Uvm } from '../src/kernel/uvm.ts';
import { VnodeCache } from '../src/kernel/vnode.ts';
import { VmSystem } from '../src/sys/system.ts';
import { throwsVm } from './helpers.ts';

const PS = 4096;

function kernel(physPages = 32, swapPages = 64): Uvm {
  return new Uvm({ physPages, swapPages, poisonFreed: true });
}

/** frame: the frame pgoGet returned (fails the test on an error). */
function frame(r: Frame | PagerError): Frame {
  assert.equal(typeof r, 'number', `pgoGet: ${r}`);
  return r as Frame;
}

/** poison: take every free frame, fill it with garbage and give it back. */
function poison(uvm: Uvm): void {
  const taken: Frame[] = [];
  for (;;) {
    const pg = pageAlloc(uvm, 0, 0, anonAlloc(uvm), 0);
    if (pg === NOPAGE) break;
    uvm.pages.bytes.fill(0x5c, pg * PS, (pg + 1) * PS);
    taken.push(pg);
  }
  for (const pg of taken) {
    const an = uvm.pages.uanon(pg);
    pageFree(uvm, pg);
    uvm.anons.ref[an] = 0;
    anonFree(uvm, an);
  }
}

/** exhaust: take every free frame (owned by a fresh anon each); returns them. */
function exhaust(uvm: Uvm): Frame[] {
  const taken: Frame[] = [];
  for (;;) {
    const pg = pageAlloc(uvm, 0, 0, anonAlloc(uvm), 0);
    if (pg === NOPAGE) return taken;
    taken.push(pg);
  }
}

function bytesOf(uvm: Uvm, pg: Frame): Uint8Array {
  return uvm.pages.view(pg);
}

function check(uvm: Uvm): void {
  auditPages(uvm);
  auditSwap(uvm);
  auditObjects(uvm);
}

/** A host file that records its closes. */
class Tracked implements HostFile {
  constructor(
    private readonly f: HostFile,
    readonly closes: string[],
    readonly tag: string,
  ) {}
  get path(): string {
    return this.f.path;
  }
  get inode(): number {
    return this.f.inode;
  }
  get faults(): FaultInjector {
    return this.f.faults;
  }
  size(): number {
    return this.f.size();
  }
  read(offset: number, dst: Uint8Array): number {
    return this.f.read(offset, dst);
  }
  write(offset: number, src: Uint8Array): boolean {
    return this.f.write(offset, src);
  }
  close(): void {
    this.closes.push(this.tag);
    this.f.close();
  }
}

/** files: a kernel, a MemoryHost holding `files`, and a vnode cache over it. */
function files(entries: Record<string, Uint8Array>, opts: { readOnly?: boolean } = {}) {
  const uvm = kernel();
  const host = new MemoryHost();
  for (const [path, bytes] of Object.entries(entries)) host.put(path, bytes);
  const closes: string[] = [];
  let opens = 0;
  const vnodes = new VnodeCache(uvm, (path, writable) => {
    if (writable && opts.readOnly) return null;
    const f = host.open(path);
    return f === null ? null : new Tracked(f, closes, `${path}#${++opens}${writable ? 'w' : 'r'}`);
  });
  return { uvm, host, vnodes, closes };
}

/** pattern: n bytes, byte i = (i * 7 + seed) & 0xff. */
function pattern(n: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
}

describe('the base object', () => {
  it('is known to the kernel, spans its size in whole pages, and keeps no swap', () => {
    const uvm = kernel();
    const a = new UvmObject(uvm, 2 * PS + 1, 'z');
    const b = new UvmObject(uvm, PS, 'y');
    assert.notEqual(a.id, b.id);
    assert.equal(uvm.objects.get(a.id), a);
    assert.deepEqual([a.refs, a.pageCount, b.pageCount], [1, 3, 1]);
    assert.deepEqual([a.kind, a.inode, a.name], ['zero', a.id, 'z']);
    assert.equal(a.swapSlot(0), NOSLOT);
    check(uvm);
  });

  it('pgoGet gives a clean, active page of zeros at its index, then finds it resident', () => {
    const uvm = kernel();
    poison(uvm);
    const obj = new UvmObject(uvm, 3 * PS, 'z');
    const pg = frame(obj.pgoGet(2));
    assert.ok(
      bytesOf(uvm, pg).every((x) => x === 0),
      "zeros, not an old owner's bytes",
    );
    const pm = uvm.pages;
    assert.equal(pm.flags[pg] & (PG_BUSY | PG_FAKE), 0);
    assert.equal(pm.flags[pg] & PG_CLEAN, PG_CLEAN, 'nothing to save');
    assert.equal(pm.pqflags[pg] & (PQ_FREE | PQ_PRIVATE), PQ_ACTIVE);
    assert.deepEqual([pm.uobject(pg), pm.offset[pg], pm.uanon(pg)], [obj.id, 2, NOANON]);
    assert.equal(obj.pages.get(2), pg);
    const allocs = uvm.exp.pageallocs;
    assert.equal(obj.pgoGet(2), pg);
    assert.equal(uvm.exp.pageallocs, allocs, 'no new frame');
    check(uvm);
  });

  it('pgoGet is SIGBUS past the last page and ENOMEM without a free frame, taking nothing', () => {
    const uvm = kernel();
    const obj = new UvmObject(uvm, 2 * PS + 1, 'z');
    const free = uvm.pages.freeCount;
    assert.equal(obj.pgoGet(3), 'SIGBUS');
    assert.equal(obj.pgoGet(1000), 'SIGBUS');
    assert.equal(uvm.pages.freeCount, free);
    frame(obj.pgoGet(2));
    const taken = exhaust(uvm);
    const fails = uvm.exp.pgafail;
    assert.equal(obj.pgoGet(0), 'ENOMEM');
    assert.equal(uvm.exp.pgafail, fails + 1);
    assert.deepEqual([...obj.pages.keys()], [2]);
    pageFree(uvm, taken[0]);
    frame(obj.pgoGet(0));
    assert.deepEqual([...obj.pages.keys()].sort(), [0, 2]);
  });

  it('has nothing to write back; the daemon frees a clean page and keeps a dirty one', () => {
    const uvm = kernel();
    const obj = new UvmObject(uvm, 2 * PS, 'z');
    const clean = frame(obj.pgoGet(0));
    const dirty = frame(obj.pgoGet(1));
    uvm.pages.attrs[dirty] |= PMAP_MODIFIED;
    assert.equal(obj.pgoPut(0, 2), 0);
    obj.invalidate(0, 2);
    assert.equal(obj.pages.size, 2, 'invalidate keeps what it cannot read again');
    assert.equal(obj.isDirty(clean), false);
    assert.equal(obj.isDirty(dirty), true);
    assert.equal(obj.pageout(0, clean), 'freed');
    assert.equal(obj.pageout(1, dirty), 'kept');
    assert.deepEqual([...obj.pages.keys()], [1]);
    assert.equal(uvm.pages.pqflags[clean] & (PQ_FREE | PQ_PRIVATE), PQ_FREE, 'the frame is free');
    assert.throws(() => obj.releasePage(0), KernelPanic, 'no page 0 any more');
    check(uvm);
  });
});

describe('anonymous objects', () => {
  it('a new page is zeros and dirty; pageout writes it to a slot; pgoGet reads it back clean', () => {
    const uvm = kernel();
    const ao = new Aobj(uvm, 4 * PS, 'shm');
    assert.equal(ao.kind, 'aobj');
    assert.ok(uvm.aobjs.has(ao));
    const pg = frame(ao.pgoGet(1));
    assert.equal(uvm.pages.flags[pg] & PG_CLEAN, 0, 'no copy of it anywhere');
    assert.equal(uvm.pages.pqflags[pg] & PQ_AOBJ, PQ_AOBJ);
    assert.ok(bytesOf(uvm, pg).every((x) => x === 0));
    bytesOf(uvm, pg).fill(0x5a);
    assert.equal(ao.swapSlot(1), NOSLOT);
    assert.equal(ao.pageout(1, pg), 'freed');
    const slot = ao.swapSlot(1);
    assert.ok(slot > 0);
    assert.equal(ao.pages.has(1), false);
    assert.deepEqual(
      [uvm.exp.swapouts, uvm.exp.pageouts, uvm.exp.swpgonly, uvm.exp.swpginuse],
      [1, 1, 1, 1],
    );
    check(uvm);
    const back = frame(ao.pgoGet(1));
    assert.ok(bytesOf(uvm, back).every((x) => x === 0x5a));
    assert.equal(uvm.pages.flags[back] & PG_CLEAN, PG_CLEAN, 'swap holds it');
    assert.deepEqual([uvm.exp.swapins, uvm.exp.pageins, uvm.exp.swpgonly], [1, 1, 0]);
    assert.equal(ao.swapSlot(1), slot, 'the slot stays, a clean copy');
    check(uvm);
  });

  it('a clean page with a live copy goes without a write; a modified one goes to the same slot', () => {
    const uvm = kernel();
    const ao = new Aobj(uvm, PS, 'shm');
    const pg = frame(ao.pgoGet(0));
    bytesOf(uvm, pg).fill(1);
    ao.pageout(0, pg);
    const slot = ao.swapSlot(0);
    const clean = frame(ao.pgoGet(0));
    assert.equal(ao.pageout(0, clean), 'freed');
    assert.equal(uvm.exp.swapouts, 1, 'not written again');
    assert.equal(uvm.exp.swpgonly, 1);
    const again = frame(ao.pgoGet(0));
    bytesOf(uvm, again).fill(2);
    uvm.pages.attrs[again] |= PMAP_MODIFIED;
    assert.equal(ao.pageout(0, again), 'freed');
    assert.deepEqual([ao.swapSlot(0), uvm.exp.swapouts, uvm.exp.swpginuse], [slot, 2, 1]);
    assert.ok(bytesOf(uvm, frame(ao.pgoGet(0))).every((x) => x === 2));
    check(uvm);
  });

  it('pageout keeps a page when swap is full, and on a write error, freeing the fresh slot', () => {
    const uvm = kernel(32, 1);
    const ao = new Aobj(uvm, 2 * PS, 'shm');
    const a = frame(ao.pgoGet(0));
    const b = frame(ao.pgoGet(1));
    const store = uvm.swap.devices[0].store as MemoryStore;
    store.faults.failWrites = 1;
    assert.equal(ao.pageout(0, a), 'EIO');
    assert.deepEqual([ao.swapSlot(0), uvm.exp.swpginuse, uvm.exp.swapioerrs], [NOSLOT, 0, 1]);
    assert.equal(ao.pages.get(0), a);
    assert.ok(ao.isDirty(a));
    assert.equal(ao.pageout(0, a), 'freed', 'the only slot');
    assert.equal(ao.pageout(1, b), 'kept', 'swap full');
    assert.equal(ao.pages.get(1), b);
    assert.equal(ao.swapSlot(1), NOSLOT);
    check(uvm);
  });

  it('a read error in pgoGet is EIO and changes nothing; a retry reads the page', () => {
    const uvm = kernel();
    const ao = new Aobj(uvm, PS, 'shm');
    const pg = frame(ao.pgoGet(0));
    bytesOf(uvm, pg).fill(9);
    ao.pageout(0, pg);
    const free = uvm.pages.freeCount;
    (uvm.swap.devices[0].store as MemoryStore).faults.failReads = 1;
    assert.equal(ao.pgoGet(0), 'EIO');
    assert.equal(ao.pages.has(0), false);
    assert.equal(uvm.pages.freeCount, free);
    assert.deepEqual([uvm.exp.swpgonly, uvm.exp.pageins], [1, 0]);
    check(uvm);
    assert.ok(bytesOf(uvm, frame(ao.pgoGet(0))).every((x) => x === 9));
    check(uvm);
  });

  it('dropSwap frees the copy and leaves the resident page dirty, the only copy', () => {
    const uvm = kernel();
    const ao = new Aobj(uvm, 2 * PS, 'shm');
    const pg = frame(ao.pgoGet(0));
    ao.pageout(0, pg);
    const back = frame(ao.pgoGet(0));
    assert.equal(ao.isDirty(back), false);
    ao.dropSwap(0);
    assert.deepEqual([ao.swapSlot(0), uvm.exp.swpginuse], [NOSLOT, 0]);
    assert.equal(ao.isDirty(back), true);
    ao.dropSwap(1);
    ao.dropSwap(0);
    assert.equal(uvm.exp.swpginuse, 0, 'nothing to drop');
    check(uvm);
  });

  it('swapOff brings back the pages whose slots are in the range, and frees those slots', () => {
    const uvm = kernel(32, 0);
    const d1 = uvm.swap.addDevice(uvm, 4, 1, new MemoryStore(4, PS));
    const ao = new Aobj(uvm, 3 * PS, 'shm');
    for (let i = 0; i < 3; i++) {
      if (i === 2) uvm.swap.addDevice(uvm, 4, 2, new MemoryStore(4, PS));
      const pg = frame(ao.pgoGet(i));
      bytesOf(uvm, pg).fill(0x40 + i);
      assert.equal(ao.pageout(i, pg), 'freed');
    }
    assert.ok(d1.owns(ao.swapSlot(0)) && d1.owns(ao.swapSlot(1)) && !d1.owns(ao.swapSlot(2)));
    assert.equal(ao.swapOff(d1.base, d1.base + d1.npages), true);
    assert.equal(d1.inuseCount, 0);
    assert.deepEqual([ao.pages.has(0), ao.pages.has(1), ao.pages.has(2)], [true, true, false]);
    for (const i of [0, 1]) {
      const pg = ao.pages.get(i)!;
      assert.ok(bytesOf(uvm, pg).every((x) => x === 0x40 + i));
      assert.ok(ao.isDirty(pg), 'memory holds the only copy now');
      assert.equal(ao.swapSlot(i), NOSLOT);
    }
    assert.ok(ao.swapSlot(2) > 0, 'the other device keeps its page');
    assert.equal(uvm.exp.swpgonly, 1);
    check(uvm);
  });

  it('swapOff stops, false, when memory runs out and nothing can be reclaimed, or a read fails', () => {
    const uvm = kernel();
    const ao = new Aobj(uvm, 2 * PS, 'shm');
    for (const i of [0, 1]) ao.pageout(i, frame(ao.pgoGet(i)));
    const taken = exhaust(uvm);
    assert.equal(uvm.reclaim, null);
    assert.equal(ao.swapOff(0, 1 << 30), false);
    assert.equal(ao.swslots.size, 2, 'both still in swap');
    for (const pg of taken.slice(0, 4)) pageFree(uvm, pg);
    (uvm.swap.devices[0].store as MemoryStore).faults.failReads = 1;
    assert.equal(ao.swapOff(0, 1 << 30), false);
    assert.equal(ao.swslots.size + ao.pages.size, 2);
    assert.ok(ao.swslots.size >= 1);
    assert.equal(ao.swapOff(0, 1 << 30), true);
    assert.equal(ao.swslots.size, 0);
    assert.equal(ao.pages.size, 2);
  });

  it('the last detach terminates it: pages and slots freed, swpgonly back to zero', () => {
    const uvm = kernel();
    const free = uvm.pages.freeCount;
    const ao = new Aobj(uvm, 3 * PS, 'standin', true);
    assert.equal(ao.kind, 'stand-in');
    ao.pageout(0, frame(ao.pgoGet(0)));
    ao.pageout(1, frame(ao.pgoGet(1)));
    frame(ao.pgoGet(1));
    frame(ao.pgoGet(2));
    assert.deepEqual([uvm.exp.swpginuse, uvm.exp.swpgonly], [2, 1]);
    objectReference(ao);
    objectDetach(uvm, ao);
    assert.equal(uvm.objects.get(ao.id), ao, 'one reference left');
    objectDetach(uvm, ao);
    assert.equal(uvm.objects.has(ao.id), false);
    assert.equal(uvm.aobjs.has(ao), false);
    assert.deepEqual([uvm.exp.swpginuse, uvm.exp.swpgonly], [0, 0]);
    assert.equal(uvm.pages.freeCount, free);
    check(uvm);
  });
});

describe('files', () => {
  it("a get reads the file's page; the tail of the last page is zeros; past it is SIGBUS", () => {
    const data = pattern(PS + 100);
    const { uvm, host, vnodes } = files({ '/f': data });
    poison(uvm);
    const v = vnodes.get('/f', false)!;
    assert.deepEqual([v.kind, v.name, v.size, v.pageCount], ['vnode', '/f', PS + 100, 2]);
    assert.equal(v.inode, host.open('/f')!.inode);
    const p0 = frame(v.pgoGet(0));
    const p1 = frame(v.pgoGet(1));
    assert.deepEqual(bytesOf(uvm, p0), data.subarray(0, PS));
    assert.deepEqual(bytesOf(uvm, p1).subarray(0, 100), data.subarray(PS));
    assert.ok(
      bytesOf(uvm, p1)
        .subarray(100)
        .every((x) => x === 0),
      'the tail reads zeros',
    );
    assert.equal(v.isDirty(p1), false);
    assert.equal(v.pgoGet(2), 'SIGBUS');
    assert.equal(uvm.exp.vnodepageins, 2);
    check(uvm);
  });

  it('a read error is EIO and changes nothing', () => {
    const { uvm, host, vnodes } = files({ '/f': pattern(PS) });
    const v = vnodes.get('/f', false)!;
    const free = uvm.pages.freeCount;
    host.faults('/f').failReads = 1;
    assert.equal(v.pgoGet(0), 'EIO');
    assert.deepEqual([v.pages.size, uvm.pages.freeCount, uvm.exp.vnodepageins], [0, free, 0]);
    assert.deepEqual(bytesOf(uvm, frame(v.pgoGet(0))), pattern(PS));
    check(uvm);
  });

  it('the size follows the file: a page past the old end appears when the file grows', () => {
    const { host, vnodes } = files({ '/f': pattern(PS) });
    const v = vnodes.get('/f', false)!;
    assert.equal(v.pgoGet(1), 'SIGBUS');
    assert.ok(host.open('/f')!.write(PS, new Uint8Array(10).fill(3)));
    assert.equal(v.pageCount, 2);
    assert.equal(v.size, PS + 10);
    const pg = frame(v.pgoGet(1));
    assert.equal(v.uvm.pages.bytes[pg * PS + 9], 3);
    assert.equal(v.uvm.pages.bytes[pg * PS + 10], 0);
  });

  it('pgoPut writes the dirty pages of its range only, and never past the end of the file', () => {
    const data = pattern(PS + 100);
    const { uvm, host, vnodes } = files({ '/f': data });
    const v = vnodes.get('/f', true)!;
    const p0 = frame(v.pgoGet(0));
    const p1 = frame(v.pgoGet(1));
    bytesOf(uvm, p0).fill(0x11);
    uvm.pages.flags[p0] &= ~PG_CLEAN;
    bytesOf(uvm, p1).fill(0x22);
    uvm.pages.attrs[p1] |= PMAP_MODIFIED;
    assert.equal(v.pgoPut(1, 2), 0);
    let file = host.get('/f')!;
    assert.equal(file.length, PS + 100, 'the file did not grow');
    assert.ok(file.subarray(PS).every((x) => x === 0x22));
    assert.deepEqual(file.subarray(0, PS), data.subarray(0, PS), 'page 0 is outside the range');
    assert.deepEqual([v.isDirty(p0), v.isDirty(p1)], [true, false]);
    assert.equal(uvm.exp.vnodepageouts, 1);
    assert.equal(v.pgoPut(0, 2), 0);
    file = host.get('/f')!;
    assert.ok(file.subarray(0, PS).every((x) => x === 0x11));
    assert.equal(uvm.exp.vnodepageouts, 2);
    assert.equal(v.pgoPut(0, 2), 0);
    assert.equal(uvm.exp.vnodepageouts, 2, 'clean pages are not written');
    check(uvm);
  });

  it('a write error is EIO: the page stays dirty and the file unchanged', () => {
    const { uvm, host, vnodes } = files({ '/f': pattern(PS) });
    const v = vnodes.get('/f', true)!;
    const pg = frame(v.pgoGet(0));
    bytesOf(uvm, pg).fill(0);
    uvm.pages.attrs[pg] |= PMAP_MODIFIED;
    host.faults('/f').failWrites = 1;
    assert.equal(v.pgoPut(0, 1), 'EIO');
    assert.deepEqual(host.get('/f'), pattern(PS));
    assert.ok(v.isDirty(pg));
    assert.deepEqual([uvm.exp.vnodeioerrs, uvm.exp.vnodepageouts], [1, 0]);
    assert.equal(v.pageout(0, pg), 'freed', 'the injector failed one write only');
    assert.ok(host.get('/f')!.every((x) => x === 0));
    assert.deepEqual([uvm.exp.vnodeioerrs, uvm.exp.vnodepageouts], [1, 1]);
    host.faults('/f').failWrites = 1;
    const again = frame(v.pgoGet(0));
    bytesOf(uvm, again).fill(4);
    uvm.pages.attrs[again] |= PMAP_MODIFIED;
    assert.equal(v.pageout(0, again), 'EIO');
    assert.equal(v.pages.get(0), again);
    assert.ok(v.isDirty(again));
    assert.ok(host.get('/f')!.every((x) => x === 0));
    check(uvm);
  });

  it('invalidate drops clean, unwired pages only; the next get reads the file again', () => {
    const { uvm, host, vnodes } = files({ '/f': new Uint8Array(4 * PS).fill(1) });
    const v = vnodes.get('/f', false)!;
    const pgs = [0, 1, 2, 3].map((i) => frame(v.pgoGet(i)));
    uvm.pages.attrs[pgs[1]] |= PMAP_MODIFIED;
    pageWire(uvm, pgs[2]);
    host.open('/f')!.write(0, new Uint8Array(4 * PS).fill(2));
    v.invalidate(0, 3);
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => v.pages.has(i)),
      [false, true, true, true],
      'dirty, wired, and out of range stay',
    );
    assert.equal(uvm.pages.bytes[frame(v.pgoGet(0)) * PS], 2, 'read again');
    assert.equal(uvm.pages.bytes[pgs[3] * PS], 1, 'still the old cached page');
    pageUnwire(uvm, pgs[2]);
    check(uvm);
  });

  it('msync writes back the pages of the range asked for, at the mapping offset', () => {
    const host = new MemoryHost();
    host.put('/f', new Uint8Array(4 * PS));
    const sys = new VmSystem({ physPages: 64, swapPages: 64, host });
    const p = sys.spawn();
    const a = p.mmap(0, 3 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, sys.open('/f', 'r+'), PS);
    for (let i = 0; i < 3; i++) p.write(a + i * PS, [10 + i]);
    assert.ok(
      host.get('/f')!.every((x) => x === 0),
      'nothing written before msync',
    );
    p.msync(a + PS, PS, MS_SYNC);
    let f = host.get('/f')!;
    assert.deepEqual([f[0], f[PS], f[2 * PS], f[3 * PS]], [0, 0, 11, 0]);
    p.msync(a, 3 * PS, MS_SYNC);
    f = host.get('/f')!;
    assert.deepEqual([f[0], f[PS], f[2 * PS], f[3 * PS]], [0, 10, 11, 12]);
    sys.audit();
  });

  it('the last detach writes every dirty page back, frees the pages and closes the file', () => {
    const { uvm, host, vnodes, closes } = files({ '/f': new Uint8Array(2 * PS) });
    const free = uvm.pages.freeCount;
    const v = vnodes.get('/f', true)!;
    const pg = frame(v.pgoGet(1));
    frame(v.pgoGet(0));
    bytesOf(uvm, pg).fill(8);
    uvm.pages.attrs[pg] |= PMAP_MODIFIED;
    objectDetach(uvm, v);
    assert.ok(
      host
        .get('/f')!
        .subarray(PS)
        .every((x) => x === 8),
    );
    assert.equal(uvm.pages.freeCount, free);
    assert.equal(uvm.objects.has(v.id), false);
    assert.deepEqual(closes, ['/f#1w']);
    check(uvm);
  });
});

describe('file handles', () => {
  function system() {
    const host = new MemoryHost();
    host.put('/f', new Uint8Array(2 * PS).fill(6));
    return new VmSystem({ physPages: 64, swapPages: 64, host });
  }

  it("'r' bounds a shared mapping to read and execute; 'r+' allows everything", () => {
    const sys = system();
    const r = sys.open('/f', 'r');
    const rw = sys.open('/f', 'r+');
    assert.deepEqual([r.maxSharedProt, rw.maxSharedProt], [PROT_READ | PROT_EXEC, PROT_ALL]);
    assert.deepEqual([r.writable, rw.writable, r.path], [false, true, '/f']);
    const p = sys.spawn();
    const x = p.mmap(0, PS, PROT_READ | PROT_EXEC, MAP_SHARED, r);
    assert.equal(p.read(x, 1)[0], 6);
    throwsVm(() => p.mmap(0, PS, PROT_WRITE, MAP_SHARED, r), 'EACCES', 'prot');
    const priv = p.mmap(0, PS, PROT_READ | PROT_WRITE, MAP_PRIVATE, r);
    p.write(priv, [7]);
    const w = p.mmap(0, PS, PROT_READ | PROT_WRITE, MAP_SHARED, rw);
    p.write(w, [9]);
    assert.equal(p.read(x, 1)[0], 9, 'one vnode: the shared write shows in the other mapping');
    throwsVm(() => sys.open('/f', 'w' as 'r'), 'EINVAL', 'mode');
    sys.audit();
  });

  it("close drops the handle's reference; mappings keep theirs; a closed handle is EBADF", () => {
    const sys = system();
    const h = sys.open('/f', 'r');
    const v = h.object();
    assert.equal(v.refs, 1);
    const p = sys.spawn();
    const a = p.mmap(0, 2 * PS, PROT_READ, MAP_SHARED, h);
    assert.equal(v.refs, 2);
    h.close();
    h.close();
    assert.equal(v.refs, 1, 'a second close does nothing');
    assert.equal(p.read(a + PS, 1)[0], 6, 'the mapping still reads the file');
    throwsVm(() => h.object(), 'EBADF', 'fd');
    const maps = p.maps();
    throwsVm(() => p.mmap(0, PS, PROT_READ, MAP_SHARED, h), 'EBADF', 'fd');
    assert.deepEqual(p.maps(), maps);
    p.munmap(a, 2 * PS);
    assert.equal(v.refs, 0);
    assert.equal(sys.uvm.objects.has(v.id), false, 'gone with its last mapping');
    sys.audit();
  });
});

describe('the vnode cache', () => {
  it('one vnode per path, shared by every get', () => {
    const { vnodes } = files({ '/a': pattern(PS), '/b': pattern(PS) });
    const a1 = vnodes.get('/a', false)!;
    const a2 = vnodes.get('/a', false)!;
    const b = vnodes.get('/b', false)!;
    assert.equal(a1, a2);
    assert.notEqual(a1, b);
    assert.deepEqual([a1.refs, b.refs], [2, 1]);
    assert.equal(vnodes.get('/missing', false), null);
  });

  it('a get for writing reopens a read-only vnode: the same vnode, pages and all', () => {
    const { vnodes, closes } = files({ '/f': pattern(PS) });
    const v = vnodes.get('/f', false)!;
    const pg = frame(v.pgoGet(0));
    const w = vnodes.get('/f', true)!;
    assert.equal(w, v);
    assert.deepEqual([v.writable, v.refs, v.pages.get(0)], [true, 2, pg]);
    assert.deepEqual(closes, ['/f#1r'], 'the read-only file was closed');
    assert.equal(vnodes.get('/f', false), v, 'a reader gets the writable vnode');
    assert.deepEqual(closes, ['/f#1r'], 'without another open');
  });

  it('a file that cannot be opened for writing gives null and leaves the vnode as it was', () => {
    const { vnodes, closes } = files({ '/f': pattern(PS) }, { readOnly: true });
    const v = vnodes.get('/f', false)!;
    assert.equal(vnodes.get('/f', true), null);
    assert.deepEqual([v.writable, v.refs, closes.length], [false, 1, 0]);
  });

  it('a vnode whose last reference went is replaced by a fresh one', () => {
    const { uvm, vnodes } = files({ '/f': pattern(PS) });
    const v = vnodes.get('/f', false)!;
    frame(v.pgoGet(0));
    objectDetach(uvm, v);
    const n = vnodes.get('/f', false)!;
    assert.notEqual(n, v);
    assert.notEqual(n.id, v.id);
    assert.deepEqual([n.refs, n.pages.size], [1, 0]);
    check(uvm);
  });
});

describe('references and the audit', () => {
  it('reference and detach count; the last detach ends the object; a dead one panics', () => {
    const uvm = kernel();
    const obj = new UvmObject(uvm, PS, 'z');
    const pg = frame(obj.pgoGet(0));
    objectReference(obj);
    objectReference(obj);
    assert.equal(obj.refs, 3);
    objectDetach(uvm, obj);
    objectDetach(uvm, obj);
    assert.equal(obj.pages.get(0), pg, 'alive with one reference');
    objectDetach(uvm, obj);
    assert.deepEqual([obj.refs, obj.pages.size, uvm.objects.has(obj.id)], [0, 0, false]);
    assert.throws(() => objectReference(obj), KernelPanic);
    assert.throws(() => objectDetach(uvm, obj), KernelPanic);
    check(uvm);
  });

  it('auditObjects catches a dead object still known, a page not its own, a frame not listed', () => {
    const uvm = kernel();
    const obj = new UvmObject(uvm, 2 * PS, 'z');
    const pg = frame(obj.pgoGet(0));
    auditObjects(uvm);
    const breakages: [string, () => void, () => void, RegExp][] = [
      ['refs', () => (obj.refs = 0), () => (obj.refs = 1), /0 references/],
      ['offset', () => (uvm.pages.offset[pg] = 1), () => (uvm.pages.offset[pg] = 0), /not owned/],
      ['unlisted', () => obj.pages.delete(0), () => obj.pages.set(0, pg), /1 frames are owned/],
    ];
    for (const [what, breakIt, mend, msg] of breakages) {
      breakIt();
      assert.throws(
        () => auditObjects(uvm),
        (e: unknown) => e instanceof KernelPanic && msg.test(e.message),
        what,
      );
      mend();
      auditObjects(uvm);
    }
  });
});
