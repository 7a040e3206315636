/*
 * upcall.ts: upcalls (DragonFly's kern_upcall.c and sys/upcall.h; seed
 * 001's struct vmupcall, vm_upccount, vm_upcalls): a process registers a
 * function the kernel calls in user mode, and any process sharing its
 * address space can make that call pending.
 *
 *   Vmspace
 *     upcalls   vm_upcalls: the registered upcalls, newest first
 *     upccount  vm_upccount: upcalls.length, at most UPCALL_MAXCOUNT
 *   VmUpcall    id (vu_id: UPC_RESERVED for the first, then the newest + 1),
 *               func, data, ctx (vu_func, vu_data, vu_ctx: user addresses),
 *               lwp (vu_lwp: the registering process), pending (vu_pending:
 *               0, or the priority it was dispatched with)
 *
 *   struct upcall, in the program's memory at the address it registered
 *   (lwp_upcall): three 32-bit little-endian words,
 *     +0 magic (UPCALL_MAGIC), +4 crit_count, +8 pending
 *
 * Delivery, as DragonFly's postupcall and sendupcall: UPC_CONTROL_DISPATCH
 * marks an upcall pending and its process P_UPCALLPEND; on that process's
 * next return to user (the end of its next system call or memory access:
 * Process.userret) the first of its pending upcalls is delivered: when
 * the user's pending word is 0 and crit_count is below the upcall's
 * priority, the kernel clears vu_pending, writes pending = "more are
 * pending" and crit_count += UPC_CRITADD, and pushes the call (its frame:
 * id, func, data, ctx) on the process's upcallsDelivered; otherwise it only
 * raises the user's pending word to the priority, and the upcall waits for
 * UPC_CONTROL_NEXT. A struct upcall the kernel cannot read and write drops
 * the upcall (vu_pending = 0), as DragonFly's "bad upcall address".
 *
 * Audit: upccount equals the list's length, at most UPCALL_MAXCOUNT; ids
 * are unique, newest first; each upcall's process is alive in this space.
 */
import { hex, kpanic, vmerr } from './param.ts';
import type { Vmspace } from './vmspace.ts';

/** UPCALL_MAXCOUNT: the most upcalls one address space registers */
export const UPCALL_MAXCOUNT = 32;
/** UPC_RESERVED: ids below it are reserved; the first upcall gets it */
export const UPC_RESERVED = 32;
/** UPCALL_MAGIC: the magic word of struct upcall */
export const UPCALL_MAGIC = 0x55504331;
/** UPC_CRITADD: what a delivery adds to the user's crit_count (TDPRI_CRIT) */
export const UPC_CRITADD = 32;
/** struct upcall: byte offsets of crit_count and pending, and its size */
export const UPC_CRIT_COUNT = 4;
export const UPC_PENDING = 8;
export const UPCALL_SIZE = 12;

/* upc_control's commands (UPC_CONTROL_WAIT, which sleeps, is not built) */
export const UPC_CONTROL_DISPATCH = 1;
export const UPC_CONTROL_NEXT = 2;
export const UPC_CONTROL_DELETE = 3;
export const UPC_CONTROL_POLL = 4;
export const UPC_CONTROL_POLLANDCLEAR = 5;

/** An upcall delivered: the frame sendupcall pushes (the call of ctx with func and data). */
export interface UpcallFrame {
  id: number;
  func: number;
  data: number;
  ctx: number;
}

/** What the kernel needs of a process for upcalls (the seed's vu_lwp). */
export interface UpcallLwp {
  readonly pid: number;
  readonly alive: boolean;
  readonly vm: Vmspace;
  /** lwp_upcall: the address of its struct upcall (0: none registered) */
  upcall: number;
  /** P_UPCALLPEND: an upcall was dispatched to it since its last return to user */
  upcallPend: boolean;
  /** the upcalls delivered to it, oldest first */
  readonly upcallsDelivered: UpcallFrame[];
  /** copyin: n bytes of its memory at va; null (EFAULT) when they cannot be read */
  copyin(va: number, n: number): Uint8Array | null;
  /** copyout: store bytes at va in its memory; false (EFAULT), nothing stored, when it cannot */
  copyout(va: number, bytes: Uint8Array): boolean;
}

/** A registered upcall (struct vmupcall). */
export interface VmUpcall extends UpcallFrame {
  lwp: UpcallLwp;
  pending: number;
}

/**
 * upcRegister: register an upcall of `lwp` in its space (upc_register):
 * `upc` the address of its struct upcall (kept as lwp_upcall, for every
 * upcall of the process), `ctx` the context function, `func` and `data`.
 * => addresses and data are integers >= 0 (EINVAL naming the argument);
 *    EFBIG when the space has UPCALL_MAXCOUNT upcalls already.
 * => returns the new id.
 */
export function upcRegister(
  lwp: UpcallLwp,
  upc: number,
  ctx: number,
  func: number,
  data: number,
): number {
  const args = { upc, ctx, func, data };
  for (const [name, v] of Object.entries(args))
    if (!Number.isSafeInteger(v) || v < 0)
      throw vmerr('EINVAL', 'upc_register', name, `${v} is not an address`);
  const vm = lwp.vm;
  if (vm.upccount >= UPCALL_MAXCOUNT)
    throw vmerr('EFBIG', 'upc_register', undefined, `${UPCALL_MAXCOUNT} upcalls already`);
  const id = vm.upcalls.length > 0 ? vm.upcalls[0].id + 1 : UPC_RESERVED;
  vm.upcalls.unshift({ id, func, data, ctx, lwp, pending: 0 });
  vm.upccount++;
  lwp.upcall = upc;
  return id;
}

/**
 * upcControl: command `cmd` on upcall `upcid` of lwp's space (upc_control).
 * `upcid` -1 means the first of lwp's own upcalls whose priority is at
 * least `data` (DISPATCH, POLL*), or all of them (DELETE).
 * => DISPATCH: the upcall's priority rises to `data` and its process (any
 *    process sharing the space) gets P_UPCALLPEND; returns 0.
 *    NEXT: delivers lwp's next pending upcall now (as the context code
 *    asks after running one): returns its id, or 0 when none is pending
 *    (the user's pending word is cleared then).
 *    DELETE: removes the upcall(s); returns 0.
 *    POLL: returns the first matching id (upcid -1) or the upcall's
 *    priority; POLLANDCLEAR also clears it.
 * => ENOENT when a named upcid is not registered; EINVAL for another cmd
 *    or a non-integer argument; EFAULT (NEXT) when the struct upcall
 *    cannot be read and written. A failed call changes nothing.
 */
export function upcControl(lwp: UpcallLwp, cmd: number, upcid: number, data: number): number {
  if (!Number.isSafeInteger(upcid) || upcid < -1)
    throw vmerr('EINVAL', 'upc_control', 'upcid', `${upcid} is not an upcall id or -1`);
  if (!Number.isSafeInteger(data))
    throw vmerr('EINVAL', 'upc_control', 'data', `${data} is not an integer`);
  switch (cmd) {
    case UPC_CONTROL_DISPATCH:
      return dispatch(lwp, upcid, data);
    case UPC_CONTROL_NEXT:
      return next(lwp);
    case UPC_CONTROL_DELETE:
      return remove(lwp, upcid);
    case UPC_CONTROL_POLL:
    case UPC_CONTROL_POLLANDCLEAR:
      return poll(lwp, upcid, data, cmd === UPC_CONTROL_POLLANDCLEAR);
    default:
      throw vmerr('EINVAL', 'upc_control', 'cmd', `${cmd} is not an upc_control command`);
  }
}

/** find: the upcall `upcid` names in lwp's space (-1: lwp's first of priority >= data). */
function find(lwp: UpcallLwp, upcid: number, data: number): VmUpcall | undefined {
  return lwp.vm.upcalls.find(
    (vu) => vu.id === upcid || (upcid === -1 && vu.pending >= data && vu.lwp === lwp),
  );
}

/** noent: ENOENT for a named upcid that matched nothing; 0 for -1. */
function noent(upcid: number): number {
  if (upcid === -1) return 0;
  throw vmerr('ENOENT', 'upc_control', 'upcid', `no upcall ${upcid}`);
}

/** dispatch: UPC_CONTROL_DISPATCH. */
function dispatch(lwp: UpcallLwp, upcid: number, data: number): number {
  const vu = find(lwp, upcid, data);
  if (vu === undefined) return noent(upcid);
  vu.pending = Math.max(vu.pending, data);
  vu.lwp.upcallPend = true;
  return 0;
}

/** next: UPC_CONTROL_NEXT (fetchupcall). */
function next(lwp: UpcallLwp): number {
  const [vu, more] = firstPending(lwp);
  const words = readWords(lwp);
  const done =
    words !== null &&
    (vu === undefined ? writeWords(lwp, null, 0) : deliver(lwp, vu, more, words[0]));
  if (!done)
    throw vmerr(
      'EFAULT',
      'upc_control',
      undefined,
      `struct upcall at ${hex(lwp.upcall)} is not accessible`,
    );
  return vu?.id ?? 0;
}

/** remove: UPC_CONTROL_DELETE; vm_upccount follows. */
function remove(lwp: UpcallLwp, upcid: number): number {
  const vm = lwp.vm;
  const keep = vm.upcalls.filter((vu) => !(vu.id === upcid || (upcid === -1 && vu.lwp === lwp)));
  if (keep.length === vm.upcalls.length) return noent(upcid);
  vm.upcalls = keep;
  vm.upccount = keep.length;
  return 0;
}

/** poll: UPC_CONTROL_POLL and POLLANDCLEAR. */
function poll(lwp: UpcallLwp, upcid: number, data: number, clear: boolean): number {
  const vu = find(lwp, upcid, data);
  if (vu === undefined) return noent(upcid);
  const result = upcid === -1 ? vu.id : vu.pending;
  if (clear) vu.pending = 0;
  return result;
}

/** firstPending: lwp's first pending upcall, and whether another is pending. */
function firstPending(lwp: UpcallLwp): [VmUpcall | undefined, boolean] {
  const mine = lwp.vm.upcalls.filter((vu) => vu.lwp === lwp && vu.pending > 0);
  return [mine[0], mine.length > 1];
}

/**
 * postupcall: lwp returns to user with P_UPCALLPEND set: its first pending
 * upcall is delivered if its struct upcall allows (see the header).
 * => clears P_UPCALLPEND; an inaccessible struct upcall drops the upcall.
 */
export function postupcall(lwp: UpcallLwp): void {
  lwp.upcallPend = false;
  const [vu, more] = firstPending(lwp);
  if (vu === undefined) return;
  const words = readWords(lwp);
  let ok = words !== null;
  if (words !== null) {
    const [crit, pending] = words;
    if (pending === 0 && crit < vu.pending) ok = deliver(lwp, vu, more, crit);
    else if (pending < vu.pending) ok = writeWords(lwp, null, vu.pending);
  }
  if (!ok) vu.pending = 0;
}

/**
 * deliver: run upcall vu (sendupcall, fetchupcall): the user's crit_count
 * (now `crit`) += UPC_CRITADD and pending = more, then vu_pending = 0 and
 * the frame recorded.
 * => false, nothing changed, when the struct upcall cannot be written.
 */
function deliver(lwp: UpcallLwp, vu: VmUpcall, more: boolean, crit: number): boolean {
  if (!writeWords(lwp, crit + UPC_CRITADD, more ? 1 : 0)) return false;
  vu.pending = 0;
  lwp.upcallsDelivered.push({ id: vu.id, func: vu.func, data: vu.data, ctx: vu.ctx });
  return true;
}

/** readWords: [crit_count, pending] of lwp's struct upcall; null if it cannot be read. */
function readWords(lwp: UpcallLwp): [number, number] | null {
  const b = lwp.copyin(lwp.upcall, UPCALL_SIZE);
  if (b === null) return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return [dv.getInt32(UPC_CRIT_COUNT, true), dv.getInt32(UPC_PENDING, true)];
}

/**
 * writeWords: store crit_count (null: leave it) and pending in lwp's struct
 * upcall in one copyout; false if it cannot be written.
 */
function writeWords(lwp: UpcallLwp, crit: number | null, pending: number): boolean {
  const at = crit === null ? UPC_PENDING : UPC_CRIT_COUNT;
  const b = new Uint8Array(UPCALL_SIZE - at);
  const dv = new DataView(b.buffer);
  if (crit !== null) dv.setInt32(0, crit, true);
  dv.setInt32(UPC_PENDING - at, pending, true);
  return lwp.copyout(lwp.upcall + at, b);
}

/**
 * upcRelease: drop every upcall `lwp` registered in `vm` (upc_release), as
 * exit and exec do; vm_upccount follows.
 */
export function upcRelease(vm: Vmspace, lwp: UpcallLwp): void {
  vm.upcalls = vm.upcalls.filter((vu) => vu.lwp !== lwp);
  vm.upccount = vm.upcalls.length;
}

/**
 * auditUpcalls: vm_upccount is the list's length, at most UPCALL_MAXCOUNT;
 * ids are unique and newest first; each upcall's process is alive and
 * uses this space.
 */
export function auditUpcalls(vm: Vmspace): void {
  const list = vm.upcalls;
  if (vm.upccount !== list.length)
    kpanic(`audit: vm_upccount ${vm.upccount} but ${list.length} upcalls`);
  if (list.length > UPCALL_MAXCOUNT) kpanic(`audit: ${list.length} upcalls in one vmspace`);
  for (let i = 0; i < list.length; i++) {
    const vu = list[i];
    if (i > 0 && vu.id >= list[i - 1].id) kpanic(`audit: upcall ${vu.id} out of order`);
    if (!vu.lwp.alive || vu.lwp.vm !== vm)
      kpanic(`audit: upcall ${vu.id} of process ${vu.lwp.pid}, which left this vmspace`);
  }
}
