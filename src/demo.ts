/*
 * demo.ts: a short, real demonstration of the anon and amap layers:
 * an amap is filled, shared by a "fork", copied on a write, copied-on-write,
 * extended, split and partly unmapped (ppref), paged out and swapped back.
 * Every picture is printed from the live structures.
 */
import {
  AMAP_EXTEND_FORWARDS,
  type AmapEntry,
  amapAdd,
  amapAlloc,
  amapCopy,
  amapExtend,
  amapLock,
  amapRef,
  amapSplitref,
  amapSwapOff,
  amapUnlock,
  amapUnref,
  auditAmaps,
} from './amap.ts';
import { anonAlloc, anonFreelst } from './anon.ts';
import { amapDump, countersDump } from './dump.ts';
import {
  auditPages,
  NOPAGE,
  PG_BUSY,
  PG_FAKE,
  pageActivate,
  pageAlloc,
  pageCopy,
  pageFree,
} from './page.ts';
import { MAP_ENTRY_NEEDS_COPY } from './param.ts';
import { auditSwap, swapAlloc, swapPut } from './swap.ts';
import { Uvm } from './uvm.ts';

const out: string[] = [];
const say = (...lines: string[]) => out.push(...lines);

/** writeAnon: a new anon in `entry`'s amap at page `page`, holding `text`. */
function writeAnon(
  uvm: Uvm,
  entry: AmapEntry,
  page: number,
  text: string,
  replace: boolean,
): number {
  const amap = entry.aref.amap!;
  amapLock(amap);
  const an = anonAlloc(uvm);
  uvm.anons.lock[an] = amap.lock;
  const pg = pageAlloc(uvm, 0, 0, an, 0);
  uvm.anons.page[an] = pg;
  const old = replace ? amap.anon[entry.aref.pageoff + page] : 0;
  if (old !== 0) pageCopy(uvm, uvm.anons.page[old], pg);
  else uvm.pages.view(pg).fill(0);
  uvm.pages.bytes.set(new TextEncoder().encode(text), pg * uvm.pageSize);
  uvm.pages.flags[pg] &= ~(PG_BUSY | PG_FAKE);
  pageActivate(uvm, pg);
  amapAdd(uvm, entry.aref, page * uvm.pageSize, an, replace);
  if (old !== 0 && --uvm.anons.ref[old] === 0) anonFreelst(uvm, amap, old);
  else amapUnlock(amap);
  return an;
}

function audit(uvm: Uvm): void {
  auditPages(uvm);
  auditAmaps(uvm);
  auditSwap(uvm);
}

function main(): void {
  const uvm = new Uvm({ physPages: 64, swapPages: 64 });
  const ps = uvm.pageSize;
  say('uvm-ts: the anon and amap layers of UVM, live (seeds 000 and 002)', '');

  const parent: AmapEntry = {
    start: 0x100000,
    end: 0x100000 + 4 * ps,
    aref: { amap: null, pageoff: 0 },
    eflags: 0,
  };
  parent.aref.amap = amapAlloc(uvm, 4 * ps, 2 * ps);
  writeAnon(uvm, parent, 0, 'hello', false);
  writeAnon(uvm, parent, 2, 'world', false);
  say(
    '1. amap_alloc(4 pages, pad 2) and two anons written (slots 0 and 2):',
    ...amapDump(uvm, parent.aref.amap!),
    '',
  );

  const child: AmapEntry = { ...parent, aref: { ...parent.aref }, eflags: MAP_ENTRY_NEEDS_COPY };
  amapRef(uvm, parent.aref.amap!, 0, 4, 0);
  parent.eflags |= MAP_ENTRY_NEEDS_COPY;
  say(
    '2. fork: amap_ref gives the child a reference; both entries are needs-copy:',
    ...amapDump(uvm, parent.aref.amap!),
    '',
  );

  amapCopy(uvm, null, child, 0, child.start, child.end);
  say('3. the child writes: amap_copy gives it its own amap; the anons are now shared (an_ref 2):');
  say(
    ...amapDump(uvm, parent.aref.amap!, 'parent amap'),
    ...amapDump(uvm, child.aref.amap!, 'child amap'),
    '',
  );

  writeAnon(uvm, child, 0, 'HELLO', true);
  say('4. copy-on-write of slot 0 in the child: a new anon replaces the shared one:');
  say(
    ...amapDump(uvm, parent.aref.amap!, 'parent amap'),
    ...amapDump(uvm, child.aref.amap!, 'child amap'),
    '',
  );

  amapCopy(uvm, null, parent, 0, parent.start, parent.end);
  const r = amapExtend(uvm, parent, 2 * ps, AMAP_EXTEND_FORWARDS);
  parent.end += 2 * ps;
  say(
    `5. the parent's amap is its alone now (taken over); amap_extend by 2 pages (case 2f, uses the padding): ${r}`,
  );
  say(...amapDump(uvm, parent.aref.amap!, 'parent amap'), '');

  const tail = { amap: parent.aref.amap, pageoff: 0 };
  amapSplitref(uvm, parent.aref, tail, 2 * ps);
  amapUnref(uvm, parent.aref.amap!, tail.pageoff, 4, false);
  parent.end = parent.start + 2 * ps;
  say(
    '6. clip at page 2 (amap_splitref) and unmap the tail: ppref drops slots 2-5 ("world" lives on in the child):',
  );
  say(...amapDump(uvm, parent.aref.amap!, 'parent amap'), '');

  const an = child.aref.amap!.anon[2];
  const slot = swapAlloc(uvm);
  uvm.anons.swslot[an] = slot;
  swapPut(uvm, slot, uvm.anons.page[an]);
  pageFree(uvm, uvm.anons.page[an]);
  uvm.anons.page[an] = NOPAGE;
  uvm.exp.swpgonly++;
  say(
    `7. the child's slot 2 paged out to swap slot ${slot}:`,
    ...amapDump(uvm, child.aref.amap!, 'child amap'),
    '',
  );
  amapSwapOff(uvm, 1, 1 + 64);
  say(
    '8. swapoff (amap_swap_off) brings it back:',
    ...amapDump(uvm, child.aref.amap!, 'child amap'),
    '',
  );

  audit(uvm);
  amapUnref(uvm, parent.aref.amap!, 0, 2, false);
  amapUnref(uvm, child.aref.amap!, 0, 4, true);
  audit(uvm);
  say(
    `9. both gone: ${uvm.pages.freeCount}/${uvm.pages.npages} frames free, ${uvm.anons.nlive} anons, ${uvm.amaps.size} amaps; the audit passed.`,
    '',
  );
  say('counters (uvmexp):', ...countersDump(uvm, '  '));
  console.log(out.join('\n'));
}

main();
