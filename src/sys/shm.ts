/*
 * shm.ts: System V shared memory (sysv_shm.c) on anonymous objects, as
 * UVM does it: a segment is an aobj; shmat maps it shared, shmdt unmaps it.
 * Its pages are paged to swap like anons, and it lives until it is removed
 * (shmctl IPC_RMID) and unmapped everywhere.
 *
 *   ShmRegistry: segments by id
 *   vm.shm:      where this space attached what (address -> segment id)
 */
import { Aobj } from '../kernel/aobj.ts';
import {
  entryContains,
  vmMapDelete,
  vmMapFindspace,
  vmMapInsert,
  vmMapLock,
  vmMapLookupEntry,
  vmMapUnlock,
} from '../kernel/map/index.ts';
import { objectDetach } from '../kernel/object.ts';
import {
  hex,
  MAP_INHERIT_SHARE,
  PROT_ALL,
  PROT_READ,
  PROT_WRITE,
  roundPage,
  vmerr,
} from '../kernel/param.ts';
import type { Uvm } from '../kernel/uvm.ts';
import type { Vmspace } from '../kernel/vmspace.ts';

/** A shared memory segment. */
export interface ShmSegment {
  id: number;
  size: number;
  aobj: Aobj;
  /** IPC_RMID done: no new attaches; gone with its last mapping */
  removed: boolean;
}

/** The system's segments. */
export class ShmRegistry {
  readonly segments = new Map<number, ShmSegment>();
  private nextId = 1;

  constructor(private readonly uvm: Uvm) {}

  /**
   * shmget: a new segment of `size` bytes (shmget(IPC_PRIVATE)).
   * => EINVAL for a size that is not a positive integer.
   */
  shmget(size: number): number {
    if (!Number.isSafeInteger(size) || size <= 0)
      throw vmerr('EINVAL', 'shmget', 'size', `${size} is not a positive size`);
    const ps = this.uvm.pageSize;
    const id = this.nextId++;
    const aobj = new Aobj(this.uvm, roundPage(size, ps), `SYSV${id.toString(16).padStart(8, '0')}`);
    this.segments.set(id, { id, size, aobj, removed: false });
    return id;
  }

  /**
   * shmat: attach segment `id` to `vm` at `addr` (page aligned) or where
   * there is room; returns the address.
   * => EINVAL for an unknown or removed segment or an unaligned address;
   *    ENOMEM with no room.
   */
  shmat(vm: Vmspace, id: number, addr = 0): number {
    const seg = this.segments.get(id);
    if (!seg || seg.removed) throw vmerr('EINVAL', 'shmat', 'shmid', `no segment ${id}`);
    const ps = this.uvm.pageSize;
    const size = roundPage(seg.size, ps);
    if (!Number.isSafeInteger(addr) || addr % ps !== 0)
      throw vmerr('EINVAL', 'shmat', 'shmaddr', `${hex(addr)} is not page aligned`);
    const map = vm.map;
    const at =
      addr !== 0 ? addr : vmMapFindspace(map, map.mmapBase || map.maxOffset, size, ps, true);
    if (at < 0) throw vmerr('ENOMEM', 'shmat', 'shmid', 'no room');
    vmMapLock(map);
    try {
      vmMapInsert(map, seg.aobj, 0, at, at + size, PROT_READ | PROT_WRITE, PROT_ALL, 0, {
        inherit: MAP_INHERIT_SHARE,
      });
    } finally {
      vmMapUnlock(map);
    }
    vm.shm ??= new Map();
    vm.shm.set(at, id);
    return at;
  }

  /**
   * shmdt: detach the segment attached at `addr` in `vm`.
   * => EINVAL when no segment is attached there.
   */
  shmdt(vm: Vmspace, addr: number): void {
    const id = vm.shm?.get(addr);
    const seg = id === undefined ? undefined : this.segments.get(id);
    const map = vm.map;
    const e = vmMapLookupEntry(map, addr);
    if (!seg || !entryContains(map, e, addr) || e.object !== seg.aobj)
      throw vmerr('EINVAL', 'shmdt', 'shmaddr', `no segment attached at ${hex(addr)}`);
    const ps = this.uvm.pageSize;
    vmMapLock(map);
    vmMapDelete(map, addr, addr + roundPage(seg.size, ps));
    vmMapUnlock(map);
    vm.shm!.delete(addr);
    this.forget(seg);
  }

  /**
   * remove: shmctl(IPC_RMID): no new attaches; the segment goes when its
   * last mapping does.
   * => EINVAL for an unknown segment.
   */
  remove(id: number): void {
    const seg = this.segments.get(id);
    if (!seg || seg.removed) throw vmerr('EINVAL', 'shmctl', 'shmid', `no segment ${id}`);
    seg.removed = true;
    objectDetach(this.uvm, seg.aobj);
    this.forget(seg);
  }

  /** forget: a removed segment nobody maps any more leaves the registry. */
  private forget(seg: ShmSegment): void {
    if (seg.removed && seg.aobj.refs <= 0) this.segments.delete(seg.id);
  }

  /** sweep: forget removed segments whose mappings went by munmap or exit. */
  sweep(): void {
    for (const seg of [...this.segments.values()]) this.forget(seg);
  }
}
