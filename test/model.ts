/*
 * A deliberately naive reference system: every process holds a map from
 * page number to a mapping whose bytes it owns (a private box) or shares
 * with other processes (a shared box). fork copies every private box.
 * No amaps, no faults, no copy-on-write: if the real system and this one
 * agree on every byte read and every errno, copy-on-write did its job.
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
  MAP_INHERIT_COPY,
  MAP_INHERIT_NONE,
  MAP_INHERIT_SHARE,
  PROT_WRITE,
} from '../src/param.ts';

/** A page's bytes; shared between spaces when the memory is shared. */
export class Box {
  constructor(public bytes: Uint8Array) {}
}

export interface MPage {
  prot: number;
  /** MAP_SHARED memory */
  shared: boolean;
  inherit: number;
  locked: boolean;
  /** null: never written, reads as zeros (private only) */
  box: Box | null;
}

export class MSpace {
  pages = new Map<number, MPage>();
  users = 1;
}

/** The model: spaces by pid. */
export class Model {
  readonly procs = new Map<number, MSpace>();

  constructor(readonly ps: number) {}

  space(pid: number): MSpace {
    return this.procs.get(pid)!;
  }

  spawn(pid: number): void {
    this.procs.set(pid, new MSpace());
  }

  /** mmap at the address the real system chose (or was told). */
  mmap(pid: number, addr: number, len: number, prot: number, shared: boolean): void {
    const sp = this.space(pid);
    for (let v = addr; v < addr + len; v += this.ps) {
      sp.pages.set(v / this.ps, {
        prot,
        shared,
        inherit: shared ? MAP_INHERIT_SHARE : MAP_INHERIT_COPY,
        locked: false,
        box: shared ? new Box(new Uint8Array(this.ps)) : null,
      });
    }
  }

  /** holes: is any page of [addr, addr+len) unmapped? */
  holes(pid: number, addr: number, len: number): boolean {
    const sp = this.space(pid);
    for (let v = addr; v < addr + len; v += this.ps) if (!sp.pages.has(v / this.ps)) return true;
    return false;
  }

  /** anyMapped: is any page of [addr, addr+len) mapped? */
  anyMapped(pid: number, addr: number, len: number): boolean {
    const sp = this.space(pid);
    for (let v = addr; v < addr + len; v += this.ps) if (sp.pages.has(v / this.ps)) return true;
    return false;
  }

  munmap(pid: number, addr: number, len: number): void {
    for (let v = addr; v < addr + len; v += this.ps) this.space(pid).pages.delete(v / this.ps);
  }

  /** each: apply f to the mapped pages of a range. */
  each(pid: number, addr: number, len: number, f: (p: MPage, vpn: number) => void): void {
    const sp = this.space(pid);
    for (let v = addr; v < addr + len; v += this.ps) {
      const p = sp.pages.get(v / this.ps);
      if (p) f(p, v / this.ps);
    }
  }

  /** madvise's effect (after the errno checks). */
  madvise(pid: number, addr: number, len: number, advice: number): void {
    this.each(pid, addr, len, (p) => {
      if (advice === MADV_DONTNEED && !p.shared && p.box) p.box.bytes.fill(0);
      if (advice === MADV_DONTFORK) p.inherit = MAP_INHERIT_NONE;
      if (advice === MADV_DOFORK && p.inherit === MAP_INHERIT_NONE)
        p.inherit = p.shared ? MAP_INHERIT_SHARE : MAP_INHERIT_COPY;
    });
    void [MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_FREE];
  }

  /** readable/writable: the access allowed on every page of a range. */
  canAccess(pid: number, va: number, n: number, write: boolean): boolean {
    const sp = this.space(pid);
    const first = Math.floor(va / this.ps);
    const last = Math.floor((va + n - 1) / this.ps);
    for (let v = first; v <= last; v++) {
      const p = sp.pages.get(v);
      if (!p || p.prot === 0 || (write && !(p.prot & PROT_WRITE))) return false;
    }
    return true;
  }

  read(pid: number, va: number, n: number): Uint8Array {
    const out = new Uint8Array(n);
    const sp = this.space(pid);
    for (let i = 0; i < n; i++) {
      const a = va + i;
      const p = sp.pages.get(Math.floor(a / this.ps))!;
      out[i] = p.box ? p.box.bytes[a % this.ps] : 0;
    }
    return out;
  }

  write(pid: number, va: number, data: Uint8Array): void {
    const sp = this.space(pid);
    for (let i = 0; i < data.length; i++) {
      const a = va + i;
      const p = sp.pages.get(Math.floor(a / this.ps))!;
      if (!p.box) p.box = new Box(new Uint8Array(this.ps));
      p.box.bytes[a % this.ps] = data[i];
    }
  }

  /** fork: a private copy of everything but NONE, shared boxes shared. */
  fork(parent: number, child: number): void {
    const src = this.space(parent);
    const dst = new MSpace();
    for (const [vpn, p] of src.pages) {
      if (p.inherit === MAP_INHERIT_NONE) continue;
      let box = p.box;
      if (p.inherit === MAP_INHERIT_SHARE) {
        if (!box) box = p.box = new Box(new Uint8Array(this.ps));
      } else if (box) box = new Box(box.bytes.slice());
      /* COPY of shared memory gives the child a private copy */
      const shared = p.shared && p.inherit === MAP_INHERIT_SHARE;
      dst.pages.set(vpn, { ...p, shared, box, locked: false });
    }
    this.procs.set(child, dst);
  }

  vfork(parent: number, child: number): void {
    const sp = this.space(parent);
    sp.users++;
    this.procs.set(child, sp);
  }

  exit(pid: number): void {
    this.space(pid).users--;
    this.procs.delete(pid);
  }

  lockedBytes(pid: number): number {
    let n = 0;
    for (const p of this.space(pid).pages.values()) if (p.locked) n += this.ps;
    return n;
  }

  /** rows: coalesced [start, end, perms] of a space. */
  rows(pid: number): [number, number, string][] {
    const sp = this.space(pid);
    const vpns = [...sp.pages.keys()].sort((a, b) => a - b);
    const out: [number, number, string][] = [];
    for (const v of vpns) {
      const p = sp.pages.get(v)!;
      const perms = permString(p.prot, p.shared);
      const last = out[out.length - 1];
      if (last && last[1] === v * this.ps && last[2] === perms) last[1] += this.ps;
      else out.push([v * this.ps, (v + 1) * this.ps, perms]);
    }
    return out;
  }
}

export function permString(prot: number, shared: boolean): string {
  return `${prot & 1 ? 'r' : '-'}${prot & 2 ? 'w' : '-'}${prot & 4 ? 'x' : '-'}${shared ? 's' : 'p'}`;
}

/** coalesce: maps lines to [start, end, perms], adjacent equal perms joined. */
export function coalesce(lines: string[]): [number, number, string][] {
  const out: [number, number, string][] = [];
  for (const l of lines) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4})/.exec(l)!;
    const s = Number.parseInt(m[1], 16);
    const e = Number.parseInt(m[2], 16);
    const last = out[out.length - 1];
    if (last && last[1] === s && last[2] === m[3]) last[1] = e;
    else out.push([s, e, m[3]]);
  }
  return out;
}
