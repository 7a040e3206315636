/*
 * procmaps.ts: Linux's /proc/PID/maps, read and written in one place.
 *
 *   7f1c2a000000-7f1c2a021000 rw-p 00000000 00:00 0          [heap]
 *   start-end                 perms offset dev   inode       name
 *
 *   mapsRows        a space's entries as the rows Linux shows: file rows
 *                   name the file, shared anonymous memory is
 *                   "/dev/zero (deleted)", [heap], [stack], special names
 *   formatMapsRow   a row exactly as Linux prints it
 *   parseMapsRow    a line back into a row (readMapsRow: null if it is not one)
 *   buildSpaceFromRows   exec from a snapshot: rows into map entries
 *   coalesceMaps, diffMaps, coalesceRows   maps compared as the samples
 *                   and the fuzzer compare them
 */
import {
  MAP_COPY_ON_WRITE,
  MAP_IS_STACK,
  MAP_OVERLAY,
  type VmMapEntry,
  vmMapInsert,
  vmMapLock,
  vmMapUnlock,
} from '../kernel/map/index.ts';
import { objectDetach, type UvmObject } from '../kernel/object.ts';
import {
  DEFAULT_MMAP_BASE,
  MAP_ENTRY_COW,
  MAP_ENTRY_STACK,
  MAP_INHERIT_COPY,
  MAP_INHERIT_SHARE,
  PROT_ALL,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  USER_MAX,
  USER_MIN,
  vmerr,
} from '../kernel/param.ts';
import type { Vmspace } from '../kernel/vmspace.ts';
/** One row of /proc/PID/maps, parsed. */
export interface MapsRow {
  start: number;
  end: number;
  /** "r-xp" style */
  perms: string;
  offset: number;
  dev: string;
  inode: number;
  name: string;
}

/**
 * mapsRows: one row per map entry, as Linux's /proc/PID/maps shows
 * them: file rows name the file, shared anonymous memory is
 * "/dev/zero (deleted)" with its offset in the segment, the entries
 * spanning the break are "[heap]", the entry holding the main stack
 * "[stack]", special mappings their own name.
 */
export function mapsRows(vm: Vmspace): MapsRow[] {
  const map = vm.map;
  const ps = vm.uvm.pageSize;
  const rows: MapsRow[] = [];
  for (let e = map.header.next; e !== map.header; e = e.next) {
    const shared = (e.eflags & MAP_ENTRY_COW) === 0;
    const perms = `${e.protection & PROT_READ ? 'r' : '-'}${e.protection & PROT_WRITE ? 'w' : '-'}${e.protection & PROT_EXEC ? 'x' : '-'}${shared ? 's' : 'p'}`;
    let name = e.name ?? '';
    let offset = 0;
    let dev = '00:00';
    let inode = 0;
    if (e.object !== null) {
      name = e.object.deleted ? `${e.object.name} (deleted)` : e.object.name;
      offset = e.offset;
      dev = 'fe:00';
      inode = e.object.inode;
    } else if (shared && e.name === null) {
      name = '/dev/zero (deleted)';
      offset = e.aref.pageoff * ps;
      dev = '00:01';
      inode = e.aref.amap?.id ?? 0;
    } else if (
      e.name === null &&
      vm.brk > vm.brkStart &&
      e.start <= vm.brk &&
      e.end >= vm.brkStart
    ) {
      name = '[heap]';
    } else if (e.name === null && inMainStack(vm, e)) {
      name = '[stack]';
    }
    rows.push({ start: e.start, end: e.end, perms, offset, dev, inode, name });
  }
  return rows;
}

/**
 * inMainStack: e is part of the main stack: the entry holding startStack,
 * or a stack entry joined to it (amap chunking can split the stack).
 */
function inMainStack(vm: Vmspace, e: VmMapEntry): boolean {
  if (vm.startStack === 0) return false;
  const map = vm.map;
  if (e.start <= vm.startStack && e.end > vm.startStack) return true;
  if (!(e.eflags & MAP_ENTRY_STACK)) return false;
  for (let x = e; x !== map.header && x.eflags & MAP_ENTRY_STACK; x = x.next) {
    if (x.start <= vm.startStack && x.end > vm.startStack) return true;
    if (x.next.start !== x.end) return false;
  }
  return false;
}

/**
 * formatMapsRow: a row exactly as Linux prints it (addresses and offset in
 * lowercase hex, at least 8 digits; the name padded to column 73).
 */
export function formatMapsRow(r: MapsRow): string {
  const h = (n: number) => n.toString(16).padStart(8, '0');
  const head = `${h(r.start)}-${h(r.end)} ${r.perms} ${h(r.offset)} ${r.dev} ${r.inode}`;
  if (r.name === '') return `${head} `;
  return `${head.padEnd(72)} ${r.name}`;
}

const ROW = /^([0-9a-f]+)-([0-9a-f]+)\s+([r-][w-][x-][ps])\s+([0-9a-f]+)\s+(\S+)\s+(\d+)\s*(.*)$/;

/**
 * parseMapsRow: one /proc/PID/maps line.
 * => EINVAL naming the line number when it is not one.
 */
export function parseMapsRow(line: string, lineNo: number): MapsRow {
  const r = readMapsRow(line);
  if (r === null)
    throw vmerr(
      'EINVAL',
      'exec',
      `line ${lineNo}`,
      `not a /proc/PID/maps row: ${JSON.stringify(line)}`,
    );
  return r;
}

/** readMapsRow: one /proc/PID/maps line as a row, or null if it is not one. */
export function readMapsRow(line: string): MapsRow | null {
  const m = ROW.exec(line.trimEnd());
  if (!m) return null;
  return {
    start: Number.parseInt(m[1], 16),
    end: Number.parseInt(m[2], 16),
    perms: m[3],
    offset: Number.parseInt(m[4], 16),
    dev: m[5],
    inode: Number(m[6]),
    name: m[7],
  };
}

/** protOf: the PROT_* bits of an "rwxp" string. */
export function protOf(perms: string): number {
  return (
    (perms[0] === 'r' ? PROT_READ : 0) |
    (perms[1] === 'w' ? PROT_WRITE : 0) |
    (perms[2] === 'x' ? PROT_EXEC : 0)
  );
}

/**
 * buildSpaceFromRows: map each row into `vm` (the work of exec).
 * => `fileObject(path, size)` gives the object for a file row.
 */
export function buildSpaceFromRows(
  vm: Vmspace,
  rows: MapsRow[],
  fileObject: (path: string, size: number) => UvmObject,
): void {
  const map = vm.map;
  const ps = vm.uvm.pageSize;
  const sizes = new Map<string, number>();
  for (const r of rows)
    if (isFileName(r.name))
      sizes.set(r.name, Math.max(sizes.get(r.name) ?? 0, r.offset + r.end - r.start));
  let lowTop = 0;
  let mmapLow = USER_MAX;
  vmMapLock(map);
  try {
    for (const r of rows) {
      const inside = r.start >= map.minOffset && r.end <= map.maxOffset && r.end > r.start;
      if (!inside || r.start % ps || r.end % ps) continue;
      const e = mapRow(vm, r, sizes, fileObject);
      if (r.name === '[heap]') {
        vm.brkStart = r.start;
        vm.brk = r.end;
      } else if (r.name === '[stack]') {
        vm.startStack = r.end - 8;
        e.availSsize = Math.max(0, vm.stackLimit - (r.end - r.start));
      }
      if (r.start >= DEFAULT_MMAP_BASE && r.name !== '[stack]')
        mmapLow = Math.min(mmapLow, r.start);
      else if (r.start < DEFAULT_MMAP_BASE) lowTop = Math.max(lowTop, r.end);
    }
  } finally {
    vmMapUnlock(map);
  }
  if (vm.brkStart === 0) vm.brkStart = vm.brk = lowTop;
  map.mmapBase = mmapLow < USER_MAX ? mmapLow : DEFAULT_MMAP_BASE;
}

/** mapRow: one maps row as a map entry. */
function mapRow(
  vm: Vmspace,
  r: MapsRow,
  sizes: Map<string, number>,
  fileObject: (path: string, size: number) => UvmObject,
) {
  const shared = r.perms[3] === 's';
  const prot = protOf(r.perms);
  const isFile = isFileName(r.name);
  const obj = isFile ? fileObject(r.name, sizes.get(r.name)!) : null;
  const cow =
    (shared ? 0 : MAP_COPY_ON_WRITE) |
    (shared && !isFile ? MAP_OVERLAY : 0) |
    (r.name === '[stack]' ? MAP_IS_STACK : 0);
  const special =
    r.name.startsWith('[') && r.name !== '[heap]' && r.name !== '[stack]' ? r.name : null;
  const e = vmMapInsert(vm.map, obj, isFile ? r.offset : 0, r.start, r.end, prot, PROT_ALL, cow, {
    name: special,
    inherit: shared ? MAP_INHERIT_SHARE : MAP_INHERIT_COPY,
  });
  if (obj !== null) objectDetach(vm.uvm, obj); /* the entry holds its own reference */
  return e;
}

/** A row difference between two coalesced maps. */
export interface MapsDiff {
  kind: 'missing' | 'extra';
  row: string;
}

/**
 * coalesceMaps: /proc/PID/maps lines as the samples compare them: rows
 * outside the user range dropped; adjacent rows joined when their
 * permissions and name agree and their offsets are contiguous (anonymous
 * private rows ignore the offset); each row as "start-end perms offset
 * name" (offset 0 for anonymous private rows); device and inode ignored.
 */
export function coalesceMaps(lines: string[]): string[] {
  const rows: MapsRow[] = [];
  for (const line of lines) {
    const r = readMapsRow(line);
    if (r === null) continue;
    if (r.start < USER_MIN || r.end > USER_MAX) continue;
    const anonPrivate = r.perms[3] === 'p' && !r.name.startsWith('/');
    if (anonPrivate) r.offset = 0;
    const last = rows[rows.length - 1];
    if (
      last &&
      last.end === r.start &&
      last.perms === r.perms &&
      last.name === r.name &&
      (anonPrivate || last.offset + (last.end - last.start) === r.offset)
    ) {
      last.end = r.end;
      continue;
    }
    rows.push(r);
  }
  return rows.map((r) =>
    `${r.start.toString(16)}-${r.end.toString(16)} ${r.perms} ${r.offset.toString(16).padStart(8, '0')} ${r.name}`.trimEnd(),
  );
}

/**
 * diffMaps: rows of `ours` the real maps lack (extra) and real rows ours
 * lack (missing), both coalesced.
 */
export function diffMaps(ours: string[], real: string[]): MapsDiff[] {
  const a = coalesceMaps(ours);
  const b = coalesceMaps(real);
  const sa = new Set(a);
  const sb = new Set(b);
  return [
    ...b.filter((r) => !sa.has(r)).map((row) => ({ kind: 'missing' as const, row })),
    ...a.filter((r) => !sb.has(r)).map((row) => ({ kind: 'extra' as const, row })),
  ];
}

/** A coalesced map row: start, end, and perms ("rw-p"). */
export type MapRun = [number, number, string];

/**
 * coalesceRows: maps rows as runs: adjacent rows with equal perms joined
 * (what a process can tell apart without names and offsets).
 */
export function coalesceRows(rows: readonly MapsRow[]): MapRun[] {
  const out: MapRun[] = [];
  for (const r of rows) {
    const last = out[out.length - 1];
    if (last !== undefined && last[1] === r.start && last[2] === r.perms) last[1] = r.end;
    else out.push([r.start, r.end, r.perms]);
  }
  return out;
}

/** isFileName: a row's name that is a file's path (not anonymous shared memory). */
export function isFileName(name: string): boolean {
  return name.startsWith('/') && !name.startsWith('/dev/zero');
}
