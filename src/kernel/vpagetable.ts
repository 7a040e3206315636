/*
 * vpagetable.ts: virtual page tables (DragonFly's vkernel support:
 * VM_MAPTYPE_VPAGETABLE entries, vm_fault_vpagetable, and the
 * MADV_SETMAP / MADV_INVAL parts of vm_map_madvise).
 *
 * A VPAGETABLE entry maps a backing object (a shared file) whose own pages
 * hold a page table; the entry's master_pde is its root:
 *
 *   n = (va - start)/P + offset/P        the page index va would have
 *   master_pde --> level 1 --> level 2 --> level 3 --> level 4 --> data page
 *                  index (n >> (36 - 9k)) & 511 at level k
 *
 *   vpte_t: 64 bits, little-endian, 512 to a 4 KiB table page;
 *     V valid, RW writable, U user, A accessed, M modified, PS the walk
 *     stops here (the rest of n indexes pages from its frame), FRAME
 *     (bits 12..51) a byte offset into the backing object.
 *
 * The walk reads and writes the tables through the object's pager
 * (pgoGet): it sets A in every table entry it uses and M in the last on a
 * write. An invalid entry, or a write through one without RW, faults
 * (EFAULT). The real PTE is a cache of the walk's result: read-only
 * unless every entry allows writing and the last is already modified (so
 * the first write faults and sets M, as in DragonFly); a change of the
 * tables reaches it only through MADV_INVAL or MADV_SETMAP (pmap remove).
 */

import { uvmLoanBreakObject } from './loan.ts';
import {
  checkNoHoles,
  VM_MAPTYPE_VPAGETABLE,
  type VmMap,
  type VmMapEntry,
  vmMapClipRange,
  vmMapLock,
  vmMapLookupEntry,
  vmMapUnlock,
} from './map/index.ts';
import type { PagerError, UvmObject } from './object.ts';
import { NOPAGE, PG_CLEAN } from './page.ts';
import {
  type Frame,
  hex,
  PROT_ALL,
  PROT_NONE,
  PROT_WRITE,
  VPTE_A,
  VPTE_FRAME,
  VPTE_M,
  VPTE_PS,
  VPTE_RW,
  VPTE_V,
  vmerr,
} from './param.ts';
import type { Uvm } from './uvm.ts';

/** the page size the format is built on (512 eight-byte entries) */
export const VPTE_PAGE_SIZE = 4096;
/** index bits of n below the master entry (VPTE_FRAME_END - PAGE_SHIFT) */
const VSHIFT = 36;
/** index bits per level (VPTE_PAGE_BITS) */
const LEVEL_BITS = 9;

/** What a walk gives: the data page and the protection its entries allow. */
export interface VpteWalk {
  pg: Frame;
  prot: number;
}

/** the walk's result, reused by every walk (faults never nest) */
const walkResult: VpteWalk = { pg: 0 as Frame, prot: 0 };

/**
 * vpteFrame: vpte & VPTE_FRAME as a page index into the backing object
 * (in doubles: the frame has bits above 31).
 */
function vpteFrame(vpte: number): number {
  return Math.floor(vpte / VPTE_PAGE_SIZE) % (VPTE_FRAME / VPTE_PAGE_SIZE + 1);
}

/**
 * readVpte: the entry at byte `at` of physical memory (bits 0..51; the
 * format defines none above).
 */
function readVpte(bytes: Uint8Array, at: number): number {
  const lo =
    (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
  const hi = bytes[at + 4] | (bytes[at + 5] << 8) | ((bytes[at + 6] & 0x0f) << 16);
  return hi * 2 ** 32 + lo;
}

/** forbids: vpte refuses the access (invalid, or a write without RW). */
function forbids(vpte: number, write: boolean): boolean {
  return (vpte & VPTE_V) === 0 || (write && (vpte & VPTE_RW) === 0);
}

/**
 * vpagetableWalk: translate va in VPAGETABLE entry `entry` through its
 * virtual page table and get the data page (vm_fault_vpagetable, then the
 * object page it names).
 * => `access`: PROT_* bits of the fault; PROT_NONE for a wiring fault
 *    (as DragonFly's vm_fault_wire): validity only is checked, no bit set.
 * => the data page and the protection the walk allows (never more than
 *    PROT_ALL; no PROT_WRITE unless every entry has RW and the last is
 *    modified or this is a write); the result is reused by the next walk.
 * => EFAULT for an invalid entry or a write through one without RW;
 *    the pager's ENOMEM, EIO or SIGBUS (a table or page beyond the object);
 *    ENOMEM too when a table page lent out (a pipe's) finds no frame to be
 *    copied into before the walk marks it.
 * => sets VPTE_A in each table entry used, VPTE_M in the last on a write
 *    (each as it goes, as an MMU does: a walk failing further down keeps
 *    them); the table pages written are dirty.
 */
export function vpagetableWalk(
  uvm: Uvm,
  entry: VmMapEntry,
  va: number,
  access: number,
): VpteWalk | 'EFAULT' | PagerError {
  const obj = entry.object as UvmObject;
  const write = (access & PROT_WRITE) !== 0;
  const n = (va - entry.start + entry.offset) / VPTE_PAGE_SIZE;
  let vpte = entry.masterPde;
  let shift = VSHIFT;
  let rw = true;
  for (;;) {
    if (forbids(vpte, write)) return 'EFAULT';
    rw &&= (vpte & VPTE_RW) !== 0;
    if (vpte & VPTE_PS || shift === 0) break;
    shift -= LEVEL_BITS;
    const table = obj.pgoGet(vpteFrame(vpte));
    if (typeof table === 'string') return table;
    const off = (Math.floor(n / 2 ** shift) % 512) * 8;
    vpte = readVpte(uvm.pages.bytes, table * VPTE_PAGE_SIZE + off);
    const last = shift === 0 || (vpte & VPTE_PS) !== 0;
    if (access !== PROT_NONE && !forbids(vpte, write)) {
      const r = markUsed(uvm, obj, table, off, write && last);
      if (r !== 0) return r;
    }
  }
  const pg = obj.pgoGet(vpteFrame(vpte) + (n % 2 ** shift));
  if (typeof pg === 'string') return pg;
  walkResult.pg = pg;
  walkResult.prot = rw && (write || vpte & VPTE_M) ? PROT_ALL : PROT_ALL & ~PROT_WRITE;
  return walkResult;
}

/**
 * markUsed: set VPTE_A (and VPTE_M when `modified`) in the entry at byte
 * `off` of obj's table page pg; the page is dirty then. A page lent out
 * (a pipe's) is copied for obj first (the borrowers keep the old bytes).
 * => 0, or ENOMEM (nothing changed) when the copy finds no frame.
 */
function markUsed(
  uvm: Uvm,
  obj: UvmObject,
  pg: Frame,
  off: number,
  modified: boolean,
): 0 | 'ENOMEM' {
  const bits = VPTE_A | (modified ? VPTE_M : 0);
  const pm = uvm.pages;
  if ((pm.bytes[pg * VPTE_PAGE_SIZE + off] & bits) === bits) return 0;
  if (pm.loanCount(pg) > 0) pg = uvmLoanBreakObject(uvm, obj, pm.offset[pg]);
  if (pg === NOPAGE) return 'ENOMEM';
  pm.bytes[pg * VPTE_PAGE_SIZE + off] |= bits;
  pm.flags[pg] &= ~PG_CLEAN;
  return 0;
}

/**
 * checkMadvise: [start, end) is mapped without holes (ENOMEM), by entries
 * none of which is wired (EINVAL), all VPAGETABLE ones when `vpagetable`
 * (EINVAL); the errors name vm_map_madvise.
 */
function checkMadvise(map: VmMap, start: number, end: number, vpagetable: boolean): void {
  checkNoHoles(map, start, end, 'vm_map_madvise');
  for (let e = vmMapLookupEntry(map, start); e !== map.header && e.start < end; e = e.next) {
    if (vpagetable && e.maptype !== VM_MAPTYPE_VPAGETABLE)
      throw vmerr(
        'EINVAL',
        'vm_map_madvise',
        'addr',
        `${hex(e.start)} is not governed by a virtual page table`,
      );
    if (e.wiredCount > 0)
      throw vmerr('EINVAL', 'vm_map_madvise', 'addr', `${hex(e.start)} is locked memory`);
  }
}

/**
 * vmMapSetmap: set the master page directory entry of [start, end) to
 * `vpte` (vm_map_madvise's MADV_SETMAP), clipping the entries to the
 * range, and drop the range's translations (they followed the old root).
 * => [start, end) mapped without holes (ENOMEM) by VPAGETABLE entries,
 *    none wired, and vpte a non-negative safe integer; EINVAL otherwise.
 *    A failure changes nothing.
 */
export function vmMapSetmap(map: VmMap, start: number, end: number, vpte: number): void {
  if (!Number.isSafeInteger(vpte) || vpte < 0)
    throw vmerr('EINVAL', 'vm_map_madvise', 'value', `${vpte} is not a page table entry`);
  vmMapLock(map);
  try {
    checkMadvise(map, start, end, true);
    for (let e = vmMapClipRange(map, start, end, 0); e !== map.header && e.start < end; e = e.next)
      e.masterPde = vpte;
    map.pmap.remove(start, end);
  } finally {
    vmMapUnlock(map);
  }
}

/**
 * vmMapInval: the virtual page tables behind [start, end) changed: drop
 * the range's translations, so the next access walks the tables again
 * (vm_map_madvise's MADV_INVAL: any entry, as DragonFly's).
 * => [start, end) mapped without holes (ENOMEM), none of it wired
 *    (EINVAL: a wired translation must stay); a failure changes nothing.
 */
export function vmMapInval(map: VmMap, start: number, end: number): void {
  vmMapLock(map);
  try {
    checkMadvise(map, start, end, false);
    map.pmap.remove(start, end);
  } finally {
    vmMapUnlock(map);
  }
}
