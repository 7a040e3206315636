/*
 * model.ts: a deliberately naive reference system for the differential
 * tests (test/world.ts runs it beside the real one).
 *
 *   Model
 *     spaces   process name -> MSpace (a vfork child shares its parent's)
 *     MSpace   page number -> MPage; shm attaches; the lock limit
 *     MPage    prot, max prot, shared ('s' in maps), inheritance, locked,
 *              and what it shows:
 *                a shared page of an object (file, segment)  the object's bytes
 *                any other page                              a Cell
 *     Cell     bytes, or null: not written yet, so the backing shows
 *              through (the object's page, or zeros). Processes that
 *              inherited a page with MAP_INHERIT_SHARE hold one Cell.
 *     MObject  a file's page cache or a segment's pages
 *   fds        process name -> its descriptors: MFd (a pipe's end) or null
 *   MPipe      the bytes a pipe buffers (what its writers' memory held at
 *              each write: lent pages must not change them), its open ends
 *
 * No amaps, no anons, no copy-on-write, no faults: fork copies every
 * Cell a child inherits by COPY and shares the others. If the real system
 * and this one agree on every byte, errno and coalesced map, the kernel
 * did its job.
 *
 * MADV_FREE leaves a page "its old bytes, or zeros, until written": a Cell
 * then holds every candidate, writes go to all of them, and a read keeps
 * those it agrees with (zeros stay possible until the next write).
 *
 * The model predicts errnos (the `*Err` methods) and applies successful
 * calls; the world decides what to accept.
 */
import {
  MADV_DOFORK,
  MADV_DONTFORK,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MAP_INHERIT_COPY,
  MAP_INHERIT_NONE,
  MAP_INHERIT_SHARE,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  MS_ASYNC,
  MS_INVALIDATE,
  MS_SYNC,
  PROT_ALL,
  PROT_EXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  USER_MAX,
  USER_MIN,
} from '../src/kernel/param.ts';
import { PIPE_SIZE } from '../src/sys/pipe.ts';
import { coalesceRows, type MapRun, parseMapsRow } from '../src/sys/procmaps.ts';

export type Errno = string;

/** A file's page cache, or a System V segment's pages. */
export class MObject {
  readonly bytes: Uint8Array;
  /** a segment after shmctl(IPC_RMID) */
  removed = false;

  constructor(
    readonly name: string,
    size: number,
    init?: Uint8Array,
  ) {
    this.bytes = init ? init.slice() : new Uint8Array(size);
  }

  /** pages: how many whole or partial pages of `ps` bytes it spans. */
  pages(ps: number): number {
    return Math.ceil(this.bytes.length / ps);
  }
}

/** What a page not backed directly by an object holds. */
export class Cell {
  /**
   * candidates: what the page may hold (more than one only after
   * MADV_FREE); null in the first place: never written, the backing shows
   */
  cands: (Uint8Array | null)[];
  /** MADV_FREE'd and not written since: the pagedaemon may still zero it */
  discardable = false;

  constructor(data: Uint8Array | null = null) {
    this.cands = [data];
  }

  /** clone: a private copy (what fork's COPY gives a child). */
  clone(): Cell {
    const c = new Cell();
    c.cands = this.cands.map((d) => (d === null ? null : d.slice()));
    c.discardable = this.discardable;
    return c;
  }

  /** drop: the private copy goes (MADV_DONTNEED); the backing shows again. */
  drop(): void {
    this.cands = [null];
    this.discardable = false;
  }
}

/** One mapped page of a process. */
export interface MPage {
  prot: number;
  maxprot: number;
  /** MAP_SHARED ('s' in maps) */
  shared: boolean;
  inherit: number;
  /** MADV_NORMAL, MADV_RANDOM or MADV_SEQUENTIAL */
  advice: number;
  locked: boolean;
  /** the file or segment mapped, or null (anonymous) */
  obj: MObject | null;
  /** the page's index in obj */
  idx: number;
  /** null only for a shared page of an object */
  cell: Cell | null;
}

/** An address space. */
export class MSpace {
  readonly pages = new Map<number, MPage>();
  /** System V attaches: address -> segment */
  readonly shm = new Map<number, MObject>();
  private runs: MapRun[] | null = null;

  constructor(public lockLimit: number) {}

  /** changed: the pages changed (the cached runs are stale). */
  changed(): void {
    this.runs = null;
  }

  /** mapRuns: the coalesced maps [start, end, perms], as the kernel's should read. */
  mapRuns(ps: number): MapRun[] {
    if (this.runs !== null) return this.runs;
    const out: MapRun[] = [];
    for (const v of [...this.pages.keys()].sort((a, b) => a - b)) {
      const p = this.pages.get(v)!;
      const perms = permString(p.prot, p.shared);
      const last = out[out.length - 1];
      if (last !== undefined && last[1] === v * ps && last[2] === perms) last[1] += ps;
      else out.push([v * ps, (v + 1) * ps, perms]);
    }
    this.runs = out;
    return out;
  }
}

/** permString: "rw-p" from protection bits and sharing. */
export function permString(prot: number, shared: boolean): string {
  const r = prot & PROT_READ ? 'r' : '-';
  const w = prot & PROT_WRITE ? 'w' : '-';
  const x = prot & PROT_EXEC ? 'x' : '-';
  return `${r}${w}${x}${shared ? 's' : 'p'}`;
}

/**
 * A pipe: the bytes it buffers, oldest first, in the kernel's pieces (cut
 * where a page of the writer's buffer ends), and the descriptors open on
 * each end.
 */
export class MPipe {
  private pieces: Uint8Array[] = [];
  size = 0;
  readers = 0;
  writers = 0;

  /** push: append `data`, written from address `at`, cut at the pages (of ps bytes) it spans. */
  push(data: Uint8Array, at: number, ps: number): void {
    for (let i = 0; i < data.length; ) {
      const end = Math.min(data.length, i + ps - ((at + i) % ps));
      this.pieces.push(data.slice(i, end));
      i = end;
    }
    this.size += data.length;
  }

  /** take: => the oldest n bytes (at most size), removed, in the pieces a read copies one by one. */
  take(n: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let left = Math.min(n, this.size); left > 0; ) {
      const pc = this.pieces[0];
      const k = Math.min(pc.length, left);
      out.push(pc.subarray(0, k));
      if (k === pc.length) this.pieces.shift();
      else this.pieces[0] = pc.subarray(k);
      left -= k;
      this.size -= k;
    }
    return out;
  }

  /** contents: => every byte buffered, oldest first. */
  contents(): Uint8Array {
    return concat(this.pieces, this.size);
  }
}

/** An open descriptor: a pipe's read or write end. */
export interface MFd {
  pipe: MPipe;
  write: boolean;
}

/** What a pipe call will do, by the model: its errno, or the bytes it moves. */
export interface PipePlan {
  err: Errno | 0;
  /** only memory errors (a page past its file's end, or the faults) can stop it */
  soft: boolean;
  /** the bytes moved on success */
  n: number;
}

/** What a new mapping maps: an object (with its open mode) or nothing. */
export interface MSource {
  obj: MObject | null;
  /** the file was opened for writing (r+) */
  writable: boolean;
}

/** One row of an exec image. */
export interface MRow {
  start: number;
  end: number;
  prot: number;
  shared: boolean;
  obj: MObject | null;
  offset: number;
}

/** What mremap will do, by the model. */
export type RemapPlan =
  | { err: Errno }
  | { err: 0; kind: 'shrink' | 'grow' | 'move'; to: number; oldSize: number; newSize: number };

/** The model: address spaces by process name. */
export class Model {
  readonly spaces = new Map<string, MSpace>();
  /** descriptor tables by process name (a vfork child has its own copy) */
  readonly fds = new Map<string, (MFd | null)[]>();
  readonly zero: Uint8Array;

  constructor(readonly ps: number) {
    this.zero = new Uint8Array(ps);
  }

  /** space: the address space of process `name` (a harness error when none). */
  space(name: string): MSpace {
    const sp = this.spaces.get(name);
    if (sp === undefined) throw new Error(`model: no process ${name}`);
    return sp;
  }

  /* ---- ranges -------------------------------------------------------- */

  /** roundUp: len rounded up to whole pages. */
  roundUp(len: number): number {
    return Math.ceil(len / this.ps) * this.ps;
  }

  /** each: f over the mapped pages of [at, at+len). */
  each(sp: MSpace, at: number, len: number, f: (p: MPage, vpn: number) => void): void {
    const first = Math.floor(at / this.ps);
    const end = Math.ceil((at + len) / this.ps);
    for (let v = first; v < end; v++) {
      const p = sp.pages.get(v);
      if (p !== undefined) f(p, v);
    }
  }

  /** holes: is any page of [at, at+len) unmapped? */
  holes(sp: MSpace, at: number, len: number): boolean {
    const first = Math.floor(at / this.ps);
    const end = Math.ceil((at + len) / this.ps);
    for (let v = first; v < end; v++) if (!sp.pages.has(v)) return true;
    return false;
  }

  /** any: does some mapped page of [at, at+len) satisfy f? */
  any(sp: MSpace, at: number, len: number, f: (p: MPage) => boolean): boolean {
    let hit = false;
    this.each(sp, at, len, (p) => {
      if (f(p)) hit = true;
    });
    return hit;
  }

  /** pastEnd: is p a page of an object beyond its end (SIGBUS)? */
  pastEnd(p: MPage): boolean {
    return p.obj !== null && p.idx >= p.obj.pages(this.ps);
  }

  /** unmap: drop the pages of [at, at+len). */
  unmap(sp: MSpace, at: number, len: number): void {
    this.each(sp, at, len, (_p, v) => sp.pages.delete(v));
    sp.changed();
  }

  /* ---- processes ----------------------------------------------------- */

  /** spawn: a process with an empty space. */
  spawn(name: string, lockLimit: number): void {
    this.spaces.set(name, new MSpace(lockLimit));
    this.fds.set(name, []);
  }

  /** fork: the child's pages by inheritance; COPY copies, SHARE shares. */
  fork(parent: string, child: string): void {
    const src = this.space(parent);
    const dst = new MSpace(src.lockLimit);
    for (const [vpn, p] of src.pages) {
      if (p.inherit === MAP_INHERIT_NONE) continue;
      dst.pages.set(vpn, { ...p, locked: false, ...this.inherited(p) });
    }
    for (const [a, seg] of src.shm) dst.shm.set(a, seg);
    this.spaces.set(child, dst);
    this.forkFds(parent, child);
  }

  /** inherited: what a COPY child gets of a page (a SHARE child gets it as it is). */
  private inherited(p: MPage): Pick<MPage, 'shared' | 'cell'> {
    if (p.inherit === MAP_INHERIT_SHARE) return { shared: p.shared, cell: p.cell };
    if (p.cell === null) return { shared: false, cell: new Cell() };
    return { shared: false, cell: p.cell.clone() };
  }

  /** vfork: the child shares the parent's space, and has a copy of its descriptors. */
  vfork(parent: string, child: string): void {
    this.spaces.set(child, this.space(parent));
    this.forkFds(parent, child);
  }

  /** exit: the process is gone (its space with its last user), its descriptors closed. */
  exit(name: string): void {
    for (const d of this.fdTable(name)) if (d !== null) closeEnd(d);
    this.spaces.delete(name);
    this.fds.delete(name);
  }

  /** exec: a fresh space from rows (every row's max protection is all); descriptors stay open. */
  exec(name: string, rows: MRow[]): void {
    const sp = new MSpace(this.space(name).lockLimit);
    for (const r of rows) {
      for (let a = r.start; a < r.end; a += this.ps) {
        sp.pages.set(a / this.ps, {
          prot: r.prot,
          maxprot: PROT_ALL,
          shared: r.shared,
          inherit: r.shared ? MAP_INHERIT_SHARE : MAP_INHERIT_COPY,
          advice: MADV_NORMAL,
          locked: false,
          obj: r.obj,
          idx: r.obj === null ? 0 : (r.offset + a - r.start) / this.ps,
          cell: r.shared && r.obj !== null ? null : new Cell(),
        });
      }
    }
    this.spaces.set(name, sp);
  }

  /* ---- mmap, munmap -------------------------------------------------- */

  /** mmapErr: the errno mmap must fail with (0: success). */
  mmapErr(
    sp: MSpace,
    at: number,
    len: number,
    prot: number,
    how: { shared: boolean; placed: boolean; noreplace: boolean },
    src: MSource,
    off: number,
  ): Errno | 0 {
    if (len === 0 || off % this.ps !== 0) return 'EINVAL';
    if (src.obj !== null && how.shared && !src.writable && prot & PROT_WRITE) return 'EACCES';
    if (how.placed && at % this.ps !== 0) return 'EINVAL';
    if (how.noreplace && this.any(sp, at, len, () => true)) return 'EEXIST';
    return 0;
  }

  /**
   * mmap: map [at, at+len) (anything there goes first).
   * => populate: MAP_POPULATE faults a writable private file mapping in
   *    for writing, so it gets its own copies now ('all'); 'maybe' when
   *    populating may stop early (its failures are ignored).
   */
  mmap(
    sp: MSpace,
    at: number,
    len: number,
    prot: number,
    shared: boolean,
    src: MSource,
    off = 0,
    populate: 'none' | 'all' | 'maybe' = 'none',
  ): void {
    this.unmap(sp, at, len);
    const obj = src.obj;
    const maxprot = obj !== null && shared && !src.writable ? PROT_READ | PROT_EXEC : PROT_ALL;
    for (let a = at; a < at + this.roundUp(len); a += this.ps) {
      sp.pages.set(a / this.ps, {
        prot,
        maxprot,
        shared,
        inherit: shared ? MAP_INHERIT_SHARE : MAP_INHERIT_COPY,
        advice: MADV_NORMAL,
        locked: false,
        obj,
        idx: obj === null ? 0 : (off + a - at) / this.ps,
        cell: shared && obj !== null ? null : new Cell(),
      });
    }
    sp.changed();
    if (populate !== 'none') this.each(sp, at, len, (p) => this.faultForWrite(p, populate));
  }

  /**
   * faultForWrite: a writable private page faulted in for writing
   * (populated, wired) gets its own copy of what it shows now; 'maybe'
   * when the fault may have failed unseen (populating ignores failures).
   */
  private faultForWrite(p: MPage, mode: 'all' | 'maybe'): void {
    if (p.cell === null || p.shared || !(p.prot & PROT_WRITE) || this.pastEnd(p)) return;
    if (mode === 'all') this.materialize(p);
    else if (p.cell.cands.includes(null)) p.cell.cands.unshift(this.backing(p).slice());
  }

  /** munmapErr: unaligned or empty is EINVAL; holes are fine. */
  munmapErr(at: number, len: number): Errno | 0 {
    return at % this.ps !== 0 || len === 0 ? 'EINVAL' : 0;
  }

  /* ---- attributes ---------------------------------------------------- */

  /** rangeErr: the checks of mprotect, madvise and msync: aligned, then mapped. */
  private rangeErr(sp: MSpace, at: number, len: number): Errno | 0 {
    if (at % this.ps !== 0) return 'EINVAL';
    if (len > 0 && this.holes(sp, at, len)) return 'ENOMEM';
    return 0;
  }

  /** mprotectErr: EINVAL unaligned, ENOMEM for holes, EACCES above a page's max protection. */
  mprotectErr(sp: MSpace, at: number, len: number, prot: number): Errno | 0 {
    const e = this.rangeErr(sp, at, len);
    if (e !== 0) return e;
    return this.any(sp, at, len, (p) => (prot & p.maxprot) !== prot) ? 'EACCES' : 0;
  }

  /** mprotect: the pages of the range get `prot`. */
  mprotect(sp: MSpace, at: number, len: number, prot: number): void {
    this.each(sp, at, len, (p) => {
      p.prot = prot;
    });
    sp.changed();
  }

  /** minherit: the range is rounded out to pages; holes are skipped. */
  minherit(sp: MSpace, at: number, len: number, inherit: number): void {
    const start = Math.floor(at / this.ps) * this.ps;
    this.each(sp, start, this.roundUp(at + len) - start, (p) => {
      p.inherit = inherit;
    });
  }

  /**
   * sharerLocked: does another space lock a page of [at, at+len) through
   * a Cell it shares (inherited with SHARE)? MADV_DONTNEED may then refuse
   * (EINVAL) rather than pull the page from under the lock: the kernel
   * knows whether the lock holds the page now, the model does not.
   */
  sharerLocked(sp: MSpace, at: number, len: number): boolean {
    const cells = new Set<Cell>();
    this.each(sp, at, len, (p) => {
      if (!p.shared && p.cell !== null) cells.add(p.cell);
    });
    if (cells.size === 0) return false;
    for (const other of new Set(this.spaces.values())) {
      if (other === sp) continue;
      for (const p of other.pages.values())
        if (p.locked && p.cell !== null && cells.has(p.cell)) return true;
    }
    return false;
  }

  /**
   * madviseErr: EINVAL unaligned, ENOMEM for holes, EINVAL for DONTNEED of
   * a locked page or FREE of one that is not private anonymous memory.
   */
  madviseErr(sp: MSpace, at: number, len: number, advice: number): Errno | 0 {
    const e = this.rangeErr(sp, at, len);
    if (e !== 0) return e;
    if (advice === MADV_DONTNEED && this.any(sp, at, len, (p) => p.locked)) return 'EINVAL';
    if (advice === MADV_FREE && this.any(sp, at, len, (p) => p.shared || p.obj !== null))
      return 'EINVAL';
    return 0;
  }

  /** madvise: DONTNEED drops private copies; FREE lets the daemon zero them; (DO|DONT)FORK. */
  madvise(sp: MSpace, at: number, len: number, advice: number): void {
    this.each(sp, at, len, (p) => {
      if (advice === MADV_DONTNEED && !p.shared) p.cell!.drop();
      else if (advice === MADV_FREE) markFree(p.cell!);
      else if (BEHAVIOURS.includes(advice)) p.advice = advice;
      else if (advice === MADV_DONTFORK) p.inherit = MAP_INHERIT_NONE;
      else if (advice === MADV_DOFORK && p.inherit === MAP_INHERIT_NONE)
        p.inherit = p.shared ? MAP_INHERIT_SHARE : MAP_INHERIT_COPY;
    });
  }

  /** lockRange: mlock's rounding: start down to a page, end up. */
  lockRange(at: number, len: number): [number, number] {
    const start = Math.floor(at / this.ps) * this.ps;
    return [start, this.roundUp(at + len) - start];
  }

  /** lockedBytes: what the space has locked, in bytes. */
  lockedBytes(sp: MSpace): number {
    let n = 0;
    for (const p of sp.pages.values()) if (p.locked) n += this.ps;
    return n;
  }

  /**
   * mlockErr: ENOMEM for holes or past the lock limit; EFAULT when a page
   * to wire lies beyond its file's end. (ENOMEM, EIO of the faults: the
   * world's to accept.)
   */
  mlockErr(sp: MSpace, at: number, len: number): Errno | 0 {
    const [start, n] = this.lockRange(at, len);
    if (n === 0) return 0;
    if (this.holes(sp, start, n)) return 'ENOMEM';
    let more = 0;
    this.each(sp, start, n, (p) => {
      if (!p.locked) more += this.ps;
    });
    if (this.lockedBytes(sp) + more > sp.lockLimit) return 'ENOMEM';
    return this.wireFaults(sp, start, n);
  }

  /** wireFaults: EFAULT when wiring [at, at+len) would touch a page past its file's end. */
  private wireFaults(sp: MSpace, at: number, len: number): Errno | 0 {
    const bad = this.any(sp, at, len, (p) => !p.locked && p.prot !== PROT_NONE && this.pastEnd(p));
    return bad ? 'EFAULT' : 0;
  }

  /**
   * lock: (un)lock [at, at+len). Wiring faults a writable private page
   * for writing: it gets its own copy of what it shows now.
   */
  lock(sp: MSpace, at: number, len: number, lock: boolean): void {
    this.each(sp, at, len, (p) => {
      if (lock && !p.locked) this.faultForWrite(p, 'all');
      p.locked = lock;
    });
  }

  /** mlockallErr: MCL_CURRENT: everything mapped must fit the limit. */
  mlockallErr(sp: MSpace): Errno | 0 {
    if (sp.pages.size * this.ps > sp.lockLimit) return 'ENOMEM';
    for (const [v] of sp.pages) if (this.wireFaults(sp, v * this.ps, this.ps)) return 'EFAULT';
    return 0;
  }

  /** lockAll: (un)lock every page. */
  lockAll(sp: MSpace, lock: boolean): void {
    for (const [v] of sp.pages) this.lock(sp, v * this.ps, this.ps, lock);
  }

  /** msyncErr: EINVAL unaligned or MS_SYNC with MS_ASYNC, ENOMEM for holes, EBUSY to invalidate a locked page. */
  msyncErr(sp: MSpace, at: number, len: number, flags: number): Errno | 0 {
    if (at % this.ps !== 0 || (flags & MS_ASYNC && flags & MS_SYNC)) return 'EINVAL';
    const e = this.rangeErr(sp, at, len);
    if (e !== 0) return e;
    if (flags & MS_INVALIDATE && this.any(sp, at, len, (p) => p.locked)) return 'EBUSY';
    return 0;
  }

  /* ---- mremap -------------------------------------------------------- */

  /**
   * remapPlan: what mremap does, by Linux's rules as the kernel applies
   * them: EINVAL, EFAULT (not one mapping), ENOMEM (no room, may not move),
   * or shrink, grow in place, or move (`to` is a guess for a free move).
   */
  remapPlan(sp: MSpace, at: number, len: number, newLen: number, flags: number, to: number) {
    const oldSize = this.roundUp(len);
    const newSize = this.roundUp(newLen);
    const ok = (kind: 'shrink' | 'grow' | 'move', dest: number): RemapPlan => ({
      err: 0,
      kind,
      to: dest,
      oldSize,
      newSize,
    });
    const err = this.remapErr(sp, at, oldSize, newSize, flags, to);
    if (err !== 0) return { err };
    if (flags & MREMAP_FIXED) return ok('move', to);
    const keepsPlace = !(flags & MREMAP_DONTUNMAP);
    if (keepsPlace && newSize <= oldSize) return ok('shrink', at);
    if (keepsPlace && !this.any(sp, at + oldSize, newSize - oldSize, () => true))
      return ok('grow', at);
    if (!(flags & MREMAP_MAYMOVE)) return { err: 'ENOMEM' };
    return ok('move', -1);
  }

  /** remapErr: mremap's argument and "one mapping" checks. */
  private remapErr(
    sp: MSpace,
    at: number,
    oldSize: number,
    newSize: number,
    flags: number,
    to: number,
  ) {
    if (at % this.ps !== 0 || newSize === 0 || oldSize === 0) return 'EINVAL';
    if (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) && !(flags & MREMAP_MAYMOVE)) return 'EINVAL';
    if (flags & MREMAP_DONTUNMAP && oldSize !== newSize) return 'EINVAL';
    const first = sp.pages.get(at / this.ps);
    if (first === undefined) return 'EFAULT';
    for (let a = at + this.ps; a < at + oldSize; a += this.ps)
      if (!oneVma(sp.pages.get(a / this.ps - 1)!, sp.pages.get(a / this.ps))) return 'EFAULT';
    if (
      newSize > oldSize &&
      first.locked &&
      this.lockedBytes(sp) + newSize - oldSize > sp.lockLimit
    )
      return 'EAGAIN';
    if (flags & MREMAP_DONTUNMAP && (first.shared || first.obj !== null)) return 'EINVAL';
    if (flags & MREMAP_FIXED) {
      if (to % this.ps !== 0) return 'EINVAL';
      if (to < at + oldSize && at < to + newSize) return 'EINVAL';
    }
    return 0;
  }

  /**
   * mremap: carry out a plan (for a move, `to` is where the kernel put
   * it). Locked pages moved or grown are wired at their new place: faulted
   * in for writing ('maybe' when that may fail unseen).
   */
  mremap(
    sp: MSpace,
    at: number,
    plan: RemapPlan & { err: 0 },
    flags: number,
    wire: 'all' | 'maybe',
  ) {
    const { oldSize, newSize, to } = plan;
    if (plan.kind === 'shrink') this.unmap(sp, at + newSize, oldSize - newSize);
    else if (plan.kind === 'grow') this.grow(sp, at, oldSize, newSize);
    else this.move(sp, at, oldSize, newSize, to, flags);
    if (plan.kind !== 'shrink') {
      const [from, n] = plan.kind === 'move' ? [to, newSize] : [at + oldSize, newSize - oldSize];
      this.each(sp, from, n, (p) => {
        if (p.locked) this.faultForWrite(p, wire);
      });
    }
    sp.changed();
  }

  /** move: the pages go to `to` (their contents with them); the rest as mremap says. */
  private move(
    sp: MSpace,
    at: number,
    oldSize: number,
    newSize: number,
    to: number,
    flags: number,
  ) {
    const keep = Math.min(oldSize, newSize);
    if (flags & MREMAP_FIXED) this.unmap(sp, to, newSize);
    if (oldSize > keep) this.unmap(sp, at + keep, oldSize - keep);
    const moved: MPage[] = [];
    for (let a = at; a < at + keep; a += this.ps) {
      moved.push(sp.pages.get(a / this.ps)!);
      sp.pages.delete(a / this.ps);
    }
    for (let i = 0; i < moved.length; i++) sp.pages.set(to / this.ps + i, moved[i]);
    if (flags & MREMAP_DONTUNMAP) {
      const f = moved[0];
      this.mmap(sp, at, keep, f.prot, false, { obj: null, writable: true });
      this.each(sp, at, keep, (p) => {
        p.maxprot = f.maxprot;
      });
    }
    if (newSize > keep) this.grow(sp, to, keep, newSize);
  }

  /**
   * grow: extend the mapping at `at` from oldSize to newSize: the kind,
   * protection and locking of its first page; the object (continuing its
   * offsets), inheritance and advice of its last.
   */
  private grow(sp: MSpace, at: number, oldSize: number, newSize: number): void {
    const first = sp.pages.get(at / this.ps)!;
    const last = sp.pages.get((at + oldSize) / this.ps - 1)!;
    for (let i = 0; i < (newSize - oldSize) / this.ps; i++) {
      const p: MPage = {
        ...first,
        inherit: last.inherit,
        advice: last.advice,
        obj: last.obj,
        idx: last.obj === null ? 0 : last.idx + 1 + i,
        cell: first.shared && last.obj !== null ? null : new Cell(),
      };
      sp.pages.set((at + oldSize) / this.ps + i, p);
    }
  }

  /* ---- System V shared memory ---------------------------------------- */

  /** shmat: the segment mapped shared at `at`, read-write. */
  shmat(sp: MSpace, at: number, seg: MObject): void {
    this.mmap(sp, at, seg.bytes.length, PROT_READ | PROT_WRITE, true, { obj: seg, writable: true });
    sp.shm.set(at, seg);
  }

  /** shmdtErr: EINVAL unless a segment was attached at `at` and is mapped there. */
  shmdtErr(sp: MSpace, at: number): Errno | 0 {
    const seg = sp.shm.get(at);
    const p = sp.pages.get(at / this.ps);
    return seg !== undefined && p !== undefined && p.obj === seg && at % this.ps === 0
      ? 0
      : 'EINVAL';
  }

  /** shmdt: the segment attached at `at` goes (its whole size from there). */
  shmdt(sp: MSpace, at: number): void {
    const seg = sp.shm.get(at)!;
    this.unmap(sp, at, seg.bytes.length);
    sp.shm.delete(at);
  }

  /* ---- pipes --------------------------------------------------------- */

  /** fdTable: the descriptors of process `name` (a harness error when none). */
  fdTable(name: string): (MFd | null)[] {
    const t = this.fds.get(name);
    if (t === undefined) throw new Error(`model: no descriptors of ${name}`);
    return t;
  }

  /** forkFds: the child's copy of the parent's descriptors, under the same numbers (fdcopy). */
  private forkFds(parent: string, child: string): void {
    const copy = [...this.fdTable(parent)];
    for (const d of copy) if (d !== null) openEnd(d);
    this.fds.set(child, copy);
  }

  /** pipe: a new pipe in `name`'s table => [read fd, write fd], each the lowest free number. */
  pipe(name: string): [number, number] {
    const pipe = new MPipe();
    return [this.open(name, { pipe, write: false }), this.open(name, { pipe, write: true })];
  }

  /** open: d at the lowest free descriptor number => that number. */
  private open(name: string, d: MFd): number {
    const t = this.fdTable(name);
    const fd = t.includes(null) ? t.indexOf(null) : t.length;
    t[fd] = d;
    openEnd(d);
    return fd;
  }

  /** end: the descriptor fd of `name` if it is open on the end `write` says, else null. */
  private end(name: string, fd: number, write: boolean): MFd | null {
    const d = this.fdTable(name)[fd];
    return d !== undefined && d !== null && d.write === write ? d : null;
  }

  /**
   * pipeWritePlan: writeFd(fd, at, len): the arguments, EBADF, EPIPE with
   * no reader anywhere, EAGAIN when full; then what fits (n) must be
   * readable (EFAULT).
   */
  pipeWritePlan(name: string, fd: number, at: number, len: number): PipePlan {
    const bad = argErr(at, len);
    if (bad !== 0) return { err: bad, soft: false, n: 0 };
    const d = this.end(name, fd, true);
    if (d === null) return { err: 'EBADF', soft: false, n: 0 };
    if (d.pipe.readers === 0) return { err: 'EPIPE', soft: false, n: 0 };
    const n = Math.min(len, PIPE_SIZE - d.pipe.size);
    if (len > 0 && n === 0) return { err: 'EAGAIN', soft: false, n: 0 };
    return this.bufferPlan(name, at, n, false);
  }

  /**
   * pipeReadPlan: readFd(fd, at, len): the arguments, EBADF; then the
   * bytes buffered that fit (n) must go to writable pages (EFAULT); an
   * empty read checks no page.
   */
  pipeReadPlan(name: string, fd: number, at: number, len: number): PipePlan {
    const bad = argErr(at, len);
    if (bad !== 0) return { err: bad, soft: false, n: 0 };
    const d = this.end(name, fd, false);
    if (d === null) return { err: 'EBADF', soft: false, n: 0 };
    return this.bufferPlan(name, at, Math.min(len, d.pipe.size), true);
  }

  /** bufferPlan: moving n bytes at `at`: nothing to check for none, else accessErr. */
  private bufferPlan(name: string, at: number, n: number, write: boolean): PipePlan {
    if (n === 0) return { err: 0, soft: false, n };
    return { ...this.accessErr(this.space(name), at, n, write), n };
  }

  /** pipeWrite: `data` (what the writer's buffer at `at` held) goes into the pipe at fd. */
  pipeWrite(name: string, fd: number, at: number, data: Uint8Array): void {
    this.end(name, fd, true)!.pipe.push(data, at, this.ps);
  }

  /**
   * pipeRead: the oldest n bytes of the pipe at fd go to [at, at+n) of
   * `name`'s memory as one write (the kernel makes every page writable
   * before a byte moves, as for a write).
   */
  pipeRead(name: string, fd: number, at: number, n: number): void {
    const pieces = this.end(name, fd, false)!.pipe.take(n);
    this.write(this.space(name), at, concat(pieces, n));
  }

  /** closeErr: EBADF for a descriptor that is not open. */
  closeErr(name: string, fd: number): Errno | 0 {
    return this.fdTable(name)[fd] ? 0 : 'EBADF';
  }

  /** close: descriptor fd goes. */
  close(name: string, fd: number): void {
    const t = this.fdTable(name);
    closeEnd(t[fd]!);
    t[fd] = null;
  }

  /** openPipes: => each pipe open anywhere once, with a process and descriptor holding it. */
  openPipes(): [MPipe, string, number][] {
    const seen = new Map<MPipe, [MPipe, string, number]>();
    for (const [name, t] of this.fds)
      t.forEach((d, fd) => {
        if (d !== null && !seen.has(d.pipe)) seen.set(d.pipe, [d.pipe, name, fd]);
      });
    return [...seen.values()];
  }

  /* ---- access -------------------------------------------------------- */

  /**
   * accessErr: EFAULT when a page of [va, va+n) is unmapped, not
   * readable (or writable), or past its file's end (SIGBUS); `soft` when
   * only the last holds (the kernel faults pages in before it finds out,
   * so memory errors may come first).
   */
  accessErr(sp: MSpace, va: number, n: number, write: boolean): { err: Errno | 0; soft: boolean } {
    let sigbus = false;
    for (let v = Math.floor(va / this.ps); v * this.ps < va + n; v++) {
      const p = sp.pages.get(v);
      if (!p || p.prot === PROT_NONE || (write && !(p.prot & PROT_WRITE)))
        return { err: 'EFAULT', soft: false };
      if (this.pastEnd(p)) sigbus = true;
    }
    return { err: sigbus ? 'EFAULT' : 0, soft: true };
  }

  /** backing: what shows through a page with no bytes of its own. */
  backing(p: MPage): Uint8Array {
    if (p.obj === null) return this.zero;
    return p.obj.bytes.subarray(p.idx * this.ps, (p.idx + 1) * this.ps);
  }

  /** materialize: give a page's Cell its own bytes (copied from its backing). */
  private materialize(p: MPage): void {
    const c = p.cell!;
    c.cands = c.cands.map((d) => d ?? this.backing(p).slice());
  }

  /**
   * write: store `data` at va (every page writable, the world checked).
   * As the kernel's access does, every private page gets its own copy
   * first, then the bytes are stored: a write through a shared mapping of
   * a file page does not reach a private copy of that page the same
   * write makes.
   */
  write(sp: MSpace, va: number, data: Uint8Array): void {
    this.pieces(sp, va, data.length, (p) => {
      if (p.cell !== null) this.materialize(p);
    });
    this.pieces(sp, va, data.length, (p, off, from, n) => {
      if (p.cell === null) {
        p.obj!.bytes.set(data.subarray(from, from + n), p.idx * this.ps + off);
        return;
      }
      for (const d of p.cell.cands) d!.set(data.subarray(from, from + n), off);
      p.cell.cands = dedupe(p.cell.cands);
      p.cell.discardable = false;
    });
  }

  /** expected: the bytes a read of [va, va+n) should see (the first candidate of each page). */
  expected(sp: MSpace, va: number, n: number): Uint8Array {
    const out = new Uint8Array(n);
    this.pieces(sp, va, n, (p, off, from, len) => {
      out.set(this.candidates(p)[0].subarray(off, off + len), from);
    });
    return out;
  }

  /** candidates: the contents a page may have now. */
  candidates(p: MPage): Uint8Array[] {
    if (p.cell === null) return [this.backing(p)];
    return p.cell.cands.map((d) => d ?? this.backing(p));
  }

  /**
   * checkRead: does `got`, read at va, agree with the model? Keeps only
   * the candidates it agrees with (zeros stay possible while discardable).
   */
  checkRead(sp: MSpace, va: number, got: Uint8Array): boolean {
    let ok = true;
    this.pieces(sp, va, got.length, (p, off, from, n) => {
      if (!this.candidates(p).some((c) => same(c, off, got, from, n))) ok = false;
    });
    if (!ok) return false;
    this.pieces(sp, va, got.length, (p, off, from, n) => {
      const cell = p.cell;
      if (cell === null || cell.cands.length === 1) return;
      const cands = this.candidates(p);
      cell.cands = cell.cands.filter((_d, i) => same(cands[i], off, got, from, n));
      if (cell.discardable) markFree(cell);
    });
    return true;
  }

  /** pieces: [va, va+n) page by page: f(page, offset in page, offset in buffer, length). */
  private pieces(
    sp: MSpace,
    va: number,
    n: number,
    f: (p: MPage, off: number, from: number, len: number) => void,
  ): void {
    for (let a = va; a < va + n; ) {
      const off = a % this.ps;
      const len = Math.min(this.ps - off, va + n - a);
      f(sp.pages.get(Math.floor(a / this.ps))!, off, a - va, len);
      a += len;
    }
  }
}

/** argErr: the checks of every access: EINVAL for a bad address or length, EFAULT outside the user range. */
function argErr(at: number, len: number): Errno | 0 {
  if (!Number.isSafeInteger(at) || at < 0 || !Number.isSafeInteger(len) || len < 0) return 'EINVAL';
  return len > 0 && (at < USER_MIN || at + len > USER_MAX) ? 'EFAULT' : 0;
}

/** openEnd: one more descriptor on d's end. */
function openEnd(d: MFd): void {
  if (d.write) d.pipe.writers++;
  else d.pipe.readers++;
}

/** closeEnd: one descriptor fewer on d's end (a pipe with none is reached no more). */
function closeEnd(d: MFd): void {
  if (d.write) d.pipe.writers--;
  else d.pipe.readers--;
}

/** concat: the arrays one after another (total bytes `size`). */
function concat(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const BEHAVIOURS = [MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL];

/**
 * oneVma: page q continues page p as one Linux vma would (mremap takes
 * one): the same protection, kind, object at the next offset, locking,
 * advice and inheritance.
 */
function oneVma(p: MPage, q: MPage | undefined): boolean {
  return (
    q !== undefined &&
    q.prot === p.prot &&
    q.shared === p.shared &&
    q.obj === p.obj &&
    (p.obj === null || q.idx === p.idx + 1) &&
    q.locked === p.locked &&
    q.advice === p.advice &&
    q.inherit === p.inherit
  );
}

/** markFree: after MADV_FREE the page may become zeros until written. */
function markFree(c: Cell): void {
  c.discardable = true;
  if (!c.cands.some((d) => d === null || d.every((b) => b === 0))) c.cands.push(null);
}

/** dedupe: candidates without repeats. */
function dedupe(cands: (Uint8Array | null)[]): (Uint8Array | null)[] {
  return cands.filter((d, i) => cands.findIndex((e) => e === d || sameBytes(d, e)) === i);
}

function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  return a !== null && b !== null && same(a, 0, b, 0, a.length);
}

/** same: a[ai, ai+n) equals b[bi, bi+n). */
function same(a: Uint8Array, ai: number, b: Uint8Array, bi: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[ai + i] !== b[bi + i]) return false;
  return true;
}

/** coalesce: /proc/PID/maps lines as runs [start, end, perms], equal neighbours joined. */
export function coalesce(lines: string[]): MapRun[] {
  return coalesceRows(lines.map((l, i) => parseMapsRow(l, i + 1)));
}
