import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AMAP_SHARED } from '../src/kernel/amap.ts';
import {
  auditAmapRefs,
  MAP_COPY_ON_WRITE,
  MAP_OVERLAY,
  vmMapInherit,
  vmMapInsert,
  vmMapLookupEntry,
  vmMapSetWiredQuick,
} from '../src/kernel/map/index.ts';
import { NOPAGE, pageAlloc, pageFree, pageWire } from '../src/kernel/page.ts';
import {
  type AnonId,
  MAP_ENTRY_COW,
  MAP_ENTRY_NEEDS_COPY,
  MAP_INHERIT_NONE,
  MAP_INHERIT_SHARE,
  PROT_ALL,
  PROT_READ,
  PROT_WRITE,
  VmError,
} from '../src/kernel/param.ts';
import { auditPmaps, PTE_W } from '../src/kernel/pmap.ts';
import { swapAlloc, swapPut } from '../src/kernel/swap.ts';
import {
  auditVmspace,
  VmResidentRegistry,
  type Vmspace,
  vmspaceAlloc,
  vmspaceAnonymousCount,
  vmspaceFork,
  vmspaceFree,
  vmspacePresidentCount,
  vmspacePss,
  vmspaceRef,
  vmspaceResidentCount,
  vmspaceSwapCount,
} from '../src/kernel/vmspace.ts';
import { auditAll, put, smallUvm, throwsVm } from './helpers.ts';

const PS = 4096;
const RW = PROT_READ | PROT_WRITE;
const at = (p: number) => 0x100000 + p * PS;

function space(uvm = smallUvm()): Vmspace {
  return vmspaceAlloc(uvm, 0x10000, 0x7ffffffff000);
}

function checkAll(...vms: Vmspace[]): void {
  for (const vm of vms) auditVmspace(vm);
  const uvm = vms[0].uvm;
  auditAll(uvm);
  auditAmapRefs(uvm, true);
  auditPmaps(uvm.pv, uvm.pages.npages);
}

/** mapPage: enter the anon at `page` of entry e into the pmap, as a fault would. */
function mapPage(vm: Vmspace, va: number, prot: number): void {
  const e = vmMapLookupEntry(vm.map, va);
  const an = e.aref.amap!.anon[e.aref.pageoff + (va - e.start) / PS];
  vm.pmap.enter(va, vm.uvm.anons.page[an], prot, 0);
}

describe('fork by inheritance (uvmspace_fork)', () => {
  it('copy, share and none, with the parent write-protected for copy-on-write', () => {
    const parent = space();
    const copy = vmMapInsert(
      parent.map,
      null,
      0,
      at(0),
      at(4),
      RW,
      PROT_ALL,
      MAP_COPY_ON_WRITE | MAP_OVERLAY,
    );
    copy.eflags &= ~MAP_ENTRY_NEEDS_COPY; /* as after the first write fault */
    const shared = vmMapInsert(parent.map, null, 0, at(8), at(10), RW, PROT_ALL, MAP_OVERLAY);
    vmMapInherit(parent.map, at(8), at(10), MAP_INHERIT_SHARE);
    vmMapInsert(parent.map, null, 0, at(12), at(13), PROT_READ, PROT_ALL, 0);
    vmMapInherit(parent.map, at(12), at(13), MAP_INHERIT_NONE);
    put(parent.uvm, copy.aref, 1, 0x11);
    put(parent.uvm, shared.aref, 0, 0x22);
    mapPage(parent, at(1), RW);
    const child = vmspaceFork(parent);
    assert.equal(child.map.nentries, 2, 'the NONE entry is left out');
    const c0 = vmMapLookupEntry(child.map, at(1));
    assert.equal(c0.aref.amap, copy.aref.amap, 'read-only sharing until a write');
    assert.equal(
      c0.eflags & (MAP_ENTRY_COW | MAP_ENTRY_NEEDS_COPY),
      MAP_ENTRY_COW | MAP_ENTRY_NEEDS_COPY,
    );
    assert.equal(
      copy.eflags & MAP_ENTRY_NEEDS_COPY,
      MAP_ENTRY_NEEDS_COPY,
      'the parent needs a copy too',
    );
    assert.equal(parent.pmap.lookup(at(1)) & PTE_W, 0, 'the parent was write-protected');
    const c1 = vmMapLookupEntry(child.map, at(8));
    assert.equal(c1.aref.amap, shared.aref.amap);
    assert.equal(shared.aref.amap!.flags & AMAP_SHARED, AMAP_SHARED);
    assert.equal(shared.aref.amap!.ref, 2);
    checkAll(parent, child);
    vmspaceFree(child);
    assert.equal(shared.aref.amap!.flags & AMAP_SHARED, 0, 'the last sharer keeps it alone');
    checkAll(parent);
  });

  it('a wired entry is copied for the child at fork (amap_cow_now), the parent untouched', () => {
    const parent = space();
    const e = vmMapInsert(
      parent.map,
      null,
      0,
      at(0),
      at(2),
      RW,
      PROT_ALL,
      MAP_COPY_ON_WRITE | MAP_OVERLAY,
    );
    e.eflags &= ~MAP_ENTRY_NEEDS_COPY;
    const an = put(parent.uvm, e.aref, 0, 0x5a);
    pageWire(parent.uvm, parent.uvm.anons.page[an]);
    vmMapSetWiredQuick(parent.map, at(0), 2 * PS);
    mapPage(parent, at(0), RW);
    const child = vmspaceFork(parent);
    const ce = vmMapLookupEntry(child.map, at(0));
    assert.notEqual(ce.aref.amap, e.aref.amap);
    const can = ce.aref.amap!.anon[0];
    assert.notEqual(can, an, 'the child has its own copy');
    assert.equal(parent.uvm.pages.bytes[parent.uvm.anons.page[can] * PS], 0x5a);
    assert.equal(e.eflags & MAP_ENTRY_NEEDS_COPY, 0, 'no copy-on-write for the wired parent');
    assert.notEqual(parent.pmap.lookup(at(0)) & PTE_W, 0, 'still writable');
    checkAll(parent, child);
  });

  it('fails with ENOMEM and leaves no child when the copies do not fit', () => {
    const uvm = smallUvm({ physPages: 16 });
    const parent = space(uvm);
    const e = vmMapInsert(
      parent.map,
      null,
      0,
      at(0),
      at(4),
      RW,
      PROT_ALL,
      MAP_COPY_ON_WRITE | MAP_OVERLAY,
    );
    e.eflags &= ~MAP_ENTRY_NEEDS_COPY;
    for (let p = 0; p < 4; p++) pageWire(uvm, uvm.anons.page[put(uvm, e.aref, p, p)]);
    vmMapSetWiredQuick(parent.map, at(0), 4 * PS);
    const hog = [];
    while (uvm.pages.freeCount > 2) hog.push(pageAlloc(uvm, 0, 0, 999 as AnonId, 0));
    const spaces = uvm.vmspaces.size;
    throwsVm(() => vmspaceFork(parent), 'ENOMEM');
    assert.equal(uvm.vmspaces.size, spaces);
    for (const pg of hog) pageFree(uvm, pg);
    checkAll(parent);
  });
});

describe('vmspace counts', () => {
  it('resident, proportional (cached per tick), swap and anonymous counts', () => {
    const parent = space();
    const e = vmMapInsert(parent.map, null, 0, at(0), at(4), RW, PROT_ALL, MAP_OVERLAY);
    for (let p = 0; p < 3; p++) put(parent.uvm, e.aref, p, p);
    mapPage(parent, at(0), RW);
    mapPage(parent, at(1), RW);
    const child = vmspaceFork(parent);
    mapPage(child, at(1), PROT_READ);
    assert.equal(vmspaceResidentCount(parent), 2);
    assert.equal(vmspacePss(parent), 1.5, 'page 0 alone, page 1 shared with the child');
    assert.equal(vmspacePss(child), 0.5);
    assert.equal(vmspacePresidentCount(parent), 1, '3 resident pages, 3 translations of them');
    child.pmap.remove(at(1), at(2));
    assert.equal(vmspacePss(parent), 2);
    parent.pmap.remove(at(1), at(2));
    assert.equal(vmspacePresidentCount(parent), 1, 'cached until the clock ticks');
    parent.uvm.ticks++;
    assert.equal(vmspacePresidentCount(parent), 3, '3 resident pages, 1 translation');
    mapPage(parent, at(1), RW);
    assert.equal(vmspaceAnonymousCount(parent), 3);
    const uvm = parent.uvm;
    const an = e.aref.amap!.anon[2];
    const slot = swapAlloc(uvm);
    uvm.anons.swslot[an] = slot;
    swapPut(uvm, slot, uvm.anons.page[an]);
    pageFree(uvm, uvm.anons.page[an]);
    uvm.anons.page[an] = NOPAGE;
    uvm.exp.swpgonly++;
    assert.equal(vmspaceSwapCount(parent), 1);
    assert.equal(vmspaceSwapCount(child), 1, 'the child sees the same anon');
    assert.equal(vmspaceAnonymousCount(parent), 2);
    checkAll(parent, child);
  });

  it('a shared vmspace lives until its last user', () => {
    const vm = space();
    vmspaceRef(vm);
    vmspaceFree(vm);
    assert.equal(vm.uvm.vmspaces.has(vm), true);
    vmspaceFree(vm);
    assert.equal(vm.uvm.vmspaces.has(vm), false);
    assert.throws(() => vmspaceFree(vm), VmError);
  });
});

describe('resident executables (vmresident)', () => {
  it('registers a snapshot under an identity, finds it, and unregisters it', () => {
    const vm = space();
    const e = vmMapInsert(
      vm.map,
      null,
      0,
      at(0),
      at(2),
      RW,
      PROT_ALL,
      MAP_COPY_ON_WRITE | MAP_OVERLAY,
    );
    put(vm.uvm, e.aref, 0, 0x77);
    const reg = new VmResidentRegistry();
    const id = reg.register(vm, '/bin/sh', 0x401000);
    const r = reg.lookup('/bin/sh')!;
    assert.equal(r.id, id);
    assert.equal(r.entryAddr, 0x401000);
    assert.equal(r.vmspace.map.nentries, 1);
    assert.equal(reg.lookup('/bin/ls'), undefined);
    throwsVm(() => reg.register(vm, '/bin/sh', 0), 'EEXIST', 'identity');
    r.refs++;
    throwsVm(() => reg.unregister(id), 'EBUSY', 'id');
    r.refs--;
    reg.unregister(id);
    throwsVm(() => reg.unregister(id), 'ENOENT', 'id');
    assert.deepEqual(reg.all(), []);
    checkAll(vm);
  });
});
