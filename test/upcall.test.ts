/*
 * Upcalls (DragonFly's upc_register and upc_control, seed 001's vmupcall,
 * vm_upccount, vm_upcalls): registration and its limit, each command,
 * delivery on the return to user through the struct upcall in the
 * program's memory, and what fork, exec and exit do with them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KernelPanic, MAP_ANON, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../src/kernel/param.ts';
import {
  UPC_CONTROL_DELETE,
  UPC_CONTROL_DISPATCH,
  UPC_CONTROL_NEXT,
  UPC_CONTROL_POLL,
  UPC_CONTROL_POLLANDCLEAR,
  UPC_CRITADD,
  UPC_RESERVED,
  UPCALL_MAGIC,
  UPCALL_MAXCOUNT,
} from '../src/kernel/upcall.ts';
import type { Process } from '../src/sys/proc.ts';
import { VmSystem } from '../src/sys/system.ts';
import { throwsVm } from './helpers.ts';

const PS = 4096;
const ROWS = ['00400000-00401000 r-xp 00000000 fe:00 1 /bin/prog'];

/** world: a system and a process with a struct upcall at `upc` (magic, crit_count 0, pending 0). */
function world() {
  const sys = new VmSystem({ physPages: 128, swapPages: 64 });
  const p = sys.spawn();
  const upc = p.mmap(0, PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON);
  setWords(p, upc, 0, 0);
  return { sys, p, upc };
}

/** setWords: the struct upcall's crit_count and pending, as the program stores them. */
function setWords(p: Process, upc: number, crit: number, pending: number): void {
  const b = new DataView(new ArrayBuffer(12));
  b.setInt32(0, UPCALL_MAGIC, true);
  b.setInt32(4, crit, true);
  b.setInt32(8, pending, true);
  p.write(upc, new Uint8Array(b.buffer));
}

/** words: [crit_count, pending] of the struct upcall. */
function words(p: Process, upc: number): [number, number] {
  const b = p.read(upc + 4, 8);
  const dv = new DataView(b.buffer);
  return [dv.getInt32(0, true), dv.getInt32(4, true)];
}

describe('upc_register', () => {
  it('numbers upcalls from UPC_RESERVED, newest first, and counts them in vm_upccount', () => {
    const { sys, p, upc } = world();
    assert.equal(p.upcRegister(upc, 0x1000, 0x2000, 7), UPC_RESERVED);
    assert.equal(p.upcRegister(upc, 0x1000, 0x3000, 8), UPC_RESERVED + 1);
    assert.deepEqual(
      p.vm.upcalls.map((vu) => [vu.id, vu.func, vu.data, vu.ctx, vu.pending]),
      [
        [UPC_RESERVED + 1, 0x3000, 8, 0x1000, 0],
        [UPC_RESERVED, 0x2000, 7, 0x1000, 0],
      ],
    );
    assert.equal(p.vm.upccount, 2);
    assert.equal(p.upcall, upc, 'lwp_upcall');
    sys.audit();
  });

  it('refuses the upcall past UPCALL_MAXCOUNT with EFBIG, and bad arguments with EINVAL', () => {
    const { sys, p, upc } = world();
    for (let i = 0; i < UPCALL_MAXCOUNT; i++) p.upcRegister(upc, 0x1000, 0x2000 + i, i);
    throwsVm(() => p.upcRegister(upc, 0x1000, 0x9000, 0), 'EFBIG');
    assert.equal(p.vm.upccount, UPCALL_MAXCOUNT);
    assert.equal(p.vm.upcalls.length, UPCALL_MAXCOUNT);
    p.upcControl(UPC_CONTROL_DELETE, UPC_RESERVED + 5);
    assert.equal(p.upcRegister(upc, 0x1000, 0x9000, 0), UPC_RESERVED + UPCALL_MAXCOUNT);
    const q = sys.spawn();
    throwsVm(() => q.upcRegister(-1, 0, 0, 0), 'EINVAL', 'upc');
    throwsVm(() => q.upcRegister(0, 0.5, 0, 0), 'EINVAL', 'ctx');
    throwsVm(() => q.upcRegister(0, 0, Number.NaN, 0), 'EINVAL', 'func');
    assert.equal(q.vm.upccount, 0);
    sys.audit();
  });
});

describe('upc_control', () => {
  it('DISPATCH: delivered on the return to user: crit_count raised, the frame recorded', () => {
    const { sys, p, upc } = world();
    const id = p.upcRegister(upc, 0x1000, 0x2000, 42);
    assert.equal(p.upcControl(UPC_CONTROL_DISPATCH, id, 1), 0);
    assert.deepEqual(p.upcallsDelivered, [{ id, func: 0x2000, data: 42, ctx: 0x1000 }]);
    assert.deepEqual(
      words(p, upc),
      [UPC_CRITADD, 0],
      'in the upcall: critical, nothing more pending',
    );
    assert.equal(p.upcControl(UPC_CONTROL_POLL, id), 0, 'vu_pending cleared');
    assert.equal(p.upcallPend, false);
    sys.audit();
  });

  it('DISPATCH in a critical section only marks it pending; NEXT delivers them one by one', () => {
    const { sys, p, upc } = world();
    const a = p.upcRegister(upc, 0x1000, 0xa000, 1);
    const b = p.upcRegister(upc, 0x1000, 0xb000, 2);
    setWords(p, upc, UPC_CRITADD, 0);
    p.upcControl(UPC_CONTROL_DISPATCH, a, 1);
    p.upcControl(UPC_CONTROL_DISPATCH, b, 1);
    assert.equal(p.upcallsDelivered.length, 0);
    assert.deepEqual(words(p, upc), [UPC_CRITADD, 1], 'the user pending word says why');
    assert.equal(p.upcControl(UPC_CONTROL_POLL, -1, 1), b, 'the first pending: the newest');
    /* the program leaves its critical section and asks for the next one */
    setWords(p, upc, 0, 1);
    assert.equal(p.upcControl(UPC_CONTROL_NEXT, -1), b);
    assert.deepEqual(words(p, upc), [UPC_CRITADD, 1], 'another is pending');
    setWords(p, upc, 0, 1);
    assert.equal(p.upcControl(UPC_CONTROL_NEXT, -1), a);
    assert.deepEqual(words(p, upc), [UPC_CRITADD, 0], 'none is pending');
    setWords(p, upc, 0, 1);
    assert.equal(p.upcControl(UPC_CONTROL_NEXT, -1), 0, 'nothing left: the frame pops');
    assert.deepEqual(words(p, upc), [0, 0], 'the pending word cleared');
    assert.deepEqual(
      p.upcallsDelivered.map((f) => f.id),
      [b, a],
    );
    sys.audit();
  });

  it('DISPATCH from another process of the space reaches the registering one at its next access', () => {
    const { sys, p, upc } = world();
    const id = p.upcRegister(upc, 0x1000, 0x2000, 0);
    const child = p.vfork();
    assert.equal(child.upcControl(UPC_CONTROL_DISPATCH, id, 3), 0);
    assert.equal(child.upcallsDelivered.length, 0);
    assert.equal(p.upcallPend, true, 'P_UPCALLPEND');
    assert.equal(p.upcallsDelivered.length, 0, 'not before its return to user');
    p.read(upc, 1);
    assert.deepEqual(
      p.upcallsDelivered.map((f) => f.id),
      [id],
    );
    child.exit();
    sys.audit();
  });

  it('DISPATCH -1 re-dispatches the first own upcall pending at the priority; ENOENT for no such id', () => {
    const { sys, p, upc } = world();
    const id = p.upcRegister(upc, 0x1000, 0x2000, 0);
    setWords(p, upc, 2 * UPC_CRITADD, 0);
    assert.equal(p.upcControl(UPC_CONTROL_DISPATCH, -1, 1), 0, 'none pending: nothing, no error');
    assert.equal(p.upcallPend, false);
    p.upcControl(UPC_CONTROL_DISPATCH, id, 5);
    assert.equal(p.upcControl(UPC_CONTROL_DISPATCH, -1, 9), 0, 'none pending at 9');
    assert.equal(p.upcControl(UPC_CONTROL_POLL, id), 5);
    p.upcallPend = false;
    assert.equal(p.upcControl(UPC_CONTROL_DISPATCH, -1, 3), 0);
    assert.equal(p.upcallPend, false, 'dispatched again, and still deferred by crit_count');
    assert.deepEqual(words(p, upc), [2 * UPC_CRITADD, 5], 'the user pending word at its priority');
    assert.equal(p.upcControl(UPC_CONTROL_POLL, id), 5, 'a priority never falls');
    throwsVm(() => p.upcControl(UPC_CONTROL_DISPATCH, 99, 1), 'ENOENT', 'upcid');
    sys.audit();
  });

  it('POLL and POLLANDCLEAR: the first pending id for -1, a priority for an id; clear clears', () => {
    const { sys, p, upc } = world();
    const id = p.upcRegister(upc, 0x1000, 0x2000, 0);
    setWords(p, upc, UPC_CRITADD, 0);
    assert.equal(p.upcControl(UPC_CONTROL_POLL, -1, 1), 0, 'none pending');
    p.upcControl(UPC_CONTROL_DISPATCH, id, 4);
    assert.equal(p.upcControl(UPC_CONTROL_POLL, -1, 1), id);
    assert.equal(p.upcControl(UPC_CONTROL_POLL, id), 4);
    assert.equal(p.upcControl(UPC_CONTROL_POLLANDCLEAR, id), 4);
    assert.equal(p.upcControl(UPC_CONTROL_POLL, id), 0);
    throwsVm(() => p.upcControl(UPC_CONTROL_POLL, 77), 'ENOENT', 'upcid');
    sys.audit();
  });

  it('DELETE: an id (any process of the space), or -1 for all of the caller; vm_upccount follows', () => {
    const { sys, p, upc } = world();
    const a = p.upcRegister(upc, 0x1000, 0x2000, 0);
    const b = p.upcRegister(upc, 0x1000, 0x3000, 0);
    const child = p.vfork();
    const c = child.upcRegister(upc, 0x1000, 0x4000, 0);
    child.upcControl(UPC_CONTROL_DELETE, a);
    assert.deepEqual(
      p.vm.upcalls.map((vu) => vu.id),
      [c, b],
    );
    throwsVm(() => p.upcControl(UPC_CONTROL_DELETE, a), 'ENOENT', 'upcid');
    assert.equal(p.upcControl(UPC_CONTROL_DELETE, -1), 0);
    assert.deepEqual(
      p.vm.upcalls.map((vu) => vu.id),
      [c],
    );
    assert.equal(p.vm.upccount, 1);
    sys.audit();
    child.exit();
    assert.equal(p.vm.upccount, 0, 'exit releases the child upcall');
    sys.audit();
  });

  it('refuses an unknown command and bad ids with EINVAL, changing nothing', () => {
    const { sys, p, upc } = world();
    const id = p.upcRegister(upc, 0x1000, 0x2000, 0);
    throwsVm(() => p.upcControl(6, id), 'EINVAL', 'cmd');
    throwsVm(() => p.upcControl(UPC_CONTROL_DISPATCH, -2, 1), 'EINVAL', 'upcid');
    throwsVm(() => p.upcControl(UPC_CONTROL_DISPATCH, id, 0.5), 'EINVAL', 'data');
    assert.equal(p.upcControl(UPC_CONTROL_POLL, id), 0);
    sys.audit();
  });

  it('a struct upcall the kernel cannot access drops a dispatched upcall; NEXT is EFAULT', () => {
    const { sys, p, upc } = world();
    const id = p.upcRegister(upc + 2 * PS, 0x1000, 0x2000, 0);
    p.upcControl(UPC_CONTROL_DISPATCH, id, 1);
    assert.equal(p.upcallsDelivered.length, 0);
    assert.equal(p.upcControl(UPC_CONTROL_POLL, id), 0, 'dropped');
    throwsVm(() => p.upcControl(UPC_CONTROL_NEXT, -1), 'EFAULT');
    p.mprotect(upc, PS, PROT_READ);
    p.upcRegister(upc, 0x1000, 0x2000, 0);
    p.upcControl(UPC_CONTROL_DISPATCH, id, 1);
    assert.equal(p.upcallsDelivered.length, 0, 'read-only: cannot be written');
    assert.equal(p.upcControl(UPC_CONTROL_POLL, id), 0);
    sys.audit();
  });
});

describe('upcalls and the process life', () => {
  it('fork: the child starts with none, the parent keeps its own', () => {
    const { sys, p, upc } = world();
    const id = p.upcRegister(upc, 0x1000, 0x2000, 0);
    const child = p.fork();
    assert.equal(child.vm.upccount, 0);
    assert.deepEqual(child.vm.upcalls, []);
    throwsVm(() => child.upcControl(UPC_CONTROL_DISPATCH, id, 1), 'ENOENT', 'upcid');
    assert.deepEqual(
      p.vm.upcalls.map((vu) => vu.id),
      [id],
    );
    assert.equal(child.upcRegister(upc, 0x1000, 0x5000, 0), UPC_RESERVED);
    sys.audit();
  });

  it("exec clears the process's upcalls, also from a space it shared", () => {
    const { sys, p, upc } = world();
    p.upcRegister(upc, 0x1000, 0x2000, 0);
    const child = p.vfork();
    child.upcRegister(upc, 0x1000, 0x3000, 0);
    const shared = p.vm;
    child.exec(ROWS);
    assert.equal(shared.upccount, 1, 'the parent keeps its own');
    assert.equal(child.vm.upccount, 0);
    assert.equal(child.upcall, 0);
    sys.audit();
    p.exec(ROWS);
    assert.equal(p.vm.upccount, 0);
    sys.audit();
  });

  it('exit frees the list; the audit checks vm_upccount against it', () => {
    const { sys, p, upc } = world();
    p.upcRegister(upc, 0x1000, 0x2000, 0);
    p.upcRegister(upc, 0x1000, 0x3000, 0);
    const vm = p.vm;
    p.exit();
    assert.deepEqual([vm.upcalls.length, vm.upccount], [0, 0]);
    sys.audit();
    const q = sys.spawn();
    q.upcRegister(0, 0, 0, 0);
    q.vm.upccount = 2;
    assert.throws(() => sys.audit(), KernelPanic);
    q.vm.upccount = 1;
    sys.audit();
  });
});
