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

/**
 * amapDump: an amap's header line, its ppref and a table of its used slots.
 * => `data` shows the first bytes of each resident page as text when given.
 */
export function amapDump(uvm: Uvm, amap: Amap, name = `amap #${amap.id}`): string[] {
  const lines = [
    `${name}: am_ref=${amap.ref} am_flags=${amapFlagNames(amap)} am_nslot=${amap.nslot} am_maxslot=${amap.maxslot} am_nused=${amap.nused}`,
    `  ppref: ${pprefRuns(amap)}`,
  ];
  const used = Array.from(amap.slots.subarray(0, amap.nused)).sort((a, b) => a - b);
  const rows = used.map((slot) => {
    const an = amap.anon[slot];
    const pg = uvm.anons.page[an];
    return [
      slot,
      an,
      uvm.anons.ref[an],
      pg === NOPAGE ? '-' : pg,
      uvm.anons.swslot[an] || '-',
      anonText(uvm, an),
    ];
  });
  if (rows.length === 0) return [...lines, '  (no anons)'];
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

/**
 * entryLine: one map entry on one line: range, protection/maximum, flags,
 * inheritance, advice, wiring and what backs it.
 */
export function entryLine(e: VmMapEntry): string {
  const flags = [];
  if (e.eflags & MAP_ENTRY_COW) flags.push('cow');
  if (e.eflags & MAP_ENTRY_NEEDS_COPY) flags.push('nc');
  if (e.eflags & MAP_ENTRY_STACK) flags.push(`stack(+${hex(e.availSsize)})`);
  if (e.eflags & MAP_ENTRY_USER_WIRED) flags.push('uwired');
  if (e.eflags & MAP_ENTRY_NOFAULT) flags.push('nofault');
  if (e.eflags & MAP_ENTRY_NOSYNC) flags.push('nosync');
  if (e.eflags & MAP_ENTRY_NOCOREDUMP) flags.push('nocore');
  if (e.eflags & MAP_ENTRY_KSTACK) flags.push('kstack');
  const backing = [];
  if (e.aref.amap) backing.push(`amap#${e.aref.amap.id}@${e.aref.pageoff}`);
  if (e.object) backing.push(`obj#${e.object.id}+${hex(e.offset)}`);
  if (e.submap) backing.push('submap');
  return [
    `${hex(e.start)}-${hex(e.end)}`,
    `${protString(e.protection)}/${protString(e.maxProtection)}`,
    flags.join(',') || '-',
    `inh=${INHERIT_NAMES[e.inheritance]}`,
    `adv=${BEHAV_NAMES[e.behavior()] ?? 'reserved'}`,
    `wired=${e.wiredCount}`,
    backing.join(' ') || 'zero-fill',
  ].join(' ');
}

/** mapDump: every entry of a map, one per line. */
export function mapDump(map: VmMap): string[] {
  const out = [];
  for (let e = map.header.next; e !== map.header; e = e.next) out.push(entryLine(e));
  return out;
}

/**
 * entryPicture: one entry of an address space, down to its pages: the
 * entry, its amap, and for each page of the entry (up to `max`) the slot,
 * the anon, its reference count, its frame or swap slot, the translation
 * the pmap holds for it, and the first bytes.
 */
export function entryPicture(uvm: Uvm, map: VmMap, va: number, max = 8): string[] {
  const e = vmMapLookupEntry(map, va);
  if (!entryContains(map, e, va)) return [`nothing is mapped at ${hex(va)}`];
  const out = [`entry ${entryLine(e)}`];
  const amap = e.aref.amap;
  if (amap === null) out.push('  no amap yet (needs-copy: the first fault gives it one)');
  else
    out.push(
      ...amapDump(uvm, amap)
        .slice(0, 2)
        .map((l) => `  ${l}`),
    );
  const ps = uvm.pageSize;
  const rows: (string | number)[][] = [];
  for (let a = e.start; a < e.end && rows.length < max; a += ps) {
    const slot = amap === null ? -1 : e.aref.pageoff + (a - e.start) / ps;
    const an = amap === null ? 0 : amap.anon[slot];
    const pte = map.pmap.lookup(a);
    const pg = an !== 0 ? uvm.anons.page[an] : NOPAGE;
    rows.push([
      hex(a),
      slot < 0 ? '-' : slot,
      an || '-',
      an ? uvm.anons.ref[an] : '-',
      pg === NOPAGE ? '-' : pg,
      an && uvm.anons.swslot[an] ? uvm.anons.swslot[an] : '-',
      pte === 0 ? '-' : `${protString(pteProt(pte))} ${pteFrame(pte)}`,
      an ? anonText(uvm, an) : pte !== 0 ? frameText(uvm, pteFrame(pte)) : '',
    ]);
  }
  out.push(
    ...table(['va', 'slot', 'anon', 'an_ref', 'page', 'swslot', 'pte', 'bytes'], rows, '  '),
  );
  if ((e.end - e.start) / ps > max) out.push(`  ... ${(e.end - e.start) / ps - max} more pages`);
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
