/*
 * scenario.ts: a small line language for driving a system by hand, and
 * the runner behind `uvm run` and `uvm demo` (docs/scenarios.md).
 *
 *   system physPages=64 swapPages=256      # first, optional
 *   spawn sh
 *   mmap sh buf 16p rw private,anon        # binds `buf` to the address
 *   write sh buf "hello"
 *   fork sh child
 *   show entry child buf                   # entry -> amap -> anon -> page
 *   write child buf "HELLO"                # a copy-on-write fault
 *   read sh buf 5 expect "hello"
 *   expect EFAULT read sh buf+64p 1        # the command must fail so
 *   check flt_acow = 1                     # a counter must hold
 *
 * Values: numbers are decimal or 0x hex, with an optional unit p (pages),
 * k, m or g; an address is NAME, NAME+N, NAME-N or a number. Every command
 * runs the full audit after it. A line that cannot be parsed, a failed
 * expectation, a failed audit, a kernel panic and a livelock (the kernel
 * reclaiming memory over and over within one command) all stop the run
 * with FILE:LINE: what.
 *
 * The scenario's files live in a MemoryHost: in memory, and `inject`
 * makes the next reads or writes of a path (or of a swap device) fail.
 */

import { type HistEvent, histSubscribe } from '../kernel/hist.ts';
import type { FaultInjector } from '../kernel/host.ts';
import { MemoryHost } from '../kernel/host.ts';
import { entryContains, vmMapLookupEntry } from '../kernel/map/index.ts';
import {
  ERRNOS,
  hex,
  MADV_DOFORK,
  MADV_DONTFORK,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_INVAL,
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_SETMAP,
  MADV_WILLNEED,
  MAP_ANON,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_GROWSDOWN,
  MAP_INHERIT_COPY,
  MAP_INHERIT_NONE,
  MAP_INHERIT_SHARE,
  MAP_NORESERVE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_STACK,
  MAP_VPAGETABLE,
  MCL_CURRENT,
  MCL_FUTURE,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  MS_ASYNC,
  MS_INVALIDATE,
  MS_SYNC,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  VmError,
} from '../kernel/param.ts';
import type { FileHandle } from '../kernel/vnode.ts';
import type { Num } from '../sys/mmap.ts';
import type { Process } from '../sys/proc.ts';
import { coalesceRows, type MapRun, mapsRows } from '../sys/procmaps.ts';
import { type Counters, VmSystem } from '../sys/system.ts';
import {
  amapDump,
  amapView,
  countersDump,
  entryLine,
  entryPicture,
  entryPictureView,
  entryView,
  table,
} from './dump.ts';

/** A failed scenario: where and why. */
export class ScenarioError extends Error {
  override readonly name = 'ScenarioError';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly what: string,
  ) {
    super(`${file}:${line}: ${what}`);
  }
}

/** the most bytes one line builds in memory (a file's contents, a write's data) */
export const MAX_BUILT = 1 << 30;

/** How often one command may make the kernel reclaim memory before it counts as a livelock. */
export const RECLAIM_BUDGET = 10_000;

/** The kernel kept reclaiming memory within one command (out of memory must be ENOMEM, promptly). */
export class Livelock extends Error {
  override readonly name = 'Livelock';
}

/**
 * guardReclaim: make the kernel of `sys` throw Livelock when one command
 * calls its reclaimer (uvm_wait) more than `budget` times.
 * => returns the function to call at the start of each command.
 */
export function guardReclaim(sys: VmSystem, budget = RECLAIM_BUDGET): () => void {
  const inner = sys.uvm.reclaim;
  let calls = 0;
  if (inner === null) return () => {};
  sys.uvm.reclaim = () => {
    if (++calls > budget)
      throw new Livelock(`the kernel reclaimed memory ${budget} times in one command`);
    return inner();
  };
  return () => {
    calls = 0;
  };
}

/**
 * closeSystem: end every process, close every file and segment, take the
 * empty swap devices off: then nothing may be left in use.
 * => what is left (nothing when the system cleaned up after itself).
 */
export function closeSystem(sys: VmSystem): string[] {
  sys.close();
  const uvm = sys.uvm;
  const left: [number, string][] = [
    [uvm.pages.npages - uvm.pages.freeCount, 'frames'],
    [uvm.anons.nlive, 'anons'],
    [uvm.amaps.size, 'amaps'],
    [uvm.objects.size, 'objects'],
    [uvm.exp.swpginuse, 'swap slots'],
    [uvm.swap.devices.length, 'swap devices'],
  ];
  return left.filter(([n]) => n > 0).map(([n, what]) => `${n} ${what}`);
}

/** formatRuns: runs as `mapscheck` takes them: START-END PERMS ... (hex addresses). */
export function formatRuns(runs: readonly MapRun[]): string {
  return runs.map(([s, e, p]) => `${hex(s)}-${hex(e)} ${p}`).join(' ');
}

/**
 * formatData: bytes as the DATA of a scenario line: runs of `fill BYTE LEN`
 * and `zeros LEN` (empty data is `zeros 0`).
 */
export function formatData(b: Uint8Array): string {
  const parts: string[] = [];
  for (let i = 0; i < b.length; ) {
    let j = i + 1;
    while (j < b.length && b[j] === b[i]) j++;
    parts.push(b[i] === 0 ? `zeros ${j - i}` : `fill 0x${b[i].toString(16)} ${j - i}`);
    i = j;
  }
  return parts.length === 0 ? 'zeros 0' : parts.join(' ');
}

/** What one command printed. */
export interface StepResult {
  line: number;
  command: string;
  output: string[];
  /** a `show` command's picture as fields (maps rows, entry, amap, counters, processes) */
  data?: unknown;
  /** the counters after this command */
  counters: Counters;
  /** the kernel's events during this command (when the runner traces) */
  events?: HistEvent[];
}

/** commandText: a scenario line without its comment and surrounding blanks ('' for none). */
export function commandText(raw: string): string {
  return raw.replace(/(^|\s)#.*$/, '').trim();
}

const FLAGS: Record<string, number> = {
  private: MAP_PRIVATE,
  shared: MAP_SHARED,
  anon: MAP_ANON,
  fixed: MAP_FIXED,
  noreplace: MAP_FIXED_NOREPLACE,
  populate: MAP_POPULATE,
  stack: MAP_STACK,
  growsdown: MAP_GROWSDOWN,
  noreserve: MAP_NORESERVE,
  vpagetable: MAP_VPAGETABLE,
};
const INHERIT: Record<string, number> = {
  share: MAP_INHERIT_SHARE,
  copy: MAP_INHERIT_COPY,
  none: MAP_INHERIT_NONE,
};
const ADVICE: Record<string, number> = {
  normal: MADV_NORMAL,
  random: MADV_RANDOM,
  sequential: MADV_SEQUENTIAL,
  willneed: MADV_WILLNEED,
  dontneed: MADV_DONTNEED,
  free: MADV_FREE,
  dontfork: MADV_DONTFORK,
  dofork: MADV_DOFORK,
  inval: MADV_INVAL,
  setmap: MADV_SETMAP,
};
const SYNC: Record<string, number> = { sync: MS_SYNC, async: MS_ASYNC, invalidate: MS_INVALIDATE };
const REMAP: Record<string, number> = {
  maymove: MREMAP_MAYMOVE,
  fixed: MREMAP_FIXED,
  dontunmap: MREMAP_DONTUNMAP,
};
const MCL: Record<string, number> = { current: MCL_CURRENT, future: MCL_FUTURE };

/** The words of the language for flags and choices, by what they name (to write scenarios). */
export const WORDS = {
  mmap: FLAGS,
  inherit: INHERIT,
  advice: ADVICE,
  msync: SYNC,
  mremap: REMAP,
} as const;

/**
 * spell: the word(s) for `v` in one of WORDS' tables: the names of its
 * bits, comma separated (`bits`), or the one name for the value.
 */
export function spell(table: Record<string, number>, v: number, bits: boolean): string {
  if (!bits) return Object.keys(table).find((k) => table[k] === v) ?? String(v);
  return Object.keys(table)
    .filter((k) => table[k] !== 0 && (v & table[k]) === table[k])
    .join(',');
}

/** what tokenize puts before a quoted string with no closing quote */
export const UNCLOSED = '\u0000unclosed:';

/**
 * tokenize: words and "quoted strings" (with \n, \t, \", \\ escapes).
 * => a quoted string comes back with its opening quote; one never closed
 *    comes back marked with UNCLOSED in front.
 */
export function tokenize(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let m: RegExpExecArray | null = re.exec(line);
  while (m !== null) {
    if (m[1] !== undefined) out.push(`"${m[1]}`);
    else out.push(m[2].startsWith('"') ? `${UNCLOSED}${m[2]}` : m[2]);
    m = re.exec(line);
  }
  return out;
}

/** Runs a scenario. */
export class ScenarioRunner {
  sys: VmSystem;
  readonly host = new MemoryHost();
  private readonly procs = new Map<string, Process>();
  private readonly vars = new Map<string, number>();
  private readonly files = new Map<string, FileHandle>();
  private line = 0;
  /** the current `show` command's picture as fields */
  private data: unknown;
  private started = false;
  /** starts a command's count of reclaim calls (the livelock guard) */
  private newCommand: () => void;
  /** what each command printed, so far */
  readonly steps: StepResult[] = [];
  /** give each step the kernel's events (kernel/hist.ts) */
  trace = false;

  /**
   * => `policy`: the page replacement policy the system runs (the command
   *    line's --policy); a `system policy=` line naming another is refused.
   */
  constructor(
    readonly file: string,
    private readonly policy?: string,
  ) {
    this.sys = new VmSystem({ physPages: 256, swapPages: 1024, host: this.host, policy });
    this.newCommand = guardReclaim(this.sys);
  }

  /**
   * run: every line of `text`; returns what each command printed.
   * => throws ScenarioError at the first failure (`steps` holds what ran).
   */
  run(text: string): StepResult[] {
    text.split('\n').forEach((raw, i) => {
      this.step(raw, i + 1);
    });
    return this.steps;
  }

  /**
   * step: line number `line` of a scenario, whose text is `raw`.
   * => the step it made (pushed on `steps` too), or null for a blank line.
   * => throws ScenarioError when the line fails.
   */
  step(raw: string, line: number): StepResult | null {
    this.line = line;
    const src = commandText(raw);
    if (src === '') return null;
    const words = tokenize(src);
    if (words.some((w) => w.startsWith(UNCLOSED))) this.fail('a quoted string is not closed');
    this.data = undefined;
    const events: HistEvent[] = [];
    const off = this.trace ? histSubscribe(this.sys.uvm, (e) => events.push(e)) : null;
    let output: string[];
    try {
      output = this.exec(words);
    } finally {
      off?.();
    }
    try {
      this.sys.audit();
    } catch (e) {
      this.fail(`the audit failed after this command: ${(e as Error).message}`);
    }
    const step: StepResult = { line, command: src, output, counters: this.sys.counters };
    if (this.data !== undefined) step.data = this.data;
    if (this.trace) step.events = events;
    this.steps.push(step);
    return step;
  }

  fail(what: string): never {
    throw new ScenarioError(this.file, this.line, what);
  }

  /**
   * exec: one command; returns its output lines.
   * => a failed call, a kernel panic or a livelock fails the line.
   */
  private exec(t: string[]): string[] {
    const [cmd, ...args] = t;
    if (cmd !== 'system') this.started = true;
    this.newCommand();
    try {
      return cmd === 'expect' ? this.expectErrno(args) : this.command(cmd, args);
    } catch (e) {
      if (e instanceof ScenarioError) throw e;
      if (e instanceof VmError) this.fail(e.message);
      if (e instanceof Error) this.fail(`${e.name}: ${e.message}`);
      throw e;
    }
  }

  /** expectErrno: `expect ERRNO command...`: the command must fail with ERRNO. */
  private expectErrno(args: string[]): string[] {
    const [errno, cmd, ...rest] = args;
    if (!errno || !cmd) this.fail('expect needs an errno and a command');
    if (!(ERRNOS as readonly string[]).includes(errno))
      this.fail(`unknown errno ${errno} (one of ${ERRNOS.join(', ')})`);
    try {
      this.command(cmd, rest);
    } catch (e) {
      if (!(e instanceof VmError)) throw e;
      if (e.code !== errno) this.fail(`expected ${errno}, got ${e.code}: ${e.message}`);
      return [`${cmd} failed as expected: ${e.message}${e.signal ? ` (${e.signal})` : ''}`];
    }
    return this.fail(`expected ${errno}, but ${cmd} succeeded`);
  }

  private command(cmd: string, a: string[]): string[] {
    const handler = COMMANDS[cmd];
    if (!handler) return this.fail(`unknown command ${JSON.stringify(cmd)}`);
    return handler(this, a);
  }

  /* ---- helpers the commands use ---------------------------------------- */

  need(a: string[], n: number, usage: string): void {
    if (a.length < n) this.fail(`usage: ${usage}`);
  }

  proc(name: string | undefined): Process {
    const p = name === undefined ? undefined : this.procs.get(name);
    if (!p) return this.fail(`no process named ${JSON.stringify(name)}`);
    return p;
  }

  addProc(name: string, p: Process): void {
    if (this.procs.has(name)) this.fail(`a process named ${name} exists already`);
    this.procs.set(name, p);
  }

  dropProc(name: string): void {
    this.procs.delete(name);
  }

  /** dropAll: forget every process (the system was closed). */
  dropAll(): void {
    this.procs.clear();
  }

  setVar(name: string, v: number): void {
    this.vars.set(name, v);
  }

  fileHandle(name: string): FileHandle {
    const f = this.files.get(name);
    if (!f) return this.fail(`no file named ${JSON.stringify(name)}`);
    return f;
  }

  setFile(name: string, f: FileHandle): void {
    this.files.set(name, f);
  }

  /** num: a number with an optional unit p, k, m or g. */
  num(s: string | undefined): number {
    const v = this.big(s);
    if (typeof v === 'bigint') return this.fail(`${s} is too large here (at most 2^53 - 1)`);
    return v;
  }

  /**
   * big: a length for a system call: as num, but exact past 2^53 (a
   * bigint then), so the call can refuse it as Linux does, printing it as
   * it was given.
   */
  big(s: string | undefined): Num {
    const m = s === undefined ? null : /^(0x[0-9a-f]+|\d+)([pkmg]?)$/i.exec(s);
    if (!m) return this.fail(`not a number: ${JSON.stringify(s)}`);
    const unit = { '': 1, p: this.sys.uvm.pageSize, k: 1024, m: 1 << 20, g: 1 << 30 }[
      m[2].toLowerCase()
    ]!;
    const v = BigInt(m[1]) * BigInt(unit);
    return v < 2n ** 53n ? Number(v) : v;
  }

  /** addr: NAME, NAME+N, NAME-N, or a number. */
  addr(s: string | undefined): number {
    const m = s === undefined ? null : /^([A-Za-z_][\w]*)(?:([+-])(\S+))?$/.exec(s);
    if (!m) return this.num(s);
    const base = this.vars.get(m[1]);
    if (base === undefined) return this.fail(`no address named ${m[1]}`);
    if (!m[2]) return base;
    return m[2] === '+' ? base + this.num(m[3]) : base - this.num(m[3]);
  }

  /** prot: r, rw, rx, rwx, none (dashes allowed). */
  prot(s: string | undefined): number {
    if (s === undefined || !/^(none|[rwx-]{1,3})$/.test(s))
      return this.fail(`not a protection: ${JSON.stringify(s)}`);
    if (s === 'none') return 0;
    return (
      (s.includes('r') ? PROT_READ : 0) |
      (s.includes('w') ? PROT_WRITE : 0) |
      (s.includes('x') ? PROT_EXEC : 0)
    );
  }

  /** flags: a comma list of names from `table`. */
  flags(s: string | undefined, tableOf: Record<string, number>, what: string): number {
    if (s === undefined) return this.fail(`missing ${what}`);
    let v = 0;
    for (const f of s.split(',')) {
      if (!(f in tableOf))
        this.fail(
          `unknown ${what} ${JSON.stringify(f)} (one of ${Object.keys(tableOf).join(', ')})`,
        );
      v |= tableOf[f];
    }
    return v;
  }

  one(s: string | undefined, tableOf: Record<string, number>, what: string): number {
    if (s === undefined || !(s in tableOf))
      return this.fail(`${what} is one of ${Object.keys(tableOf).join(', ')}`);
    return tableOf[s];
  }

  /**
   * bytes: data: one or more parts, joined: "text", fill BYTE LEN,
   * zeros LEN, and last, if at all, bytes B B B ...
   */
  bytes(a: string[]): Uint8Array {
    if (a.length === 0) this.fail(DATA_USAGE);
    const parts: Uint8Array[] = [];
    for (let i = 0; i < a.length; ) {
      const kind = a[i];
      if (kind.startsWith('"')) parts.push(new TextEncoder().encode(this.text(kind.slice(1))));
      else if (kind === 'fill')
        parts.push(new Uint8Array(this.size(a[i + 2])).fill(this.byte(a[i + 1])));
      else if (kind === 'zeros') parts.push(new Uint8Array(this.size(a[i + 1])));
      else if (kind === 'bytes') parts.push(Uint8Array.from(a.slice(i + 1), (b) => this.byte(b)));
      else this.fail(DATA_USAGE);
      i += kind === 'bytes' ? a.length : kind === 'fill' ? 3 : kind === 'zeros' ? 2 : 1;
    }
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  /** text: a quoted string's text (its escapes known). */
  text(quoted: string): string {
    const t = unescapeText(quoted);
    if (t === null) this.fail(`unknown escape in "${quoted}" (known: \\n \\t \\" \\\\)`);
    return t;
  }

  /**
   * size: a number of bytes a line builds in memory (data, a file's size):
   * at most MAX_BUILT, so that a size nothing could hold fails at once.
   */
  size(s: string | undefined): number {
    const n = this.num(s);
    if (n > MAX_BUILT) this.fail(`${s} bytes is more than a scenario line builds (${MAX_BUILT})`);
    return n;
  }

  /** byte: a number in [0, 255]. */
  byte(s: string | undefined): number {
    const v = this.num(s);
    if (v > 255) this.fail(`not a byte: ${s}`);
    return v;
  }

  configure(a: string[]): void {
    if (this.started) this.fail('system must come before any other command');
    const cfg: Record<string, number> = {};
    let policy = this.policy;
    for (const kv of a) {
      const m = /^(physPages|swapPages|pageSize|poisonFreed|freemin|freetarg|policy)=(\S+)$/.exec(
        kv,
      );
      if (!m)
        this.fail(
          'system takes physPages=, swapPages=, pageSize=, poisonFreed=, freemin=, freetarg=, ' +
            `policy=; not ${JSON.stringify(kv)}`,
        );
      if (m[1] === 'policy') policy = this.policyNamed(m[2]);
      else cfg[m[1]] = this.num(m[2]);
    }
    const { poisonFreed, ...sizes } = cfg;
    if (poisonFreed !== undefined && poisonFreed > 1) this.fail('poisonFreed is 0 or 1');
    this.sys = new VmSystem({ ...sizes, poisonFreed: poisonFreed === 1, host: this.host, policy });
    this.newCommand = guardReclaim(this.sys);
  }

  /** policyNamed: a `system policy=NAME`, agreeing with the command line's. */
  private policyNamed(name: string): string {
    if (this.policy !== undefined && name !== this.policy)
      this.fail(`policy=${name} here, but --policy ${this.policy} on the command line`);
    return name;
  }

  /** swapFaults: the fault injector of swap device `n`. */
  swapFaults(n: string | undefined): FaultInjector {
    const dev = this.sys.uvm.swap.device(this.num(n));
    if (dev === undefined) return this.fail(`no swap device ${n}`);
    if (dev.store.faults === undefined) return this.fail(`swap device ${n} cannot inject errors`);
    return dev.store.faults;
  }

  /** mapsCheck: the coalesced maps of PROC must be the runs START-END PERMS given. */
  mapsCheck(a: string[]): string[] {
    const p = this.proc(a[0]);
    const want: MapRun[] = [];
    for (let i = 1; i < a.length; i += 2) {
      const m = /^(\S+)-(\S+)$/.exec(a[i]);
      if (!m || !/^[r-][w-][x-][ps]$/.test(a[i + 1] ?? ''))
        this.fail('usage: mapscheck PROC [START-END PERMS]... (perms like rw-p)');
      want.push([this.num(m[1]), this.num(m[2]), a[i + 1]]);
    }
    const got = coalesceRows(mapsRows(p.vm));
    if (formatRuns(got) !== formatRuns(want))
      this.fail(
        `mapscheck: ${a[0]} has ${formatRuns(got) || 'nothing'}, not ${formatRuns(want) || 'nothing'}`,
      );
    return [`${a[0]}: ${formatRuns(got) || 'nothing mapped'}`];
  }

  checkCounter(a: string[]): string[] {
    this.need(a, 3, 'check COUNTER (=|>|>=|<|<=) N');
    const [name, op, n] = a;
    const counters: Record<string, number> = this.sys.counters;
    if (!(name in counters)) this.fail(`no counter ${name}`);
    const v = counters[name];
    const want = this.num(n);
    const ok = { '=': v === want, '>': v > want, '>=': v >= want, '<': v < want, '<=': v <= want }[
      op
    ];
    if (ok === undefined) this.fail(`not a comparison: ${op}`);
    if (!ok) this.fail(`check failed: ${name} is ${v}, not ${op} ${want}`);
    return [`${name} = ${v} (${op} ${want})`];
  }

  show(a: string[]): string[] {
    const [what, name, ref] = a;
    const uvm = this.sys.uvm;
    if (what === 'maps') {
      this.data = mapsRows(this.proc(name).vm);
      return this.proc(name).maps();
    }
    if (what === 'entry') {
      const max = a[3] === undefined ? 4 : this.num(a[3]);
      const map = this.proc(name).vm.map;
      this.data = entryPictureView(uvm, map, this.addr(ref), max);
      return entryPicture(uvm, map, this.addr(ref), max);
    }
    if (what === 'amap') return this.amapOf(this.proc(name), this.addr(ref));
    if (what === 'counters') {
      this.data = this.sys.counters;
      return countersDump(this.sys.counters);
    }
    if (what === 'processes') return this.processTable();
    return this.fail(
      'show maps NAME | entry NAME ADDR [PAGES] | amap NAME ADDR | counters | processes',
    );
  }

  /** amapOf: the amap of the entry mapping `va`, slot by slot. */
  private amapOf(p: Process, va: number): string[] {
    const e = vmMapLookupEntry(p.vm.map, va);
    if (!entryContains(p.vm.map, e, va)) return this.fail(`nothing is mapped at ${hex(va)}`);
    const amap = e.aref.amap;
    this.data = { entry: entryView(e), amap: amap === null ? null : amapView(this.sys.uvm, amap) };
    if (amap === null) return [`${entryLine(e)}: no amap`];
    return [`${entryLine(e)}:`, ...amapDump(this.sys.uvm, amap)];
  }

  private processTable(): string[] {
    const procs = [...this.procs.entries()].map(([name, p]) => ({
      name,
      pid: p.pid,
      entries: p.vm.map.nentries,
      rss: p.rss,
      pss: p.pss,
    }));
    this.data = procs;
    const rows = procs.map((p) => [p.name, p.pid, p.entries, p.rss, p.pss.toFixed(2)]);
    return table(['name', 'pid', 'entries', 'rss', 'pss'], rows);
  }

  names(): [string, number][] {
    return [...this.vars.entries()];
  }

  /** processes: the live processes, by their names in the scenario. */
  processes(): [string, Process][] {
    return [...this.procs.entries()];
  }
}

const DATA_USAGE =
  'data is one or more of "text", fill BYTE LEN, zeros LEN, and last bytes B B ...';

/** the escapes a quoted string knows: \n, \t, \" and \\ */
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', '"': '"', '\\': '\\' };

/** unescapeText: a quoted string's text; null when it uses an escape it does not know. */
function unescapeText(s: string): string | null {
  let bad = false;
  const text = s.replace(/\\(.)/g, (_, c: string) => {
    if (!(c in ESCAPES)) bad = true;
    return ESCAPES[c] ?? c;
  });
  return bad ? null : text;
}

type Command = (r: ScenarioRunner, a: string[]) => string[];

/** The commands, by name (docs/scenarios.md describes each). */
const COMMANDS: Record<string, Command> = {
  system(r, a) {
    r.configure(a);
    return [];
  },
  echo(r, a) {
    return [a.map((w) => (w.startsWith('"') ? r.text(w.slice(1)) : w)).join(' ')];
  },
  spawn(r, a) {
    r.need(a, 1, 'spawn NAME');
    const p = r.sys.spawn();
    r.addProc(a[0], p);
    return [`${a[0]} is pid ${p.pid}`];
  },
  fork(r, a) {
    r.need(a, 2, 'fork PARENT CHILD');
    const c = r.proc(a[0]).fork();
    r.addProc(a[1], c);
    return [`${a[1]} is pid ${c.pid}, a fork of ${a[0]}`];
  },
  vfork(r, a) {
    r.need(a, 2, 'vfork PARENT CHILD');
    const c = r.proc(a[0]).vfork();
    r.addProc(a[1], c);
    return [`${a[1]} is pid ${c.pid}, sharing ${a[0]}'s address space`];
  },
  exit(r, a) {
    r.need(a, 1, 'exit NAME');
    r.proc(a[0]).exit();
    r.dropProc(a[0]);
    return [];
  },
  mmap(r, a) {
    r.need(a, 5, 'mmap PROC NAME LEN PROT FLAGS [at ADDR] [file FILE [offset N]]');
    const [pname, name, len, prot, flags, ...opt] = a;
    let at = 0;
    let file: FileHandle | null = null;
    let off = 0;
    for (let i = 0; i < opt.length; i += 2) {
      if (opt[i] === 'at') at = r.addr(opt[i + 1]);
      else if (opt[i] === 'file') file = r.fileHandle(opt[i + 1]);
      else if (opt[i] === 'offset') off = r.num(opt[i + 1]);
      else r.fail(`mmap: unknown option ${opt[i]}`);
    }
    const v = r
      .proc(pname)
      .mmap(at, r.big(len), r.prot(prot), r.flags(flags, FLAGS, 'mmap flag'), file, off);
    r.setVar(name, v);
    return [`${name} = ${hex(v)}`];
  },
  munmap(r, a) {
    r.need(a, 3, 'munmap PROC ADDR LEN');
    r.proc(a[0]).munmap(r.addr(a[1]), r.big(a[2]));
    return [];
  },
  mprotect(r, a) {
    r.need(a, 4, 'mprotect PROC ADDR LEN PROT');
    r.proc(a[0]).mprotect(r.addr(a[1]), r.big(a[2]), r.prot(a[3]));
    return [];
  },
  minherit(r, a) {
    r.need(a, 4, 'minherit PROC ADDR LEN share|copy|none');
    r.proc(a[0]).minherit(r.addr(a[1]), r.big(a[2]), r.one(a[3], INHERIT, 'the inheritance'));
    return [];
  },
  madvise(r, a) {
    r.need(a, 4, 'madvise PROC ADDR LEN ADVICE [VALUE]');
    const value = a[4] === undefined ? undefined : r.num(a[4]);
    r.proc(a[0]).madvise(r.addr(a[1]), r.big(a[2]), r.one(a[3], ADVICE, 'the advice'), value);
    return [];
  },
  mlock(r, a) {
    r.need(a, 3, 'mlock PROC ADDR LEN');
    r.proc(a[0]).mlock(r.addr(a[1]), r.big(a[2]));
    return [];
  },
  munlock(r, a) {
    r.need(a, 3, 'munlock PROC ADDR LEN');
    r.proc(a[0]).munlock(r.addr(a[1]), r.big(a[2]));
    return [];
  },
  mlockall(r, a) {
    r.need(a, 2, 'mlockall PROC current,future');
    r.proc(a[0]).mlockall(r.flags(a[1], MCL, 'mlockall flag'));
    return [];
  },
  munlockall(r, a) {
    r.need(a, 1, 'munlockall PROC');
    r.proc(a[0]).munlockall();
    return [];
  },
  msync(r, a) {
    r.need(a, 4, 'msync PROC ADDR LEN sync|async[,invalidate]');
    r.proc(a[0]).msync(r.addr(a[1]), r.big(a[2]), r.flags(a[3], SYNC, 'msync flag'));
    return [];
  },
  mincore(r, a) {
    r.need(a, 3, 'mincore PROC ADDR LEN');
    return [Array.from(r.proc(a[0]).mincore(r.addr(a[1]), r.big(a[2]))).join('')];
  },
  brk(r, a) {
    r.need(a, 2, 'brk PROC ADDR');
    return [`break = ${hex(r.proc(a[0]).brk(r.addr(a[1])))}`];
  },
  mremap(r, a) {
    r.need(a, 5, 'mremap PROC ADDR OLDLEN NEWLEN FLAGS|0 [to ADDR] [as NAME]');
    const [pname, old, oldLen, newLen, flags, ...opt] = a;
    let to = 0;
    let as: string | null = null;
    for (let i = 0; i < opt.length; i += 2) {
      if (opt[i] === 'to') to = r.addr(opt[i + 1]);
      else if (opt[i] === 'as') as = opt[i + 1];
    }
    const f = flags === '0' ? 0 : r.flags(flags, REMAP, 'mremap flag');
    const v = r.proc(pname).mremap(r.addr(old), r.big(oldLen), r.big(newLen), f, to);
    if (as) r.setVar(as, v);
    return [`now at ${hex(v)}`];
  },
  write(r, a) {
    r.need(a, 3, 'write PROC ADDR DATA');
    r.proc(a[0]).write(r.addr(a[1]), r.bytes(a.slice(2)));
    return [];
  },
  read(r, a) {
    r.need(a, 3, 'read PROC ADDR LEN [expect DATA]');
    const got = r.proc(a[0]).read(r.addr(a[1]), r.num(a[2]));
    if (a[3] === 'expect') {
      const want = r.bytes(a.slice(4));
      const at = firstDifference(want, got);
      if (at >= 0 && at < 16) r.fail(`read: expected ${show(want)}, got ${show(got)}`);
      if (at >= 16)
        r.fail(
          `read: from byte ${at} on, expected ${show(want.subarray(at))}, got ${show(got.subarray(at))}`,
        );
    }
    return [show(got)];
  },
  pipe(r, a) {
    r.need(a, 3, 'pipe PROC READNAME WRITENAME');
    const [rfd, wfd] = r.proc(a[0]).pipe();
    r.setVar(a[1], rfd);
    r.setVar(a[2], wfd);
    return [`${a[1]} is fd ${rfd}, ${a[2]} is fd ${wfd}`];
  },
  writefd(r, a) {
    r.need(a, 4, 'writefd PROC FD ADDR LEN');
    return [`${r.proc(a[0]).writeFd(r.addr(a[1]), r.addr(a[2]), r.num(a[3]))} bytes`];
  },
  readfd(r, a) {
    r.need(a, 4, 'readfd PROC FD ADDR LEN');
    return [`${r.proc(a[0]).readFd(r.addr(a[1]), r.addr(a[2]), r.num(a[3]))} bytes`];
  },
  closefd(r, a) {
    r.need(a, 2, 'closefd PROC FD');
    r.proc(a[0]).closeFd(r.addr(a[1]));
    return [`fd ${r.addr(a[1])} closed`];
  },
  file(r, a) {
    r.need(a, 3, 'file NAME PATH SIZE [DATA] [ro]');
    const [name, path, size, ...rest] = a;
    const ro = rest[rest.length - 1] === 'ro';
    const data = ro ? rest.slice(0, -1) : rest;
    const bytes = new Uint8Array(r.size(size));
    if (data.length > 0) bytes.set(r.bytes(data).subarray(0, bytes.length));
    r.host.put(path, bytes);
    r.setFile(name, r.sys.open(path, ro ? 'r' : 'r+'));
    return [`${path}: ${bytes.length} bytes`];
  },
  open(r, a) {
    r.need(a, 2, 'open NAME PATH [ro]');
    if (a.length > 3 || (a[2] !== undefined && a[2] !== 'ro')) r.fail('usage: open NAME PATH [ro]');
    r.setFile(a[0], r.sys.open(a[1], a[2] === 'ro' ? 'r' : 'r+'));
    return [`${a[0]}: ${a[1]} open for ${a[2] === 'ro' ? 'reading' : 'reading and writing'}`];
  },
  inject(r, a) {
    const usage = 'inject swap N reads|writes K, or inject FILE reads|writes K';
    const swap = a[0] === 'swap';
    r.need(a, swap ? 4 : 3, usage);
    const [what, count] = swap ? a.slice(2) : a.slice(1);
    if (what !== 'reads' && what !== 'writes') return r.fail(`usage: ${usage}`);
    const faults = swap ? r.swapFaults(a[1]) : r.host.faults(r.fileHandle(a[0]).path);
    if (what === 'reads') faults.failReads = r.num(count);
    else faults.failWrites = r.num(count);
    const target = swap ? `swap device ${a[1]}` : r.fileHandle(a[0]).path;
    return [`the next ${r.num(count)} ${what} of ${target} fail`];
  },
  exec(r, a) {
    r.need(a, 2, 'exec PROC "ROW" ... (rows of /proc/PID/maps)');
    if (a.slice(1).some((w) => !w.startsWith('"'))) r.fail('exec: each row is a "quoted string"');
    const p = r.proc(a[0]);
    p.exec(a.slice(1).map((w) => r.text(w.slice(1))));
    return p.maps();
  },
  rlimit(r, a) {
    r.need(a, 3, 'rlimit PROC memlock N');
    if (a[1] !== 'memlock') r.fail(`rlimit: only memlock can be set, not ${JSON.stringify(a[1])}`);
    r.proc(a[0]).vm.memlockLimit = r.num(a[2]);
    return [`${a[0]}: RLIMIT_MEMLOCK ${r.num(a[2])}`];
  },
  mapscheck(r, a) {
    r.need(a, 1, 'mapscheck PROC [START-END PERMS]...');
    return r.mapsCheck(a);
  },
  filecheck(r, a) {
    r.need(a, 3, 'filecheck PATH OFFSET DATA');
    const got = r.host.get(a[0]);
    if (!got) return r.fail(`no file ${a[0]}`);
    const want = r.bytes(a.slice(2));
    const at = r.num(a[1]);
    const slice = got.subarray(at, at + want.length);
    if (!want.every((b, i) => b === slice[i]))
      r.fail(`filecheck: ${a[0]} holds ${show(slice)}, not ${show(want)}`);
    return [`${a[0]} at ${at}: ${show(slice)}`];
  },
  shmget(r, a) {
    r.need(a, 2, 'shmget NAME SIZE');
    const id = r.sys.shmget(r.num(a[1]));
    r.setVar(a[0], id);
    return [`${a[0]} = segment ${id}`];
  },
  shmat(r, a) {
    r.need(a, 3, 'shmat PROC SEGMENT NAME');
    const v = r.proc(a[0]).shmat(r.addr(a[1]));
    r.setVar(a[2], v);
    return [`${a[2]} = ${hex(v)}`];
  },
  shmdt(r, a) {
    r.need(a, 2, 'shmdt PROC ADDR');
    r.proc(a[0]).shmdt(r.addr(a[1]));
    return [];
  },
  shmrm(r, a) {
    r.need(a, 1, 'shmrm SEGMENT');
    r.sys.shmctlRemove(r.addr(a[0]));
    return [];
  },
  pagedaemon(r) {
    const rep = r.sys.pagedaemon();
    return [
      `pagedaemon: freed ${rep.freed}, paged out ${rep.pagedOut}, reactivated ${rep.reactivated}`,
    ];
  },
  swapon(r, a) {
    r.need(a, 1, 'swapon PAGES [priority N]');
    const d = r.sys.swapon({ pages: r.num(a[0]), priority: a[1] === 'priority' ? r.num(a[2]) : 0 });
    return [`swap device ${d.id}: ${d.npages} pages, priority ${d.priority}`];
  },
  swapoff(r, a) {
    if (a[0] === undefined || a[0] === 'all') r.sys.swapoff();
    else r.sys.swapoff(r.sys.uvm.swap.device(r.num(a[0])) ?? r.fail(`no swap device ${a[0]}`));
    return [`swap devices left: ${r.sys.uvm.swap.devices.length}`];
  },
  show(r, a) {
    return r.show(a);
  },
  check(r, a) {
    return r.checkCounter(a);
  },
  audit(r) {
    r.sys.audit();
    return ['audit: every invariant holds'];
  },
  close(r) {
    const left = closeSystem(r.sys);
    r.dropAll();
    if (left.length > 0) r.fail(`close: still in use: ${left.join(', ')}`);
    return ['closed: every frame, anon, amap, object and swap slot is free'];
  },
};

/** firstDifference: the first index where a and b differ (a length counts), or -1. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** show: bytes as text when printable, else as hex. */
function show(b: Uint8Array): string {
  const printable = b.every((c) => (c >= 32 && c < 127) || c === 10);
  if (printable) return JSON.stringify(new TextDecoder().decode(b));
  return (
    Array.from(b.subarray(0, 32), (c) => c.toString(16).padStart(2, '0')).join(' ') +
    (b.length > 32 ? ' ...' : '')
  );
}
