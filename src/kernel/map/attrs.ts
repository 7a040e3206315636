/*
 * attrs.ts: an entry's protection, inheritance and advice over a range
 * (vm_map_protect, vm_map_inherit, vm_map_madvise), and
 * vm_map_check_protection.
 */
import {
  hex,
  MAP_ENTRY_BEHAV_MASK,
  MAP_ENTRY_COW,
  MAP_ENTRY_NOCOREDUMP,
  MAP_ENTRY_NOSYNC,
  MAP_INHERIT_COPY,
  MAP_INHERIT_NONE,
  MAP_INHERIT_SHARE,
  PROT_ALL,
  PROT_WRITE,
  vmerr,
} from '../param.ts';

import { VM_MAPTYPE_SUBMAP, type VmMapEntry } from './entry.ts';
import { entryContains, vmMapLookupEntry } from './lookup.ts';
import {
  checkNoHoles,
  checkRange,
  clipRange,
  type VmMap,
  vmMapLock,
  vmMapLockRead,
  vmMapUnlock,
  vmMapUnlockRead,
} from './map.ts';
import { vmMapSimplifyEntry } from './merge.ts';

/** pmapMask: what a COW entry's pages may be mapped with (UVM's MASK). */
function pmapMask(e: VmMapEntry): number {
  return e.eflags & MAP_ENTRY_COW ? ~PROT_WRITE : PROT_ALL;
}

/**
 * vmMapProtect: set the protection of [start, end) to `prot`, or with
 * setMax its maximum protection (vm_map_protect).
 * => the range must be mapped without holes (ENOMEM), hold no submap
 *    (EINVAL), and prot must not exceed any entry's maximum (EACCES).
 *    All checks come first: a failure changes nothing.
 * => lowering the maximum lowers the protection with it; translations are
 *    lowered at once (COW entries stay read-only in the pmap).
 */
export function vmMapProtect(
  map: VmMap,
  start: number,
  end: number,
  prot: number,
  setMax: boolean,
): void {
  checkRange(map, start, end, 'vm_map_protect');
  if (!Number.isInteger(prot) || (prot & ~PROT_ALL) !== 0)
    throw vmerr('EINVAL', 'vm_map_protect', 'prot', `${prot} is not a set of PROT_* bits`);
  vmMapLock(map);
  try {
    checkNoHoles(map, start, end, 'vm_map_protect');
    for (let e = vmMapLookupEntry(map, start); e !== map.header && e.start < end; e = e.next) {
      if (e.maptype === VM_MAPTYPE_SUBMAP)
        throw vmerr('EINVAL', 'vm_map_protect', 'addr', 'the range holds a submap');
      if (!setMax && (prot & e.maxProtection) !== prot)
        throw vmerr(
          'EACCES',
          'vm_map_protect',
          'prot',
          `${prot} exceeds the maximum ${e.maxProtection} at ${hex(e.start)}`,
        );
    }
    forEachClipped(map, start, end, (e) => {
      const old = e.protection;
      if (setMax) {
        e.maxProtection = prot;
        e.protection &= prot;
      } else e.protection = prot;
      if (e.protection !== old) map.pmap.protect(e.start, e.end, e.protection & pmapMask(e));
    });
  } finally {
    vmMapUnlock(map);
  }
}

/**
 * forEachClipped: clip to [start, end), apply `fn` to each entry inside,
 * then merge what can be merged.
 */
export function forEachClipped(
  map: VmMap,
  start: number,
  end: number,
  fn: (e: VmMapEntry) => void,
): void {
  for (let e = clipRange(map, start, end); e !== map.header && e.start < end; e = e.next) fn(e);
  simplifyRange(map, start, end);
}

/**
 * simplifyRange: merge every entry touching [start, end] with its
 * neighbours, following the survivor of each merge so chains collapse.
 */
export function simplifyRange(map: VmMap, start: number, end: number): void {
  let e = vmMapLookupEntry(map, start);
  if (e === map.header) e = e.next;
  while (e !== map.header && e.start <= end) e = vmMapSimplifyEntry(map, e).next;
}

/**
 * vmMapInherit: set the inheritance of [start, end) (vm_map_inherit).
 * => MAP_INHERIT_SHARE, _COPY or _NONE; EINVAL otherwise. Holes are skipped.
 */
export function vmMapInherit(map: VmMap, start: number, end: number, inherit: number): void {
  checkRange(map, start, end, 'vm_map_inherit');
  if (inherit !== MAP_INHERIT_SHARE && inherit !== MAP_INHERIT_COPY && inherit !== MAP_INHERIT_NONE)
    throw vmerr(
      'EINVAL',
      'vm_map_inherit',
      'inherit',
      `${inherit} is not MAP_INHERIT_SHARE, _COPY or _NONE`,
    );
  vmMapLock(map);
  try {
    forEachClipped(map, start, end, (e) => {
      e.inheritance = inherit;
    });
  } finally {
    vmMapUnlock(map);
  }
}

/**
 * vmMapMadvise: set the behaviour bits of [start, end) (vm_map_madvise's
 * MADV_NORMAL / _SEQUENTIAL / _RANDOM part; advice that acts on pages
 * lives with the address space).
 * => behav is MAP_ENTRY_BEHAV_NORMAL, _SEQUENTIAL or _RANDOM.
 */
export function vmMapMadvise(map: VmMap, start: number, end: number, behav: number): void {
  checkRange(map, start, end, 'vm_map_madvise');
  if ((behav & ~MAP_ENTRY_BEHAV_MASK) !== 0 || behav === MAP_ENTRY_BEHAV_MASK)
    throw vmerr('EINVAL', 'vm_map_madvise', 'behav', `${behav} is not a behaviour`);
  vmMapLock(map);
  try {
    forEachClipped(map, start, end, (e) => e.setBehavior(behav));
  } finally {
    vmMapUnlock(map);
  }
}

/**
 * vmMapMadviseFlags: set or clear entry flags over [start, end)
 * (vm_map_madvise's MADV_NOSYNC / _AUTOSYNC / _NOCORE / _CORE part).
 * => flags is MAP_ENTRY_NOSYNC and/or MAP_ENTRY_NOCOREDUMP (EINVAL
 *    otherwise); holes are skipped; entries merge back once they agree.
 */
export function vmMapMadviseFlags(
  map: VmMap,
  start: number,
  end: number,
  flags: number,
  set: boolean,
): void {
  checkRange(map, start, end, 'vm_map_madvise');
  if (flags === 0 || (flags & ~(MAP_ENTRY_NOSYNC | MAP_ENTRY_NOCOREDUMP)) !== 0)
    throw vmerr('EINVAL', 'vm_map_madvise', 'flags', `${flags} is not NOSYNC or NOCOREDUMP`);
  vmMapLock(map);
  try {
    forEachClipped(map, start, end, (e) => {
      e.eflags = set ? e.eflags | flags : e.eflags & ~flags;
    });
  } finally {
    vmMapUnlock(map);
  }
}

/**
 * vmMapCheckProtection: true if [start, end) is mapped without holes and
 * every entry allows `prot` (vm_map_check_protection).
 * => haveLock: the caller holds the map lock already.
 */
export function vmMapCheckProtection(
  map: VmMap,
  start: number,
  end: number,
  prot: number,
  haveLock: boolean,
): boolean {
  if (!haveLock) vmMapLockRead(map);
  try {
    let e = vmMapLookupEntry(map, start);
    if (!entryContains(map, e, start)) return false;
    for (;;) {
      if ((e.protection & prot) !== prot) return false;
      if (e.end >= end) return true;
      if (e.next === map.header || e.next.start !== e.end) return false;
      e = e.next;
    }
  } finally {
    if (!haveLock) vmMapUnlockRead(map);
  }
}
