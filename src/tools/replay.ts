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

import { Aobj } from '../kernel/aobj.ts';
import {
  entryContains,
  vmMapGrowstack,
  vmMapLock,
  vmMapLookupEntry,
  vmMapUnlock,
} from '../kernel/map/index.ts';
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
import { readMapsRow } from '../sys/procmaps.ts';
import type { VmSystem } from '../sys/system.ts';
import { MAX_SEARCH, Occupancy, serialOrder, span } from './reorder.ts';
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
  /** lines the replay did not understand (listed, then skipped) */
  unknown: Note[];
  /** overlapping calls of threads applied in another order than completion */
  orders: Note[];
  /** init snapshots missing or empty: those processes start empty */
  snapshots: Note[];
  /** stacks grown to what the real process reached by faults */
  stacks: Note[];
  /** files mapped: from the real file, or from a stand-in */
  files: { path: string; real: boolean; size: number }[];
  processes: ProcSummary[];
  counters: Record<string, number>;
}

/** A /proc/PID/maps snapshot and where it was read from (for the report). */
export interface Snapshot {
  rows: string[];
  source: string;
}

export interface ReplayOptions {
  /**
   * the /proc/PID/maps snapshot taken right after pid's `exec`-th
   * successful execve (counting from 1), if any
   */
  snapshot(pid: number, exec: number): Snapshot | null;
  /**
   * the real maps of pid at its mark or its exit, if recorded: the replay
   * grows [stack] to what they show (stack growth by faults is in no log)
   */
  realMaps?(pid: number, at: 'mark' | 'exit'): string[] | null;
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
  'memfd_create',
  '???',
]);
const CLONES = new Set(['clone', 'clone3', 'fork', 'vfork']);
/**
 * calls that end, replace or copy an address space, or mark its maps: no
 * memory call is reordered across them (but a thread's clone or exit: see
 * Replay.barrier)
 */
const BARRIERS = new Set([...CLONES, 'execve', 'execveat', 'exit', 'exit_group', 'kill']);
/** a window of overlapping calls longer than this is applied in completion order */
const MAX_WINDOW = 1 << 16;

/**
 * Replay a log onto a system, event by event (a log is streamed, never held
 * whole): feed each event, then finish for the report; run does both.
 */
export class Replay {
  private readonly procs = new Map<number, Process>();
  private readonly summaries = new Map<number, ProcSummary>();
  private readonly marked = new Map<number, string[]>();
  private readonly exited = new Map<number, string[]>();
  private readonly heapKnown = new Set<number>();
  private readonly objects = new Map<string, UvmObject>();
  /** paths unlinked during the replay: a new file there is a new object */
  private readonly unlinked = new Set<string>();
  private unfinishedClone: { pid: number; name: string; partial: string } | null = null;
  private readonly cloned = new Map<number, { parent: number; shareVm: boolean }>();
  /** pids inside an unfinished memory call, and the events since the first began */
  private readonly inCall = new Set<number>();
  private window: StraceEvent[] | null = null;
  private readonly report: ReplayReport = {
    calls: 0,
    mismatches: [],
    partial: [],
    unknown: [],
    orders: [],
    snapshots: [],
    stacks: [],
    files: [],
    processes: [],
    counters: {},
  };

  constructor(
    private readonly sys: VmSystem,
    private readonly opts: ReplayOptions,
  ) {}

  /** run: feed every event, then finish => the report. */
  run(events: Iterable<StraceEvent>): ReplayReport {
    for (const ev of events) this.feed(ev);
    return this.finish();
  }

  /**
   * feed: the next event of the log. Memory calls that overlap (an
   * <unfinished ...> one and what comes before its end) are held until the
   * last of them ends, then applied in an order their results allow.
   */
  feed(ev: StraceEvent): void {
    if (ev.kind === 'start' && HANDLERS[ev.name]) this.inCall.add(ev.pid);
    else if (ev.kind !== 'signal' && ev.kind !== 'stopped' && ev.pid !== null)
      this.inCall.delete(ev.pid);
    if (this.window === null && this.inCall.size === 0) {
      this.apply(ev);
      return;
    }
    this.window ??= [];
    this.window.push(ev);
    if (this.inCall.size === 0 || this.window.length >= MAX_WINDOW) this.applyWindow();
  }

  /** finish: the log is over => the report. */
  finish(): ReplayReport {
    if (this.window !== null) this.applyWindow();
    for (const [pid, p] of this.procs) {
      const s = this.summaries.get(pid)!;
      s.rss = p.rss;
      if (!this.marked.has(pid)) this.marked.set(pid, p.maps());
    }
    for (const s of this.summaries.values())
      s.maps = this.marked.get(s.pid) ?? this.exited.get(s.pid) ?? s.maps;
    this.report.processes = [...this.summaries.values()];
    this.report.counters = this.sys.counters;
    return this.report;
  }

  /** mapsAt: pid's maps at its compare point: its first kill(PID, 0), else its exit. */
  mapsAt(pid: number): string[] | undefined {
    return this.marked.get(pid) ?? this.exited.get(pid);
  }

  /** exitMaps: pid's maps at its exit (exit_group, or its end in the log). */
  exitMaps(pid: number): string[] | undefined {
    return this.exited.get(pid);
  }

  /** release: drop the replay's references to file objects. */
  release(): void {
    for (const obj of new Set(this.objects.values())) objectDetach(this.sys.uvm, obj);
    this.objects.clear();
  }

  /**
   * applyWindow: the held events, their memory calls in an order every
   * result allows. A thread's exit does not end its address space: when
   * the window is reordered it waits for the window's end, so that none
   * of its own calls can land after it.
   */
  private applyWindow(): void {
    const events = this.window!;
    this.window = null;
    this.inCall.clear();
    const born = this.threadsBorn(events);
    /* judged once, as the window begins (threadExit may read the recording) */
    const exits = new Set(events.filter((e) => this.threadExit(e, born)));
    const barrier = events.some((e) => this.barrier(e, exits));
    const order = barrier ? null : this.orderCalls(events, born);
    let next = 0;
    for (const ev of events) {
      const memory = ev.kind === 'call' && HANDLERS[ev.name] !== undefined;
      if (order && exits.has(ev)) continue;
      if (memory && order) {
        /* a task is adopted at its first line, whichever call this slot now applies */
        if (!this.procs.has(ev.pid) && !this.gone(ev.pid)) this.adopt(ev.pid, ev.line);
        this.apply(order[next++]);
      } else this.apply(ev);
    }
    if (order) for (const ev of exits) this.apply(ev);
  }

  /**
   * barrier: ev ends, replaces, copies or marks an address space, so no
   * memory call may move across it. A thread's creation or end is none of
   * these: its address space is shared and lives on.
   */
  private barrier(ev: StraceEvent, threadExits: Set<StraceEvent>): boolean {
    /* the +++ line of a task whose exit call was applied already changes nothing */
    if (ev.kind === 'exit') return !this.gone(ev.pid) && !threadExits.has(ev);
    if (ev.kind !== 'call' || !BARRIERS.has(ev.name)) return false;
    if (CLONES.has(ev.name)) return !isThreadClone(ev.name, cloneFlags(ev));
    return !threadExits.has(ev);
  }

  /** gone: pid was seen and has exited. */
  private gone(pid: number): boolean {
    return !this.procs.has(pid) && this.summaries.has(pid);
  }

  /**
   * threadExit: ev ends a task (its exit call or its +++ line) whose
   * address space another task used when the window began (a task made in
   * the window counts with its creator's space), and no real maps were
   * recorded at its exit to compare with. So when every thread of a space
   * exits in one window, the last one counts too: its exit also waits.
   */
  private threadExit(ev: StraceEvent, born: Map<number, number>): boolean {
    if (ev.kind !== 'exit' && !(ev.kind === 'call' && ev.name === 'exit')) return false;
    const vm = this.spaceOf(ev.pid, born);
    if (vm === undefined || this.opts.realMaps?.(ev.pid, 'exit')) return false;
    for (const [pid, p] of this.procs) if (pid !== ev.pid && p.vm === vm) return true;
    return false;
  }

  /**
   * threadsBorn: the threads made in this window, as adopt will take them:
   * by a clone call completed in it, or, for a task that shows before its
   * clone returns, by the thread clone still unfinished => child pid to
   * creator pid.
   */
  private threadsBorn(events: StraceEvent[]): Map<number, number> {
    const born = new Map<number, number>();
    const u = this.unfinishedClone;
    let pending = u !== null && isThreadClone(u.name, u.partial) ? u.pid : undefined;
    for (const e of events) {
      if (e.kind === 'note') continue;
      if (e.kind === 'start' && CLONES.has(e.name))
        pending = isThreadClone(e.name, e.partial) ? e.pid : undefined;
      else if (e.kind === 'call' && CLONES.has(e.name)) {
        if (e.result !== null && e.result > 0 && isThreadClone(e.name, cloneFlags(e)))
          born.set(e.result, e.pid);
        pending = undefined;
      } else if (pending !== undefined && !this.summaries.has(e.pid) && !born.has(e.pid))
        born.set(e.pid, pending);
    }
    return born;
  }

  /**
   * orderCalls: the window's memory calls, in the order they are to be
   * applied (per address space, serialOrder); null for completion order.
   */
  private orderCalls(events: StraceEvent[], born: Map<number, number>): CallEvent[] | null {
    const calls = events.filter(
      (e): e is CallEvent => e.kind === 'call' && HANDLERS[e.name] !== undefined,
    );
    const spaces = new Map<Process['vm'] | undefined, CallEvent[]>();
    for (const c of calls) {
      const vm = this.spaceOf(c.pid, born);
      const group = spaces.get(vm);
      if (group) group.push(c);
      else spaces.set(vm, [c]);
    }
    const chosen = new Map<CallEvent, CallEvent>();
    for (const [vm, group] of spaces) {
      if (vm === undefined || group.every((c) => c.startLine === c.line)) continue;
      const order = this.serialize(vm, group);
      for (const [i, c] of order.entries()) chosen.set(group[i], c);
    }
    return chosen.size === 0 ? null : calls.map((c) => chosen.get(c) ?? c);
  }

  /**
   * spaceOf: the address space pid's calls act on: its own, or, for a
   * thread made in this window (not yet seen), its creator's.
   */
  private spaceOf(pid: number, born: Map<number, number>): Process['vm'] | undefined {
    for (let p: number | undefined = pid, hops = 0; p !== undefined && hops <= born.size; hops++) {
      const vm = this.procs.get(p)?.vm;
      if (vm !== undefined) return vm;
      p = born.get(p);
    }
    return undefined;
  }

  /** serialize: one space's overlapping calls in an order their results allow; says so when it is not completion order. */
  private serialize(vm: Process['vm'], group: CallEvent[]): CallEvent[] {
    const ps = this.sys.uvm.pageSize;
    const spans = group.map((c) => span(c, ps)).filter((s) => s !== null);
    const lo = Math.min(...spans.map((s) => s[0]));
    const hi = Math.max(...spans.map((s) => s[1]));
    const order = serialOrder(group, Occupancy.of(vm.map, lo, hi), ps);
    const lines = (cs: CallEvent[]) => cs.map((c) => c.line).join(', ');
    if (order === null) {
      const which =
        group.length > 12
          ? `${group.length} overlapping calls at lines ${group[0].line}..${group.at(-1)!.line}`
          : `overlapping calls at lines ${lines(group)}`;
      const why =
        group.length > MAX_SEARCH
          ? `too many to search (more than ${MAX_SEARCH}) and completion order disagrees with a result`
          : 'no order agrees with every result';
      this.report.orders.push({
        line: group[0].line,
        text: `${which}: ${why}; applied in completion order`,
      });
      return group;
    }
    const first = order.findIndex((c, i) => c !== group[i]);
    const last =
      order.length -
      1 -
      [...order].reverse().findIndex((c, i) => c !== group[order.length - 1 - i]);
    if (first >= 0)
      this.report.orders.push({
        line: group[first].line,
        text: `lines ${lines(order.slice(first, last + 1))} applied in this order (completed as ${lines(group.slice(first, last + 1))}): completion order disagrees with their results`,
      });
    return order;
  }

  private apply(ev: StraceEvent): void {
    if (ev.kind === 'note') {
      this.report.unknown.push({ line: ev.line, text: ev.text });
      return;
    }
    if (!this.procs.has(ev.pid)) {
      if (this.gone(ev.pid)) {
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
    this.growStack(pid, p, 'exit');
    this.exited.set(pid, p.maps());
    const s = this.summaries.get(pid)!;
    s.rss = p.rss;
    s.exited = true;
    p.exit();
    this.procs.delete(pid);
  }

  /**
   * growStack: grow pid's [stack] down to where its real maps at this
   * point have it (faults grow a stack; no log line shows them), saying so.
   */
  private growStack(pid: number, p: Process, at: 'mark' | 'exit'): void {
    const real = stackStart(this.opts.realMaps?.(pid, at) ?? []);
    const ours = stackStart(p.maps());
    if (real === null || ours === null || real >= ours) return;
    const map = p.vm.map;
    vmMapLock(map);
    const r = vmMapGrowstack(map, real, p.vm);
    vmMapUnlock(map);
    const size = (from: number) => `${Math.round((stackEnd(p.maps()) - from) / 1024)} KiB`;
    this.report.stacks.push({
      line: 0,
      text:
        r === 0
          ? `pid ${pid}: [stack] grown from ${size(ours)} to ${size(real)}, as its real maps at its ${at} show`
          : `pid ${pid}: [stack] cannot grow to ${size(real)} as its real maps at its ${at} show (${r})`,
    });
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
    else if (FILE_CALLS[ev.name]) this.fileCall(ev);
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
    this.unfinishedClone = null;
    if (ev.errno !== null || ev.result === null) return;
    const shareVm = cloneSharesVm(name, cloneFlags(ev));
    const child = ev.result;
    if (!this.summaries.has(child)) {
      const parent = this.procs.get(ev.pid)!;
      this.track(child, ev.pid, shareVm ? parent.vfork() : parent.fork());
    }
    this.cloned.set(child, { parent: ev.pid, shareVm });
  }

  private kill(ev: CallEvent, p: Process): void {
    const target = parseNumber(ev.args[0] ?? '');
    if (target !== ev.pid || ev.args[1] !== '0' || ev.result !== 0 || this.marked.has(ev.pid))
      return;
    this.growStack(ev.pid, p, 'mark');
    this.marked.set(ev.pid, p.maps());
  }

  /** execve: a successful one (= 0; "= ?" is a process killed during it) starts from its snapshot. */
  private execve(ev: CallEvent, p: Process, s: ProcSummary): void {
    if (ev.errno !== null || ev.result !== 0) return;
    const path = cString(ev.args[0] ?? '""');
    const snap = this.opts.snapshot(ev.pid, s.execs.length + 1);
    if (snap === null || snap.rows.length === 0)
      this.report.snapshots.push({
        line: ev.line,
        text:
          snap === null
            ? `no init snapshot for pid ${ev.pid}: it starts empty`
            : `${snap.source} is empty (the process was gone before its maps were read): pid ${ev.pid} starts empty`,
      });
    const rows = snap?.rows ?? [];
    p.exec(rows, path);
    s.execs.push(path);
    this.marked.delete(ev.pid);
    if (rows.some((r) => r.trimEnd().endsWith('[heap]'))) this.heapKnown.add(ev.pid);
    else this.heapKnown.delete(ev.pid);
  }

  /**
   * file: what mmap maps for `path`, at least `extent` bytes long: the real
   * file if it exists, else a stand-in (grown to the largest extent mapped).
   * A path "P (deleted)" (unlinked, or a memfd) is P marked deleted.
   */
  file(path: string, extent: number): MappableFile {
    let obj = this.objects.get(path);
    if (obj === undefined) obj = this.newObject(path);
    if (obj.kind !== 'vnode' && extent > obj.size) {
      obj.size = extent;
      this.report.files.find((f) => f.path === stripDeleted(path))!.size = extent;
    }
    const o = obj;
    return { object: () => o, maxSharedProt: PROT_ALL, path };
  }

  private newObject(path: string): UvmObject {
    const name = stripDeleted(path);
    const obj =
      name !== path || this.unlinked.has(name)
        ? new Aobj(this.sys.uvm, 0, name, true)
        : this.sys.fileObject(name, 0);
    obj.deleted = name !== path;
    this.objects.set(path, obj);
    this.report.files.push({ path: name, real: obj.kind === 'vnode', size: obj.size });
    return obj;
  }

  /** fileCall: an unlink or rename that succeeded: a mapped file it removes is now deleted. */
  private fileCall(ev: CallEvent): void {
    if (ev.errno !== null || ev.result !== 0) return;
    for (const path of FILE_CALLS[ev.name](ev)) {
      const key = this.resolve(path);
      const obj = key === null ? undefined : this.objects.get(key);
      if (obj === undefined || key === null) continue;
      obj.deleted = true;
      this.objects.delete(key);
      this.objects.set(`${key} (deleted)`, obj);
      this.unlinked.add(key);
    }
  }

  /** resolve: a path as the log's mmaps name it (a relative one by the only mapped file it ends). */
  private resolve(path: string): string | null {
    if (path.startsWith('/')) return path;
    const found = [...this.objects.keys()].filter((k) => k.endsWith(`/${path}`));
    return found.length === 1 ? found[0] : null;
  }

  /** brkQuery: the first brk(NULL) after exec tells where the heap starts. */
  brkStart(pid: number, p: Process, result: number | null): void {
    if (this.heapKnown.has(pid) || result === null) return;
    p.vm.brkStart = p.vm.brk = result;
    this.heapKnown.add(pid);
  }
}

/** stackStart: where the [stack] rows of maps begin, or null without one. */
function stackStart(rows: string[]): number | null {
  const starts = rows.filter((r) => r.endsWith('[stack]')).map((r) => readMapsRow(r)?.start ?? 0);
  return starts.length === 0 ? null : Math.min(...starts);
}

function stackEnd(rows: string[]): number {
  return Math.max(...rows.filter((r) => r.endsWith('[stack]')).map((r) => readMapsRow(r)!.end));
}

function stripDeleted(path: string): string {
  return path.endsWith(' (deleted)') ? path.slice(0, -' (deleted)'.length) : path;
}

/** cString: a C string argument as strace prints it ("..." with \ escapes). */
export function cString(arg: string): string {
  return arg.replace(/^"|"$/g, '').replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/g, (_m, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(Number.parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(Number.parseInt(e, 8));
    return { n: '\n', t: '\t', r: '\r', v: '\v', f: '\f' }[e] ?? e;
  });
}

/** a directory fd's path joined with a relative path (AT_FDCWD: as given) */
function atPath(dirfd: string | undefined, path: string | undefined): string {
  const p = cString(path ?? '""');
  const dir = fdPath(dirfd ?? '');
  return dir === null || p.startsWith('/') ? p : `${dir}/${p}`;
}

/** the paths a successful file call removes from the name space */
const FILE_CALLS: Record<string, (ev: CallEvent) => string[]> = {
  unlink: (ev) => [cString(ev.args[0] ?? '""')],
  unlinkat: (ev) => [atPath(ev.args[0], ev.args[1])],
  rename: (ev) => [cString(ev.args[1] ?? '""')],
  renameat: (ev) => [atPath(ev.args[2], ev.args[3])],
  renameat2: (ev) => [atPath(ev.args[2], ev.args[3])],
};

/** the calls Linux applies up to a hole before failing with ENOMEM */
const PARTIAL_CALLS = new Set(['mprotect', 'mlock', 'munlock', 'madvise', 'mlock2']);

/** cloneSharesVm: does this clone keep the parent's address space (CLONE_VM, vfork)? */
function cloneSharesVm(name: string, flagsText: string): boolean {
  return name === 'vfork' || /CLONE_VM\b/.test(flagsText);
}

/** cloneFlags: the text of a clone call's flags (clone's first argument, clone3's flags field). */
function cloneFlags(ev: CallEvent): string {
  return ev.args.find((a) => a.startsWith('flags=') || a.startsWith('{flags=')) ?? ev.args[0] ?? '';
}

/** isThreadClone: a clone (by name and flags text) makes a thread: a task sharing the address space, not a vfork child. */
function isThreadClone(name: string, flags: string): boolean {
  return name !== 'vfork' && /CLONE_VM\b/.test(flags) && !/CLONE_VFORK\b/.test(flags);
}

function fmt(v: number | null): string {
  return v === null ? '?' : v > 0xffff ? hex(v) : String(v);
}

/** flag lists already decoded (a log repeats a few of them) */
const BITS = new Map<string, number>();

/** bits: the value of a flag list or a number. */
function bits(arg: string): number {
  let v = BITS.get(arg);
  if (v !== undefined) return v;
  if (/^(0x[0-9a-f]+|\d+)$/.test(arg)) return parseNumber(arg);
  v = 0;
  for (const name of parseFlags(arg)) {
    if (!(name in FLAG_BITS))
      throw new VmError('EINVAL', 'replay', 'flags', `unknown flag ${name}`);
    v |= FLAG_BITS[name];
  }
  if (BITS.size < 4096) BITS.set(arg, v);
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
    const file = path !== null ? r.file(path, parseNumber(off) + parseNumber(len)) : null;
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
