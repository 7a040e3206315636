/*
 * legend.ts: what the dumps and the counters mean, for `uvm explain` and
 * docs/legend.md (the same text: a test keeps them equal).
 *
 *   LEGEND     sections of [term, meaning] pairs
 *   COUNTERS   every counter a system shows, with its meaning
 *   explain    the legend as lines, or the entries matching a word
 */
import type { Counters } from '../sys/system.ts';

/** One section of the legend: a title, a sample line, and what its parts mean. */
export interface LegendSection {
  title: string;
  sample: string;
  terms: [string, string][];
}

export const LEGEND: LegendSection[] = [
  {
    title: 'A map entry (show entry, show maps of the dump)',
    sample:
      'entry 0x7effffffc000-0x7f0000000000 rw-/rwx cow,nc inh=copy adv=normal wired=0 amap#3@0',
    terms: [
      ['0x...-0x...', 'the range [start, end) the entry maps'],
      ['rw-/rwx', 'protection / maximum protection: r read, w write, x execute, - not'],
      ['cow', 'private (MAP_PRIVATE): writes are copied (MAP_ENTRY_COW)'],
      [
        'nc',
        "needs-copy: the amap is not yet this entry's own; the first write copies it (amap_copy)",
      ],
      ['stack(+N)', 'a growable stack that may still grow down by N bytes'],
      ['uwired', 'locked by mlock (MAP_ENTRY_USER_WIRED)'],
      ['nofault, nosync, nocore, kstack', "the seed's other entry flags"],
      [
        'vpt(PDE)',
        'governed by a virtual page table (MAP_VPAGETABLE) whose root entry (master_pde) is PDE',
      ],
      ['inh=copy|share|none', 'what fork does with it (minherit): copy-on-write, share, leave out'],
      [
        'adv=normal|sequential|random',
        'the advice (madvise): how many neighbours a fault maps too',
      ],
      ['wired=N', 'how many wirings the entry holds (mlock once, kernel wirings each)'],
      ['amap#ID@SLOT', "its anon layer: amap ID, the entry's first page at slot SLOT (the aref)"],
      ['obj#ID+OFFSET', 'its object layer: object ID (a file, an aobj) from byte OFFSET'],
      ['zero-fill', 'no amap and no object yet: pages read as zeros'],
    ],
  },
  {
    title: 'An amap (show amap, show entry)',
    sample: 'amap #3: am_ref=1 am_flags=- am_nslot=4 am_maxslot=4 am_nused=1',
    terms: [
      ['am_ref', 'references to the amap: one per entry window using it'],
      [
        'am_flags',
        'SHARED: shared by a fork with inheritance share (a write cannot copy in place); SWAPOFF: swapoff is paging it in',
      ],
      ['am_nslot, am_maxslot', 'slots in use by windows, slots allocated'],
      ['am_nused', 'slots holding an anon'],
      [
        'ppref',
        'per-page reference counts, as runs [from,to):count ("none yet": every window covers it all)',
      ],
    ],
  },
  {
    title: 'The pages of an entry (show entry, show amap)',
    sample:
      'va 0x7effffffc000  slot 0  anon 3  an_ref 1  page 3  swslot -  pte rw- 3  bytes "ECHO HELLO.."',
    terms: [
      ['va', "the page's virtual address"],
      ['slot', 'its slot in the amap'],
      ['anon', "the anon in that slot (- none: the object's page, or zeros)"],
      [
        'an_ref',
        'how many amap slots hold the anon: more than 1, a write copies it (copy-on-write)',
      ],
      ['page', 'the physical frame holding its bytes (- not resident)'],
      ['swslot', 'the swap slot holding a copy (- none)'],
      ['pte', 'the translation the pmap holds: its rights and frame (- none: an access faults)'],
      [
        'bytes',
        'the first bytes of the page, "." where not printable; (in swap) when not resident',
      ],
    ],
  },
];

/** Every counter a system shows, with its meaning. */
export const COUNTERS: Record<keyof Counters, string> = {
  pageallocs: 'frames allocated (uvm_pagealloc)',
  pagefrees: 'frames freed',
  pgafail: 'allocations that found no free frame',
  pga_zerohit: 'zero-filled allocations that found a frame already zero',
  pga_zeromiss: 'zero-filled allocations that had to clear the frame',
  zeroes: 'frames cleared',
  pagecopies: 'frames copied (copy-on-write, promotion)',
  tlbshootdowns:
    'software TLB entries dropped because their translation or page bits changed (mmu)',
  wired: 'frames wired now',
  anonallocs: 'anons allocated',
  anonfrees: 'anons freed',
  amapallocs: 'amaps allocated',
  amapfrees: 'amaps freed',
  amapcopies: 'amaps copied for a needs-copy entry (amap_copy)',
  amaptakeover: 'needs-copy entries that took over an amap only they used',
  amapcownow: 'pages copied at fork for a locked parent (amap_cow_now)',
  amapextends: 'amaps grown for a merged neighbour (amap_extend)',
  pprefestablished: 'amaps that began per-page reference counts (ppref)',
  nswapdev: 'swap devices in use',
  swpages: 'swap slots on enabled devices',
  swpginuse: 'swap slots in use',
  swpgonly: 'pages whose only copy is in swap',
  swapins: 'pages read from swap',
  swapouts: 'pages written to swap',
  swapioerrs: 'swap reads or writes that failed',
  pageins: 'pages brought back from swap',
  pageouts: 'pages written out to make room',
  faults: 'page faults taken',
  fltprot: 'faults refused by the protection (SIGSEGV)',
  fltnoram: 'faults that waited for free frames',
  fltanget: 'faults that brought an anon in from swap',
  fltnamap: 'neighbouring anon pages mapped by fault-ahead',
  fltnomap: 'neighbouring object pages mapped by fault-ahead',
  flt_anon: 'faults resolved by an anon (the upper layer)',
  flt_acow: 'copy-on-write faults: a shared anon copied',
  flt_obj: 'faults resolved by an object page (the lower layer)',
  flt_prcopy: 'object pages promoted into a new anon (a private copy)',
  flt_przero: 'zero-fill faults: a new anon of zeros',
  pdwoke: 'pagedaemon runs',
  pdrevs: 'pagedaemon passes over the queues',
  pdscans: "pages the pagedaemon's scan looked at",
  pdreact: 'pages it found referenced and reactivated',
  pddeact: 'pages it moved to the inactive queue',
  pdfreed: 'frames it freed',
  pdpageouts: 'pages it wrote to swap',
  pdnoswap: 'dirty pages it kept: no swap slot',
  pdlazyfreed: 'MADV_FREE pages it discarded',
  vnodepageins: 'file pages read',
  vnodepageouts: 'file pages written back',
  vnodeioerrs: 'file reads or writes that failed',
  forks: 'forks',
  forks_sharevm: 'vforks and threads (sharing the space)',
  execs: 'execs',
  exits: 'exits',
  npages: 'frames of physical memory',
  free: 'frames free now',
  active: 'frames on the active queue now',
  inactive: 'frames on the inactive queue now',
  anons: 'anons alive now',
  amaps: 'amaps alive now',
};

/**
 * explain: the legend as text lines: every section, then every counter;
 * with `word`, only the terms and counters whose name contains it.
 * => an empty list when nothing matches.
 */
export function explain(word?: string): string[] {
  const match = (t: string) => word === undefined || t.includes(word);
  const out: string[] = [];
  for (const s of LEGEND) {
    const terms = s.terms.filter(([t]) => match(t));
    if (terms.length === 0) continue;
    out.push(s.title, `  ${s.sample}`, ...terms.map(([t, m]) => `    ${t.padEnd(32)} ${m}`), '');
  }
  const counters = Object.entries(COUNTERS).filter(([n]) => match(n));
  if (counters.length > 0)
    out.push(
      'Counters (show counters, check, --json)',
      ...counters.map(([n, m]) => `    ${n.padEnd(32)} ${m}`),
    );
  return out;
}
