/*
 * trace.ts: the kernel's events (kernel/hist.ts) for people: one line per
 * event, as `uvm run --trace` prints them under each step and the
 * explorer lists them.
 *
 *   fault pmap=1 va=0x7effffffc000 access=-w- wire=false
 *   fault-path va=0x7effffffc000 path=zero-fill anon=1 frame=0
 */
import type { HistEvent } from '../kernel/hist.ts';
import { hex } from '../kernel/param.ts';
import { protString } from './dump.ts';

/** fields shown in hex (addresses) and as rwx (PROT_* bits) */
const HEX_FIELDS = new Set(['va', 'start', 'end', 'at']);
const PROT_FIELDS = new Set(['access', 'prot']);

/**
 * formatEvent: one event on one line: its type, then its fields as
 * name=value (addresses in hex, protections as rwx).
 */
export function formatEvent(e: HistEvent): string {
  const fields = Object.entries(e)
    .filter(([k]) => k !== 'type')
    .map(([k, v]) => `${k}=${fieldText(k, v)}`);
  return [e.type, ...fields].join(' ');
}

function fieldText(name: string, v: unknown): string {
  if (typeof v !== 'number') return String(v);
  if (HEX_FIELDS.has(name)) return hex(v);
  return PROT_FIELDS.has(name) ? protString(v) : String(v);
}
