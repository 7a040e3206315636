/*
 * hist.ts: the kernel's event stream, as NetBSD's UVMHIST: what each layer
 * did, as typed events, for whoever listens (a trace, the explorer).
 *
 *   uvm.hist   null while nobody listens; each emit point reads
 *                uvm.hist?.emit({ type: ..., ... })
 *              which builds no event when it is null: a kernel with no
 *              subscriber pays one field test (the pmaps read the same
 *              object as uvm.pv.hist)
 *
 *   histSubscribe(uvm, fn)   fn gets every event; returns the unsubscribe
 *                            (the last one sets uvm.hist back to null)
 *   histRecord(uvm, fn)      the events while fn runs
 *
 * The events (docs/events.md says each):
 *   fault        fault-path   fault-done                      (fault.ts)
 *   amap-alloc   amap-copy    amap-takeover  amap-extend
 *   amap-splitref  amap-free                                  (amap.ts)
 *   anon-alloc   anon-free                                    (anon.ts)
 *   page-alloc   page-free    page-activate  page-deactivate  (page.ts)
 *   pageout      pagein       (swap slot, or a file)           (pdaemon, anon, objects)
 *   pmap-enter   pmap-remove  pmap-protect                    (pmap.ts)
 *   map-insert   map-clip     map-merge      map-delete       (map/)
 *   pdaemon-scan                                              (pdaemon.ts)
 *
 * Addresses are numbers, access and prot PROT_* bits; `pmap` names the
 * address space (its pmap id, which the map's events carry too); frames,
 * anons, amaps, swap slots and objects are their ids (0: none). Nothing
 * here builds a string: tools/trace.ts formats events.
 */
import type { Uvm } from './uvm.ts';

/** how a fault was resolved */
export type FaultPath =
  /** an anon covered the address: its page (paged in if need be) was mapped */
  | 'upper'
  /** a write to an anon others share: copied into a new anon (copy-on-write) */
  | 'cow-promote'
  /** the object's page was mapped (read-only in a private entry) */
  | 'lower'
  /** a write to a private file page: copied into a new anon */
  | 'copy-promote'
  /** no anon, no object page: a new zeroed anon */
  | 'zero-fill';

/** One kernel event. */
export type HistEvent =
  | { type: 'fault'; pmap: number; va: number; access: number; wire: boolean }
  | { type: 'fault-path'; va: number; path: FaultPath; anon: number; frame: number }
  | { type: 'fault-done'; va: number; result: string }
  | { type: 'amap-alloc'; amap: number; slots: number }
  | { type: 'amap-copy'; amap: number; from: number; slots: number }
  | { type: 'amap-takeover'; amap: number }
  | { type: 'amap-extend'; amap: number; slots: number; forwards: boolean }
  | { type: 'amap-splitref'; amap: number; slot: number }
  | { type: 'amap-free'; amap: number }
  | { type: 'anon-alloc'; anon: number }
  | { type: 'anon-free'; anon: number }
  | { type: 'page-alloc'; frame: number; anon: number; object: number }
  | { type: 'page-free'; frame: number }
  | { type: 'page-activate'; frame: number }
  | { type: 'page-deactivate'; frame: number }
  | { type: 'pageout'; frame: number; anon: number; object: number; slot: number }
  | { type: 'pagein'; frame: number; anon: number; object: number; slot: number }
  | { type: 'pmap-enter'; pmap: number; va: number; frame: number; prot: number }
  | { type: 'pmap-remove'; pmap: number; start: number; end: number }
  | { type: 'pmap-protect'; pmap: number; start: number; end: number; prot: number }
  | { type: 'map-insert'; pmap: number; start: number; end: number }
  | { type: 'map-clip'; pmap: number; start: number; end: number; at: number }
  | { type: 'map-merge'; pmap: number; start: number; end: number }
  | { type: 'map-delete'; pmap: number; start: number; end: number }
  | { type: 'pdaemon-scan'; free: number; target: number; scanned: number; freed: number };

/** the event type names, in the order above */
export type HistEventType = HistEvent['type'];

/** A listener of the kernel's events. */
export type HistListener = (e: HistEvent) => void;

/** The subscribers of one kernel (uvm.hist while there is one). */
export class UvmHist {
  readonly listeners: HistListener[] = [];

  /** emit: hand `e` to every subscriber. */
  emit(e: HistEvent): void {
    for (const fn of this.listeners) fn(e);
  }
}

/**
 * histSubscribe: make `fn` get every event of `uvm` from now on.
 * => returns the function that unsubscribes it; once none is left,
 *    uvm.hist is null again and the kernel emits nothing.
 */
export function histSubscribe(uvm: Uvm, fn: HistListener): () => void {
  const hist = uvm.hist ?? new UvmHist();
  uvm.hist = uvm.pv.hist = hist;
  hist.listeners.push(fn);
  return () => {
    const i = hist.listeners.indexOf(fn);
    if (i >= 0) hist.listeners.splice(i, 1);
    if (hist.listeners.length === 0 && uvm.hist === hist) uvm.hist = uvm.pv.hist = null;
  };
}

/**
 * histRecord: run fn with a subscriber on `uvm`, removed afterwards
 * (even when fn throws) => the events fn made the kernel emit.
 */
export function histRecord(uvm: Uvm, fn: () => void): HistEvent[] {
  const events: HistEvent[] = [];
  const off = histSubscribe(uvm, (e) => events.push(e));
  try {
    fn();
  } finally {
    off();
  }
  return events;
}
