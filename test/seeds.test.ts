/*
 * What the seeds define and the kernel now acts on (issue 15): the
 * VM_FAULT_* flags of the fault entry point, MAP_ENTRY_NOFAULT and the
 * KSTACK guard page, prefaulting (MAP_PREFAULT*, MADV_WILLNEED), and the
 * NOSYNC / NOCOREDUMP entry flags set by madvise and shown in dumps.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { uvmFault } from '../src/kernel/fault.ts';
import { histSubscribe } from '../src/kernel/hist.ts';
import { MemoryHost } from '../src/kernel/host.ts';
import {
  MAP_COPY_ON_WRITE,
  MAP_IS_KSTACK,
  MAP_NOFAULT,
  MAP_PREFAULT,
  VM_FAULT_BURST,
  VM_FAULT_CHANGE_WIRING,
  VM_FAULT_DIRTY,
  VM_FAULT_UNSWAP,
  VM_FAULT_USER_WIRE,
  type VmMap,
  vmMapInherit,
  vmMapInsert,
  vmMapLock,
  vmMapLookupEntry,
  vmMapUnlock,
} from '../src/kernel/map/index.ts';
import { PG_CLEAN, PMAP_MODIFIED } from '../src/kernel/page.ts';
import {
  MADV_AUTOSYNC,
  MADV_CORE,
  MADV_NOCORE,
  MADV_NOSYNC,
  MADV_WILLNEED,
  MAP_ANON,
  MAP_ENTRY_NOCOREDUMP,
  MAP_ENTRY_NOSYNC,
  MAP_INHERIT_COPY,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_ALL,
  PROT_READ,
  PROT_WRITE,
} from '../src/kernel/param.ts';
import { PTE_W, PTE_WIRED, pteFrame } from '../src/kernel/pmap.ts';
import { MAX_INIT_PT } from '../src/kernel/prefault.ts';
import { vmspacePresidentCount } from '../src/kernel/vmspace.ts';
import type { Process } from '../src/sys/proc.ts';
import { VmSystem } from '../src/sys/system.ts';
import { entryLine } from '../src/tools/dump.ts';

const PS = 4096;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANON;
const A = 0x100000000;

function world(physPages = 256) {
  const host = new MemoryHost();
  host.put(
    '/f',
    Uint8Array.from({ length: 8 * PS }, (_, i) => 1 + Math.floor(i / PS)),
  );
  host.put('/big', new Uint8Array((MAX_INIT_PT + 4) * PS).fill(9));
  const sys = new VmSystem({ physPages, swapPages: 256, host });
  return { sys, p: sys.spawn(), host };
}

/** insert: map [at, at + n pages) of nothing into p's map with `cow` flags. */
function insert(p: Process, at: number, n: number, cow: number): void {
  const map: VmMap = p.vm.map;
  vmMapLock(map);
  vmMapInsert(map, null, 0, at, at + n * PS, RW, PROT_ALL, cow);
  vmMapUnlock(map);
}

/** mapped: the pages of [at, at + n pages) that have a translation. */
function mapped(p: Process, at: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => i).filter((i) => p.vm.pmap.lookup(at + i * PS) !== 0);
}

describe('VM_FAULT_* flags of the fault entry point', () => {
  it('BURST maps resident neighbours (fault-ahead); without it only the page faulted', () => {
    const { sys, p } = world();
    p.mmap(A, 8 * PS, RW, ANON);
    for (let i = 0; i < 8; i++) p.write(A + i * PS, [i]);
    p.vm.pmap.remove(A, A + 8 * PS);
    assert.equal(uvmFault(sys.uvm, p.vm.map, A + 3 * PS, PROT_READ), 0);
    assert.deepEqual(mapped(p, A, 8), [3]);
    assert.equal(uvmFault(sys.uvm, p.vm.map, A + 4 * PS, PROT_READ, VM_FAULT_BURST), 0);
    assert.deepEqual(mapped(p, A, 8), [1, 2, 3, 4, 5, 6, 7], 'NORMAL advice: 3 behind, 4 ahead');
    sys.audit();
  });

  it('a program access is a BURST fault, a write DIRTY: the page is marked modified', () => {
    const { sys, p } = world();
    p.mmap(A, 8 * PS, RW, ANON);
    p.write(A, [1]);
    const pg = pteFrame(p.vm.pmap.lookup(A));
    assert.ok(sys.uvm.pages.attrs[pg] & PMAP_MODIFIED);
    sys.uvm.pages.attrs[pg] = 0;
    p.vm.pmap.remove(A, A + PS);
    assert.equal(uvmFault(sys.uvm, p.vm.map, A, PROT_WRITE, VM_FAULT_DIRTY), 0);
    assert.ok(sys.uvm.pages.attrs[pg] & PMAP_MODIFIED, 'DIRTY marks it modified');
    sys.audit();
  });

  it('UNSWAP frees the swap copy of a page faulted back in; a plain fault keeps it', () => {
    const { sys, p } = world(64);
    p.mmap(A, 2 * PS, RW, ANON);
    p.write(A, [7]);
    p.write(A + PS, [8]);
    const e = vmMapLookupEntry(p.vm.map, A);
    const [an0, an1] = [e.amap!.anon[e.pageoff], e.amap!.anon[e.pageoff + 1]];
    const hog = p.mmap(0, 128 * PS, RW, ANON);
    for (let i = 0; i < 128; i++) p.write(hog + i * PS, [i]);
    const anons = sys.uvm.anons;
    assert.ok(anons.swslot[an0] !== 0 && anons.swslot[an1] !== 0, 'both pages went to swap');
    assert.equal(uvmFault(sys.uvm, p.vm.map, A, PROT_READ), 0);
    assert.notEqual(anons.swslot[an0], 0, 'a plain fault keeps the swap copy');
    assert.equal(uvmFault(sys.uvm, p.vm.map, A + PS, PROT_READ, VM_FAULT_UNSWAP), 0);
    assert.equal(anons.swslot[an1], 0, 'UNSWAP dropped it');
    assert.equal(sys.uvm.pages.flags[anons.page[an1]] & PG_CLEAN, 0, 'the page is its only copy');
    assert.deepEqual(
      Array.from(p.read(A, PS * 2)).filter((x) => x !== 0),
      [7, 8],
    );
    sys.audit();
  });

  it('CHANGE_WIRING and USER_WIRE both wire the page', () => {
    const { sys, p } = world();
    p.mmap(A, 2 * PS, RW, ANON);
    for (const [i, f] of [VM_FAULT_CHANGE_WIRING, VM_FAULT_USER_WIRE].entries()) {
      assert.equal(uvmFault(sys.uvm, p.vm.map, A + i * PS, PROT_READ, f), 0);
      assert.ok(p.vm.pmap.lookup(A + i * PS) & PTE_WIRED);
      assert.ok(p.vm.pmap.lookup(A + i * PS) & PTE_W, 'with the full protection');
    }
  });
});

describe('entries that may not fault', () => {
  it('a MAP_ENTRY_NOFAULT entry is SIGSEGV, creating nothing', () => {
    const { sys, p } = world();
    insert(p, A, 2, MAP_NOFAULT | MAP_COPY_ON_WRITE);
    const amaps = sys.counters.amaps;
    assert.throws(() => p.write(A, [1]), /SIGSEGV/);
    assert.throws(() => p.read(A + PS, 1), /SIGSEGV/);
    assert.equal(vmMapLookupEntry(p.vm.map, A).amap, null);
    assert.equal(sys.counters.amaps, amaps);
    assert.equal(p.rss, 0);
    sys.audit();
  });

  it('the bottom page of a KSTACK entry is its guard: SIGSEGV; the rest faults as usual', () => {
    const { sys, p } = world();
    insert(p, A, 4, MAP_IS_KSTACK | MAP_COPY_ON_WRITE);
    assert.throws(() => p.write(A + 10, [1]), /SIGSEGV/);
    p.write(A + PS, [2]);
    p.write(A + 3 * PS, [3]);
    assert.deepEqual(mapped(p, A, 4), [1, 3]);
    assert.match(entryLine(vmMapLookupEntry(p.vm.map, A)), /kstack/);
    sys.audit();
  });
});

describe('prefault', () => {
  it('mmap of a file maps its resident pages read-only at once (MAP_PREFAULT_PARTIAL)', () => {
    const { sys, p } = world();
    const f = sys.open('/f', 'r+');
    const q = sys.spawn();
    const b = q.mmap(0, 8 * PS, PROT_READ, MAP_SHARED, f);
    q.read(b + 2 * PS, 1);
    q.read(b + 5 * PS, 1);
    const faults = sys.counters.faults;
    const a = p.mmap(0, 8 * PS, RW, MAP_PRIVATE, f);
    assert.equal(sys.counters.faults, faults, 'no fault');
    const present = mapped(p, a, 8);
    assert.ok(present.includes(2) && present.includes(5), `resident pages mapped: ${present}`);
    assert.equal(p.vm.pmap.lookup(a + 2 * PS) & PTE_W, 0, 'read-only');
    p.write(a + 2 * PS, [42]);
    assert.deepEqual(Array.from(q.read(b + 2 * PS, 1)), [3], 'the write was copied, the file kept');
    sys.audit();
  });

  it('PARTIAL maps nothing of a large range of a file with many resident pages; PREFAULT does', () => {
    const { sys, p } = world(512);
    const f = sys.open('/big', 'r');
    const n = MAX_INIT_PT + 4;
    const q = sys.spawn();
    const b = q.mmap(0, n * PS, PROT_READ, MAP_SHARED, f);
    for (let i = 0; i < n; i++) q.read(b + i * PS, 1);
    const a = p.mmap(0, n * PS, PROT_READ, MAP_PRIVATE, f);
    assert.equal(mapped(p, a, n).length, 0);
    const obj = vmMapLookupEntry(q.vm.map, b).object!;
    vmMapLock(p.vm.map);
    vmMapInsert(p.vm.map, obj, 0, A, A + n * PS, PROT_READ, PROT_ALL, MAP_PREFAULT);
    vmMapUnlock(p.vm.map);
    assert.equal(mapped(p, A, n).length, n);
    sys.audit();
  });

  it('MADV_WILLNEED maps the resident pages of a file mapping (MAP_PREFAULT_MADVISE)', () => {
    const { sys, p } = world();
    const f = sys.open('/f', 'r');
    const a = p.mmap(0, 8 * PS, PROT_READ, MAP_SHARED, f);
    p.read(a + 6 * PS, 1);
    p.vm.pmap.remove(a, a + 8 * PS);
    p.madvise(a, 8 * PS, MADV_WILLNEED);
    assert.ok(mapped(p, a, 8).includes(6));
    sys.audit();
  });
});

describe('NOSYNC and NOCOREDUMP', () => {
  it('MADV_NOSYNC / MADV_NOCORE set the entry flags, shown in dumps; AUTOSYNC / CORE undo them', () => {
    const { sys, p } = world();
    p.mmap(A, 4 * PS, RW, ANON);
    p.madvise(A + PS, PS, MADV_NOSYNC);
    p.madvise(A + PS, 2 * PS, MADV_NOCORE);
    const e1 = vmMapLookupEntry(p.vm.map, A + PS);
    assert.equal(
      e1.eflags & (MAP_ENTRY_NOSYNC | MAP_ENTRY_NOCOREDUMP),
      MAP_ENTRY_NOSYNC | MAP_ENTRY_NOCOREDUMP,
    );
    assert.match(entryLine(e1), /nosync.*nocore|nocore.*nosync/);
    assert.match(entryLine(vmMapLookupEntry(p.vm.map, A + 2 * PS)), /nocore/);
    assert.doesNotMatch(entryLine(vmMapLookupEntry(p.vm.map, A)), /nosync|nocore/);
    assert.equal(p.vm.map.nentries, 4);
    p.madvise(A, 4 * PS, MADV_AUTOSYNC);
    p.madvise(A, 4 * PS, MADV_CORE);
    assert.equal(p.vm.map.nentries, 1, 'the flags gone, the entries merge back');
    sys.audit();
  });
});

describe('address space counts and segments', () => {
  it('exec sets text, data and stack segments from the image; brk keeps vm_dsize', () => {
    const { sys, p } = world();
    p.exec([
      '00400000-00402000 r-xp 00000000 fe:00 1 /bin/prog',
      '00402000-00403000 r--p 00002000 fe:00 1 /bin/prog',
      '00403000-00404000 rw-p 00003000 fe:00 1 /bin/prog',
      '00404000-00406000 rw-p 00000000 00:00 0 [heap]',
      '7ffedc41f000-7ffedc440000 rw-p 00000000 00:00 0 [stack]',
    ]);
    const vm = p.vm;
    assert.deepEqual(
      [vm.taddr, vm.tsize, vm.daddr, vm.dsize],
      [0x400000, 2, 0x403000, 3],
      'text 2 pages; data from its first writable page up to the break',
    );
    assert.deepEqual([vm.minsaddr, vm.ssize], [0x7ffedc440000, 0x21]);
    assert.equal(vm.maxsaddr, vm.minsaddr - vm.stackLimit);
    p.brk(0x406000 + 3 * PS + 5);
    assert.equal(vm.dsize, 7, 'the break moved up 3 pages and a bit');
    p.brk(0x404000);
    assert.equal(vm.dsize, 1);
    const child = p.fork();
    assert.deepEqual([child.vm.taddr, child.vm.dsize], [0x400000, 1], 'fork copies them');
    sys.audit();
  });

  it('vr_refs counts the execs copying a resident executable: it cannot be unregistered meanwhile', () => {
    const { sys, p } = world();
    p.mmap(A, PS, RW, MAP_SHARED | MAP_ANON);
    p.write(A, [5]);
    const id = sys.residents.register(p.vm, '/bin/res', 0x400000);
    /* the snapshot's copy of the shared memory is copied by the exec's fork (an amap-copy) */
    vmMapInherit(sys.residents.lookup('/bin/res')!.vmspace.map, A, A + PS, MAP_INHERIT_COPY);
    const tries: string[] = [];
    const off = histSubscribe(sys.uvm, (e) => {
      if (e.type !== 'amap-copy') return;
      try {
        sys.residents.unregister(id);
        tries.push('unregistered');
      } catch (err) {
        tries.push((err as { code: string }).code);
      }
    });
    const q = sys.spawn();
    q.exec([], '/bin/res');
    off();
    assert.deepEqual(tries, ['EBUSY'], 'in use while the exec copies it');
    assert.equal(sys.residents.lookup('/bin/res')?.refs, 0);
    assert.deepEqual(Array.from(q.read(A, 1)), [5]);
    sys.audit();
    sys.residents.unregister(id);
    sys.audit();
  });

  it('the seed president count (integer, per anonymous object) beside the fractional PSS', () => {
    const { sys, p } = world();
    p.mmap(A, 4 * PS, RW, ANON);
    for (let i = 0; i < 4; i++) p.write(A + i * PS, [i]);
    const child = p.fork();
    child.read(A, PS * 2);
    sys.uvm.ticks++;
    assert.equal(p.pss, 2, 'the child maps all 4 (fault-ahead): 4 * 1/2');
    assert.equal(vmspacePresidentCount(p.vm), 0, '4 resident pages over 8 translations');
    assert.equal(vmspacePresidentCount(child.vm), 0);
    child.exit();
    sys.uvm.ticks++;
    assert.equal(vmspacePresidentCount(p.vm), 1, '4 pages over 4 translations');
    sys.audit();
  });
});
