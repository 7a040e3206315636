/*
 * explorer/view.ts: what the explorer draws, as plain fields computed from
 * a system: no DOM, nothing changed (the page renders these; the tests
 * read them).
 *
 *   framesView     one state per frame (free, active, inactive, wired,
 *                  ...), its owner, the pagedaemon's hand
 *   swapView       every swap device's slots: in use or free, and whose
 *   processesView  each process's entries with their /proc/PID/maps rows
 *                  and where each lies on a to-scale bar
 *   entryDetail    entry -> amap slots -> anons (an_ref) -> frames, with
 *                  the anons other processes share
 */
import { NOPAGE, PG_BUSY, PQ_FREE } from '../kernel/page.ts';
import type { Frame } from '../kernel/param.ts';
import type { Uvm } from '../kernel/uvm.ts';
import type { Process } from '../sys/proc.ts';
import { formatMapsRow, mapsRows } from '../sys/procmaps.ts';
import type { VmSystem } from '../sys/system.ts';
import { type EntryPictureView, entryPictureView, entryView } from '../tools/dump.ts';

/** What a frame is doing. */
/** 'free', 'wired', 'busy', 'held', or the policy's word for a queued page ('active', 'hot', ...) */
export type FrameState = string;

/** One frame as the explorer shows it. */
export interface FrameView {
  frame: number;
  state: FrameState;
  /** "anon 5", "object 2 page 3", or "" */
  owner: string;
}

/**
 * frameState: what frame pg is doing: free, wired, busy (being set up or
 * written), the policy's word for it when queued (clock: active or
 * inactive; clockpro: hot, cold, test, new), or held off the queues.
 */
export function frameState(uvm: Uvm, pg: Frame): FrameState {
  const pm = uvm.pages;
  if (pm.pqflags[pg] & PQ_FREE) return 'free';
  if (pm.wireCount(pg) > 0) return 'wired';
  if (pm.flags[pg] & PG_BUSY) return 'busy';
  const pol = uvm.pdpol;
  return pol.isQueued(pg) ? pol.pageState(pg) : 'held';
}

/** frameOwner: who owns frame pg, in words. */
function frameOwner(uvm: Uvm, pg: Frame): string {
  const pm = uvm.pages;
  if (pm.uanon(pg) !== 0) return `anon ${pm.uanon(pg)}`;
  if (pm.uobject(pg) !== 0) return `object ${pm.uobject(pg)} page ${pm.offset[pg]}`;
  return '';
}

/** Physical memory: every frame, and the pagedaemon's hand. */
export interface FramesView {
  frames: FrameView[];
  /** the frame the next scan examines first (clock: the inactive queue's head), or null */
  hand: number | null;
}

/** framesView: every frame's state and owner, and the hand. */
export function framesView(uvm: Uvm): FramesView {
  const frames: FrameView[] = [];
  for (let f = 0; f < uvm.pages.npages; f++) {
    const pg = f as Frame;
    frames.push({ frame: f, state: frameState(uvm, pg), owner: frameOwner(uvm, pg) });
  }
  const head = uvm.pdpol.hand();
  return { frames, hand: head === NOPAGE ? null : head };
}

/** One swap device's slots. */
export interface SwapDeviceView {
  id: number;
  priority: number;
  /** global slot number of its first slot */
  base: number;
  /** per slot: what holds it ("anon 5", "object 2 page 3"), or null when free */
  slots: (string | null)[];
}

/** swapView: every device's slots, in use or free, with the anon or object page holding each. */
export function swapView(uvm: Uvm): SwapDeviceView[] {
  const holder = new Map<number, string>();
  const pool = uvm.anons;
  for (let an = 1; an < pool.swslot.length; an++)
    if (pool.swslot[an] !== 0 && pool.ref[an] > 0) holder.set(pool.swslot[an], `anon ${an}`);
  for (const obj of uvm.aobjs)
    for (const [idx, slot] of obj.swslots) holder.set(slot, `object ${obj.id} page ${idx}`);
  return uvm.swap.devices.map((d) => ({
    id: d.id,
    priority: d.priority,
    base: d.base,
    slots: Array.from(d.inuse, (u, i) => (u ? (holder.get(d.base + i) ?? 'in use') : null)),
  }));
}

/** One map entry of a process, with its maps row and place on the bar. */
export interface EntryBar {
  start: number;
  end: number;
  /** its /proc/PID/maps row */
  row: string;
  /** needs-copy, copy-on-write */
  nc: boolean;
  cow: boolean;
  /** the amap backing it, or null */
  amap: number | null;
  /** where the bar draws it: left edge and width, in percent */
  left: number;
  width: number;
}

/** A process as the Processes region shows it. */
export interface ProcessView {
  name: string;
  pid: number;
  rss: number;
  entries: EntryBar[];
}

/** the share of a bar a gap between entries takes, in entry-size units (gaps are cut short) */
const GAP_WEIGHT = 0.04;

/**
 * processesView: each process's entries, each drawn to scale with every
 * other entry of its process; the gaps between them are cut to a small
 * fixed width (a user space is 128 TiB: at true scale nothing would show).
 */
export function processesView(procs: readonly [string, Process][]): ProcessView[] {
  return procs.map(([name, p]) => ({ name, pid: p.pid, rss: p.rss, entries: bars(p) }));
}

function bars(p: Process): EntryBar[] {
  const rows = mapsRows(p.vm);
  const total = rows.reduce((n, r) => n + (r.end - r.start), 0);
  const gap = total * GAP_WEIGHT;
  const scale = 100 / (total + gap * Math.max(0, rows.length - 1) || 1);
  const out: EntryBar[] = [];
  let x = 0;
  const map = p.vm.map;
  let e = map.header.next;
  for (const r of rows) {
    while (e !== map.header && e.end <= r.start) e = e.next;
    const v = entryView(e);
    const width = (r.end - r.start) * scale;
    out.push({
      start: r.start,
      end: r.end,
      row: formatMapsRow(r),
      nc: v.flags.includes('nc'),
      cow: v.flags.includes('cow'),
      amap: e.aref.amap?.id ?? null,
      left: x,
      width,
    });
    x += width + gap * scale;
  }
  return out;
}

/** anonOwners: for each anon, the pids whose entries reach it through their amaps. */
export function anonOwners(procs: readonly [string, Process][]): Map<number, Set<number>> {
  const owners = new Map<number, Set<number>>();
  for (const [, p] of procs) {
    const map = p.vm.map;
    for (let e = map.header.next; e !== map.header; e = e.next) {
      const amap = e.aref.amap;
      if (amap === null) continue;
      const n = (e.end - e.start) / p.sys.uvm.pageSize;
      for (let s = e.aref.pageoff; s < e.aref.pageoff + n; s++) {
        const an = amap.anon[s];
        if (an === 0) continue;
        const set = owners.get(an) ?? new Set<number>();
        set.add(p.pid);
        owners.set(an, set);
      }
    }
  }
  return owners;
}

/** An entry down to its frames, and which of its anons other processes share. */
export interface EntryDetail extends EntryPictureView {
  /** anons of this entry another process reaches too */
  shared: number[];
}

/** the most pages an entry's detail lists */
export const DETAIL_PAGES = 64;

/**
 * entryDetail: the entry of process `pid` starting at `start`: its amap
 * slots, anons (an_ref), frames, swap slots and PTEs, and the anons
 * shared with other processes; null when no such entry is left.
 */
export function entryDetail(
  sys: VmSystem,
  procs: readonly [string, Process][],
  pid: number,
  start: number,
): EntryDetail | null {
  const p = procs.find(([, q]) => q.pid === pid)?.[1];
  if (p === undefined) return null;
  const v = entryPictureView(sys.uvm, p.vm.map, start, DETAIL_PAGES);
  if (v === null || v.entry.start > start) return null;
  const owners = anonOwners(procs);
  const shared = v.pages
    .map((pg) => pg.anon)
    .filter((an): an is number => an !== null && (owners.get(an)?.size ?? 0) > 1);
  return { ...v, shared };
}
