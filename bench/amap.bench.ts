/* Benchmarks of the page, anon and amap layers. */
import {
  type Amap,
  amapAdd,
  amapAlloc,
  amapCopy,
  amapLock,
  amapLookup,
  amapRef,
  amapSplitref,
  amapUnlock,
  amapUnref,
  ppAdjref,
} from '../src/kernel/amap.ts';
import { anonAlloc, anonFree } from '../src/kernel/anon.ts';
import { NOPAGE, PG_BUSY, pageAlloc, pageFree } from '../src/kernel/page.ts';
import { type AnonId, MAP_ENTRY_NEEDS_COPY, NOANON } from '../src/kernel/param.ts';
import { Uvm } from '../src/kernel/uvm.ts';
import type { Workload } from './harness.ts';

const PS = 4096;

/** filledAmap: an amap of `slots` pages with an anon (and a frame) in every `every`th slot. */
function filledAmap(uvm: Uvm, slots: number, every: number): Amap {
  const amap = amapAlloc(uvm, slots * PS);
  const aref = { amap, pageoff: 0 };
  amapLock(amap);
  for (let s = 0; s < slots; s += every) {
    const an = anonAlloc(uvm);
    uvm.anons.setLock(an, amap.lock);
    const pg = pageAlloc(uvm, 0, 0, an, 0);
    uvm.anons.page[an] = pg;
    uvm.pages.flags[pg] &= ~PG_BUSY;
    amapAdd(uvm, aref, s * PS, an, false);
  }
  amapUnlock(amap);
  return amap;
}

export function amapWorkloads(): Workload[] {
  const uvm = new Uvm({ physPages: 4096, swapPages: 0 });
  const batch = 1000;
  const lookupAmap = filledAmap(uvm, 256, 2);
  const lookupAref = { amap: lookupAmap, pageoff: 0 };
  const copySrc = filledAmap(uvm, 256, 2);
  const pprefAmap = amapAlloc(uvm, 256 * PS);
  amapSplitref(uvm, { amap: pprefAmap, pageoff: 0 }, { amap: pprefAmap, pageoff: 0 }, 128 * PS);
  amapRef(uvm, pprefAmap, 0, 256, 0);
  return [
    {
      name: 'page alloc + free',
      batch,
      run() {
        for (let i = 0; i < batch; i++) {
          const pg = pageAlloc(uvm, 0, 0, 1 as AnonId, 0);
          if (pg === NOPAGE) throw new Error('out of frames');
          pageFree(uvm, pg);
        }
      },
    },
    {
      name: 'anon alloc + free',
      batch,
      run() {
        for (let i = 0; i < batch; i++) {
          const an = anonAlloc(uvm);
          uvm.anons.ref[an] = 0;
          anonFree(uvm, an);
        }
      },
    },
    {
      name: 'amap_alloc(16 pages) + amap_unref',
      batch,
      run() {
        for (let i = 0; i < batch; i++) amapUnref(uvm, amapAlloc(uvm, 16 * PS), 0, 16, true);
      },
    },
    {
      name: 'amap_lookup (256-slot amap)',
      batch,
      run() {
        amapLock(lookupAmap);
        let sum = 0;
        for (let i = 0; i < batch; i++) sum += amapLookup(uvm, lookupAref, (i & 255) * PS);
        amapUnlock(lookupAmap);
        if (sum < 0) throw new Error('unreachable');
      },
    },
    {
      name: 'amap_copy of 256 slots, 128 anons (+ unref)',
      batch: 10,
      run() {
        for (let i = 0; i < 10; i++) {
          amapRef(uvm, copySrc, 0, 256, 0);
          const entry = {
            start: 0,
            end: 256 * PS,
            aref: { amap: copySrc as Amap | null, pageoff: 0 },
            eflags: MAP_ENTRY_NEEDS_COPY,
          };
          amapCopy(uvm, null, entry, 0, 0, 0);
          amapUnref(uvm, entry.aref.amap!, 0, 256, true);
        }
      },
    },
    {
      name: 'amap_pp_adjref +1/-1 over 64 slots',
      batch,
      run() {
        amapLock(pprefAmap);
        for (let i = 0; i < batch; i += 2) {
          ppAdjref(uvm, pprefAmap, 96, 64, 1, NOANON);
          ppAdjref(uvm, pprefAmap, 96, 64, -1, NOANON);
        }
        amapUnlock(pprefAmap);
      },
    },
  ];
}
