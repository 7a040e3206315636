/*
 * object.ts: UVM objects (uvm_object.h): the object layer a map entry can
 * map, under the anon layer. This is the base the pagers build on (the
 * anonymous object aobj, the vnode object); a map entry holds a reference.
 *
 *   UvmObject { id, refs, vmobjlock, size (bytes), pages: page index -> frame }
 *
 * Invariant (audit, with the maps): refs equals the map entries (and other
 * holders) that reference the object.
 */
import { mutexObjAlloc } from './lock.ts';
import { kassert } from './param.ts';
import type { ObjectRef, Uvm } from './uvm.ts';

/** A UVM object: something with pages that a map entry can map. */
export class UvmObject implements ObjectRef {
  readonly id: number;
  refs = 1;
  readonly vmobjlock = mutexObjAlloc();
  /** resident pages: page index within the object -> frame */
  readonly pages = new Map<number, number>();

  constructor(
    uvm: Uvm,
    public size: number,
    readonly name: string,
  ) {
    this.id = uvm.nextObjectId++;
    uvm.objects.set(this.id, this);
  }

  /** the kind of object, for dumps */
  get kind(): string {
    return 'object';
  }
}

/**
 * objectReference: add a reference (pgo_reference).
 */
export function objectReference(obj: UvmObject): void {
  kassert(obj.refs > 0, `pgo_reference: object ${obj.id} is dead`);
  obj.refs++;
}

/**
 * objectDetach: drop a reference (pgo_detach); the last one frees the
 * object's pages and takes it off the kernel's list.
 */
export function objectDetach(uvm: Uvm, obj: UvmObject): void {
  kassert(obj.refs > 0, `pgo_detach: object ${obj.id} is dead`);
  if (--obj.refs > 0) return;
  uvm.objectTerminate(obj);
}
