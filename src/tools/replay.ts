/*
 * replay.ts: apply a recorded real program (an strace log, strace.ts) to a
 * system, process by process, and compare its maps with the real ones.
 *
 *   each exec'ed process starts from the kernel's own layout: the
 *   /proc/PID/maps snapshot taken right after its execve (init/NAME.PID.maps,
 *   or init/NAME.PID.execK.maps for the K-th of a pid that execs again)
 *
 *   each call is applied at the line where it completes; what the kernel
 *   chose is applied as a fixed placement (an mmap's address, a moved
 *   mremap's target, the first brk(NULL)'s heap start)
 *
 *   a new pid belongs to the clone, clone3, fork or vfork still unfinished,
 *   or to the one that returned it; CLONE_VM shares the parent's space
 *   (threads, vfork, posix_spawn), otherwise it is forked
 *
 *   a call that failed in the log must fail with the same errno, one that
 *   succeeded must succeed (with the same result); every mismatch is listed.
 *   A failed mprotect/mlock/munlock/madvise whose range Linux changed up to
 *   a hole is reported as such (this system changes nothing then).
 *   A line it does not understand is listed with its number.
 *
 *   the compare point of a process: just before its first kill(PID, 0) = 0
 *   line, or just before its exit when it has none
 */

import { entryContains, vmMapLookupEntry } from '../kernel/map/index.ts';
import { objectDetach, type UvmObject } from '../kernel/object.ts';
import {
  hex,
  MADV_DOFORK,
  MADV_DONTFORK,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  MAP_ANON,
  MAP_DENYWRITE,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_GROWSDOWN,
  MAP_NORESERVE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_STACK,
  MCL_CURRENT,
  MCL_FUTURE,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  MS_ASYNC,
  MS_INVALIDATE,
  MS_SYNC,
  PROT_ALL,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  VmError,
} from '../kernel/param.ts';
import type { MappableFile } from '../kernel/vnode.ts';
import type { Process } from '../sys/proc.ts';
import type { VmSystem } from '../sys/system.ts';
import { type CallEvent, fdPath, parseFlags, parseNumber, type StraceEvent } from './strace.ts';

const FLAG_BITS: Record<string, number> = {
  PROT_NONE: 0,
  PROT_READ,
  PROT_WRITE,
  PROT_EXEC,
  MAP_SHARED,
  MAP_PRIVATE,
  MAP_SHARED_VALIDATE: 3,
  MAP_ANONYMOUS: MAP_ANON,
  MAP_ANON,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_DENYWRITE,
  MAP_NORESERVE,
  MAP_POPULATE,
  MAP_STACK,
  MAP_GROWSDOWN,
  MREMAP_MAYMOVE,
  MREMAP_FIXED,
  MREMAP_DONTUNMAP,
  MS_ASYNC,
  MS_SYNC,
  MS_INVALIDATE,
  MCL_CURRENT,
  MCL_FUTURE,
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_DONTFORK,
  MADV_DOFORK,
};

/** A call whose outcome differs from the log's. */
export interface Mismatch {
  line: number;
  pid: number;
  call: string;
  expected: string;
  got: string;
}

/** A line of the log worth telling the user about. */
export interface Note {
  line: number;
  text: string;
}

/** One process's part in the replay. */
export interface ProcSummary {
  pid: number;
  parent: number | null;
  execs: string[];
  calls: number;
  mismatches: number;
  exited: boolean;
  /** resident pages at the end (or at exit) */
  rss: number;
  /** its maps at the compare point */
  maps: string[];
}

export interface ReplayReport {
  calls: number;
  mismatches: Mismatch[];
  /** failed calls Linux applied up to a hole (and this system did not) */
  partial: Note[];
  /** lines the replay did not understand */
  unknown: Note[];
  /** files mapped: from the real file, or from a stand-in */
  files: { path: string; real: boolean; size: number }[];
  processes: ProcSummary[];
  counters: Record<string, number>;
}

export interface ReplayOptions {
  /**
   * the /proc/PID/maps snapshot taken right after pid's `exec`-th
   * successful execve (counting from 1), if any
   */
  snapshot(pid: number, exec: number): string[] | null;
  /** called every so many events, for a progress bar */
  progress?(done: number, total: number): void;
}

const NOOP_CALLS = new Set([
  'wait4',
  'waitid',
  'kill',
  'tgkill',
  'tkill',
  'getpid',
  'gettid',
  'set_tid_address',
]);
const CLONES = new Set(['clone', 'clone3', 'fork', 'vfork']);

/** Replay a parsed log onto a system. */
export class Replay {
  private readonly procs = new Map<number, Process>();
  private readonly summaries = new Map<number, ProcSummary>();
  private readonly marked = new Map<number, string[]>();
  private readonly heapKnown = new Set<number>();
  private readonly objects = new Map<string, UvmObject>();
  private readonly sizes = new Map<string, number>();
  private unfinishedClone: { pid: number; name: string; partial: string } | null = null;
  private readonly cloned = new Map<number, { parent: number; shareVm: boolean }>();
  private readonly report: ReplayReport = {
    calls: 0,
    mismatches: [],
    partial: [],
    unknown: [],
    files: [],
    processes: [],
    counters: {},
  };

  constructor(
    private readonly sys: VmSystem,
    private readonly events: StraceEvent[],
    private readonly opts: ReplayOptions,
  ) {
    this.measureFiles();
  }

  /**
   * run: apply every event; returns the report.
   */
  run(): ReplayReport {
    const total = this.events.length;
    this.events.forEach((ev, i) => {
      this.apply(ev);
      if (this.opts.progress && i % 256 === 0) this.opts.progress(i, total);
    });
    this.opts.progress?.(total, total);
    for (const [pid, p] of this.procs) {
      const s = this.summaries.get(pid)!;
      s.rss = p.rss;
      if (!this.marked.has(pid)) this.marked.set(pid, p.maps());
    }
    for (const s of this.summaries.values()) s.maps = this.marked.get(s.pid) ?? s.maps;
    this.report.processes = [...this.summaries.values()];
    this.report.counters = this.sys.counters;
    return this.report;
  }

  /** marks: each pid's maps at its compare point. */
  mapsAt(pid: number): string[] | undefined {
    return this.marked.get(pid);
  }

  /** release: drop the replay's references to file objects. */
  release(): void {
    for (const obj of this.objects.values()) objectDetach(this.sys.uvm, obj);
    this.objects.clear();
  }

  /** measureFiles: the size of each file the log maps, from the extents it maps. */
  private measureFiles(): void {
    for (const ev of this.events) {
      if (ev.kind !== 'call' || ev.name !== 'mmap' || ev.args.length < 6) continue;
      const path = fdPath(ev.args[4]);
      if (path === null) continue;
      const end = parseNumber(ev.args[5]) + parseNumber(ev.args[1]);
      this.sizes.set(path, Math.max(this.sizes.get(path) ?? 0, end));
    }
  }

  private apply(ev: StraceEvent): void {
    if (!this.procs.has(ev.pid)) {
      if (this.summaries.has(ev.pid)) {
        /* gone already (exit_group, then its +++ line) */
        if (ev.kind !== 'exit')
          this.report.unknown.push({ line: ev.line, text: `pid ${ev.pid} acts after it exited` });
        return;
      }
      this.adopt(ev.pid, ev.line);
    }
    switch (ev.kind) {
      case 'start':
        if (CLONES.has(ev.name))
          this.unfinishedClone = { pid: ev.pid, name: ev.name, partial: ev.partial };
        return;
      case 'signal':
      case 'stopped':
        return;
      case 'exit':
        this.exit(ev.pid);
        return;
      case 'call':
        this.call(ev);
    }
  }

  /** adopt: a pid seen for the first time: the first process, or a clone's child. */
  private adopt(pid: number, line: number): void {
    if (this.procs.size === 0 && this.summaries.size === 0) {
      this.track(pid, null, this.sys.spawn());
      return;
    }
    const known = this.cloned.get(pid);
    const parentPid = known?.parent ?? this.unfinishedClone?.pid;
    const parent = parentPid === undefined ? undefined : this.procs.get(parentPid);
    if (!parent) {
      this.report.unknown.push({
        line,
        text: `pid ${pid} appears with no clone, fork or vfork to come from`,
      });
      this.track(pid, null, this.sys.spawn());
      return;
    }
    const shareVm =
      known?.shareVm ?? cloneSharesVm(this.unfinishedClone!.name, this.unfinishedClone!.partial);
    this.track(pid, parentPid!, shareVm ? parent.vfork() : parent.fork());
  }

  private track(pid: number, parent: number | null, p: Process): void {
    this.procs.set(pid, p);
    this.summaries.set(pid, {
      pid,
      parent,
      execs: [],
      calls: 0,
      mismatches: 0,
      exited: false,
      rss: 0,
      maps: [],
    });
  }

  private exit(pid: number): void {
    const p = this.procs.get(pid);
    if (!p) return;
    if (!this.marked.has(pid)) this.marked.set(pid, p.maps());
    const s = this.summaries.get(pid)!;
    s.rss = p.rss;
    s.exited = true;
    p.exit();
    this.procs.delete(pid);
  }

  private call(ev: CallEvent): void {
    const p = this.procs.get(ev.pid)!;
    const s = this.summaries.get(ev.pid)!;
    s.calls++;
    this.report.calls++;
    if (CLONES.has(ev.name)) this.cloneDone(ev);
    else if (ev.name === 'kill') this.kill(ev, p);
    else if (ev.name === 'exit' || ev.name === 'exit_group') this.exit(ev.pid);
    else if (ev.name === 'execve' || ev.name === 'execveat') this.execve(ev, p, s);
    else if (!NOOP_CALLS.has(ev.name)) this.syscall(ev, p);
  }

  /** syscall: apply one memory call and compare its outcome with the log's. */
  private syscall(ev: CallEvent, p: Process): void {
    const handler = HANDLERS[ev.name];
    if (!handler) {
      this.report.unknown.push({
        line: ev.line,
        text: `${ev.name}: a call this replay does not know`,
      });
      return;
    }
    let got: string | 0 = 0;
    let value: number | null = null;
    try {
      value = handler(this, p, ev);
    } catch (e) {
      if (!(e instanceof VmError)) throw e;
      got = e.code;
    }
    this.compare(ev, got, value);
  }

  /** compare: the outcome against the log's. */
  private compare(ev: CallEvent, got: string | 0, value: number | null): void {
    const want = ev.errno ?? 0;
    let mismatch = got !== want;
    if (!mismatch && want === 0 && value !== null && ev.result !== null && value !== ev.result)
      mismatch = true;
    if (!mismatch && want === 'ENOMEM' && PARTIAL_CALLS.has(ev.name)) this.notePartial(ev);
    if (!mismatch) return;
    this.summaries.get(ev.pid)!.mismatches++;
    this.report.mismatches.push({
      line: ev.line,
      pid: ev.pid,
      call: `${ev.name}(${ev.args.join(', ')})`,
      expected: want === 0 ? `= ${fmt(ev.result)}` : want,
      got: got === 0 ? `= ${fmt(value)}` : got,
    });
  }

  /** notePartial: Linux changed [start, hole) before failing; say so. */
  private notePartial(ev: CallEvent): void {
    const p = this.procs.get(ev.pid)!;
    const start = parseNumber(ev.args[0]);
    const map = p.vm.map;
    const e = vmMapLookupEntry(map, start);
    if (!entryContains(map, e, start)) return;
    let hole = e.end;
    for (let x = e; x.next !== map.header && x.next.start === x.end; x = x.next) hole = x.next.end;
    this.report.partial.push({
      line: ev.line,
      text: `${ev.name} failed with ENOMEM at the hole at ${hex(hole)}: Linux changed [${hex(start)}, ${hex(hole)}) first; this replay changed nothing`,
    });
  }

  private cloneDone(ev: CallEvent): void {
    const name = ev.name;
    const flagsArg =
      ev.args.find((a) => a.startsWith('flags=') || a.startsWith('{flags=')) ?? ev.args[0] ?? '';
    this.unfinishedClone = null;
    if (ev.errno !== null || ev.result === null) return;
    const shareVm = cloneSharesVm(name, flagsArg);
    const child = ev.result;
    if (!this.summaries.has(child)) {
      const parent = this.procs.get(ev.pid)!;
      this.track(child, ev.pid, shareVm ? parent.vfork() : parent.fork());
    }
    this.cloned.set(child, { parent: ev.pid, shareVm });
  }

  private kill(ev: CallEvent, p: Process): void {
    const target = parseNumber(ev.args[0] ?? '');
    if (target === ev.pid && ev.args[1] === '0' && ev.result === 0 && !this.marked.has(ev.pid))
      this.marked.set(ev.pid, p.maps());
  }

  private execve(ev: CallEvent, p: Process, s: ProcSummary): void {
    if (ev.errno !== null) return;
    const path = JSON.parse(ev.args[0] ?? '""') as string;
    const rows = this.opts.snapshot(ev.pid, s.execs.length + 1);
    if (rows === null)
      this.report.unknown.push({
        line: ev.line,
        text: `no init snapshot for pid ${ev.pid}: it starts empty`,
      });
    p.exec(rows ?? [], path);
    s.execs.push(path);
    this.marked.delete(ev.pid);
    if (rows?.some((r) => r.trimEnd().endsWith('[heap]'))) this.heapKnown.add(ev.pid);
    else this.heapKnown.delete(ev.pid);
  }

  /** file: what mmap maps for `path`: the real file if it exists, else a stand-in of its size. */
  file(path: string): MappableFile {
    let obj = this.objects.get(path);
    if (obj === undefined) {
      obj = this.sys.fileObject(path, this.sizes.get(path) ?? 0);
      this.objects.set(path, obj);
      this.report.files.push({ path, real: obj.kind === 'vnode', size: obj.size });
    }
    const o = obj;
    return { object: () => o, maxSharedProt: PROT_ALL, path };
  }

  /** brkQuery: the first brk(NULL) after exec tells where the heap starts. */
  brkStart(pid: number, p: Process, result: number | null): void {
    if (this.heapKnown.has(pid) || result === null) return;
    p.vm.brkStart = p.vm.brk = result;
    this.heapKnown.add(pid);
  }
}

/** the calls Linux applies up to a hole before failing with ENOMEM */
const PARTIAL_CALLS = new Set(['mprotect', 'mlock', 'munlock', 'madvise', 'mlock2']);

/** cloneSharesVm: does this clone keep the parent's address space (CLONE_VM, vfork)? */
function cloneSharesVm(name: string, flagsText: string): boolean {
  return name === 'vfork' || /CLONE_VM\b/.test(flagsText);
}

function fmt(v: number | null): string {
  return v === null ? '?' : v > 0xffff ? hex(v) : String(v);
}

/** bits: the value of a flag list or a number. */
function bits(arg: string): number {
  if (/^(0x[0-9a-f]+|\d+)$/.test(arg)) return parseNumber(arg);
  let v = 0;
  for (const name of parseFlags(arg)) {
    if (!(name in FLAG_BITS))
      throw new VmError('EINVAL', 'replay', 'flags', `unknown flag ${name}`);
    v |= FLAG_BITS[name];
  }
  return v;
}

type Handler = (r: Replay, p: Process, ev: CallEvent) => number | null;

/**
 * rangeCall: the handler of a call on (addr, len[, flags]) that returns 0;
 * `flags` says whether the third argument is a flag word to decode.
 */
function rangeCall(
  apply: (p: Process, addr: number, len: number, flags: number) => unknown,
  flags = true,
): Handler {
  return (_r, p, ev) => {
    const [addr, len, third] = ev.args;
    apply(p, parseNumber(addr), parseNumber(len), flags ? bits(third) : 0);
    return 0;
  };
}

/** the memory calls, applied with what the kernel chose as fixed placements */
const HANDLERS: Record<string, Handler> = {
  mmap(r, p, ev) {
    const [addr, len, prot, flags, fd, off] = ev.args;
    const path = fdPath(fd);
    let f = bits(flags) & ~MAP_DENYWRITE;
    const file = path !== null ? r.file(path) : null;
    if (ev.errno === null && ev.result !== null) {
      f = (f & ~MAP_FIXED_NOREPLACE) | MAP_FIXED;
      return p.mmap(ev.result, parseNumber(len), bits(prot), f, file, parseNumber(off));
    }
    return p.mmap(parseNumber(addr), parseNumber(len), bits(prot), f, file, parseNumber(off));
  },
  munmap(_r, p, ev) {
    p.munmap(parseNumber(ev.args[0]), parseNumber(ev.args[1]));
    return 0;
  },
  mprotect: rangeCall((p, a, len, prot) => p.mprotect(a, len, prot)),
  pkey_mprotect: rangeCall((p, a, len, prot) => p.mprotect(a, len, prot)),
  madvise: rangeCall((p, a, len, advice) => p.madvise(a, len, advice)),
  mlock: rangeCall((p, a, len) => p.mlock(a, len), false),
  mlock2: rangeCall((p, a, len) => p.mlock(a, len), false),
  munlock: rangeCall((p, a, len) => p.munlock(a, len), false),
  mlockall(_r, p, ev) {
    p.mlockall(bits(ev.args[0]));
    return 0;
  },
  munlockall(_r, p) {
    p.munlockall();
    return 0;
  },
  msync: rangeCall((p, a, len, flags) => p.msync(a, len, flags)),
  mincore: rangeCall((p, a, len) => p.mincore(a, len), false),
  brk(r, p, ev) {
    const addr = parseNumber(ev.args[0]);
    if (addr === 0) r.brkStart(ev.pid, p, ev.result);
    return p.brk(addr);
  },
  mremap(_r, p, ev) {
    const [old, oldLen, newLen, flags, newAddr] = ev.args;
    const o = parseNumber(old);
    let f = bits(flags);
    let to = newAddr === undefined ? 0 : parseNumber(newAddr);
    if (ev.errno === null && ev.result !== null && ev.result !== o && f & MREMAP_MAYMOVE) {
      f |= MREMAP_FIXED;
      to = ev.result;
    }
    return p.mremap(o, parseNumber(oldLen), parseNumber(newLen), f, to);
  },
};
