import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  auditPages,
  NOPAGE,
  PG_CLEAN,
  PG_ZERO,
  pageActivate,
  pageAlloc,
  pageCopy,
  pageDeactivate,
  pageFree,
  pageUnwire,
  pageWire,
  UVM_PGA_ZERO,
} from '../src/kernel/page.ts';
import { type AnonId, KernelPanic } from '../src/kernel/param.ts';
import { PQ_ACTIVE, PQ_INACTIVE } from '../src/kernel/pdpolicy/clock.ts';
import { Uvm } from '../src/kernel/uvm.ts';
import { throwsVm } from './helpers.ts';

const OWNER = 7 as AnonId; /* a stand-in anon handle: the page layer only stores it */

describe('page', () => {
  it('hands out every frame once, then reports NOPAGE without throwing', () => {
    const uvm = new Uvm({ physPages: 16, swapPages: 0 });
    const got = new Set<number>();
    for (let i = 0; i < 16; i++) got.add(pageAlloc(uvm, 0, 0, OWNER, 0));
    assert.equal(got.size, 16);
    assert.equal(pageAlloc(uvm, 0, 0, OWNER, 0), NOPAGE);
    assert.equal(uvm.pages.freeCount, 0);
    assert.equal(uvm.exp.pgafail, 1);
    auditPages(uvm);
  });

  it('zeroes on UVM_PGA_ZERO only when the frame is not known to be zero', () => {
    const uvm = new Uvm({ physPages: 16, swapPages: 0 });
    const pg = pageAlloc(uvm, 0, 0, OWNER, UVM_PGA_ZERO);
    assert.equal(uvm.exp.pga_zerohit, 1);
    assert.equal(
      uvm.pages.flags[pg] & PG_CLEAN,
      0,
      'a zero-filled page has no backing copy: dirty',
    );
    uvm.pages.bytes.fill(0x5a, pg * 4096, pg * 4096 + 4096);
    pageFree(uvm, pg);
    assert.equal(uvm.pages.flags[pg] & PG_ZERO, 0, 'a freed frame is no longer known zero');
    /* the freed frame is reused first (LIFO free list, as uvm_pagefree) */
    const again = pageAlloc(uvm, 0, 0, OWNER, UVM_PGA_ZERO);
    assert.equal(again, pg);
    assert.equal(uvm.exp.pga_zeromiss, 1);
    assert.ok(uvm.pages.view(again).every((b) => b === 0));
  });

  it('poisons freed frames when asked, so stale data cannot pass for zeros', () => {
    const uvm = new Uvm({ physPages: 16, swapPages: 0, poisonFreed: true });
    const pg = pageAlloc(uvm, 0, 0, OWNER, 0);
    pageFree(uvm, pg);
    assert.ok(uvm.pages.view(pg).every((b) => b === 0xa5));
  });

  it('copies bytes and marks the copy dirty', () => {
    const uvm = new Uvm({ physPages: 16, swapPages: 0 });
    const a = pageAlloc(uvm, 0, 0, OWNER, 0);
    const b = pageAlloc(uvm, 0, 0, (OWNER + 1) as AnonId, 0);
    uvm.pages.view(a).set([1, 2, 3, 4]);
    pageCopy(uvm, a, b);
    assert.deepEqual(Array.from(uvm.pages.view(b).subarray(0, 4)), [1, 2, 3, 4]);
    assert.equal(uvm.pages.flags[b] & PG_CLEAN, 0);
    assert.equal(uvm.exp.pagecopies, 1);
  });

  it('moves pages between the active and inactive queues; wired pages leave them', () => {
    const uvm = new Uvm({ physPages: 16, swapPages: 0 });
    const pg = pageAlloc(uvm, 0, 0, OWNER, 0);
    pageActivate(uvm, pg);
    assert.equal(uvm.pages.pqflags[pg] & PQ_ACTIVE, PQ_ACTIVE);
    assert.equal(uvm.pdpol.counts().active, 1);
    pageDeactivate(uvm, pg);
    assert.equal(uvm.pages.pqflags[pg] & PQ_INACTIVE, PQ_INACTIVE);
    assert.equal(uvm.pdpol.counts().inactive, 1);
    pageWire(uvm, pg);
    pageWire(uvm, pg);
    assert.equal(uvm.pdpol.counts().inactive, 0);
    assert.equal(uvm.exp.wired, 1);
    pageDeactivate(uvm, pg);
    assert.equal(uvm.pdpol.counts().inactive, 0, 'a wired page stays off the queues');
    pageUnwire(uvm, pg);
    assert.equal(uvm.exp.wired, 1);
    pageUnwire(uvm, pg);
    assert.equal(uvm.exp.wired, 0);
    assert.equal(uvm.pdpol.counts().active, 1);
    auditPages(uvm);
  });

  it('audit catches a free frame with an owner and a leaked frame', () => {
    const uvm = new Uvm({ physPages: 16, swapPages: 0 });
    const pg = pageAlloc(uvm, 0, 0, OWNER, 0);
    pageFree(uvm, pg);
    uvm.pages.owner[pg] = 3;
    assert.throws(() => auditPages(uvm), KernelPanic);
    uvm.pages.owner[pg] = 0;
    const leak = pageAlloc(uvm, 0, 0, OWNER, 0);
    uvm.pages.owner[leak] = 0;
    assert.throws(() => auditPages(uvm), /neither free nor owned/);
  });

  it('rejects page sizes that are not powers of two, and too few frames', () => {
    throwsVm(() => new Uvm({ pageSize: 3000 }), 'EINVAL', 'pageSize');
    throwsVm(() => new Uvm({ physPages: 2 }), 'EINVAL', 'physPages');
    throwsVm(() => new Uvm({ swapPages: -1 }), 'EINVAL', 'swapPages');
  });
});
