/*
 * fuzz/gen.ts: the operation mix: the next concrete command for the
 * world's state, from a source of choices (a seeded PRNG in campaigns,
 * fast-check's numbers in the property tests).
 *
 * Addresses are taken half from the window MAP_FIXED mappings go to and
 * half from around the process's own pages, so calls land on mappings,
 * their edges and the holes between them; a few are unaligned, a few
 * lengths are not whole pages. Every SWEEP_EVERY commands comes a sweep
 * (every readable page of every process read and compared).
 *
 * Pipes: writes and reads mostly of whole, page-aligned pages (what the
 * kernel lends and hands over rather than copies), some unaligned; now
 * and then a descriptor that is not open on that end, or a buffer outside
 * the user range.
 */

import {
  MADV_DOFORK,
  MADV_DONTFORK,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  MAP_ANON,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_INHERIT_COPY,
  MAP_INHERIT_NONE,
  MAP_INHERIT_SHARE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  MS_ASYNC,
  MS_INVALIDATE,
  MS_SYNC,
  PROT_EXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  USER_MAX,
} from '../../src/kernel/param.ts';
import { formatMapsRow } from '../../src/sys/procmaps.ts';
import type { MFd, MSpace } from '../model.ts';
import type { Cmd, World } from '../world.ts';
import { type FuzzConfig, OPS, type OpKind, type Pick, WINDOW } from './config.ts';

/** A sweep comes every this many commands. */
export const SWEEP_EVERY = 150;

const RW = PROT_READ | PROT_WRITE;
const PROTS = [PROT_NONE, PROT_READ, RW, RW, RW, PROT_READ | PROT_EXEC, RW | PROT_EXEC];
const ADVICE = [
  MADV_DONTNEED,
  MADV_DONTNEED,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_FREE,
  MADV_FREE,
  MADV_DONTFORK,
  MADV_DONTFORK,
  MADV_DOFORK,
  MADV_DOFORK,
  MADV_WILLNEED,
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
];
const INHERIT = [
  MAP_INHERIT_SHARE,
  MAP_INHERIT_SHARE,
  MAP_INHERIT_SHARE,
  MAP_INHERIT_COPY,
  MAP_INHERIT_COPY,
  MAP_INHERIT_NONE,
];
const MSYNC = [MS_SYNC, MS_SYNC, MS_ASYNC, MS_SYNC | MS_INVALIDATE, MS_ASYNC | MS_INVALIDATE];
const REMAP = [
  0,
  MREMAP_MAYMOVE,
  MREMAP_MAYMOVE,
  MREMAP_MAYMOVE | MREMAP_FIXED,
  MREMAP_MAYMOVE | MREMAP_DONTUNMAP,
];

/** Chooses commands; keeps the names it gave out. */
export class Generator {
  private procNames = 0;
  private segNames = 0;
  private readonly total: number;
  private readonly ps: number;

  constructor(
    readonly cfg: FuzzConfig,
    private readonly pick: Pick,
  ) {
    this.total = cfg.weights.reduce((a, b) => a + b, 0);
    this.ps = cfg.pageSize;
  }

  /**
   * next: command number `i` for the world as it is.
   * => a spawn when no process is left; a sweep every SWEEP_EVERY.
   */
  next(w: World, i: number): Cmd {
    const names = [...w.procs.keys()];
    if (names.length === 0) return { op: 'spawn', p: `p${++this.procNames}` };
    if (i % SWEEP_EVERY === SWEEP_EVERY - 1) return { op: 'sweep' };
    const p = names[this.pick.int(names.length)];
    return this.command(this.kind(), w, p);
  }

  /** kind: an operation, by the configuration's weights. */
  private kind(): OpKind {
    let r = (this.pick.int(1 << 30) / (1 << 30)) * this.total;
    for (let k = 0; k < OPS.length; k++) {
      r -= this.cfg.weights[k];
      if (r < 0) return OPS[k];
    }
    return 'read';
  }

  private command(kind: OpKind, w: World, p: string): Cmd {
    const sp = w.model.space(p);
    const [at, len] = this.chance(5) ? [this.addr(sp), this.len()] : this.run(sp);
    switch (kind) {
      case 'mmap':
        return this.mmap(p, sp);
      case 'munmap':
        return { op: 'munmap', p, at, len };
      case 'mprotect':
        return { op: 'mprotect', p, at, len, prot: this.one(PROTS) };
      case 'minherit':
        return { op: 'minherit', p, at, len, inherit: this.one(INHERIT) };
      case 'madvise':
        return { op: 'madvise', p, at, len, advice: this.one(ADVICE) };
      case 'mlock':
      case 'munlock':
        return { op: kind, p, at: this.chance(8) ? at + this.pick.int(this.ps) : at, len };
      case 'mlockall':
        return { op: this.chance(2) ? 'mlockall' : 'munlockall', p };
      case 'msync':
        return {
          op: 'msync',
          p,
          at,
          len,
          flags: this.chance(40) ? MS_SYNC | MS_ASYNC : this.one(MSYNC),
        };
      case 'fork':
      case 'vfork':
        return this.fork(w, kind, p);
      case 'exit':
        return { op: 'exit', p };
      case 'exec':
        return { op: 'exec', p, rows: this.rows() };
      case 'mremap':
        return this.mremap(p, sp);
      case 'shm':
        return this.shm(w, p, sp);
      case 'read':
      case 'write':
        return this.access(kind, p, sp);
      case 'paging':
        return this.paging(w);
      case 'inject':
        return this.inject(w);
      case 'pipe':
        return this.pipe(w, p, sp);
    }
  }

  /* ---- choices ---------------------------------------------------------- */

  private chance(n: number): boolean {
    return this.pick.int(n) === 0;
  }

  private one<T>(xs: readonly T[]): T {
    return xs[this.pick.int(xs.length)];
  }

  /** page: a page address in the window. */
  private page(): number {
    return WINDOW + this.pick.int(this.cfg.windowPages) * this.ps;
  }

  /** mapped: a mapped page of the space, or null. */
  private mapped(sp: MSpace): number | null {
    if (sp.pages.size === 0) return null;
    const vpns = [...sp.pages.keys()];
    return vpns[this.pick.int(vpns.length)] * this.ps;
  }

  /** writable: a writable mapped page, or null. */
  private writable(sp: MSpace): number | null {
    const vpns: number[] = [];
    for (const [v, pg] of sp.pages) if (pg.prot & PROT_WRITE) vpns.push(v);
    return vpns.length === 0 ? null : vpns[this.pick.int(vpns.length)] * this.ps;
  }

  /** addr: a page in the window, or near a mapped page; 1 in 40 unaligned. */
  private addr(sp: MSpace): number {
    const m = this.chance(2) ? null : this.mapped(sp);
    const a = m === null ? this.page() : m + (this.pick.int(5) - 2) * this.ps;
    return this.chance(40) ? a + 1 + this.pick.int(this.ps - 1) : a;
  }

  /**
   * run: a range within the mapped pages: from a mapped page, up to 8
   * pages that follow it mapped (1 in 8 one page longer: into a hole).
   */
  private run(sp: MSpace): [number, number] {
    const at = this.mapped(sp);
    if (at === null) return [this.page(), this.len()];
    return [at, (1 + this.pick.int(this.extent(sp, at, 8)) + (this.chance(8) ? 1 : 0)) * this.ps];
  }

  /** extent: how many pages from page `at` on are mapped, at most `max` (at least 1). */
  private extent(sp: MSpace, at: number, max: number): number {
    let n = 1;
    while (n < max && sp.pages.has(at / this.ps + n)) n++;
    return n;
  }

  /** len: mostly 1-6 pages; some longer; some not whole pages. */
  private len(): number {
    if (this.chance(10)) return 1 + this.pick.int(3 * this.ps);
    return (this.chance(8) ? 7 + this.pick.int(10) : 1 + this.pick.int(6)) * this.ps;
  }

  /* ---- commands --------------------------------------------------------- */

  private mmap(p: string, sp: MSpace): Cmd {
    if (sp.pages.size > 3 * this.cfg.windowPages)
      return { op: 'munmap', p, at: this.mapped(sp)!, len: this.len() };
    const next = this.chance(4) ? this.adjacent(p, sp) : null;
    if (next !== null) return next;
    const ps = this.ps;
    const kind = this.pick.int(12);
    const shared = kind === 5 || kind === 6 || kind >= 9;
    const file = kind >= 7 ? this.pick.int(this.cfg.files.length) : -1;
    const place = this.pick.int(20);
    let flags = (shared ? MAP_SHARED : MAP_PRIVATE) | (file < 0 ? MAP_ANON : 0);
    if (place < 11) flags |= MAP_FIXED;
    else if (place === 11) flags |= MAP_FIXED_NOREPLACE;
    if (this.chance(20)) flags |= MAP_POPULATE;
    const at = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) ? this.page() : 0;
    if (file < 0)
      return {
        op: 'mmap',
        p,
        at,
        len: this.len(),
        prot: this.one(PROTS),
        flags,
        file: null,
        off: 0,
      };
    const fpages = this.cfg.files[file].size / ps;
    const first = this.pick.int(fpages);
    const pages =
      1 + this.pick.int(this.chance(8) ? fpages - first + 1 : Math.min(6, fpages - first));
    const ro = shared ? this.chance(6) : this.chance(2);
    const off = first * ps + (this.chance(50) ? ps / 2 : 0);
    return {
      op: 'mmap',
      p,
      at,
      len: pages * ps,
      prot: this.one(PROTS),
      flags,
      file: `f${file}${ro ? 'r' : ''}`,
      off,
    };
  }

  /**
   * adjacent: a mapping right after the end of a mapped run, of its last
   * page's kind and (mostly) protection, at the object's next offset:
   * what the map merges, or refuses to merge.
   */
  private adjacent(p: string, sp: MSpace): Cmd | null {
    const a = this.mapped(sp);
    if (a === null) return null;
    let v = a / this.ps;
    while (sp.pages.has(v + 1)) v++;
    const last = sp.pages.get(v)!;
    const f = last.obj === null ? -1 : this.cfg.files.findIndex((x) => x.path === last.obj!.name);
    const ro = last.shared && !(last.maxprot & PROT_WRITE);
    return {
      op: 'mmap',
      p,
      at: (v + 1) * this.ps,
      len: (1 + this.pick.int(3)) * this.ps,
      prot: this.chance(4) ? this.one(PROTS) : last.prot,
      flags: (last.shared ? MAP_SHARED : MAP_PRIVATE) | (f < 0 ? MAP_ANON : 0) | MAP_FIXED,
      file: f < 0 ? null : `f${f}${ro ? 'r' : ''}`,
      off: f < 0 ? 0 : (last.idx + 1) * this.ps,
    };
  }

  private fork(w: World, kind: 'fork' | 'vfork', p: string): Cmd {
    if (w.procs.size >= this.cfg.maxProcs)
      return this.chance(4) ? { op: 'exit', p } : this.access('write', p, w.model.space(p));
    return { op: kind, p, child: `p${++this.procNames}` };
  }

  /** rows: an exec image of one to three rows in the window: anonymous, file, shared. */
  private rows(): string[] {
    const ps = this.ps;
    const rows: string[] = [];
    let a = WINDOW + this.pick.int(8) * ps;
    for (let n = 1 + this.pick.int(3); n > 0; n--) {
      const pages = 1 + this.pick.int(6);
      const kind = this.pick.int(5);
      const f = this.cfg.files[this.pick.int(this.cfg.files.length)];
      const off = kind >= 1 && kind <= 3 ? this.pick.int(f.size / ps) * ps : 0;
      const name = kind === 0 ? '' : kind === 4 ? '/dev/zero (deleted)' : f.path;
      const perms = ['rw-p', 'r--p', 'rw-p', 'rw-s', 'rw-s'][kind];
      rows.push(
        formatMapsRow({
          start: a,
          end: a + pages * ps,
          perms,
          offset: off,
          dev: '00:00',
          inode: 0,
          name,
        }),
      );
      a += (pages + this.pick.int(3)) * ps;
    }
    return rows;
  }

  private mremap(p: string, sp: MSpace): Cmd {
    const at = this.mapped(sp) ?? this.page();
    const len = (1 + this.pick.int(4)) * this.ps;
    const flags = this.one(REMAP);
    const newLen = flags & MREMAP_DONTUNMAP ? len : (1 + this.pick.int(6)) * this.ps;
    return { op: 'mremap', p, at, len, newLen, flags, to: this.page() };
  }

  private shm(w: World, p: string, sp: MSpace): Cmd {
    const segs = [...w.segs.keys()];
    const k = this.pick.int(10);
    if (segs.length === 0 || (k < 2 && segs.length < 3))
      return {
        op: 'shmget',
        seg: `s${++this.segNames}`,
        size: (1 + this.pick.int(4)) * this.ps - (this.chance(3) ? 100 : 0),
      };
    if (k < 6) return { op: 'shmat', p, seg: this.one(segs) };
    if (k < 9) {
      const attached = [...sp.shm.keys()];
      return {
        op: 'shmdt',
        p,
        at: attached.length > 0 && !this.chance(5) ? this.one(attached) : this.addr(sp),
      };
    }
    return { op: 'shmrm', seg: this.one(segs) };
  }

  /** access: mostly on mapped pages, writes mostly on writable ones; up to two pages. */
  private access(kind: 'read' | 'write', p: string, sp: MSpace): Cmd {
    const ps = this.ps;
    const pages = kind === 'write' && !this.chance(4) ? this.writable(sp) : null;
    const base = this.chance(8) ? this.addr(sp) : (pages ?? this.mapped(sp) ?? this.page());
    const at = base - (base % ps) + this.pick.int(ps);
    const len = this.chance(3) ? 1 + this.pick.int(16) : 1 + this.pick.int(2 * ps);
    if (kind === 'read') return { op: 'read', p, at, len };
    return { op: 'write', p, at, len, byte: 1 + this.pick.int(255) };
  }

  /**
   * pipe: a new pipe when p has no descriptor (1 in 10 when it has few);
   * else mostly a write or a read of one, 1 in 10 a close.
   */
  private pipe(w: World, p: string, sp: MSpace): Cmd {
    const fds = w.model.fdTable(p);
    const k = this.pick.int(20);
    if (fds.every((d) => d === null) || (k < 2 && fds.length < 8)) return { op: 'pipe', p };
    if (k < 4) return { op: 'pipeclose', p, fd: this.fd(fds, null) };
    const write = k < 12;
    const [at, len] = this.pipeBuffer(sp, write);
    return { op: write ? 'pipewrite' : 'piperead', p, fd: this.fd(fds, write), at, len };
  }

  /**
   * fd: an open descriptor on the end `write` says (null: either); 1 in
   * 10, or when there is none, any number up to one past the table.
   */
  private fd(fds: (MFd | null)[], write: boolean | null): number {
    const open = fds.flatMap((d, fd) => (d !== null && (write ?? d.write) === d.write ? [fd] : []));
    return open.length === 0 || this.chance(10) ? this.pick.int(fds.length + 1) : this.one(open);
  }

  /**
   * pipeBuffer: a pipe write's source (mapped pages) or a read's target
   * (writable ones): whole, page-aligned pages of a mapped run (1 in 4 up
   * to 16, past the pipe's room); 1 in 4 unaligned; 1 in 30 empty, 1 in
   * 30 outside the user range.
   */
  private pipeBuffer(sp: MSpace, write: boolean): [number, number] {
    const ps = this.ps;
    if (this.chance(30)) return [this.chance(2) ? 0 : USER_MAX - ps, 1 + this.pick.int(2 * ps)];
    const at = (write ? this.mapped(sp) : this.writable(sp)) ?? this.addr(sp);
    if (this.chance(30)) return [at, 0];
    const pages = 1 + this.pick.int(this.extent(sp, at - (at % ps), this.chance(4) ? 16 : 4));
    if (!this.chance(4)) return [at, pages * ps];
    return [at + this.pick.int(ps), 1 + this.pick.int(pages * ps)];
  }

  private paging(w: World): Cmd {
    const ndev = w.sys.uvm.swap.devices.length;
    const k = this.pick.int(6);
    if (k < 3) return { op: 'pagedaemon' };
    if ((k < 5 && ndev < 4) || ndev === 0)
      return {
        op: 'swapon',
        pages: 16 + this.pick.int(8 * this.cfg.windowPages),
        priority: this.pick.int(3),
      };
    return { op: 'swapoff', dev: this.pick.int(ndev) };
  }

  private inject(w: World): Cmd {
    const ndev = w.sys.uvm.swap.devices.length;
    const swap = ndev > 0 && this.chance(2);
    const target = swap ? `swap${this.pick.int(ndev)}` : `f${this.pick.int(this.cfg.files.length)}`;
    return {
      op: 'inject',
      target,
      what: this.chance(2) ? 'reads' : 'writes',
      count: 1 + this.pick.int(2),
    };
  }
}
