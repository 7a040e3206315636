/*
 * The address map (uvm_map.c, seed 001 vm_map.h), in rooms:
 *
 *   entry.ts    the map entry, its flags and the map's constants
 *   lookup.ts   finding entries and free space; the entry list and tree
 *   map.ts      the map, its locks, the fault's lookup, insert, clip, delete
 *   merge.ts    the one rule by which neighbours become one entry
 *   attrs.ts    protection, inheritance, advice
 *   wire.ts     wiring (mlock, the kernel's)
 *   stack.ts    stacks, submaps, moving entries (mremap)
 *   fork.ts     a child map by inheritance
 *   audit.ts    the map's invariants
 *
 * This module is the map's public surface; what the rooms share among
 * themselves (link, clipRange, ...) stays in them.
 */

export {
  vmMapCheckProtection,
  vmMapInherit,
  vmMapMadvise,
  vmMapMadviseFlags,
  vmMapProtect,
} from './attrs.ts';
export { auditAmapRefs, auditMap } from './audit.ts';
export * from './entry.ts';
export { vmMapFork, vmMapForkCheck } from './fork.ts';
export { entryContains, vmMapFindspace, vmMapHint, vmMapLookupEntry } from './lookup.ts';
export {
  allows,
  checkNoHoles,
  type MapLookup,
  newMapLookup,
  VmMap,
  vmMapClipEnd,
  vmMapClipRange,
  vmMapClipStart,
  vmMapCreate,
  vmMapDeallocate,
  vmMapDelete,
  vmMapEntryAllocateObject,
  vmMapFind,
  vmMapInsert,
  vmMapLock,
  vmMapLockDowngrade,
  vmMapLockRead,
  vmMapLockReadTo,
  vmMapLockReadTry,
  vmMapLockUpgrade,
  vmMapLookup,
  vmMapLookupDone,
  vmMapRemove,
  vmMapUnlock,
  vmMapUnlockRead,
} from './map.ts';
export { vmMapSimplifyEntry } from './merge.ts';
export {
  type StackAccount,
  type StackGrowth,
  vmMapCanGrowstack,
  vmMapGrowstack,
  vmMapMove,
  vmMapStack,
  vmMapSubmap,
} from './stack.ts';
export {
  vmMapFaultWired,
  vmMapKernelUnwire,
  vmMapKernelWire,
  vmMapSetWiredQuick,
  vmMapTransitionWait,
  vmMapUnwire,
  vmMapUserUnwire,
  vmMapUserWire,
  vmMapUserWireAll,
  vmMapWire,
} from './wire.ts';
