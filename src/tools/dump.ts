/*
 * dump.ts: readable pictures of the kernel's structures, for people.
 *
 *   table()      aligned columns (numbers right, text left)
 *   amapDump()   one amap: header, ppref runs, and its slots with their
 *                anons, reference counts, pages and swap slots
 *   countersDump() the non-zero uvmexp counters
 *
 * Nothing here changes state.
 */
import { AMAP_SHARED, AMAP_SWAPOFF, type Amap, ppGetreflen } from '../kernel/amap.ts';
import {
  entryContains,
  VM_MAPTYPE_VPAGETABLE,
  type VmMap,
  type VmMapEntry,
  vmMapLookupEntry,
} from '../kernel/map/index.ts';
import { NOPAGE } from '../kernel/page.ts';
import {
  hex,
  MAP_ENTRY_COW,
  MAP_ENTRY_KSTACK,
  MAP_ENTRY_NEEDS_COPY,
  MAP_ENTRY_NOCOREDUMP,
  MAP_ENTRY_NOFAULT,
  MAP_ENTRY_NOSYNC,
  MAP_ENTRY_STACK,
  MAP_ENTRY_USER_WIRED,
} from '../kernel/param.ts';
import { pteFrame, pteProt } from '../kernel/pmap.ts';
import type { Uvm } from '../kernel/uvm.ts';

/**
 * table: format rows as aligned columns under a header.
 * => cells that look like numbers are right-aligned, the rest left-aligned.
 */
export function table(header: string[], rows: (string | number)[][], indent = ''): string[] {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const width = header.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const numeric = header.map(
    (_, c) => rows.length > 0 && rows.every((r) => /^-?[\d.]+$|^-?$/.test(String(r[c]))),
  );
  return cells.map(
    (r) =>
      indent +
      r
        .map((cell, c) => (numeric[c] ? cell.padStart(width[c]) : cell.padEnd(width[c])))
        .join('  ')
        .trimEnd(),
  );
}

/** plural: "1 page", "2 pages". */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** amapFlagNames: am_flags as words. */
function amapFlagNames(amap: Amap): string {
  const names = [];
  if (amap.flags & AMAP_SHARED) names.push('SHARED');
  if (amap.flags & AMAP_SWAPOFF) names.push('SWAPOFF');
  return names.length ? names.join('|') : '-';
}

/** pprefRuns: the ppref array as "[from,to):count" runs, or its state. */
export function pprefRuns(amap: Amap): string {
  const ppref = amap.ppref;
  if (ppref === null) return 'none yet';
  if (!(ppref instanceof Int32Array)) return 'PPREF_NONE';
  const runs = [];
  for (let lcv = 0; lcv < amap.nslot; ) {
    const { ref, len } = ppGetreflen(ppref, lcv);
    runs.push(`[${lcv},${lcv + len}):${ref}`);
    lcv += len;
  }
  return runs.join(' ');
}

/** An amap as fields (what amapDump prints). */
export interface AmapView {
  id: number;
  am_ref: number;
  am_flags: string;
  am_nslot: number;
  am_maxslot: number;
  am_nused: number;
  ppref: string;
  /** its used slots, in order */
  anons: AnonView[];
}

/** An anon in an amap slot as fields. */
export interface AnonView {
  slot: number;
  anon: number;
  an_ref: number;
  /** its frame, or null when not resident */
  page: number | null;
  /** its swap slot, or null */
  swslot: number | null;
  /** the first bytes of its page, or "(in swap)" */
  bytes: string;
}

/** amapView: an amap's header, ppref runs and used slots as fields. */
export function amapView(uvm: Uvm, amap: Amap): AmapView {
  const used = Array.from(amap.slots.subarray(0, amap.nused)).sort((a, b) => a - b);
  return {
    id: amap.id,
    am_ref: amap.ref,
    am_flags: amapFlagNames(amap),
    am_nslot: amap.nslot,
    am_maxslot: amap.maxslot,
    am_nused: amap.nused,
    ppref: pprefRuns(amap),
    anons: used.map((slot) => {
      const an = amap.anon[slot];
      const pg = uvm.anons.page[an];
      return {
        slot,
        anon: an,
        an_ref: uvm.anons.ref[an],
        page: pg === NOPAGE ? null : pg,
        swslot: uvm.anons.swslot[an] || null,
        bytes: anonText(uvm, an),
      };
    }),
  };
}

/**
 * amapDump: an amap's header line, its ppref and a table of its used slots.
 */
export function amapDump(uvm: Uvm, amap: Amap, name = `amap #${amap.id}`): string[] {
  const v = amapView(uvm, amap);
  const lines = [
    `${name}: am_ref=${v.am_ref} am_flags=${v.am_flags} am_nslot=${v.am_nslot} am_maxslot=${v.am_maxslot} am_nused=${v.am_nused}`,
    `  ppref: ${v.ppref}`,
  ];
  if (v.anons.length === 0) return [...lines, '  (no anons)'];
  const rows = v.anons.map((a) => [
    a.slot,
    a.anon,
    a.an_ref,
    a.page ?? '-',
    a.swslot ?? '-',
    a.bytes,
  ]);
  return [...lines, ...table(['slot', 'anon', 'an_ref', 'page', 'swslot', 'bytes'], rows, '  ')];
}

/** anonText: the first bytes of an anon's page, printable, or where it is. */
function anonText(uvm: Uvm, an: number): string {
  const pg = uvm.anons.page[an];
  return pg === NOPAGE ? '(in swap)' : frameText(uvm, pg);
}

/**
 * countersDump: the counters that are not zero, in `columns` pairs of
 * name and value, filled column by column.
 */
export function countersDump(counters: Record<string, number>, columns = 3, indent = ''): string[] {
  const items = Object.entries(counters).filter(([, v]) => v !== 0);
  const per = Math.ceil(items.length / columns);
  const rows: string[][] = [];
  for (let i = 0; i < per; i++) {
    const row: string[] = [];
    for (let c = 0; c < columns; c++) {
      const it = items[i + c * per];
      row.push(it ? it[0] : '', it ? String(it[1]) : '');
    }
    rows.push(row);
  }
  const header = Array.from({ length: columns }, () => ['counter', 'value']).flat();
  return table(header, rows, indent);
}

const INHERIT_NAMES = ['share', 'copy', 'none'];
const BEHAV_NAMES: Record<number, string> = { 0: 'normal', 64: 'sequential', 128: 'random' };

/** protString: PROT_* bits as "rwx" with dashes. */
export function protString(prot: number): string {
  return (prot & 1 ? 'r' : '-') + (prot & 2 ? 'w' : '-') + (prot & 4 ? 'x' : '-');
}

/** A map entry as fields (what entryLine prints). */
export interface EntryView {
  start: number;
  end: number;
  protection: string;
  maxProtection: string;
  /** cow, nc, stack(+N), uwired, nofault, nosync, nocore, kstack, vpt(PDE) */
  flags: string[];
  inheritance: string;
  advice: string;
  wired: number;
  /** amap#ID@SLOT, obj#ID+OFFSET, submap; empty: zero-fill */
  backing: string[];
}

/** entryView: an entry's range, protections, flags and backing as fields. */
export function entryView(e: VmMapEntry): EntryView {
  const flags = [];
  if (e.eflags & MAP_ENTRY_COW) flags.push('cow');
  if (e.eflags & MAP_ENTRY_NEEDS_COPY) flags.push('nc');
  if (e.eflags & MAP_ENTRY_STACK) flags.push(`stack(+${hex(e.availSsize)})`);
  if (e.eflags & MAP_ENTRY_USER_WIRED) flags.push('uwired');
  if (e.eflags & MAP_ENTRY_NOFAULT) flags.push('nofault');
  if (e.eflags & MAP_ENTRY_NOSYNC) flags.push('nosync');
  if (e.eflags & MAP_ENTRY_NOCOREDUMP) flags.push('nocore');
  if (e.eflags & MAP_ENTRY_KSTACK) flags.push('kstack');
  if (e.maptype === VM_MAPTYPE_VPAGETABLE) flags.push(`vpt(${hex(e.masterPde)})`);
  const backing = [];
  if (e.aref.amap) backing.push(`amap#${e.aref.amap.id}@${e.aref.pageoff}`);
  if (e.object) backing.push(`obj#${e.object.id}+${hex(e.offset)}`);
  if (e.submap) backing.push('submap');
  return {
    start: e.start,
    end: e.end,
    protection: protString(e.protection),
    maxProtection: protString(e.maxProtection),
    flags,
    inheritance: INHERIT_NAMES[e.inheritance],
    advice: BEHAV_NAMES[e.behavior()] ?? 'reserved',
    wired: e.wiredCount,
    backing,
  };
}

/**
 * entryLine: one map entry on one line: range, protection/maximum, flags,
 * inheritance, advice, wiring and what backs it (uvm explain says each).
 */
export function entryLine(e: VmMapEntry): string {
  const v = entryView(e);
  return [
    `${hex(v.start)}-${hex(v.end)}`,
    `${v.protection}/${v.maxProtection}`,
    v.flags.join(',') || '-',
    `inh=${v.inheritance}`,
    `adv=${v.advice}`,
    `wired=${v.wired}`,
    v.backing.join(' ') || 'zero-fill',
  ].join(' ');
}

/** mapDump: every entry of a map, one per line. */
export function mapDump(map: VmMap): string[] {
  const out = [];
  for (let e = map.header.next; e !== map.header; e = e.next) out.push(entryLine(e));
  return out;
}

/** One page of an entry as fields (a row of entryPicture). */
export interface PageView {
  va: number;
  /** its amap slot, or null when the entry has no amap */
  slot: number | null;
  anon: number | null;
  an_ref: number | null;
  page: number | null;
  swslot: number | null;
  /** the pmap's translation: its rights and frame, or null */
  pte: { prot: string; frame: number } | null;
  bytes: string;
}

/** An entry of an address space down to its pages, as fields. */
export interface EntryPictureView {
  entry: EntryView;
  amap: AmapView | null;
  pages: PageView[];
  /** pages of the entry not shown (past `max`) */
  more: number;
}

/**
 * entryPictureView: the entry mapping va, its amap, and its first `max`
 * pages as fields; null when nothing is mapped at va.
 */
export function entryPictureView(
  uvm: Uvm,
  map: VmMap,
  va: number,
  max = 8,
): EntryPictureView | null {
  const e = vmMapLookupEntry(map, va);
  if (!entryContains(map, e, va)) return null;
  const amap = e.aref.amap;
  const ps = uvm.pageSize;
  const pages: PageView[] = [];
  for (let a = e.start; a < e.end && pages.length < max; a += ps) {
    const slot = amap === null ? null : e.aref.pageoff + (a - e.start) / ps;
    const an = amap === null || slot === null ? 0 : amap.anon[slot];
    const pte = map.pmap.lookup(a);
    const pg = an !== 0 ? uvm.anons.page[an] : NOPAGE;
    pages.push({
      va: a,
      slot,
      anon: an || null,
      an_ref: an ? uvm.anons.ref[an] : null,
      page: pg === NOPAGE ? null : pg,
      swslot: an && uvm.anons.swslot[an] ? uvm.anons.swslot[an] : null,
      pte: pte === 0 ? null : { prot: protString(pteProt(pte)), frame: pteFrame(pte) },
      bytes: an ? anonText(uvm, an) : pte !== 0 ? frameText(uvm, pteFrame(pte)) : '',
    });
  }
  const more = Math.max(0, (e.end - e.start) / ps - max);
  return { entry: entryView(e), amap: amap === null ? null : amapView(uvm, amap), pages, more };
}

/**
 * entryPicture: one entry of an address space, down to its pages: the
 * entry, its amap, and for each page of the entry (up to `max`) the slot,
 * the anon, its reference count, its frame or swap slot, the translation
 * the pmap holds for it, and the first bytes.
 */
export function entryPicture(uvm: Uvm, map: VmMap, va: number, max = 8): string[] {
  const v = entryPictureView(uvm, map, va, max);
  if (v === null) return [`nothing is mapped at ${hex(va)}`];
  const e = vmMapLookupEntry(map, va);
  const out = [`entry ${entryLine(e)}`];
  if (e.aref.amap === null) out.push('  no amap yet (needs-copy: the first fault gives it one)');
  else
    out.push(
      ...amapDump(uvm, e.aref.amap)
        .slice(0, 2)
        .map((l) => `  ${l}`),
    );
  const rows = v.pages.map((p) => [
    hex(p.va),
    p.slot ?? '-',
    p.anon ?? '-',
    p.an_ref ?? '-',
    p.page ?? '-',
    p.swslot ?? '-',
    p.pte === null ? '-' : `${p.pte.prot} ${p.pte.frame}`,
    p.bytes,
  ]);
  out.push(
    ...table(['va', 'slot', 'anon', 'an_ref', 'page', 'swslot', 'pte', 'bytes'], rows, '  '),
  );
  if (v.more > 0) out.push(`  ... ${v.more} more pages`);
  return out;
}

/** frameText: the first bytes of a frame, printable. */
function frameText(uvm: Uvm, pg: number): string {
  const o = pg * uvm.pageSize;
  let s = '';
  for (const b of uvm.pages.bytes.subarray(o, o + 12))
    s += b >= 32 && b < 127 ? String.fromCharCode(b) : '.';
  return JSON.stringify(s);
}
