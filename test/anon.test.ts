import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { amapAlloc, amapLock, amapUnlock, amapUnref } from '../src/kernel/amap.ts';
import {
  anonAlloc,
  anonDropswap,
  anonFree,
  anonFreelst,
  anonGet,
  anonLockLoanPage,
  anonPagein,
  anonRelease,
} from '../src/kernel/anon.ts';
import { UvmObject } from '../src/kernel/object.ts';
import {
  NOPAGE,
  PG_BUSY,
  PG_CLEAN,
  PG_RELEASED,
  PQ_ANON,
  pageAlloc,
  pageFree,
} from '../src/kernel/page.ts';
import { type AnonId, KernelPanic, NOANON } from '../src/kernel/param.ts';
import { PQ_INACTIVE } from '../src/kernel/pdpolicy/clock.ts';
import { type MemoryStore, swapAlloc, swapPut } from '../src/kernel/swap.ts';
import { anonByte, auditAll, put, smallUvm } from './helpers.ts';

/** pageOut: move an anon to state [3]: written to a new slot, frame freed. */
function pageOut(uvm: ReturnType<typeof smallUvm>, an: AnonId): number {
  const slot = swapAlloc(uvm);
  assert.ok(slot > 0);
  uvm.anons.swslot[an] = slot;
  assert.ok(swapPut(uvm, slot, uvm.anons.page[an]));
  pageFree(uvm, uvm.anons.page[an]);
  uvm.anons.page[an] = NOPAGE;
  uvm.exp.swpgonly++;
  return slot;
}

describe('anon', () => {
  it('allocates with one reference and nothing else; free needs it disposed', () => {
    const uvm = smallUvm();
    const an = anonAlloc(uvm);
    assert.equal(uvm.anons.ref[an], 1);
    assert.equal(uvm.anons.page[an], NOPAGE);
    assert.equal(uvm.anons.swslot[an], 0);
    assert.equal(uvm.anons.lockOf(an), null);
    assert.throws(() => anonFree(uvm, an), KernelPanic, 'a referenced anon cannot be freed');
    uvm.anons.ref[an] = 0;
    anonFree(uvm, an);
    assert.equal(uvm.anons.nlive, 0);
    assert.equal(anonAlloc(uvm), an, 'the handle is reused');
  });

  it('goes through the three data states and back: resident, resident+slot, swapped', () => {
    const uvm = smallUvm();
    const amap = amapAlloc(uvm, 4096);
    const aref = { amap, pageoff: 0 };
    const an = put(uvm, aref, 0, 0x42);
    /* [1] resident, no backing store */
    assert.notEqual(uvm.anons.page[an], NOPAGE);
    /* [3] paged out */
    const slot = pageOut(uvm, an);
    assert.equal(uvm.exp.swpgonly, 1);
    assert.equal(anonByte(uvm, an), 0x42);
    /* [2] paged back in: resident and clean, the slot kept */
    amapLock(amap);
    assert.equal(anonGet(uvm, an), 0);
    amapUnlock(amap);
    assert.equal(uvm.anons.swslot[an], slot);
    assert.equal(uvm.exp.swpgonly, 0);
    const pg = uvm.anons.page[an];
    assert.equal(uvm.pages.flags[pg] & PG_CLEAN, PG_CLEAN);
    assert.equal(uvm.pages.bytes[pg * 4096], 0x42);
    /* dropswap: back to [1] */
    amapLock(amap);
    anonDropswap(uvm, an);
    amapUnlock(amap);
    assert.equal(uvm.anons.swslot[an], 0);
    assert.equal(uvm.exp.swpginuse, 0);
    auditAll(uvm);
    amapUnref(uvm, amap, 0, 1, true);
    assert.equal(uvm.anons.nlive, 0);
    assert.equal(uvm.pages.freeCount, 256);
  });

  it('pagein (swapoff) brings the page back dirty, frees the slot, deactivates it', () => {
    const uvm = smallUvm();
    const amap = amapAlloc(uvm, 4096);
    const an = put(uvm, { amap, pageoff: 0 }, 0, 0x17);
    pageOut(uvm, an);
    amapLock(amap);
    assert.equal(anonPagein(uvm, amap, an), false);
    assert.equal(amap.lock.owned, false, 'pagein unlocks the anon');
    const pg = uvm.anons.page[an];
    assert.equal(uvm.pages.bytes[pg * 4096], 0x17);
    assert.equal(uvm.anons.swslot[an], 0);
    assert.equal(uvm.pages.flags[pg] & PG_CLEAN, 0);
    assert.equal(uvm.pages.pqflags[pg] & PQ_INACTIVE, PQ_INACTIVE);
    assert.equal(uvm.exp.swpginuse, 0);
    auditAll(uvm);
  });

  it('pagein reports lack of memory, and an I/O error, leaving the anon in swap', () => {
    const uvm = smallUvm({ physPages: 16 });
    const amap = amapAlloc(uvm, 4096);
    const an = put(uvm, { amap, pageoff: 0 }, 0, 0x99);
    pageOut(uvm, an);
    const hog = [];
    for (
      let pg = pageAlloc(uvm, 0, 0, 999 as AnonId, 0);
      pg !== NOPAGE;
      pg = pageAlloc(uvm, 0, 0, 999 as AnonId, 0)
    )
      hog.push(pg);
    amapLock(amap);
    assert.equal(anonPagein(uvm, amap, an), true, 'true: failed for lack of memory');
    assert.equal(uvm.anons.page[an], NOPAGE);
    for (const pg of hog) pageFree(uvm, pg);
    const store = uvm.swap.devices[0].store as MemoryStore;
    store.faults.failReads = 1;
    amapLock(amap);
    assert.equal(anonGet(uvm, an), 'EIO');
    assert.equal(uvm.anons.page[an], NOPAGE);
    assert.notEqual(uvm.anons.swslot[an], 0, 'the slot (and the data) is kept');
    assert.equal(anonGet(uvm, an), 0, 'the next read works');
    amapUnlock(amap);
    assert.equal(anonByte(uvm, an), 0x99);
    auditAll(uvm);
  });

  it('disposes of a busy page later: PG_RELEASED, then uvm_anon_release', () => {
    const uvm = smallUvm();
    const amap = amapAlloc(uvm, 4096);
    const an = put(uvm, { amap, pageoff: 0 }, 0, 1);
    const pg = uvm.anons.page[an];
    uvm.pages.flags[pg] |= PG_BUSY;
    amapLock(amap);
    uvm.anons.ref[an] = 0; /* the last reference is gone: free it through the list */
    amap.anon.fill(0);
    amap.nused = 0;
    anonFreelst(uvm, amap, an);
    assert.equal(uvm.pages.flags[pg] & PG_RELEASED, PG_RELEASED);
    assert.equal(uvm.anons.nlive, 1, 'kept until the page is un-busied');
    assert.equal(amap.lock.refs, 2, 'dispose holds the lock object for the release');
    amapLock(amap);
    anonRelease(uvm, an);
    assert.equal(uvm.anons.nlive, 0);
    assert.equal(uvm.pages.uanon(pg), 0);
    assert.equal(amap.lock.refs, 1);
  });

  it('lockloanpg: an object-owned page on loan locks the object; an ownerless one is taken over', () => {
    const uvm = smallUvm();
    const obj = new UvmObject(uvm, 4 * 4096, 'lender');
    const amap = amapAlloc(uvm, 4096);
    const an = anonAlloc(uvm);
    uvm.anons.setLock(an, amap.lock);
    const pg = pageAlloc(uvm, obj.id, 3, NOANON, 0);
    uvm.pages.setLoanCount(pg, 1); /* the object lent its page to the anon */
    uvm.anons.page[an] = pg;
    amapLock(amap);
    assert.equal(anonLockLoanPage(uvm, an), pg);
    assert.equal(obj.vmobjlock.owned, true, 'the owner (object) is now locked');
    obj.vmobjlock.owned = false;
    /* the object lets go of the page: ownerless, still on loan to the anon */
    uvm.pages.owner[pg] = 0;
    assert.equal(anonLockLoanPage(uvm, an), pg);
    assert.equal(uvm.pages.pqflags[pg] & PQ_ANON, PQ_ANON, 'the anon owns it now');
    assert.equal(uvm.pages.uanon(pg), an);
    assert.equal(uvm.pages.loanCount(pg), 0);
    amapUnlock(amap);
  });
});
