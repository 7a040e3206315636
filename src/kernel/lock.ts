/*
 * lock.ts: the kernel's locks, kept meaningful in a single thread.
 *
 *   VmMutex   a reference-counted mutex object (mutex_obj_alloc/hold/free).
 *             An amap and every anon in it share one (an_lock == am_lock);
 *             an amap copied from another shares the source's.
 *   Lockmgr   the map lock (lockmgr(9)): exclusive, shared, try, timed,
 *             upgrade (which can fail), downgrade.
 *
 * One thread runs today, so nobody ever waits: taking a lock that is held
 * in a conflicting way is a bug and panics, except where the seed's call
 * is allowed to fail (try, timed, upgrade), which then reports failure.
 * The audit checks that no lock is left held between operations.
 */
import { kassert, kpanic } from './param.ts';

let nextMutexId = 1;

/**
 * A mutex object: `owned` while entered, `refs` holders of the object.
 * `ix` is its index in the anon pool's lock table while anons point at it
 * (0 when none does): an anon keeps its an_lock as that 4-byte index.
 */
export class VmMutex {
  readonly id = nextMutexId++;
  owned = false;
  refs = 1;
  ix = 0;
}

/**
 * mutexObjAlloc: a new mutex object with one reference.
 */
export function mutexObjAlloc(): VmMutex {
  return new VmMutex();
}

/**
 * mutexObjHold: add a reference to a mutex object.
 */
export function mutexObjHold(m: VmMutex): void {
  kassert(m.refs > 0, 'mutex_obj_hold: freed mutex');
  m.refs++;
}

/**
 * mutexObjFree: drop a reference; the object dies at zero.
 * => the mutex must not be held.
 */
export function mutexObjFree(m: VmMutex): void {
  kassert(m.refs > 0, 'mutex_obj_free: freed mutex');
  kassert(!m.owned || m.refs > 1, 'mutex_obj_free: freeing a held mutex');
  m.refs--;
}

/**
 * mutexEnter: take the mutex.
 * => panics if it is already held (mutexes do not recurse).
 */
export function mutexEnter(m: VmMutex): void {
  if (m.owned) kpanic(`mutex_enter: mutex ${m.id} already held`);
  m.owned = true;
}

/**
 * mutexExit: release the mutex.
 */
export function mutexExit(m: VmMutex): void {
  if (!m.owned) kpanic(`mutex_exit: mutex ${m.id} not held`);
  m.owned = false;
}

/**
 * mutexTryEnter: take the mutex if free.
 * => returns false, changing nothing, when it is held.
 */
export function mutexTryEnter(m: VmMutex): boolean {
  if (m.owned) return false;
  m.owned = true;
  return true;
}

export const LK_SHARED = 1;
export const LK_EXCLUSIVE = 2;

/**
 * Lockmgr: the map lock. `exclusive` is 0 or 1, `shared` counts readers.
 * The map's timestamp lives in the map; the map bumps it on every
 * exclusive acquisition, as vm_map_lock does.
 */
export class Lockmgr {
  exclusive = 0;
  shared = 0;

  /** held: true while anyone holds the lock. */
  get held(): boolean {
    return this.exclusive > 0 || this.shared > 0;
  }

  /**
   * lockExclusive: LK_EXCLUSIVE.
   * => panics if the lock is held (one thread: it would wait forever).
   */
  lockExclusive(): void {
    kassert(!this.held, 'lockmgr: LK_EXCLUSIVE on a held lock would deadlock');
    this.exclusive = 1;
  }

  /**
   * lockShared: LK_SHARED.
   * => panics if held exclusively.
   */
  lockShared(): void {
    kassert(this.exclusive === 0, 'lockmgr: LK_SHARED under an exclusive hold would deadlock');
    this.shared++;
  }

  /**
   * tryShared: LK_SHARED|LK_NOWAIT.
   * => false, changing nothing, if held exclusively.
   */
  tryShared(): boolean {
    if (this.exclusive > 0) return false;
    this.shared++;
    return true;
  }

  /**
   * tryExclusive: LK_EXCLUSIVE|LK_NOWAIT.
   * => false, changing nothing, if held at all.
   */
  tryExclusive(): boolean {
    if (this.held) return false;
    this.exclusive = 1;
    return true;
  }

  /**
   * upgrade: LK_EXCLUPGRADE, shared -> exclusive.
   * => the caller holds it shared. Fails (returns false, and the caller's
   *    shared hold is released, as lockmgr does) when other readers hold it.
   */
  upgrade(): boolean {
    kassert(this.shared > 0, 'lockmgr: upgrade without a shared hold');
    this.shared--;
    if (this.shared > 0) return false;
    this.exclusive = 1;
    return true;
  }

  /**
   * downgrade: LK_DOWNGRADE, exclusive -> shared.
   */
  downgrade(): void {
    kassert(this.exclusive === 1, 'lockmgr: downgrade without an exclusive hold');
    this.exclusive = 0;
    this.shared = 1;
  }

  /**
   * release: LK_RELEASE of whichever hold the caller has.
   */
  release(): void {
    if (this.exclusive > 0) {
      this.exclusive = 0;
      return;
    }
    kassert(this.shared > 0, 'lockmgr: release of an unheld lock');
    this.shared--;
  }
}
