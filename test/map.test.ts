import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { amapLock, amapLookup, amapUnlock } from '../src/kernel/amap.ts';
import {
  auditAmapRefs,
  auditMap,
  entryContains,
  MAP_CLIP_NO_HOLES,
  MAP_COPY_ON_WRITE,
  MAP_DISABLE_COREDUMP,
  MAP_DISABLE_SYNCER,
  MAP_IS_KSTACK,
  MAP_NOFAULT,
  MAP_OVERLAY,
  MAP_PREFAULT,
  MAP_PREFAULT_PARTIAL,
  newMapLookup,
  VM_FAULT_USER_WIRE,
  VM_MAPTYPE_SUBMAP,
  type VmMap,
  vmMapCheckProtection,
  vmMapClipEnd,
  vmMapClipRange,
  vmMapClipStart,
  vmMapCreate,
  vmMapEntryAllocateObject,
  vmMapFind,
  vmMapFindspace,
  vmMapGrowstack,
  vmMapHint,
  vmMapInherit,
  vmMapInsert,
  vmMapLock,
  vmMapLockDowngrade,
  vmMapLockRead,
  vmMapLockReadTo,
  vmMapLockReadTry,
  vmMapLockUpgrade,
  vmMapLookup,
  vmMapLookupDone,
  vmMapLookupEntry,
  vmMapMadvise,
  vmMapProtect,
  vmMapRemove,
  vmMapSetWiredQuick,
  vmMapSimplifyEntry,
  vmMapStack,
  vmMapSubmap,
  vmMapTransitionWait,
  vmMapUnlock,
  vmMapUnlockRead,
  vmMapUnwire,
  vmMapWire,
} from '../src/kernel/map/index.ts';
import { UvmObject } from '../src/kernel/object.ts';
import {
  KernelPanic,
  MAP_ENTRY_BEHAV_RANDOM,
  MAP_ENTRY_BEHAV_SEQUENTIAL,
  MAP_ENTRY_COW,
  MAP_ENTRY_IN_TRANSITION,
  MAP_ENTRY_KSTACK,
  MAP_ENTRY_NEEDS_COPY,
  MAP_ENTRY_NOCOREDUMP,
  MAP_ENTRY_NOFAULT,
  MAP_ENTRY_NOSYNC,
  MAP_ENTRY_STACK,
  MAP_ENTRY_USER_WIRED,
  MAP_INHERIT_NONE,
  MAP_INHERIT_SHARE,
  PROT_ALL,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  UVM_AMAP_CHUNK,
  UVM_AMAP_LARGE,
} from '../src/kernel/param.ts';
import { Pmap } from '../src/kernel/pmap.ts';
import { mapDump } from '../src/tools/dump.ts';
import { auditAll, put, smallUvm, throwsVm } from './helpers.ts';

const PS = 4096;
const RW = PROT_READ | PROT_WRITE;
const BASE = 0x100000;

function newMap(uvm = smallUvm()): VmMap {
  return vmMapCreate(uvm, new Pmap(uvm.pv, uvm.pageSize), 0x10000, 0x7ffffffff000);
}

/** at: an address `pages` pages above BASE. */
const at = (pages: number) => BASE + pages * PS;

function check(map: VmMap): void {
  auditMap(map);
  auditAll(map.uvm);
  auditAmapRefs(map.uvm, true);
}

const lookupOut = newMapLookup;

describe('vm_map_insert and friends', () => {
  it("turns the seed's insert flags into entry flags", () => {
    const map = newMap();
    const cases: [number, number][] = [
      [MAP_COPY_ON_WRITE, MAP_ENTRY_COW | MAP_ENTRY_NEEDS_COPY],
      [MAP_NOFAULT, MAP_ENTRY_NOFAULT],
      [MAP_DISABLE_SYNCER, MAP_ENTRY_NOSYNC],
      [MAP_DISABLE_COREDUMP, MAP_ENTRY_NOCOREDUMP],
      [MAP_IS_KSTACK, MAP_ENTRY_KSTACK],
    ];
    cases.forEach(([cow, flags], i) => {
      const e = vmMapInsert(map, null, 0, at(i * 4), at(i * 4 + 1), RW, PROT_ALL, cow);
      assert.equal(e.eflags, flags);
    });
    assert.equal(map.nentries, 5);
    assert.equal(map.size, 5 * PS);
    check(map);
  });

  it('MAP_OVERLAY gives the entry its amap at once; allocateObject does it later', () => {
    const map = newMap();
    const a = vmMapInsert(map, null, 0, at(0), at(4), RW, PROT_ALL, MAP_OVERLAY);
    assert.equal(a.aref.amap?.nslot, 4);
    const b = vmMapInsert(map, null, 0, at(8), at(10), RW, PROT_ALL, 0);
    assert.equal(b.aref.amap, null);
    vmMapEntryAllocateObject(map, b);
    assert.equal((b.aref.amap as { nslot: number } | null)?.nslot, 2);
    check(map);
  });

  it('calls the prefault hook for MAP_PREFAULT and MAP_PREFAULT_PARTIAL', () => {
    const map = newMap();
    const calls: [number, number, number][] = [];
    map.hooks = {
      ...map.hooks,
      prefault: (_m, e, s, t, limit) => calls.push([e.start, t - s, limit]),
    };
    vmMapInsert(map, null, 0, at(0), at(1), RW, PROT_ALL, MAP_PREFAULT);
    vmMapInsert(map, null, 0, at(4), at(5), RW, PROT_ALL, MAP_PREFAULT_PARTIAL);
    vmMapInsert(map, null, 0, at(8), at(9), RW, PROT_ALL, 0);
    assert.deepEqual(calls, [
      [at(0), PS, MAP_PREFAULT],
      [at(4), PS, MAP_PREFAULT_PARTIAL],
    ]);
  });

  it('merges a new entry with compatible neighbours, and not with others', () => {
    const map = newMap();
    vmMapInsert(map, null, 0, at(0), at(2), RW, PROT_ALL, MAP_COPY_ON_WRITE);
    vmMapInsert(map, null, 0, at(4), at(6), RW, PROT_ALL, MAP_COPY_ON_WRITE);
    const mid = vmMapInsert(map, null, 0, at(2), at(4), RW, PROT_ALL, MAP_COPY_ON_WRITE);
    assert.equal(map.nentries, 1);
    assert.equal(mid.start, at(0));
    assert.equal(mid.end, at(6));
    vmMapInsert(map, null, 0, at(6), at(7), PROT_READ, PROT_ALL, MAP_COPY_ON_WRITE);
    assert.equal(map.nentries, 2, 'a different protection keeps entries apart');
    check(map);
  });

  it('vm_map_find places mappings first-fit (bottom-up) or from the top, aligned', () => {
    const map = newMap();
    const a = vmMapFind(map, null, 0, BASE, 2 * PS, 0, true, RW, PROT_ALL, 0);
    assert.equal(a, BASE);
    const b = vmMapFind(map, null, 0, BASE, 2 * PS, 0x10000, true, PROT_READ, PROT_ALL, 0);
    assert.equal(b, 0x110000, 'aligned to 64 KiB above the first mapping');
    map.topdown = true;
    const c = vmMapFind(map, null, 0, 0, 3 * PS, 0, true, RW, PROT_ALL, 0);
    assert.equal(c, 0x7ffffffff000 - 3 * PS);
    map.mmapBase = 0x7f0000000000;
    assert.equal(vmMapHint(map, 0), 0x7f0000000000);
    assert.equal(vmMapFindspace(map, vmMapHint(map, 0), PS, 0, true), 0x7f0000000000 - PS);
    check(map);
  });

  it('refuses bad ranges, protection above max, overlaps and full maps, changing nothing', () => {
    const uvm = smallUvm();
    const map = vmMapCreate(uvm, new Pmap(uvm.pv, PS), 0x10000, 0x20000);
    vmMapInsert(map, null, 0, 0x14000, 0x16000, RW, PROT_ALL, 0);
    const before = mapDump(map).join('\n');
    throwsVm(() => vmMapInsert(map, null, 0, 0x17001, 0x18000, RW, PROT_ALL, 0), 'EINVAL', 'start');
    throwsVm(() => vmMapInsert(map, null, 0, 0x17000, 0x17800, RW, PROT_ALL, 0), 'EINVAL', 'end');
    throwsVm(() => vmMapInsert(map, null, 0, 0x18000, 0x17000, RW, PROT_ALL, 0), 'EINVAL', 'end');
    throwsVm(() => vmMapInsert(map, null, 0, 0x18000, 0x18000, RW, PROT_ALL, 0), 'EINVAL', 'end');
    throwsVm(() => vmMapInsert(map, null, 0, 0x1f000, 0x21000, RW, PROT_ALL, 0), 'ENOMEM', 'start');
    throwsVm(() => vmMapInsert(map, null, 0, 0x17000, 0x18000, RW, PROT_READ, 0), 'EACCES', 'prot');
    throwsVm(() => vmMapInsert(map, null, 0, 0x15000, 0x17000, RW, PROT_ALL, 0), 'EEXIST', 'start');
    throwsVm(() => vmMapInsert(map, null, 0, 0x13000, 0x18000, RW, PROT_ALL, 0), 'EEXIST', 'start');
    throwsVm(
      () => vmMapFind(map, null, 0, 0, 0x10000, 0, true, RW, PROT_ALL, 0),
      'ENOMEM',
      'length',
    );
    throwsVm(() => vmMapFind(map, null, 0, 0, 100, 0, true, RW, PROT_ALL, 0), 'EINVAL', 'length');
    assert.equal(mapDump(map).join('\n'), before);
    check(map);
  });
});

describe('vm_map_lookup_entry', () => {
  it('finds the entry containing an address, else the one before, using the hint', () => {
    const map = newMap();
    const a = vmMapInsert(map, null, 0, at(0), at(2), RW, PROT_ALL, 0);
    const b = vmMapInsert(map, null, 0, at(4), at(6), PROT_READ, PROT_ALL, 0);
    assert.equal(vmMapLookupEntry(map, at(1)), a);
    assert.equal(map.hint, a);
    const gap = vmMapLookupEntry(map, at(3));
    assert.equal(gap, a);
    assert.equal(entryContains(map, gap, at(3)), false);
    assert.equal(vmMapLookupEntry(map, at(5)), b, 'hint.next path');
    assert.equal(vmMapLookupEntry(map, BASE - PS), map.header);
    assert.equal(vmMapLookupEntry(map, at(100)), b);
  });
});

describe('clipping', () => {
  it('keeps every anon reachable at the same virtual address', () => {
    const map = newMap();
    const e = vmMapInsert(map, null, 0, at(0), at(8), RW, PROT_ALL, MAP_OVERLAY);
    const anons = [0, 3, 4, 7].map((p) => put(map.uvm, e.aref, p, p + 1));
    vmMapLock(map);
    vmMapClipStart(map, e, at(3));
    vmMapClipEnd(map, e, at(5));
    vmMapUnlock(map);
    assert.equal(map.nentries, 3);
    const pages = [0, 3, 4, 7];
    pages.forEach((p, i) => {
      const entry = vmMapLookupEntry(map, at(p));
      const amap = entry.aref.amap!;
      amapLock(amap);
      assert.equal(amapLookup(map.uvm, entry.aref, at(p) - entry.start), anons[i], `page ${p}`);
      amapUnlock(amap);
    });
    assert.equal(e.aref.amap!.ref, 3);
    check(map);
  });

  it('moves object offsets with the clip', () => {
    const map = newMap();
    const obj = new UvmObject(map.uvm, 16 * PS, 'test');
    const e = vmMapInsert(map, obj, 2 * PS, at(0), at(8), PROT_READ, PROT_ALL, MAP_COPY_ON_WRITE);
    obj.refs--; /* the map's reference is the only one we want counted */
    vmMapLock(map);
    vmMapClipStart(map, e, at(3));
    vmMapUnlock(map);
    assert.equal(e.offset, 5 * PS);
    assert.equal(e.prev.offset, 2 * PS);
    assert.equal(obj.refs, 2, 'each half references the object');
    vmMapRemove(map, at(0), at(8));
    assert.equal(map.uvm.objects.has(obj.id), false, 'the last reference freed it');
  });
});

describe('merging (vm_map_simplify_entry, uvm_mapent_trymerge)', () => {
  it('rejoins the windows of one amap after a protection round trip', () => {
    const map = newMap();
    const e = vmMapInsert(map, null, 0, at(0), at(8), RW, PROT_ALL, MAP_OVERLAY);
    put(map.uvm, e.aref, 5, 9);
    vmMapProtect(map, at(2), at(3), PROT_READ, false);
    assert.equal(map.nentries, 3);
    assert.equal(e.aref.amap!.ref, 3);
    vmMapProtect(map, at(2), at(3), RW, false);
    assert.equal(map.nentries, 1);
    const back = vmMapLookupEntry(map, at(0));
    assert.equal(back.end, at(8));
    assert.equal(back.aref.amap!.ref, 1);
    check(map);
  });

  it('extends the one amap of two neighbours, and refuses when both have amaps', () => {
    const map = newMap();
    const a = vmMapInsert(map, null, 0, at(0), at(2), RW, PROT_ALL, MAP_OVERLAY);
    put(map.uvm, a.aref, 1, 7);
    const b = vmMapInsert(map, null, 0, at(2), at(4), RW, PROT_ALL, 0);
    assert.equal(b, a, 'the amap-less entry merged into the amap one');
    assert.equal(a.end, at(4));
    assert.equal(a.aref.amap!.nslot >= 4, true);
    vmMapInsert(map, null, 0, at(4), at(6), RW, PROT_ALL, MAP_OVERLAY);
    assert.equal(map.nentries, 2, 'two amaps do not merge');
    check(map);
  });

  it('amap_copy chunking: a write fault in a large amap-less entry clips it to the 16-page chunk', () => {
    const map = newMap();
    vmMapInsert(map, null, 0, at(0), at(4), PROT_READ, PROT_ALL, 0);
    vmMapInsert(map, null, 0, at(4), at(4 + UVM_AMAP_LARGE), RW, PROT_ALL, MAP_COPY_ON_WRITE);
    vmMapInsert(map, null, 0, at(260), at(264), PROT_READ, PROT_ALL, 0);
    const va = at(37);
    const out = lookupOut();
    assert.equal(vmMapLookup(map, va, PROT_WRITE, out), 0);
    vmMapLookupDone(out);
    const chunk = UVM_AMAP_CHUNK * PS;
    assert.equal(out.entry.start, Math.floor(va / chunk) * chunk);
    assert.equal(out.entry.end, out.entry.start + chunk);
    assert.equal(out.entry.aref.amap?.nslot, UVM_AMAP_CHUNK);
    assert.equal(out.needsCopy, false);
    assert.deepEqual(
      mapDump(map).map((l) => l.split(' ').slice(0, 2).join(' ')),
      [
        '0x100000-0x104000 r--/rwx',
        '0x104000-0x120000 rw-/rwx',
        `0x120000-0x130000 rw-/rwx`,
        '0x130000-0x204000 rw-/rwx',
        '0x204000-0x208000 r--/rwx',
      ],
      'the neighbours are intact',
    );
    check(map);
  });

  it('vm_map_lookup_done compares the timestamp the lookup saw: a change under the read lock is a panic', () => {
    const map = newMap();
    vmMapInsert(map, null, 0, at(0), at(4), RW, PROT_ALL, 0);
    const out = lookupOut();
    assert.equal(vmMapLookup(map, at(1), PROT_READ, out), 0);
    assert.equal(out.timestamp, map.timestamp);
    map.timestamp++;
    assert.throws(() => vmMapLookupDone(out), /the map changed under its read lock/);
  });

  it('amap_copy does not chunk an entry smaller than UVM_AMAP_LARGE pages', () => {
    const map = newMap();
    vmMapInsert(map, null, 0, at(0), at(UVM_AMAP_LARGE - 1), RW, PROT_ALL, MAP_COPY_ON_WRITE);
    const out = lookupOut();
    assert.equal(vmMapLookup(map, at(100), PROT_WRITE, out), 0);
    vmMapLookupDone(out);
    assert.equal(map.nentries, 1);
    assert.equal(out.entry.aref.amap?.nslot, UVM_AMAP_LARGE - 1);
    check(map);
  });

  it('amap_copy merges a faulting chunk into the neighbour that owns its amap', () => {
    const map = newMap();
    vmMapInsert(map, null, 0, at(0), at(4 * UVM_AMAP_LARGE), RW, PROT_ALL, MAP_COPY_ON_WRITE);
    const out = lookupOut();
    vmMapLookup(map, at(1), PROT_WRITE, out);
    vmMapLookupDone(out);
    const firstAmap = out.entry.aref.amap;
    assert.equal(out.entry.end, at(16));
    vmMapLookup(map, at(17), PROT_WRITE, out);
    vmMapLookupDone(out);
    assert.equal(
      out.entry.aref.amap,
      firstAmap,
      'the second chunk joined the first amap (amap_extend forwards)',
    );
    assert.equal(out.entry.start, at(0), 'the faulting entry absorbed its neighbour, as in UVM');
    assert.equal(out.entry.end, at(32));
    assert.equal(firstAmap!.nslot, 32);
    assert.equal(map.nentries, 2);
    check(map);
  });
});

describe('delete, protect, inherit, madvise', () => {
  it('a partial unmap drops only its pages (ppref)', () => {
    const map = newMap();
    const e = vmMapInsert(map, null, 0, at(0), at(6), RW, PROT_ALL, MAP_OVERLAY);
    for (let p = 0; p < 6; p++) put(map.uvm, e.aref, p, p + 1);
    vmMapRemove(map, at(2), at(4));
    assert.equal(map.uvm.anons.nlive, 4);
    assert.equal(map.nentries, 2);
    vmMapRemove(map, at(0), at(100));
    assert.equal(map.uvm.anons.nlive, 0);
    assert.equal(map.uvm.amaps.size, 0);
    vmMapRemove(map, at(0), at(100)); /* a hole: no error */
    check(map);
  });

  it('protect never goes above max; set-max lowers both; holes fail with ENOMEM', () => {
    const map = newMap();
    vmMapInsert(map, null, 0, at(0), at(4), PROT_READ, PROT_READ | PROT_WRITE, 0);
    vmMapInsert(map, null, 0, at(6), at(8), PROT_READ, PROT_ALL, 0);
    const before = mapDump(map).join('\n');
    throwsVm(() => vmMapProtect(map, at(0), at(4), PROT_ALL, false), 'EACCES', 'prot');
    throwsVm(() => vmMapProtect(map, at(0), at(8), PROT_READ, false), 'ENOMEM', 'len');
    throwsVm(() => vmMapProtect(map, at(5), at(6), PROT_READ, false), 'ENOMEM', 'addr');
    throwsVm(() => vmMapProtect(map, at(0), at(4), 8, false), 'EINVAL', 'prot');
    throwsVm(() => vmMapProtect(map, at(1) + 1, at(4), PROT_READ, false), 'EINVAL', 'start');
    assert.equal(mapDump(map).join('\n'), before);
    vmMapProtect(map, at(1), at(2), PROT_NONE, true);
    const e = vmMapLookupEntry(map, at(1));
    assert.equal(e.maxProtection, PROT_NONE);
    throwsVm(() => vmMapProtect(map, at(1), at(2), PROT_READ, false), 'EACCES', 'prot');
    check(map);
  });

  it('inherit and madvise clip, set, and merge back', () => {
    const map = newMap();
    vmMapInsert(map, null, 0, at(0), at(8), RW, PROT_ALL, 0);
    vmMapInherit(map, at(2), at(4), MAP_INHERIT_NONE);
    assert.equal(vmMapLookupEntry(map, at(2)).inheritance, MAP_INHERIT_NONE);
    assert.equal(map.nentries, 3);
    vmMapMadvise(map, at(5), at(6), MAP_ENTRY_BEHAV_RANDOM);
    assert.equal(vmMapLookupEntry(map, at(5)).behavior(), MAP_ENTRY_BEHAV_RANDOM);
    assert.equal(map.nentries, 5);
    vmMapInherit(map, at(2), at(4), MAP_INHERIT_SHARE);
    vmMapInherit(map, at(0), at(8), MAP_INHERIT_SHARE);
    vmMapMadvise(map, at(0), at(8), MAP_ENTRY_BEHAV_SEQUENTIAL);
    assert.equal(map.nentries, 1);
    throwsVm(() => vmMapInherit(map, at(0), at(8), 7), 'EINVAL', 'inherit');
    throwsVm(() => vmMapMadvise(map, at(0), at(8), 0x100), 'EINVAL', 'behav');
    check(map);
  });

  it('check_protection sees holes and weaker entries', () => {
    const map = newMap();
    vmMapInsert(map, null, 0, at(0), at(2), RW, PROT_ALL, 0);
    vmMapInsert(map, null, 0, at(2), at(4), PROT_READ, PROT_ALL, 0);
    assert.equal(vmMapCheckProtection(map, at(0), at(4), PROT_READ, false), true);
    assert.equal(vmMapCheckProtection(map, at(0), at(4), RW, false), false);
    assert.equal(vmMapCheckProtection(map, at(0), at(5), PROT_READ, false), false);
    assert.equal(vmMapCheckProtection(map, at(1), at(2), RW, false), true);
  });
});

describe('wiring', () => {
  it('user wiring sets USER_WIRED once, counts, faults through the hook, and undoes on failure', () => {
    const map = newMap();
    const wired: [number, number][] = [];
    let failAt = -1;
    map.hooks = {
      ...map.hooks,
      /* the hook wires all of the ranges or none */
      wire: (_m, ranges) => {
        if (ranges.some((r) => r.start === failAt)) return 'ENOMEM';
        for (const r of ranges) wired.push([r.start, r.end]);
        return 0;
      },
      unwire: (_m, s, e) => wired.push([-s, -e]),
    };
    vmMapInsert(map, null, 0, at(0), at(4), RW, PROT_ALL, 0);
    vmMapInsert(map, null, 0, at(4), at(8), PROT_READ, PROT_ALL, 0);
    vmMapUnwire(map, at(1), at(6), false);
    vmMapUnwire(map, at(1), at(6), false);
    const e = vmMapLookupEntry(map, at(1));
    assert.equal(e.wiredCount, 1, 'mlock twice wires once');
    assert.equal(e.eflags & MAP_ENTRY_USER_WIRED, MAP_ENTRY_USER_WIRED);
    assert.deepEqual(wired, [
      [at(1), at(4)],
      [at(4), at(6)],
    ]);
    vmMapUnwire(map, at(1), at(6), true);
    assert.equal(map.nentries, 2, 'unwired entries merge back');
    failAt = at(4);
    wired.length = 0;
    const before = mapDump(map).join('\n');
    throwsVm(() => vmMapUnwire(map, at(0), at(8), false), 'ENOMEM', 'addr');
    assert.deepEqual(wired, [], 'nothing wired, nothing to unwire');
    assert.equal(
      mapDump(map)
        .join('\n')
        .replace(/wired=\d/g, ''),
      before.replace(/wired=\d/g, ''),
    );
    throwsVm(() => vmMapUnwire(map, at(0), at(9), false), 'ENOMEM', 'len');
    check(map);
  });

  it('kernel wiring counts per call, and set_wired_quick marks without faulting', () => {
    const map = newMap();
    vmMapInsert(map, null, 0, at(0), at(4), RW, PROT_ALL, 0);
    vmMapWire(map, at(0), at(4), VM_FAULT_USER_WIRE);
    vmMapWire(map, at(0), at(4), VM_FAULT_USER_WIRE);
    assert.equal(vmMapLookupEntry(map, at(0)).wiredCount, 2);
    vmMapWire(map, at(0), at(4), 0);
    vmMapWire(map, at(0), at(4), 0);
    assert.equal(vmMapLookupEntry(map, at(0)).wiredCount, 0);
    vmMapSetWiredQuick(map, at(1), 2 * PS);
    assert.equal(vmMapLookupEntry(map, at(1)).wiredCount, 1);
    assert.equal(map.nentries, 3);
  });

  it('transition_wait on an entry in transition would sleep forever: a panic', () => {
    const map = newMap();
    const e = vmMapInsert(map, null, 0, at(0), at(4), RW, PROT_ALL, 0);
    vmMapLock(map);
    const ts = map.timestamp;
    vmMapTransitionWait(map);
    assert.equal(map.timestamp, ts + 1, 'it relocked');
    e.eflags |= MAP_ENTRY_IN_TRANSITION;
    assert.throws(() => vmMapTransitionWait(map), KernelPanic);
    e.eflags &= ~MAP_ENTRY_IN_TRANSITION;
    vmMapUnlock(map);
  });
});

describe('locks', () => {
  it('exclusive locks bump the timestamp; an upgrade fails when others read', () => {
    const map = newMap();
    const t0 = map.timestamp;
    vmMapLock(map);
    assert.equal(map.timestamp, t0 + 1);
    assert.equal(vmMapLockReadTry(map), false);
    assert.equal(vmMapLockReadTo(map), 'EBUSY');
    vmMapLockDowngrade(map);
    assert.equal(vmMapLockReadTry(map), true, 'readers share');
    assert.equal(vmMapLockUpgrade(map), 'EBUSY', 'another reader holds it');
    vmMapUnlockRead(map);
    vmMapLockRead(map);
    assert.equal(vmMapLockUpgrade(map), 0);
    assert.equal(map.timestamp, t0 + 2);
    vmMapUnlock(map);
    assert.equal(map.lock.held, false);
    assert.throws(() => {
      vmMapLock(map);
      vmMapLock(map);
    }, KernelPanic);
  });
});

describe('submaps and stacks', () => {
  it('a submap replaces one plain entry; lookups descend into it', () => {
    const map = newMap();
    const sub = vmMapCreate(map.uvm, map.pmap, at(0), at(16));
    vmMapInsert(sub, null, 0, at(2), at(3), PROT_READ, PROT_ALL, 0);
    vmMapInsert(map, null, 0, at(0), at(16), PROT_ALL, PROT_ALL, 0);
    vmMapSubmap(map, at(0), at(16), sub);
    assert.equal(vmMapLookupEntry(map, at(0)).maptype, VM_MAPTYPE_SUBMAP);
    const out = lookupOut();
    assert.equal(vmMapLookup(map, at(2), PROT_READ, out), 0);
    assert.equal(out.map, sub);
    vmMapLookupDone(out);
    assert.equal(vmMapLookup(map, at(2), PROT_WRITE, out), 'EACCES');
    assert.equal(vmMapLookup(map, at(5), PROT_READ, out), 'EFAULT');
    vmMapInsert(map, null, 0, at(20), at(21), RW, PROT_ALL, MAP_OVERLAY);
    throwsVm(() => vmMapSubmap(map, at(20), at(21), sub), 'EINVAL', 'start');
    throwsVm(() => vmMapProtect(map, at(0), at(1), PROT_READ, false), 'EINVAL', 'addr');
    vmMapRemove(map, at(0), at(16));
    assert.equal(map.uvm.maps.has(sub), false, 'the submap went with its last user');
  });

  it('a stack grows down within its limit and keeps its guard gap', () => {
    const map = newMap();
    map.stackGuard = 4 * PS;
    const top = at(1024);
    const maxSsize = 256 * PS;
    const s = vmMapStack(map, top - maxSsize, maxSsize, RW, PROT_ALL, MAP_COPY_ON_WRITE);
    assert.equal(s.end, top);
    assert.equal(s.start, top - 128 * 1024);
    assert.equal(s.availSsize, maxSsize - 128 * 1024);
    assert.equal(s.eflags & MAP_ENTRY_STACK, MAP_ENTRY_STACK);
    assert.equal(vmMapGrowstack(map, s.start - 3 * PS + 5), 0);
    const grown = vmMapLookupEntry(map, s.start - 1);
    assert.equal(grown.start, top - 128 * 1024 - 3 * PS);
    assert.equal(grown.end, top, 'one entry still');
    assert.equal(grown.availSsize, maxSsize - 128 * 1024 - 3 * PS);
    assert.equal(vmMapGrowstack(map, top - maxSsize - PS), 'ENOMEM', 'beyond the limit');
    vmMapInsert(
      map,
      null,
      0,
      top - maxSsize - 8 * PS,
      top - maxSsize + 4 * PS,
      PROT_READ,
      PROT_ALL,
      0,
    );
    assert.equal(
      vmMapGrowstack(map, top - maxSsize + 6 * PS),
      'ENOMEM',
      'within the guard of the neighbour',
    );
    assert.equal(vmMapGrowstack(map, top - maxSsize + 9 * PS), 0);
    assert.equal(vmMapGrowstack(map, at(2000)), 'ENOMEM', 'not below a stack');
    throwsVm(() => vmMapStack(map, top - maxSsize, maxSsize, RW, PROT_ALL, 0), 'ENOMEM', 'addrbos');
    check(map);
  });
});

describe('clip_range', () => {
  it('clips both ends and returns the first entry; NO_HOLES refuses a hole', () => {
    const map = newMap();
    vmMapInsert(map, null, 0, at(0), at(4), RW, PROT_ALL, 0);
    vmMapInsert(map, null, 0, at(6), at(8), RW, PROT_ALL, 0);
    vmMapLock(map);
    throwsVm(() => vmMapClipRange(map, at(1), at(7), MAP_CLIP_NO_HOLES), 'ENOMEM', 'len');
    assert.equal(map.nentries, 2, 'nothing clipped');
    const first = vmMapClipRange(map, at(1), at(7), 0);
    vmMapUnlock(map);
    assert.equal(first.start, at(1));
    assert.equal(map.nentries, 4);
  });
});

describe('entries by hand', () => {
  it('simplify refuses wired neighbours', () => {
    const map = newMap();
    vmMapInsert(map, null, 0, at(0), at(2), RW, PROT_ALL, 0);
    vmMapSetWiredQuick(map, at(0), 2 * PS);
    const b = vmMapInsert(map, null, 0, at(2), at(4), RW, PROT_ALL, 0);
    assert.equal(vmMapSimplifyEntry(map, b), b);
    assert.equal(map.nentries, 2);
  });
});

describe('building and tearing down whole maps', () => {
  it('a map built in order keeps a valid tree through deletions anywhere', () => {
    const map = newMap();
    const n = 3000;
    for (let i = 0; i < n; i++)
      vmMapInsert(map, null, 0, at(2 * i), at(2 * i + 1), 1 + (i & 1), PROT_ALL, MAP_OVERLAY);
    check(map);
    let seed = 7;
    for (let k = 0; k < n; k++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const i = seed % n;
      vmMapRemove(map, at(2 * i), at(2 * i + 1));
      if (k % 250 === 0) check(map);
    }
    check(map);
    const left = new Set<number>();
    for (let e = map.header.next; e !== map.header; e = e.next) left.add(e.start);
    assert.equal(map.nentries, left.size);
  });

  it('deleting every entry at once frees every amap and leaves an empty map', () => {
    const map = newMap();
    for (let i = 0; i < 200; i++)
      vmMapInsert(map, null, 0, at(2 * i), at(2 * i + 1), 1 + (i & 1), PROT_ALL, MAP_OVERLAY);
    assert.equal(map.uvm.amaps.size, 200);
    vmMapRemove(map, at(0), at(400));
    assert.equal(map.nentries, 0);
    assert.equal(map.size, 0);
    assert.equal(map.uvm.amaps.size, 0);
    assert.equal(vmMapLookupEntry(map, at(10)), map.header);
    vmMapInsert(map, null, 0, at(4), at(8), PROT_READ, PROT_ALL, 0);
    check(map);
    assert.equal(map.nentries, 1);
  });
});
