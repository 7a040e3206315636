/*
 * vm_map_growstack as DragonFly accounts it: vm_ssize counts the main
 * stack's pages, the stack rlimit bounds vm_ssize plus the growth, and
 * growth goes to the faulting page ('page', Linux's way, the default) or
 * in SGROWSIZ steps ('sgrowsiz', DragonFly's).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SGROWSIZ, type StackGrowth } from '../src/kernel/map/index.ts';
import {
  MAP_ANON,
  MAP_FIXED,
  MAP_GROWSDOWN,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
} from '../src/kernel/param.ts';
import type { Process } from '../src/sys/proc.ts';
import { parseMapsRow } from '../src/sys/procmaps.ts';
import { VmSystem } from '../src/sys/system.ts';
import { throwsVm } from './helpers.ts';

const PS = 4096;
const TOP = 0x7ffedc440000;
/** the stack at exec: 0x21 pages */
const BOTTOM = 0x7ffedc41f000;
const PAGES = 0x21;

function world(stackGrowth?: StackGrowth) {
  const sys = new VmSystem({ physPages: 256, swapPages: 64, stackGrowth });
  const p = sys.spawn();
  p.exec([
    '00400000-00401000 r-xp 00000000 fe:00 1 /bin/prog',
    `${BOTTOM.toString(16)}-${TOP.toString(16)} rw-p 00000000 00:00 0 [stack]`,
  ]);
  return { sys, p };
}

/** stackBottom: the lowest address of p's [stack] rows. */
function stackBottom(p: Process): number {
  const rows = p.maps().map((l, i) => parseMapsRow(l, i + 1));
  return Math.min(...rows.filter((r) => r.name === '[stack]').map((r) => r.start));
}

describe('vm_map_growstack: growth and vm_ssize', () => {
  it("'page' (the default) grows to the faulting page, and vm_ssize counts the pages", () => {
    const { sys, p } = world();
    assert.equal(p.vm.ssize, PAGES);
    p.write(BOTTOM - 1, [1]);
    assert.equal(stackBottom(p), BOTTOM - PS);
    assert.equal(p.vm.ssize, PAGES + 1);
    p.write(BOTTOM - 4 * PS + 8, [2]);
    assert.equal(stackBottom(p), BOTTOM - 4 * PS);
    assert.equal(p.vm.ssize, PAGES + 4);
    assert.deepEqual([...p.read(BOTTOM - 1, 1)], [1]);
    sys.audit();
  });

  it("'sgrowsiz' grows by SGROWSIZ (128 KiB) steps; vm_ssize counts the whole step", () => {
    const { sys, p } = world('sgrowsiz');
    p.write(BOTTOM - 1, [1]);
    assert.equal(stackBottom(p), BOTTOM - SGROWSIZ);
    assert.equal(p.vm.ssize, PAGES + SGROWSIZ / PS);
    p.write(BOTTOM - SGROWSIZ, [2]);
    assert.equal(stackBottom(p), BOTTOM - SGROWSIZ, 'inside the step: no growth');
    p.write(BOTTOM - SGROWSIZ - 2 * PS, [3]);
    assert.equal(stackBottom(p), BOTTOM - 2 * SGROWSIZ, 'the growth rounded up to a step');
    assert.equal(p.vm.ssize, PAGES + (2 * SGROWSIZ) / PS);
    sys.audit();
  });

  it('fork copies vm_ssize and the mode; a growsdown mapping outside the main stack is not counted', () => {
    const { sys, p } = world('sgrowsiz');
    p.write(BOTTOM - 1, [1]);
    const child = p.fork();
    assert.deepEqual([child.vm.ssize, child.vm.stackGrowth], [p.vm.ssize, 'sgrowsiz']);
    const low = p.mmap(0, 4 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON | MAP_GROWSDOWN);
    const before = p.vm.ssize;
    p.write(low - 1, [1]);
    assert.equal(p.vm.ssize, before);
    sys.audit();
  });

  it('refuses an unknown mode', () => {
    throwsVm(() => new VmSystem({ stackGrowth: 'huge' as StackGrowth }), 'EINVAL', 'stackGrowth');
  });
});

describe('vm_map_growstack: the stack rlimit against vm_ssize + growth', () => {
  for (const mode of ['page', 'sgrowsiz'] as const) {
    it(`${mode}: up to exactly the limit grows; one page past is SIGSEGV, nothing changed`, () => {
      const { sys, p } = world(mode);
      p.vm.stackLimit = (PAGES + 4) * PS;
      const maps = p.maps();
      throwsVm(() => p.write(BOTTOM - 5 * PS, [1]), 'EFAULT');
      assert.deepEqual([p.maps(), p.vm.ssize], [maps, PAGES], 'one page past: nothing changed');
      p.write(BOTTOM - 1, [1]);
      if (mode === 'sgrowsiz')
        assert.equal(stackBottom(p), BOTTOM - 4 * PS, 'the step cut to the limit');
      p.write(BOTTOM - 4 * PS, [2]);
      assert.equal(stackBottom(p), BOTTOM - 4 * PS);
      assert.equal(p.vm.ssize * PS, p.vm.stackLimit, 'exactly at the limit');
      const full = p.maps();
      throwsVm(() => p.write(BOTTOM - 4 * PS - 1, [3]), 'EFAULT');
      assert.deepEqual([p.maps(), p.vm.ssize], [full, PAGES + 4]);
      assert.deepEqual([...p.read(BOTTOM - 4 * PS, 1)], [2]);
      sys.audit();
    });
  }

  it("'sgrowsiz': a step is cut back to keep the guard gap above the mapping below", () => {
    const { sys, p } = world('sgrowsiz');
    const guard = p.vm.map.stackGuard;
    const below = BOTTOM - guard - 8 * PS;
    p.mmap(below, 4 * PS, PROT_READ, MAP_PRIVATE | MAP_ANON | MAP_FIXED);
    p.write(BOTTOM - 1, [1]);
    assert.equal(stackBottom(p), BOTTOM - 4 * PS, 'down to the guard gap, not a whole step');
    assert.equal(p.vm.ssize, PAGES + 4);
    throwsVm(() => p.write(BOTTOM - 5 * PS, [1]), 'EFAULT');
    sys.audit();
  });
});
