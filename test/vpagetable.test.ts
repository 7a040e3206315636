/*
 * Virtual page tables (issue 15; DragonFly's MAP_VPAGETABLE, MADV_SETMAP,
 * MADV_INVAL, vm_fault_vpagetable): real 4-level tables built in a file,
 * mapped, walked by the fault handler; the whole-system audit after every
 * step.
 *
 * The file /vm (16 pages): pages 0..3 the tables of levels 1..4, pages
 * 8..15 data, page i filled with 0xa0 + i. The mapping at VA (offset 0)
 * has n = page index, so level k's index is 0 for k < 4 and n at level 4.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MADV_DOFORK,
  MADV_DONTFORK,
  MADV_INVAL,
  MADV_NORMAL,
  MADV_SETMAP,
  MAP_ANON,
  MAP_FIXED,
  MAP_INHERIT_COPY,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_VPAGETABLE,
  MREMAP_MAYMOVE,
  MS_SYNC,
  PROT_READ,
  PROT_WRITE,
  VmError,
  VPTE_A,
  VPTE_FRAME,
  VPTE_M,
  VPTE_PS,
  VPTE_RW,
  VPTE_V,
  vpagetable,
} from '../src/index.ts';
import { MemoryHost } from '../src/kernel/host.ts';
import { vmMapLookupEntry } from '../src/kernel/map/index.ts';
import { PTE_W } from '../src/kernel/pmap.ts';
import type { Process } from '../src/sys/proc.ts';
import { VmSystem } from '../src/sys/system.ts';
import { ScenarioRunner } from '../src/tools/scenario.ts';
import { throwsVm } from './helpers.ts';

const PS = 4096;
const RW = PROT_READ | PROT_WRITE;
const VA = 0x200000000;
/** where the process maps the same file plainly, to edit its tables */
const TABLES = 0x300000000;
const VALID = VPTE_V | VPTE_RW;

/** vpte: an entry pointing at page `page` of the file. */
function vpte(page: number, flags: number): bigint {
  return BigInt(page * PS) | BigInt(flags);
}

/** the file: tables 0 -> 1 -> 2 -> 3, level 4 entry i -> data page 8 + i (3 read-only) */
function image(): Uint8Array {
  const bytes = new Uint8Array(16 * PS);
  for (let i = 8; i < 16; i++) bytes.fill(0xa0 + i, i * PS, (i + 1) * PS);
  const dv = new DataView(bytes.buffer);
  for (let level = 0; level < 3; level++) dv.setBigUint64(level * PS, vpte(level + 1, VALID), true);
  for (let i = 0; i < 3; i++) dv.setBigUint64(3 * PS + i * 8, vpte(8 + i, VALID), true);
  dv.setBigUint64(3 * PS + 3 * 8, vpte(11, VPTE_V), true);
  return bytes;
}

/** world: the file mapped at VA with MAP_VPAGETABLE and plainly at TABLES, the root set. */
function world(root = 0 | VALID) {
  const host = new MemoryHost();
  host.put('/vm', image());
  const sys = new VmSystem({ physPages: 64, swapPages: 64, host });
  const p = sys.spawn();
  const f = sys.open('/vm', 'r+');
  p.mmap(VA, 4 * PS, RW, MAP_SHARED | MAP_VPAGETABLE | MAP_FIXED, f);
  p.mmap(TABLES, 16 * PS, RW, MAP_SHARED | MAP_FIXED, f);
  p.madvise(VA, 4 * PS, MADV_SETMAP, root);
  sys.audit();
  return { sys, host, p, f };
}

/** entryAt: the table entry at byte `at` of the file, as the process sees it. */
function entryAt(p: Process, at: number): bigint {
  const b = p.read(TABLES + at, 8);
  return new DataView(b.buffer).getBigUint64(0, true);
}

/** setEntry: write the table entry at byte `at` of the file through the plain mapping. */
function setEntry(p: Process, at: number, v: bigint): void {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  p.write(TABLES + at, b);
}

/** fileEntry: the table entry at byte `at` of the file on the host (after msync). */
function fileEntry(host: MemoryHost, at: number): bigint {
  const b = host.get('/vm')!;
  return new DataView(b.buffer).getBigUint64(at, true);
}

/** segv: the access faults with SIGSEGV (EFAULT). */
function segv(fn: () => unknown): void {
  assert.throws(
    fn,
    (e: unknown) => e instanceof VmError && e.code === 'EFAULT' && e.signal === 'SIGSEGV',
  );
}

/** the byte offset of level k's (1..4) entry for page n of the mapping */
function slot(k: number, n: number): number {
  return (k - 1) * PS + (k === 4 ? n * 8 : 0);
}

describe('virtual page tables: the format', () => {
  it('exports DragonFly values that collide with nothing', () => {
    assert.equal(MAP_VPAGETABLE, 0x2000);
    assert.equal(VPTE_FRAME, 2 ** 52 - PS);
    assert.deepEqual([VPTE_V, VPTE_RW, VPTE_A, VPTE_M, VPTE_PS], [1, 2, 0x20, 0x40, 0x80]);
    assert.notEqual(MADV_SETMAP, MADV_INVAL);
    const linux = [MADV_DONTFORK, MADV_DOFORK];
    assert.ok(!linux.includes(MADV_SETMAP) && !linux.includes(MADV_INVAL));
    assert.equal(typeof vpagetable.vpagetableWalk, 'function');
  });
});

describe('virtual page tables: reading and writing through them', () => {
  it('reads the data page the walk names, and writes land at its offset in the file', () => {
    const { sys, host, p } = world();
    assert.deepEqual([...p.read(VA, 2)], [0xa8, 0xa8]);
    assert.deepEqual([...p.read(VA + 2 * PS + 7, 1)], [0xaa]);
    sys.audit();
    p.write(VA + PS + 5, [1, 2, 3]);
    sys.audit();
    p.msync(VA, 4 * PS, MS_SYNC);
    const file = host.get('/vm')!;
    assert.deepEqual([...file.subarray(9 * PS + 4, 9 * PS + 9)], [0xa9, 1, 2, 3, 0xa9]);
    assert.deepEqual([...p.read(TABLES + 9 * PS + 5, 3)], [1, 2, 3]);
    sys.audit();
  });

  it('the walk sets VPTE_A in every entry it used and VPTE_M in the last on a write', () => {
    const { sys, host, p } = world();
    p.read(VA, 1);
    for (let k = 1; k <= 4; k++)
      assert.equal(entryAt(p, slot(k, 0)) & BigInt(VPTE_A | VPTE_M), BigInt(VPTE_A), `level ${k}`);
    assert.equal(entryAt(p, slot(4, 1)) & BigInt(VPTE_A), 0n, 'an entry not walked');
    p.write(VA + PS, [9]);
    assert.equal(entryAt(p, slot(4, 1)) & BigInt(VPTE_A | VPTE_M), BigInt(VPTE_A | VPTE_M));
    for (let k = 1; k <= 3; k++)
      assert.equal(entryAt(p, slot(k, 0)) & BigInt(VPTE_M), 0n, `level ${k} has no M`);
    p.msync(VA, 4 * PS, MS_SYNC);
    assert.equal(fileEntry(host, slot(4, 1)), vpte(9, VALID | VPTE_A | VPTE_M));
    assert.equal(fileEntry(host, slot(1, 0)), vpte(1, VALID | VPTE_A));
    sys.audit();
  });

  it('a read maps the page read-only until the entry is modified, so the first write sets VPTE_M', () => {
    const { sys, p } = world();
    p.read(VA, 1);
    assert.equal(p.vm.pmap.lookup(VA) & PTE_W, 0);
    assert.equal(entryAt(p, slot(4, 0)) & BigInt(VPTE_M), 0n);
    p.write(VA, [7]);
    assert.notEqual(p.vm.pmap.lookup(VA) & PTE_W, 0);
    assert.equal(entryAt(p, slot(4, 0)) & BigInt(VPTE_M), BigInt(VPTE_M));
    p.madvise(VA, PS, MADV_INVAL);
    p.read(VA, 1);
    assert.notEqual(p.vm.pmap.lookup(VA) & PTE_W, 0, 'modified already: a read maps it writable');
    sys.audit();
  });

  it('VPTE_PS in the master entry maps the object linearly from its frame', () => {
    const { sys, p } = world(8 * PS + (VALID | VPTE_PS));
    assert.deepEqual([...p.read(VA, 1)], [0xa8]);
    assert.deepEqual([...p.read(VA + 3 * PS, 1)], [0xab]);
    sys.audit();
  });

  it('VPTE_PS at level 3 indexes pages from its frame by the rest of n', () => {
    const { sys, p } = world();
    setEntry(p, slot(3, 0), vpte(12, VALID | VPTE_PS));
    p.madvise(VA, 4 * PS, MADV_INVAL);
    assert.deepEqual([...p.read(VA + 2 * PS, 1)], [0xae]);
    assert.equal(entryAt(p, slot(3, 0)) & BigInt(VPTE_A), BigInt(VPTE_A));
    sys.audit();
  });
});

describe('virtual page tables: faults', () => {
  for (let k = 0; k <= 4; k++) {
    it(`an invalid entry at level ${k} is SIGSEGV`, () => {
      const { sys, p } = world();
      if (k === 0) p.madvise(VA, 4 * PS, MADV_SETMAP, 0 | VPTE_RW);
      else setEntry(p, slot(k, 0), vpte(k === 4 ? 8 : k, VPTE_RW));
      segv(() => p.read(VA, 1));
      segv(() => p.write(VA, [1]));
      assert.equal(p.vm.pmap.lookup(VA), 0);
      sys.audit();
    });
  }

  it('a write through an entry without VPTE_RW is SIGSEGV; a read through it is not', () => {
    const { sys, p } = world();
    assert.deepEqual([...p.read(VA + 3 * PS, 1)], [0xab]);
    segv(() => p.write(VA + 3 * PS, [1]));
    assert.equal(entryAt(p, slot(4, 3)) & BigInt(VPTE_M), 0n);
    assert.equal(p.vm.pmap.lookup(VA + 3 * PS) & PTE_W, 0);
    sys.audit();
  });

  it('an upper entry without VPTE_RW makes the pages below it read-only, even modified ones', () => {
    const { sys, p } = world();
    setEntry(p, slot(2, 0), vpte(2, VPTE_V));
    setEntry(p, slot(4, 0), vpte(8, VALID | VPTE_M));
    p.madvise(VA, 4 * PS, MADV_INVAL);
    assert.deepEqual([...p.read(VA, 1)], [0xa8]);
    assert.equal(p.vm.pmap.lookup(VA) & PTE_W, 0);
    segv(() => p.write(VA, [1]));
    sys.audit();
  });
});

describe('virtual page tables: MADV_INVAL, MADV_SETMAP and fork', () => {
  it('after a table changes, the cached translation stays until MADV_INVAL', () => {
    const { sys, p } = world();
    assert.deepEqual([...p.read(VA, 1)], [0xa8]);
    setEntry(p, slot(4, 0), vpte(13, VALID));
    assert.deepEqual([...p.read(VA, 1)], [0xa8], 'the real PTE is a cache');
    p.madvise(VA, PS, MADV_INVAL);
    assert.equal(p.vm.pmap.lookup(VA), 0);
    sys.audit();
    assert.deepEqual([...p.read(VA, 1)], [0xad]);
    sys.audit();
  });

  it('MADV_SETMAP on part of the mapping clips it and gives that part its own root', () => {
    const { sys, p } = world();
    p.read(VA + PS, 1);
    p.madvise(VA + 2 * PS, 2 * PS, MADV_SETMAP, 8 * PS + (VALID | VPTE_PS));
    assert.equal(vmMapLookupEntry(p.vm.map, VA + 2 * PS).start, VA + 2 * PS);
    assert.deepEqual([...p.read(VA + 2 * PS, 1)], [0xaa], 'linear from page 8: n = 2');
    assert.deepEqual([...p.read(VA + PS, 1)], [0xa9], 'the first half keeps its tables');
    sys.audit();
  });

  it('refuses bad advice, changing nothing', () => {
    const { sys, p } = world();
    p.read(VA, 1);
    const plain = p.mmap(0, PS, RW, MAP_PRIVATE | MAP_ANON);
    throwsVm(() => p.madvise(plain, PS, MADV_SETMAP, VALID), 'EINVAL', 'addr');
    throwsVm(() => p.madvise(VA, PS, MADV_SETMAP), 'EINVAL', 'value');
    throwsVm(() => p.madvise(VA, PS, MADV_NORMAL, 1), 'EINVAL', 'value');
    throwsVm(() => p.madvise(VA, PS, MADV_SETMAP, -1), 'EINVAL', 'value');
    throwsVm(() => p.minherit(VA, PS, MAP_INHERIT_COPY), 'EINVAL', 'inherit');
    p.mlock(VA, PS);
    throwsVm(() => p.madvise(VA, PS, MADV_INVAL), 'EINVAL', 'addr');
    throwsVm(() => p.madvise(VA, PS, MADV_SETMAP, 0), 'EINVAL', 'addr');
    assert.equal(vmMapLookupEntry(p.vm.map, VA).masterPde, VALID);
    assert.notEqual(p.vm.pmap.lookup(VA), 0);
    sys.audit();
  });

  it('mmap refuses MAP_VPAGETABLE without a shared file, mremap refuses to move one', () => {
    const { sys, p, f } = world();
    throwsVm(() => p.mmap(0, PS, RW, MAP_PRIVATE | MAP_VPAGETABLE, f), 'EINVAL', 'flags');
    throwsVm(() => p.mmap(0, PS, RW, MAP_SHARED | MAP_ANON | MAP_VPAGETABLE), 'EINVAL', 'flags');
    throwsVm(() => p.mremap(VA, 4 * PS, 8 * PS, MREMAP_MAYMOVE), 'EINVAL', 'old_address');
    sys.audit();
  });

  it('mlock wires the pages the tables name, read-only ones too, marking none modified', () => {
    const { sys, p } = world();
    p.mlock(VA, 4 * PS);
    sys.audit();
    assert.equal(p.vm.pmap.lookup(VA + 3 * PS) & PTE_W, 0);
    for (let n = 0; n < 4; n++) assert.equal(entryAt(p, slot(4, n)) & BigInt(VPTE_M), 0n);
    assert.deepEqual([...p.read(VA + 3 * PS, 1)], [0xab]);
    segv(() => p.write(VA + 3 * PS, [1]));
    p.write(VA, [5]);
    assert.equal(entryAt(p, slot(4, 0)) & BigInt(VPTE_M), BigInt(VPTE_M));
    sys.audit();
    p.munlock(VA, 4 * PS);
    sys.audit();
  });

  it('a table page lent to a pipe is copied before the walk marks it; the reader gets the old bytes', () => {
    const { sys, p } = world();
    const [r, w] = p.pipe();
    assert.equal(p.writeFd(w, TABLES + 3 * PS, PS), PS);
    sys.audit();
    assert.deepEqual([...p.read(VA, 1)], [0xa8]);
    sys.audit();
    assert.equal(entryAt(p, slot(4, 0)) & BigInt(VPTE_A), BigInt(VPTE_A));
    const buf = p.mmap(0, PS, RW, MAP_PRIVATE | MAP_ANON);
    assert.equal(p.readFd(r, buf, PS), PS);
    const old = new DataView(p.read(buf, 8).buffer).getBigUint64(0, true);
    assert.equal(old, vpte(8, VALID), 'the lent page kept its bytes');
    sys.audit();
  });

  it('mincore says which pages the walk has translated', () => {
    const { sys, p } = world();
    p.read(VA + 2 * PS, 1);
    assert.deepEqual([...p.mincore(VA, 4 * PS)], [0, 0, 1, 0]);
    sys.audit();
  });

  it('a fork shares the mapping: the child walks the same tables and sees the same pages', () => {
    const { sys, p } = world();
    p.write(VA, [0x11]);
    const c = p.fork();
    sys.audit();
    assert.equal(vmMapLookupEntry(c.vm.map, VA).masterPde, VALID);
    assert.deepEqual([...c.read(VA, 1)], [0x11]);
    c.write(VA + PS, [0x22]);
    assert.deepEqual([...p.read(VA + PS, 1)], [0x22]);
    sys.audit();
    setEntry(c, slot(4, 0), vpte(14, VALID));
    c.madvise(VA, PS, MADV_INVAL);
    assert.deepEqual([...c.read(VA, 1)], [0xae]);
    assert.deepEqual([...p.read(VA, 1)], [0x11], 'the parent keeps its cached translation');
    p.madvise(VA, PS, MADV_INVAL);
    assert.deepEqual([...p.read(VA, 1)], [0xae]);
    c.exit();
    sys.audit();
  });

  it('pages of the tables and the data survive the pagedaemon and come back from the file', () => {
    const { sys, p } = world();
    p.write(VA + PS, [0x33]);
    p.msync(VA, 4 * PS, MS_SYNC);
    const obj = vmMapLookupEntry(p.vm.map, VA).object!;
    for (let i = 0; i < 100 && obj.pages.has(9); i++) {
      p.write(p.mmap(0, PS, RW, MAP_PRIVATE | MAP_ANON), [i]);
      sys.pagedaemon();
    }
    assert.ok(!obj.pages.has(9) && p.vm.pmap.lookup(VA + PS) === 0, 'the data page was paged out');
    sys.audit();
    assert.deepEqual([...p.read(VA + PS, 1)], [0x33]);
    sys.audit();
  });
});

describe('virtual page tables: the scenario language', () => {
  it('mmap ... shared,vpagetable and madvise ... setmap VALUE / inval', () => {
    const r = new ScenarioRunner('vpt.uvm');
    const steps = r.run(`
spawn p
file img /vm 16p zeros 8p fill 0xa8 1p fill 0xa9 7p
mmap p t 16p rw shared file img
write p t bytes 0x03 0x10
write p t+1p bytes 0x03 0x20
write p t+2p bytes 0x03 0x30
write p t+3p bytes 0x03 0x80
mmap p v 4p rw shared,vpagetable file img
madvise p v 4p setmap 0x3
show entry p v
read p v 1 expect bytes 0xa8
write p v+5 "hi"
msync p v 4p sync
filecheck /vm 0x8005 "hi"
read p t+3p 1 expect bytes 0x63
write p t+3p bytes 0x03 0x90
read p v 1 expect bytes 0xa8
madvise p v 1p inval
read p v 1 expect bytes 0xa9
expect EINVAL madvise p t 1p setmap 0x3
`);
    assert.equal(steps.length, 20);
    assert.match(steps[9].output.join('\n'), /rw-\/rw. vpt\(0x3\) inh=share/);
    assert.match(steps.at(-1)!.output.join(' '), /failed as expected: madvise: EINVAL/);
  });
});
