/*
 * strace.ts: the parser of `strace -f -tt -y` logs (the corpus format of
 * ../shared/samples/FORMAT.md).
 *
 *   parseStrace(text) -> events, one per line:
 *     call      NAME(args) = result     (a split call is joined: the
 *                                         <unfinished ...> part and the
 *                                         <... NAME resumed> rest, at the
 *                                         line where it completes)
 *     signal    --- SIGNAME {...} ---
 *     stopped   --- stopped by SIG ---
 *     exit      +++ exited with N +++ / +++ killed by SIG +++ /
 *               +++ superseded by execve in pid N +++
 *
 *   args are split at top-level ", " (nesting (), [], {} and "strings"),
 *   with /* comments *\/ removed; an fd annotation N<path> is kept whole.
 *
 * A line that does not fit raises a StraceError naming its line number.
 */

/** A syscall that completed: the whole call, at the line of its completion. */
export interface CallEvent {
  kind: 'call';
  line: number;
  pid: number;
  time: string;
  name: string;
  args: string[];
  /** the number returned (address, pid, 0), or null for "?" */
  result: number | null;
  /** the errno name when the call failed */
  errno: string | null;
  /** line of the <unfinished ...> part, when the call was split */
  startLine: number;
}

export interface SignalEvent {
  kind: 'signal';
  line: number;
  pid: number;
  time: string;
  signal: string;
}

export interface StoppedEvent {
  kind: 'stopped';
  line: number;
  pid: number;
  time: string;
  signal: string;
}

export interface ExitEvent {
  kind: 'exit';
  line: number;
  pid: number;
  time: string;
  /** exit status, or the signal that killed it */
  status: number | null;
  killedBy: string | null;
  /** +++ superseded by execve in pid N +++ */
  supersededBy: number | null;
}

/** A call's start line, seen before it completes (its parent learns of new pids by it). */
export interface StartEvent {
  kind: 'start';
  line: number;
  pid: number;
  time: string;
  name: string;
  partial: string;
}

export type StraceEvent = CallEvent | SignalEvent | StoppedEvent | ExitEvent | StartEvent;

/** A line that does not fit the format. */
export class StraceError extends Error {
  override readonly name = 'StraceError';
  constructor(
    readonly line: number,
    what: string,
  ) {
    super(`line ${line}: ${what}`);
  }
}

const LINE = /^(\d+) +(\d\d:\d\d:\d\d\.\d{6}) (.*)$/;
const RESULT = /\)\s+= (-?\d+|0x[0-9a-f]+|\?)(?: ([A-Z][A-Z0-9_]+) \((.*)\))?(?: <unavailable>)?$/;
const UNFINISHED = /^([a-z_0-9]+)\((.*) <unfinished \.\.\.>$/;
const RESUMED = /^<\.\.\. ([a-z_0-9]+) resumed>(.*)$/;
const CALL = /^([a-z_0-9]+)\((.*)$/;

/**
 * parseStrace: every line of a log as an event.
 * => throws StraceError for a malformed line, a resumed call that never
 *    started, or a second unfinished call of one pid.
 */
export function parseStrace(text: string): StraceEvent[] {
  const reader = new StraceReader();
  const out: StraceEvent[] = [];
  for (const raw of text.split('\n')) out.push(...reader.line(raw));
  reader.end();
  return out;
}

/** Reads a log line by line, as it is written (`uvm record` follows one so). */
export class StraceReader {
  private readonly pending = new Map<number, Pending>();
  private lineNo = 0;

  /**
   * line: the next line => its events (none for a blank line).
   * => throws StraceError naming the line when it is malformed.
   */
  line(raw: string): StraceEvent[] {
    this.lineNo++;
    if (raw.trim() === '') return [];
    const m = LINE.exec(raw);
    if (!m)
      throw new StraceError(
        this.lineNo,
        `not "PID TIME event": ${JSON.stringify(raw.slice(0, 80))}`,
      );
    return parseBody(Number(m[1]), m[2], m[3], this.lineNo, this.pending);
  }

  /** end: the log is over => throws StraceError for a call never resumed. */
  end(): void {
    const left = [...this.pending.entries()][0];
    if (left)
      throw new StraceError(left[1].line, `${left[1].name} of pid ${left[0]} is never resumed`);
  }
}

interface Pending {
  name: string;
  partial: string;
  line: number;
}

function parseBody(
  pid: number,
  time: string,
  body: string,
  line: number,
  pending: Map<number, Pending>,
): StraceEvent[] {
  if (body.startsWith('--- stopped by ')) {
    const sig = /^--- stopped by (\S+) ---$/.exec(body);
    if (!sig) throw new StraceError(line, 'malformed "stopped by" line');
    return [{ kind: 'stopped', line, pid, time, signal: sig[1] }];
  }
  if (body.startsWith('--- ')) {
    const sig = /^--- (SIG[A-Z0-9]+) \{.*\} ---$/.exec(body);
    if (!sig) throw new StraceError(line, 'malformed signal line');
    return [{ kind: 'signal', line, pid, time, signal: sig[1] }];
  }
  if (body.startsWith('+++ ')) return [parseExit(pid, time, body, line)];
  const un = UNFINISHED.exec(body);
  if (un) {
    if (pending.has(pid)) throw new StraceError(line, `pid ${pid} already has an unfinished call`);
    pending.set(pid, { name: un[1], partial: un[2], line });
    return [{ kind: 'start', line, pid, time, name: un[1], partial: un[2] }];
  }
  const re = RESUMED.exec(body);
  if (re) {
    const p = pending.get(pid);
    if (!p || p.name !== re[1])
      throw new StraceError(line, `${re[1]} resumed, but pid ${pid} did not start it`);
    pending.delete(pid);
    return [parseCall(pid, time, `${re[1]}(${p.partial}${re[2]}`, line, p.line)];
  }
  if (CALL.test(body)) return [parseCall(pid, time, body, line, line)];
  throw new StraceError(line, `not a call, signal or exit: ${JSON.stringify(body.slice(0, 80))}`);
}

function parseExit(pid: number, time: string, body: string, line: number): ExitEvent {
  const exit = (status: number | null, killedBy: string | null, by: number | null): ExitEvent => ({
    kind: 'exit',
    line,
    pid,
    time,
    status,
    killedBy,
    supersededBy: by,
  });
  let m = /^\+\+\+ exited with (\d+) \+\+\+$/.exec(body);
  if (m) return exit(Number(m[1]), null, null);
  m = /^\+\+\+ killed by (SIG[A-Z0-9]+)(?: \(core dumped\))? \+\+\+$/.exec(body);
  if (m) return exit(null, m[1], null);
  m = /^\+\+\+ superseded by execve in pid (\d+) \+\+\+$/.exec(body);
  if (m) return exit(null, null, Number(m[1]));
  throw new StraceError(line, 'malformed exit line');
}

/**
 * parseCall: "NAME(args) = result" into a call event.
 */
function parseCall(
  pid: number,
  time: string,
  text: string,
  line: number,
  startLine: number,
): CallEvent {
  const head = CALL.exec(text);
  const res = RESULT.exec(text);
  if (!head || !res)
    throw new StraceError(line, `malformed call: ${JSON.stringify(text.slice(0, 80))}`);
  const argText = text.slice(head[1].length + 1, res.index);
  const r = res[1];
  const result = r === '?' ? null : r.startsWith('0x') ? Number.parseInt(r, 16) : Number(r);
  return {
    kind: 'call',
    line,
    pid,
    time,
    name: head[1],
    args: splitArgs(argText, line),
    result,
    errno: res[2] ?? null,
    startLine,
  };
}

/**
 * splitArgs: top-level ", "-separated arguments, comments dropped.
 */
export function splitArgs(text: string, line: number): string[] {
  const clean = text.replace(/\/\*.*?\*\//g, '').trim();
  if (clean === '') return [];
  const out: string[] = [];
  let depth = 0;
  let inStr = false;
  let start = 0;
  for (let i = 0; i < clean.length; i++) {
    const c = clean[i];
    if (inStr) {
      if (c === '\\') i++;
      else if (c === '"') inStr = false;
      continue;
    }
    if (c === '"') inStr = true;
    else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (c === '<' && /\d/.test(clean[i - 1] ?? '')) {
      /* an fd annotation N<path>: skip to its closing > */
      const close = clean.indexOf('>', i);
      if (close < 0) throw new StraceError(line, 'an fd annotation is not closed');
      i = close;
    } else if (c === ',' && depth === 0) {
      out.push(clean.slice(start, i).trim());
      start = i + 1;
    }
    if (depth < 0) throw new StraceError(line, 'unbalanced brackets in the arguments');
  }
  if (depth !== 0 || inStr)
    throw new StraceError(line, 'unbalanced brackets or quotes in the arguments');
  out.push(clean.slice(start).trim());
  return out.filter((a) => a !== '' || out.length > 1);
}

/** fdPath: the path of an fd argument "3</path>", or null ("-1", "99"). */
export function fdPath(arg: string): string | null {
  const m = /^\d+<(.*)>$/.exec(arg);
  return m ? m[1] : null;
}

/** parseNumber: "NULL", decimal, or 0x hex. */
export function parseNumber(arg: string): number {
  if (arg === 'NULL') return 0;
  if (arg.startsWith('0x')) return Number.parseInt(arg, 16);
  return Number(arg);
}

/** parseFlags: "A|B|C" into names ("0" is none). */
export function parseFlags(arg: string): string[] {
  if (arg === '0') return [];
  return arg.split('|').map((s) => s.trim());
}
