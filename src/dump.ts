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
import { AMAP_SHARED, AMAP_SWAPOFF, type Amap, ppGetreflen } from './amap.ts';
import { NOPAGE } from './page.ts';
import type { Uvm } from './uvm.ts';

/**
 * table: format rows as aligned columns under a header.
 * => cells that look like numbers are right-aligned, the rest left-aligned.
 */
export function table(header: string[], rows: (string | number)[][], indent = ''): string[] {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const width = header.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const numeric = header.map(
    (_, c) => rows.length > 0 && rows.every((r) => /^-?[\d.]+$|^-$/.test(String(r[c]))),
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
  if (pg === NOPAGE) return '(in swap)';
  const o = pg * uvm.pageSize;
  const bytes = uvm.pages.bytes.subarray(o, o + 12);
  let s = '';
  for (const b of bytes) s += b >= 32 && b < 127 ? String.fromCharCode(b) : '.';
  return JSON.stringify(s);
}

/**
 * countersDump: the counters that are not zero, as a two-column table.
 */
export function countersDump(uvm: Uvm, indent = ''): string[] {
  const rows = Object.entries(uvm.exp)
    .filter(([, v]) => typeof v === 'number' && v !== 0)
    .map(([k, v]) => [k, v as number]);
  return table(['counter', 'value'], rows, indent);
}
