/*
 * world.ts: a real system and the naive model (test/model.ts) side by
 * side, driven by concrete commands: the property tests and the fuzzer
 * (test/fuzz/) both run their operations here.
 *
 *   World(cfg, trace)
 *     step(cmd)   run one command on both; false when it names a process,
 *                 segment or swap device that does not exist (skipped)
 *     lines       with trace: the run so far as a scenario (uvm run)
 *     finish()    a last sweep, then close the system: nothing may be left
 *
 * After every command: the kernel's full audit, and the coalesced maps of
 * every process against the model's. Every byte read, every errno and
 * every msync'ed file must agree. A failure is a Divergence: its kind and
 * message (signature() names its class), and the scenario lines that
 * show it, to append to `lines`.
 *
 * Errors the model cannot predict are accepted only where they can
 * happen: ENOMEM from calls that fault or copy pages when memory is
 * overcommitted (cfg.pressure), EIO when an injected I/O error was used
 * up by the call. The model then requires that nothing changed: it stays
 * as it was, and a failed write is read back at once.
 *
 * Pipes: after every command each pipe open anywhere must buffer exactly
 * the model's bytes (what its writers' memory held when they wrote: a
 * page lent to a pipe must not change with its lender); a pipe write is
 * checked against the writer's memory with the bytes the pipe took.
 */

import { type FaultInjector, MemoryHost } from '../src/kernel/host.ts';
import {
  MADV_DONTNEED,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_POPULATE,
  MAP_SHARED,
  MCL_CURRENT,
  MREMAP_FIXED,
  PROT_NONE,
  VmError,
} from '../src/kernel/param.ts';
import type { FileHandle } from '../src/kernel/vnode.ts';
import type { Pipe } from '../src/sys/pipe.ts';
import type { Process } from '../src/sys/proc.ts';
import { coalesceRows, type MapRun, mapsRows, parseMapsRow, protOf } from '../src/sys/procmaps.ts';
import { VmSystem } from '../src/sys/system.ts';
import {
  closeSystem,
  formatData,
  formatRuns,
  guardReclaim,
  spell,
  WORDS,
} from '../src/tools/scenario.ts';
import type { FuzzConfig } from './fuzz/config.ts';
import { type Errno, MObject, Model, type MPage, type MRow, type MSpace } from './model.ts';

/** A command, with every value concrete (what a scenario line says). */
export type Cmd =
  | { op: 'spawn'; p: string }
  | { op: 'fork'; p: string; child: string }
  | { op: 'vfork'; p: string; child: string }
  | { op: 'exit'; p: string }
  | { op: 'mlockall'; p: string }
  | { op: 'munlockall'; p: string }
  | { op: 'exec'; p: string; rows: string[] }
  | {
      op: 'mmap';
      p: string;
      at: number;
      len: number;
      prot: number;
      flags: number;
      file: string | null;
      off: number;
    }
  | { op: 'munmap' | 'mlock' | 'munlock'; p: string; at: number; len: number }
  | { op: 'mprotect'; p: string; at: number; len: number; prot: number }
  | { op: 'minherit'; p: string; at: number; len: number; inherit: number }
  | { op: 'madvise'; p: string; at: number; len: number; advice: number }
  | { op: 'msync'; p: string; at: number; len: number; flags: number }
  | { op: 'mremap'; p: string; at: number; len: number; newLen: number; flags: number; to: number }
  | { op: 'shmget'; seg: string; size: number }
  | { op: 'shmat'; p: string; seg: string }
  | { op: 'shmdt'; p: string; at: number }
  | { op: 'shmrm'; seg: string }
  | { op: 'read'; p: string; at: number; len: number }
  | { op: 'write'; p: string; at: number; len: number; byte: number }
  | { op: 'pipe'; p: string }
  | { op: 'pipewrite'; p: string; fd: number; at: number; len: number }
  | { op: 'piperead'; p: string; fd: number; at: number; len: number }
  | { op: 'pipeclose'; p: string; fd: number }
  | { op: 'pagedaemon' }
  | { op: 'sweep' }
  | { op: 'close' }
  | { op: 'swapon'; pages: number; priority: number }
  | { op: 'swapoff'; dev: number }
  | { op: 'inject'; target: string; what: 'reads' | 'writes'; count: number };

/** The commands of one or more kinds. */
export type Of<K extends Cmd['op']> = Extract<Cmd, { op: K }>;

/** The real system and the model disagree. */
export class Divergence extends Error {
  override readonly name = 'Divergence';
  /** the read that showed it, when a read did (a sweep's read, say) */
  read: Of<'read'> | null = null;

  constructor(
    /** errno, bytes, maps, file, audit, panic, livelock, teardown, harness */
    readonly kind: string,
    /** what went wrong, in terms that name its class */
    message: string,
    /** scenario lines that show it (after the run's lines so far) */
    readonly tail: string[],
    /** the particulars: addresses, bytes, rows */
    readonly detail = '',
  ) {
    super(message);
  }

  /** signature: the failure's class: its kind and message without numbers. */
  signature(): string {
    return `${this.kind}: ${this.message.replace(/0x[0-9a-f]+|\d+/g, 'N')}`;
  }
}

/** Calls that fault or copy pages: out of memory is theirs to report under pressure. */
const MEMORY_OPS = new Set([
  'read',
  'write',
  'mlock',
  'mlockall',
  'fork',
  'swapoff',
  'mremap',
  'pipewrite',
  'piperead',
]);

const PROT_WORDS = ['none', 'r', 'w', 'rw', 'x', 'rx', 'wx', 'rwx'];

const hex = (n: number) => `0x${n.toString(16)}`;

/** A file as the world keeps it: both its handles and its page cache in the model. */
interface WFile {
  path: string;
  obj: MObject;
  handle: FileHandle;
  writable: boolean;
}

export class World {
  readonly sys: VmSystem;
  readonly host = new MemoryHost();
  readonly model: Model;
  readonly ps: number;
  readonly procs = new Map<string, Process>();
  /** open files by handle name: f0 (r+), f0r (r), ... */
  readonly files = new Map<string, WFile>();
  readonly segs = new Map<string, { id: number; obj: MObject }>();
  /** the run as a scenario, when traced */
  readonly lines: string[] | null;
  private readonly newCommand: () => void;
  private names = 0;
  steps = 0;
  /** calls that failed (one changes nothing, but an access larger than memory: shrinking drops them first) */
  failedCalls = 0;

  constructor(
    readonly cfg: FuzzConfig,
    trace = false,
  ) {
    this.ps = cfg.pageSize;
    this.model = new Model(this.ps);
    for (const f of cfg.files) this.host.put(f.path, f.bytes);
    this.sys = new VmSystem({
      pageSize: cfg.pageSize,
      physPages: cfg.physPages,
      swapPages: cfg.swapPages,
      poisonFreed: true,
      host: this.host,
      policy: cfg.policy,
    });
    this.newCommand = guardReclaim(this.sys);
    this.lines = trace
      ? [
          `# seed ${cfg.seed}`,
          `system physPages=${cfg.physPages} swapPages=${cfg.swapPages} pageSize=${cfg.pageSize} poisonFreed=1 policy=${cfg.policy}`,
        ]
      : null;
    cfg.files.forEach((f, i) => {
      const obj = new MObject(f.path, f.size, f.bytes);
      this.files.set(`f${i}`, {
        path: f.path,
        obj,
        handle: this.sys.open(f.path, 'r+'),
        writable: true,
      });
      this.files.set(`f${i}r`, {
        path: f.path,
        obj,
        handle: this.sys.open(f.path, 'r'),
        writable: false,
      });
      this.emit(
        `file f${i} ${f.path} ${f.size} ${formatData(f.bytes)}`,
        `open f${i}r ${f.path} ro`,
      );
    });
  }

  private emit(...l: string[]): void {
    this.lines?.push(...l);
  }

  /* ---- running a command ----------------------------------------------- */

  /**
   * step: run `c` on the system and the model, then audit and compare maps.
   * => false (nothing done) when c names what does not exist now.
   * => throws Divergence when they disagree.
   */
  step(c: Cmd): boolean {
    if (!this.valid(c)) return false;
    this.steps++;
    this.newCommand();
    this.run(c);
    this.check();
    return true;
  }

  /** valid: every process, segment and device c names exists. */
  private valid(c: Cmd): boolean {
    if (c.op !== 'spawn' && 'p' in c && !this.procs.has(c.p)) return false;
    if ((c.op === 'fork' || c.op === 'vfork') && this.procs.size >= this.cfg.maxProcs) return false;
    if (
      (c.op === 'fork' || c.op === 'vfork' || c.op === 'spawn') &&
      this.procs.has(this.childOf(c))
    )
      return false;
    if ((c.op === 'shmat' || c.op === 'shmrm') && !this.segs.has(c.seg)) return false;
    if (c.op === 'shmget' && this.segs.has(c.seg)) return false;
    if (c.op === 'swapoff') return c.dev < this.sys.uvm.swap.devices.length;
    if (c.op === 'inject' && c.target.startsWith('swap'))
      return Number(c.target.slice(4)) < this.sys.uvm.swap.devices.length;
    return true;
  }

  private childOf(c: Cmd): string {
    return c.op === 'spawn' ? c.p : 'child' in c ? c.child : '';
  }

  private run(c: Cmd): void {
    switch (c.op) {
      case 'spawn':
      case 'fork':
      case 'vfork':
      case 'exit':
      case 'exec':
        this.life(c);
        break;
      case 'mmap':
        this.mmap(c);
        break;
      case 'mremap':
        this.mremap(c);
        break;
      case 'read':
        this.read(c.p, c.at, c.len);
        break;
      case 'write':
        this.write(c);
        break;
      case 'pipe':
      case 'pipewrite':
      case 'piperead':
      case 'pipeclose':
        this.pipes(c);
        break;
      case 'sweep':
        this.sweep();
        break;
      case 'close':
        this.finish();
        break;
      case 'shmget':
      case 'shmat':
      case 'shmdt':
      case 'shmrm':
        this.shm(c);
        break;
      case 'pagedaemon':
      case 'swapon':
      case 'swapoff':
      case 'inject':
        this.paging(c);
        break;
      default:
        this.range(c);
        break;
    }
  }

  /** call: run fn on the real system: its errno, or 0. Other throws are divergences. */
  private call(text: string, fn: () => void): Errno | 0 {
    try {
      fn();
      return 0;
    } catch (e) {
      if (e instanceof VmError) return e.code;
      if (e instanceof Divergence) throw e;
      const kind = e instanceof Error && e.name === 'Livelock' ? 'livelock' : 'panic';
      const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      throw new Divergence(kind, `${text.split(' ')[0]}: ${what}`, [text]);
    }
  }

  /** injectorsArmed: injected failures still to come, over every device and file. */
  private injectorsArmed(): number {
    let n = 0;
    for (const d of this.sys.uvm.swap.devices) {
      const f = d.store.faults;
      if (f) n += f.failReads + f.failWrites;
    }
    for (const f of this.cfg.files) {
      const inj = this.host.faults(f.path);
      n += inj.failReads + inj.failWrites;
    }
    return n;
  }

  /**
   * judge: the kernel said `got`, the model wants `want` (`soft`: the
   * kernel may run out of memory before it finds out). Emits the line.
   * => true when the call succeeded as it should: the model applies it.
   */
  private judge(
    op: string,
    text: string,
    want: Errno | 0,
    got: Errno | 0,
    soft: boolean,
    armed: number,
  ): boolean {
    if (got !== 0) this.failedCalls++;
    if (got === want) {
      this.emit(want === 0 ? text : `expect ${want} ${text}`);
      return want === 0;
    }
    const acceptable =
      (got === 'EIO' && this.injectorsArmed() < armed) ||
      (got === 'ENOMEM' && this.cfg.pressure && MEMORY_OPS.has(op));
    if (acceptable && (want === 0 || soft)) {
      this.emit(`expect ${got} ${text}`);
      return false;
    }
    throw new Divergence('errno', `${op}: expected ${want || 'success'}, got ${got || 'success'}`, [
      want === 0 ? text : `expect ${want} ${text}`,
    ]);
  }

  /**
   * surely: would faults the call ignores ('all') have succeeded, or may
   * some have failed unseen ('maybe': memory pressure, or I/O errors were
   * armed when the call began)?
   */
  private surely(armed: number): 'all' | 'maybe' {
    return !this.cfg.pressure && armed === 0 ? 'all' : 'maybe';
  }

  /** attempt: run a call and judge it; true when the model should apply it. */
  private attempt(op: string, text: string, want: Errno | 0, soft: boolean, fn: () => void) {
    const armed = this.injectorsArmed();
    return this.judge(op, text, want, this.call(text, fn), soft, armed);
  }

  /* ---- checks ------------------------------------------------------------ */

  /** check: the full audit, every process's coalesced maps and every pipe's bytes against the model's. */
  check(): void {
    try {
      this.sys.audit();
    } catch (e) {
      const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      throw new Divergence('audit', what, []);
    }
    for (const [name, p] of this.procs) {
      const got = coalesceRows(mapsRows(p.vm));
      const want = this.model.space(name).mapRuns(this.ps);
      if (!sameRuns(got, want))
        throw new Divergence(
          'maps',
          'the coalesced maps differ',
          [`mapscheck ${name} ${formatRuns(want)}`.trimEnd()],
          `${name}: kernel ${formatRuns(got)}; model ${formatRuns(want)}`,
        );
    }
    this.checkPipes();
  }

  /** checkPipes: every pipe open anywhere buffers the model's bytes. */
  private checkPipes(): void {
    for (const [mp, name, fd] of this.model.openPipes()) {
      const got = pipeBytes(this.sys, this.pipeOf(name, fd));
      const want = mp.contents();
      const i = firstDiff(got, want);
      if (i >= 0)
        throw new Divergence(
          'pipe',
          got.length === want.length
            ? 'a pipe buffers other bytes than were written'
            : 'a pipe buffers another number of bytes than the model',
          [],
          `${name} fd ${fd}: ${got.length} bytes, the model ${want.length}; from byte ${i}: got ${hex(got[i] ?? -1)}, want ${hex(want[i] ?? -1)}`,
        );
    }
  }

  /** pipeOf: the kernel's pipe behind descriptor fd of `name` (the model's table numbers them). */
  private pipeOf(name: string, fd: number): Pipe {
    const below = this.model.fdTable(name).slice(0, fd);
    const pipe = this.procs.get(name)!.fds.pipes()[below.filter((d) => d !== null).length];
    if (pipe === undefined)
      throw new Divergence(
        'pipe',
        'a descriptor open in the model is not in the kernel',
        [],
        `${name} fd ${fd}`,
      );
    return pipe;
  }

  /** sweep: read every readable page of every process (mapped within its object). */
  sweep(): void {
    for (const [name, sp] of [...this.model.spaces].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const vpns = [...sp.pages.keys()].sort((a, b) => a - b);
      for (const v of vpns) {
        const pg = sp.pages.get(v);
        if (pg && pg.prot !== PROT_NONE && !this.model.pastEnd(pg))
          this.read(name, v * this.ps, this.ps);
      }
    }
  }

  /**
   * finish: a last sweep, then close the system: every frame, anon,
   * amap, object and swap slot must be free, and each file must hold the
   * model's bytes (closing writes dirty pages back).
   */
  finish(): void {
    this.sweep();
    this.disarm();
    const left = closeSystem(this.sys);
    this.procs.clear();
    this.model.spaces.clear();
    this.model.fds.clear();
    if (left.length > 0)
      throw new Divergence('teardown', `left after close: ${left.join(', ')}`, ['close']);
    this.emit('close');
    for (const f of this.files.values()) this.fileCheck(f, 0, f.obj.bytes.length);
  }

  /** disarm: no more injected I/O errors (closing writes files back). */
  private disarm(): void {
    const targets: [string, FaultInjector | undefined][] = [
      ...this.sys.uvm.swap.devices.map((d, i): [string, FaultInjector | undefined] => [
        `swap ${i}`,
        d.store.faults,
      ]),
      ...this.cfg.files.map((_f, i): [string, FaultInjector] => [
        `f${i}`,
        this.host.faults(`/f${i}`),
      ]),
    ];
    for (const [target, f] of targets) {
      if (f === undefined) continue;
      if (f.failReads > 0) this.emit(`inject ${target} reads 0`);
      if (f.failWrites > 0) this.emit(`inject ${target} writes 0`);
      f.failReads = f.failWrites = 0;
    }
  }

  /** fileCheck: the host file holds the model's bytes of [from, to). */
  private fileCheck(f: WFile, from: number, to: number): void {
    const got = this.host.get(f.path)!.subarray(from, to);
    const want = f.obj.bytes.subarray(from, to);
    if (!want.every((b, i) => b === got[i]))
      throw new Divergence('file', `${f.path} [${from}, ${to}) differs from the page cache`, [
        `filecheck ${f.path} ${from} ${formatData(want)}`,
      ]);
  }

  /* ---- processes --------------------------------------------------------- */

  private life(c: Of<'spawn' | 'fork' | 'vfork' | 'exit' | 'exec'>): void {
    const m = this.model;
    if (c.op === 'spawn') {
      const p = this.sys.spawn();
      p.vm.memlockLimit = this.cfg.lockLimit;
      this.procs.set(c.p, p);
      m.spawn(c.p, this.cfg.lockLimit);
      this.emit(`spawn ${c.p}`, `rlimit ${c.p} memlock ${this.cfg.lockLimit}`);
      return;
    }
    const p = this.procs.get(c.p)!;
    if (c.op === 'fork' || c.op === 'vfork') {
      let child: Process | null = null;
      const text = `${c.op} ${c.p} ${c.child}`;
      const fork = () => {
        child = c.op === 'fork' ? p.fork() : p.vfork();
      };
      if (!this.attempt(c.op, text, 0, true, fork)) return;
      this.procs.set(c.child, child!);
      if (c.op === 'fork') m.fork(c.p, c.child);
      else m.vfork(c.p, c.child);
    } else if (c.op === 'exit') {
      this.attempt('exit', `exit ${c.p}`, 0, false, () => p.exit());
      this.procs.delete(c.p);
      m.exit(c.p);
    } else this.exec(p, c);
  }

  private exec(p: Process, c: Of<'exec'>): void {
    const text = `exec ${c.p} ${c.rows.map((r) => JSON.stringify(r)).join(' ')}`;
    if (!this.attempt('exec', text, 0, false, () => p.exec(c.rows))) return;
    p.vm.memlockLimit = this.cfg.lockLimit;
    this.emit(`rlimit ${c.p} memlock ${this.cfg.lockLimit}`);
    this.model.exec(
      c.p,
      c.rows.map((r, i) => this.modelRow(r, i)),
    );
  }

  /** modelRow: a maps row as the model's exec takes it. */
  private modelRow(line: string, i: number): MRow {
    const r = parseMapsRow(line, i + 1);
    const file = [...this.files.values()].find((f) => f.path === r.name);
    return {
      start: r.start,
      end: r.end,
      prot: protOf(r.perms),
      shared: r.perms[3] === 's',
      obj: file?.obj ?? null,
      offset: r.offset,
    };
  }

  /* ---- the mmap family --------------------------------------------------- */

  private mmap(c: Of<'mmap'>): void {
    const m = this.model;
    const sp = m.space(c.p);
    const shared = (c.flags & MAP_SHARED) !== 0;
    const f = c.file === null ? null : this.files.get(c.file)!;
    const src = { obj: f?.obj ?? null, writable: f?.writable ?? true };
    const placed = (c.flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) !== 0;
    const how = { shared, placed, noreplace: (c.flags & MAP_FIXED_NOREPLACE) !== 0 };
    const want = m.mmapErr(sp, c.at, c.len, c.prot, how, src, c.off);
    const name = `m${++this.names}`;
    const text = `mmap ${c.p} ${name} ${c.len} ${PROT_WORDS[c.prot]} ${spell(WORDS.mmap, c.flags, true)}${
      placed ? ` at ${hex(c.at)}` : ''
    }${c.file === null ? '' : ` file ${c.file} offset ${c.off}`}`;
    let got = 0;
    const armed = this.injectorsArmed();
    const ok = this.attempt('mmap', text, want, false, () => {
      got = this.procs.get(c.p)!.mmap(c.at, c.len, c.prot, c.flags, f?.handle ?? null, c.off);
    });
    if (!ok) return;
    if (placed ? got !== c.at : got % this.ps !== 0 || m.any(sp, got, c.len, () => true))
      throw new Divergence('errno', 'mmap: placed over a mapping or unaligned', [text], hex(got));
    const populate = c.flags & MAP_POPULATE ? this.surely(armed) : 'none';
    m.mmap(sp, got, c.len, c.prot, shared, src, c.off, populate);
  }

  /** range: the calls on a range (or a whole space) that return nothing. */
  private range(c: Cmd): void {
    const p = 'p' in c ? this.procs.get(c.p)! : null;
    const sp = 'p' in c ? this.model.space(c.p) : null;
    if (p === null || sp === null) return;
    const m = this.model;
    switch (c.op) {
      case 'munmap':
        if (
          this.attempt('munmap', lineOf(c), m.munmapErr(c.at, c.len), false, () =>
            p.munmap(c.at, c.len),
          )
        )
          m.unmap(sp, c.at, c.len);
        return;
      case 'mprotect':
        if (
          this.attempt('mprotect', lineOf(c), m.mprotectErr(sp, c.at, c.len, c.prot), false, () =>
            p.mprotect(c.at, c.len, c.prot),
          )
        )
          m.mprotect(sp, c.at, c.len, c.prot);
        return;
      case 'minherit':
        if (this.attempt('minherit', lineOf(c), 0, false, () => p.minherit(c.at, c.len, c.inherit)))
          m.minherit(sp, c.at, c.len, c.inherit);
        return;
      case 'madvise':
        this.madvise(p, sp, c);
        return;
      case 'msync':
        this.msync(p, sp, c);
        return;
      default:
        this.locking(p, sp, c);
    }
  }

  /**
   * madvise: as the model says; MADV_DONTNEED of a page another sharer
   * locked may also refuse (EINVAL, nothing changed).
   */
  private madvise(p: Process, sp: MSpace, c: Of<'madvise'>): void {
    const m = this.model;
    const want = m.madviseErr(sp, c.at, c.len, c.advice);
    const text = lineOf(c);
    const armed = this.injectorsArmed();
    const got = this.call(text, () => p.madvise(c.at, c.len, c.advice));
    const refused = got === 'EINVAL' && want === 0 && c.advice === MADV_DONTNEED;
    if (refused && m.sharerLocked(sp, c.at, c.len)) this.emit(`expect EINVAL ${text}`);
    else if (this.judge('madvise', text, want, got, false, armed))
      m.madvise(sp, c.at, c.len, c.advice);
  }

  /** locking: mlock, munlock, mlockall, munlockall. */
  private locking(p: Process, sp: MSpace, c: Cmd): void {
    const m = this.model;
    if (c.op === 'mlock' || c.op === 'munlock') {
      const [start, n] = m.lockRange(c.at, c.len);
      const lock = c.op === 'mlock';
      const want = lock
        ? m.mlockErr(sp, c.at, c.len)
        : n > 0 && m.holes(sp, start, n)
          ? 'ENOMEM'
          : 0;
      const soft = want === 0 || want === 'EFAULT';
      if (
        this.attempt(c.op, lineOf(c), want, soft, () =>
          lock ? p.mlock(c.at, c.len) : p.munlock(c.at, c.len),
        )
      )
        m.lock(sp, start, n, lock);
    } else if (c.op === 'mlockall') {
      const want = m.mlockallErr(sp);
      if (
        this.attempt('mlockall', lineOf(c), want, want !== 'ENOMEM', () => p.mlockall(MCL_CURRENT))
      )
        m.lockAll(sp, true);
    } else if (c.op === 'munlockall') {
      if (this.attempt('munlockall', lineOf(c), 0, false, () => p.munlockall()))
        m.lockAll(sp, false);
    }
  }

  /** msync: then the files must hold the page cache's bytes for the shared file pages of the range. */
  private msync(p: Process, sp: MSpace, c: Of<'msync'>): void {
    const want = this.model.msyncErr(sp, c.at, c.len, c.flags);
    if (!this.attempt('msync', lineOf(c), want, false, () => p.msync(c.at, c.len, c.flags))) return;
    this.model.each(sp, c.at, c.len, (pg) => {
      if (!pg.shared || pg.obj === null || this.model.pastEnd(pg)) return;
      const f = [...this.files.values()].find((x) => x.obj === pg.obj);
      if (f !== undefined)
        this.fileCheck(f, pg.idx * this.ps, Math.min((pg.idx + 1) * this.ps, pg.obj.bytes.length));
    });
  }

  private mremap(c: Of<'mremap'>): void {
    const m = this.model;
    const sp = m.space(c.p);
    const plan = m.remapPlan(sp, c.at, c.len, c.newLen, c.flags, c.to);
    const name = `m${++this.names}`;
    const fl = spell(WORDS.mremap, c.flags, true);
    const text = `mremap ${c.p} ${hex(c.at)} ${c.len} ${c.newLen} ${fl || '0'}${
      c.flags & MREMAP_FIXED ? ` to ${hex(c.to)}` : ''
    } as ${name}`;
    let got = 0;
    const run = () => {
      got = this.procs.get(c.p)!.mremap(c.at, c.len, c.newLen, c.flags, c.to);
    };
    const armed = this.injectorsArmed();
    if (!this.attempt('mremap', text, plan.err, false, run) || plan.err !== 0) return;
    const free = !m.any(sp, got, plan.newSize, () => true) && got % this.ps === 0;
    if (plan.to >= 0 ? got !== plan.to : !free)
      throw new Divergence(
        'errno',
        `mremap: not where the model says (${plan.kind})`,
        [text],
        `now at ${hex(got)}, the model says ${plan.to >= 0 ? hex(plan.to) : 'a free range'}`,
      );
    m.mremap(sp, c.at, { ...plan, to: got }, c.flags, this.surely(armed));
  }

  /* ---- System V shared memory -------------------------------------------- */

  private shm(c: Of<'shmget' | 'shmat' | 'shmdt' | 'shmrm'>): void {
    const m = this.model;
    if (c.op === 'shmget') {
      const id = this.sys.shmget(c.size);
      this.segs.set(c.seg, { id, obj: new MObject(`SYSV${id}`, m.roundUp(c.size)) });
      this.emit(`shmget ${c.seg} ${c.size}`);
      return;
    }
    if (c.op === 'shmrm') {
      const seg = this.segs.get(c.seg)!;
      const want = seg.obj.removed ? 'EINVAL' : 0;
      if (this.attempt('shmrm', `shmrm ${c.seg}`, want, false, () => this.sys.shmctlRemove(seg.id)))
        seg.obj.removed = true;
      return;
    }
    const p = this.procs.get(c.p)!;
    const sp = m.space(c.p);
    if (c.op === 'shmdt') {
      const text = `shmdt ${c.p} ${hex(c.at)}`;
      if (this.attempt('shmdt', text, m.shmdtErr(sp, c.at), false, () => p.shmdt(c.at)))
        m.shmdt(sp, c.at);
      return;
    }
    const seg = this.segs.get(c.seg)!;
    const text = `shmat ${c.p} ${c.seg} a${++this.names}`;
    let at = 0;
    if (
      !this.attempt('shmat', text, seg.obj.removed ? 'EINVAL' : 0, false, () => {
        at = p.shmat(seg.id);
      })
    )
      return;
    if (at % this.ps !== 0 || m.any(sp, at, seg.obj.bytes.length, () => true))
      throw new Divergence('errno', 'shmat: attached over a mapping', [text], hex(at));
    m.shmat(sp, at, seg.obj);
  }

  /* ---- paging ------------------------------------------------------------ */

  private paging(c: Of<'pagedaemon' | 'swapon' | 'swapoff' | 'inject'>): void {
    const sys = this.sys;
    if (c.op === 'pagedaemon') {
      this.attempt('pagedaemon', 'pagedaemon', 0, false, () => sys.pagedaemon());
    } else if (c.op === 'swapon') {
      this.attempt('swapon', `swapon ${c.pages} priority ${c.priority}`, 0, false, () =>
        sys.swapon({ pages: c.pages, priority: c.priority }),
      );
    } else if (c.op === 'swapoff') {
      const dev = sys.uvm.swap.devices[c.dev];
      this.attempt('swapoff', `swapoff ${dev.id}`, 0, true, () => sys.swapoff(dev));
    } else {
      const dev = c.target.startsWith('swap')
        ? sys.uvm.swap.devices[Number(c.target.slice(4))]
        : null;
      const faults = dev ? dev.store.faults! : this.host.faults(this.files.get(c.target)!.path);
      if (c.what === 'reads') faults.failReads = c.count;
      else faults.failWrites = c.count;
      this.emit(`inject ${dev ? `swap ${dev.id}` : c.target} ${c.what} ${c.count}`);
    }
  }

  /* ---- memory access ----------------------------------------------------- */

  /** read: the bytes must be the model's (one of them, after MADV_FREE). */
  read(name: string, at: number, len: number): void {
    const m = this.model;
    const sp = m.space(name);
    const p = this.procs.get(name)!;
    const text = `read ${name} ${hex(at)} ${len}`;
    const { err, soft } = m.accessErr(sp, at, len, false);
    let got: Uint8Array | null = null;
    const read = () => {
      got = p.read(at, len);
    };
    try {
      if (!this.attempt('read', text, err, soft, read)) return;
    } catch (e) {
      if (e instanceof Divergence) e.read ??= { op: 'read', p: name, at, len };
      throw e;
    }
    if (!m.checkRead(sp, at, got!)) {
      const want = m.expected(sp, at, len);
      this.lines?.pop();
      let i = 0;
      while (got![i] === want[i]) i++;
      const d = new Divergence(
        'bytes',
        `read: bytes differ on a ${this.kindOf(sp.pages.get(Math.floor((at + i) / this.ps))!)} page`,
        [`${text} expect ${formatData(want)}`],
        `${name} at ${hex(at + i)}: got ${hex(got![i])}, want ${hex(want[i])}`,
      );
      d.read = { op: 'read', p: name, at, len };
      throw d;
    }
  }

  private write(c: Of<'write'>): void {
    const m = this.model;
    const sp = m.space(c.p);
    const data = new Uint8Array(c.len).fill(c.byte);
    const text = `write ${c.p} ${hex(c.at)} fill ${hex(c.byte)} ${c.len}`;
    const { err, soft } = m.accessErr(sp, c.at, c.len, true);
    const armed = this.injectorsArmed();
    let moved = 0;
    const got = this.call(text, () => {
      try {
        this.procs.get(c.p)!.write(c.at, data);
      } catch (e) {
        /* a range larger than memory can fail part way: what moved, moved */
        if (e instanceof VmError) moved = e.moved;
        throw e;
      }
    });
    if (this.judge('write', text, err, got, soft, armed)) m.write(sp, c.at, data);
    else if (got !== 0 && got !== 'EFAULT') {
      if (moved > 0) m.write(sp, c.at, data.subarray(0, moved));
      this.readBack(c.p, c.at + moved, c.len - moved);
    }
  }

  /* ---- pipes ------------------------------------------------------------ */

  private pipes(c: Of<'pipe' | 'pipewrite' | 'piperead' | 'pipeclose'>): void {
    const p = this.procs.get(c.p)!;
    const m = this.model;
    if (c.op === 'pipe') {
      const [r, w] = m.pipe(c.p);
      let got: number[] = [];
      this.attempt('pipe', `pipe ${c.p} fd${r} fd${w}`, 0, false, () => {
        got = p.pipe();
      });
      if (got[0] !== r || got[1] !== w)
        throw new Divergence('errno', 'pipe: other descriptors than the lowest free', [], `${got}`);
    } else if (c.op === 'pipeclose') {
      const text = `closefd ${c.p} ${c.fd}`;
      if (this.attempt('pipeclose', text, m.closeErr(c.p, c.fd), false, () => p.closeFd(c.fd)))
        m.close(c.p, c.fd);
    } else if (c.op === 'pipewrite') this.pipeWrite(p, c);
    else this.pipeRead(p, c);
  }

  /** pipeWrite: the bytes the pipe took must be what the writer's memory holds (a read of it). */
  private pipeWrite(p: Process, c: Of<'pipewrite'>): void {
    const m = this.model;
    const plan = m.pipeWritePlan(c.p, c.fd, c.at, c.len);
    const text = `writefd ${c.p} ${c.fd} ${hex(c.at)} ${c.len}`;
    let moved = 0;
    const write = () => {
      moved = p.writeFd(c.fd, c.at, c.len);
    };
    if (!this.attempt('pipewrite', text, plan.err, plan.soft, write)) return;
    this.moved('pipewrite', text, moved, plan.n);
    const all = pipeBytes(this.sys, this.pipeOf(c.p, c.fd));
    const took = all.subarray(all.length - moved);
    if (!m.checkRead(m.space(c.p), c.at, took)) {
      const want = m.expected(m.space(c.p), c.at, moved);
      const i = firstDiff(took, want);
      throw new Divergence(
        'bytes',
        'pipewrite: the pipe took other bytes than the buffer held',
        [],
        `${c.p} at ${hex(c.at + i)}: got ${hex(took[i])}, want ${hex(want[i])}`,
      );
    }
    m.pipeWrite(c.p, c.fd, c.at, took);
  }

  /** pipeRead: the bytes moved go to the reader's memory; a failed read moved none. */
  private pipeRead(p: Process, c: Of<'piperead'>): void {
    const m = this.model;
    const plan = m.pipeReadPlan(c.p, c.fd, c.at, c.len);
    const text = `readfd ${c.p} ${c.fd} ${hex(c.at)} ${c.len}`;
    const armed = this.injectorsArmed();
    let moved = 0;
    const got = this.call(text, () => {
      moved = p.readFd(c.fd, c.at, c.len);
    });
    if (this.judge('piperead', text, plan.err, got, plan.soft, armed)) {
      this.moved('piperead', text, moved, plan.n);
      m.pipeRead(c.p, c.fd, c.at, moved);
    } else if (got !== 0 && got !== 'EFAULT') this.readBack(c.p, c.at, plan.n);
  }

  /** moved: a pipe call moved as many bytes as the model says. */
  private moved(op: string, text: string, moved: number, want: number): void {
    if (moved !== want)
      throw new Divergence('errno', `${op}: moved ${moved} bytes, the model says ${want}`, [text]);
  }

  /** readBack: after a failed write, its bytes must be unchanged (page by page, readable ones). */
  private readBack(name: string, at: number, len: number): void {
    const sp = this.model.space(name);
    for (let a = at; a < at + len; ) {
      const n = Math.min(this.ps - (a % this.ps), at + len - a);
      const pg = sp.pages.get(Math.floor(a / this.ps))!;
      if (!this.model.pastEnd(pg)) this.read(name, a, n);
      a += n;
    }
  }

  /** kindOf: a page's kind, for failure classes: "private file (shared cell), locked". */
  private kindOf(pg: MPage): string {
    const what = pg.obj === null ? 'anon' : pg.obj.name.startsWith('SYSV') ? 'shm' : 'file';
    let sharers = 0;
    for (const sp of new Set(this.model.spaces.values()))
      for (const q of sp.pages.values()) if (q.cell !== null && q.cell === pg.cell) sharers++;
    const flags = [
      pg.shared ? 'shared' : 'private',
      what,
      sharers > 1 ? '(shared cell)' : '',
      pg.locked ? 'locked' : '',
      pg.cell?.discardable ? 'freed' : '',
    ];
    return flags.filter((f) => f !== '').join(' ');
  }
}

/** lineOf: the scenario line of a range call. */
function lineOf(c: Cmd): string {
  switch (c.op) {
    case 'munmap':
    case 'mlock':
    case 'munlock':
      return `${c.op} ${c.p} ${hex(c.at)} ${c.len}`;
    case 'mprotect':
      return `mprotect ${c.p} ${hex(c.at)} ${c.len} ${PROT_WORDS[c.prot]}`;
    case 'minherit':
      return `minherit ${c.p} ${hex(c.at)} ${c.len} ${spell(WORDS.inherit, c.inherit, false)}`;
    case 'madvise':
      return `madvise ${c.p} ${hex(c.at)} ${c.len} ${spell(WORDS.advice, c.advice, false)}`;
    case 'msync':
      return `msync ${c.p} ${hex(c.at)} ${c.len} ${spell(WORDS.msync, c.flags, true)}`;
    case 'mlockall':
      return `mlockall ${c.p} current`;
    case 'munlockall':
      return `munlockall ${c.p}`;
    default:
      return c.op;
  }
}

/** pipeBytes: => the bytes the kernel's pipe buffers, oldest first (its lent frames' bytes as they are now). */
function pipeBytes(sys: VmSystem, pipe: Pipe): Uint8Array {
  const ps = sys.uvm.pageSize;
  const out = new Uint8Array(pipe.size);
  let at = 0;
  for (const pc of pipe.pieces) {
    const from = pc.bytes ?? sys.uvm.pages.bytes.subarray(pc.loan * ps, (pc.loan + 1) * ps);
    out.set(from.subarray(pc.off, pc.end), at);
    at += pc.end - pc.off;
  }
  return out;
}

/** firstDiff: => the first index where a and b differ (one ending counts), or -1. */
function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

function sameRuns(a: MapRun[], b: MapRun[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++)
    if (a[i][0] !== b[i][0] || a[i][1] !== b[i][1] || a[i][2] !== b[i][2]) return false;
  return true;
}
