/*
 * strace.ts: the parser of `strace -f -tt -y` logs (the corpus format of
 * ../shared/samples/FORMAT.md).
 *
 *   StraceReader.line(text) -> events, line by line (a log is streamed,
 *   never held whole; parseStrace(text) reads a whole text strictly):
 *     call      NAME(args) = result     (a split call is joined: the
 *                                         <unfinished ...> part and the
 *                                         <... NAME resumed> rest, at the
 *                                         line where it completes)
 *     start     NAME(partial <unfinished ...>   (also "???(": a thread
 *                                         killed at syscall entry)
 *     signal    --- SIGNAME {...} ---
 *     stopped   --- stopped by SIG ---
 *     exit      +++ exited with N +++ / +++ killed by SIG +++ /
 *               +++ superseded by execve in pid N +++
 *     note      a line that does not fit (malformed, truncated), or a
 *               call whose thread died in it: never an exception
 *
 *   args are split at top-level ", " (nesting (), [], {} and "strings"),
 *   with /* comments *\/ removed; an fd annotation N<path> is kept whole.
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

export type StraceEvent =
  | CallEvent
  | SignalEvent
  | StoppedEvent
  | ExitEvent
  | StartEvent
  | NoteEvent;

/**
 * A line the reader could not use: malformed or truncated, or a call whose
 * thread died inside it (strace never wrote its end). The replay lists it
 * and goes on.
 */
export interface NoteEvent {
  kind: 'note';
  line: number;
  /** the line's pid, when it has one */
  pid: number | null;
  time: string;
  /** what is wrong, with the line's text */
  text: string;
}

/** A line that does not fit the format (parseStrace, the strict reading). */
export class StraceError extends Error {
  override readonly name = 'StraceError';
  constructor(
    readonly line: number,
    what: string,
  ) {
    super(`line ${line}: ${what}`);
  }
}

/** the result of a call: `= VALUE [ERRNO (message)]`, as strace ends a line */
const RESULT =
  /^(-?\d+|0x[0-9a-f]+|\?)(?:<.*>(?:\(deleted\))?)?(?: ([A-Z][A-Z0-9_]+) \((.*)\))?(?: <unavailable>)?(?: \((?:INJECTED|DELAYED)\))?$/;
const NAME = /^(?:[a-z_0-9]+|\?\?\?)$/;
const TIME = /^\d\d:\d\d:\d\d\.\d{6}$/;
const UNFINISHED = ' <unfinished ...>';

/**
 * parseStrace: every line of a log as an event, strictly.
 * => throws StraceError for the first line the reader notes (malformed,
 *    truncated, a resumed call that never started, a call never resumed).
 */
export function parseStrace(text: string): StraceEvent[] {
  const reader = new StraceReader();
  const out: StraceEvent[] = [];
  for (const raw of text.split('\n')) out.push(...reader.line(raw));
  out.push(...reader.end());
  const note = out.find((e) => e.kind === 'note');
  if (note) throw new StraceError(note.line, note.text);
  return out;
}

/**
 * Reads a log line by line, as it is written (`uvm record` follows one so,
 * `uvm replay` streams one so). It never throws: a line it cannot use is a
 * note event naming its number.
 */
export class StraceReader {
  private readonly pending = new Map<number, Pending>();
  private lineNo = 0;

  /** line: the next line => its events (none for a blank line). */
  line(raw: string): StraceEvent[] {
    const line = ++this.lineNo;
    if (raw.trim() === '') return [];
    let i = 0;
    while (i < raw.length && raw.charCodeAt(i) >= 48 && raw.charCodeAt(i) <= 57) i++;
    const pid = Number(raw.slice(0, i));
    let t = i;
    while (raw.charCodeAt(t) === 32) t++;
    const time = raw.slice(t, t + 15);
    if (i === 0 || t === i || raw.charCodeAt(t + 15) !== 32 || !TIME.test(time))
      return [note(line, null, '', `not "PID TIME event": ${quote(raw)}`)];
    return this.body(pid, time, raw.slice(t + 16), line);
  }

  /** end: the log is over => a note for each call never resumed. */
  end(): NoteEvent[] {
    const left = [...this.pending.entries()]
      .filter(([, p]) => p.name !== '???')
      .map(([pid, p]) => note(p.line, pid, '', `${p.name} of pid ${pid} is never resumed`));
    this.pending.clear();
    return left;
  }

  private body(pid: number, time: string, body: string, line: number): StraceEvent[] {
    const c = body.charCodeAt(0);
    if (c === 45 /* - */) return [parseSignal(pid, time, body, line)];
    if (c === 43 /* + */) return this.exit(parseExit(pid, time, body, line));
    if (c === 60 /* < */) return [this.resumed(pid, time, body, line)];
    if (body.endsWith(UNFINISHED)) return this.unfinished(pid, time, body, line);
    return [parseCall(pid, time, body, line, line)];
  }

  /** exit: the pid is gone; a call it left unfinished never completes. */
  private exit(ev: ExitEvent | NoteEvent): StraceEvent[] {
    const p = ev.pid === null ? undefined : this.pending.get(ev.pid);
    if (ev.kind !== 'exit' || p === undefined) return [ev];
    this.pending.delete(ev.pid);
    if (p.name === '???') return [ev];
    return [
      note(p.line, ev.pid, ev.time, `${p.name} of pid ${ev.pid} never completed: it died in it`),
      ev,
    ];
  }

  private unfinished(pid: number, time: string, body: string, line: number): StraceEvent[] {
    const open = body.indexOf('(');
    const name = body.slice(0, open);
    if (open < 0 || !NAME.test(name)) return [note(line, pid, time, `not a call: ${quote(body)}`)];
    const partial = body.slice(open + 1, body.length - UNFINISHED.length);
    const out: StraceEvent[] = [];
    const before = this.pending.get(pid);
    if (before && before.name !== '???')
      out.push(note(before.line, pid, time, `${before.name} of pid ${pid} is never resumed`));
    this.pending.set(pid, { name, partial, line });
    out.push({ kind: 'start', line, pid, time, name, partial });
    return out;
  }

  private resumed(pid: number, time: string, body: string, line: number): StraceEvent {
    const close = body.indexOf(' resumed>');
    const name = close < 0 ? '' : body.slice(5, close);
    if (!body.startsWith('<... ') || !NAME.test(name))
      return note(line, pid, time, `not a resumed call: ${quote(body)}`);
    const p = this.pending.get(pid);
    if (!p || p.name !== name)
      return note(line, pid, time, `${name} resumed, but pid ${pid} did not start it`);
    this.pending.delete(pid);
    return parseCall(pid, time, `${name}(${p.partial}${body.slice(close + 9)}`, line, p.line);
  }
}

interface Pending {
  name: string;
  partial: string;
  line: number;
}

function note(line: number, pid: number | null, time: string, text: string): NoteEvent {
  return { kind: 'note', line, pid, time, text };
}

function quote(text: string): string {
  return JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}...` : text);
}

function parseSignal(pid: number, time: string, body: string, line: number): StraceEvent {
  if (body.startsWith('--- stopped by ')) {
    const sig = /^--- stopped by (\S+) ---$/.exec(body);
    if (!sig) return note(line, pid, time, `malformed "stopped by" line: ${quote(body)}`);
    return { kind: 'stopped', line, pid, time, signal: sig[1] };
  }
  const sig = /^--- (SIG[A-Z0-9]+) \{.*\} ---$/.exec(body);
  if (!sig) return note(line, pid, time, `malformed signal line: ${quote(body)}`);
  return { kind: 'signal', line, pid, time, signal: sig[1] };
}

function parseExit(pid: number, time: string, body: string, line: number): ExitEvent | NoteEvent {
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
  return note(line, pid, time, `malformed exit line: ${quote(body)}`);
}

/**
 * parseCall: "NAME(args) = result" into a call event (a note when it is
 * not one: no result, a truncated line, unbalanced arguments).
 */
function parseCall(
  pid: number,
  time: string,
  text: string,
  line: number,
  startLine: number,
): CallEvent | NoteEvent {
  const open = text.indexOf('(');
  const eq = text.lastIndexOf(' = ');
  let close = eq;
  while (close > 0 && text.charCodeAt(close) === 32) close--;
  const res = eq < 0 ? null : RESULT.exec(text.slice(eq + 3));
  const name = text.slice(0, open);
  if (open < 0 || !NAME.test(name) || res === null || text.charCodeAt(close) !== 41 /* ) */)
    return note(line, pid, time, `malformed call: ${quote(text)}`);
  const args = splitArgs(text.slice(open + 1, close));
  if (args === null) return note(line, pid, time, `unbalanced arguments: ${quote(text)}`);
  const r = res[1];
  const result = r === '?' ? null : r.startsWith('0x') ? Number.parseInt(r, 16) : Number(r);
  return { kind: 'call', line, pid, time, name, args, result, errno: res[2] ?? null, startLine };
}

/**
 * splitArgs: top-level ", "-separated arguments, comments dropped.
 * => null when brackets or quotes do not balance.
 */
export function splitArgs(text: string): string[] | null {
  const clean = text.includes('/*') ? text.replace(/\/\*.*?\*\//g, '').trim() : text.trim();
  if (clean === '') return [];
  if (!NESTING.test(clean)) return clean.split(',').map((a) => a.trim());
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < clean.length; i++) {
    const c = clean.charCodeAt(i);
    if (c === 34 /* " */) i = stringEnd(clean, i);
    else if (c === 40 || c === 91 || c === 123 /* ( [ { */) depth++;
    else if (c === 41 || c === 93 || c === 125 /* ) ] } */) depth--;
    else if (c === 60 /* < */ && isDigit(clean.charCodeAt(i - 1))) {
      /* an fd annotation N<path>: skip to its closing > */
      i = clean.indexOf('>', i);
      if (i < 0) return null;
    } else if (c === 44 /* , */ && depth === 0) {
      out.push(clean.slice(start, i).trim());
      start = i + 1;
    }
    if (depth < 0 || i >= clean.length) return null;
  }
  if (depth !== 0) return null;
  out.push(clean.slice(start).trim());
  return out.filter((a) => a !== '' || out.length > 1);
}

/** what makes splitting more than cutting at ", ": nesting, strings, fd annotations */
const NESTING = /[([{"<]/;

/** stringEnd: the index of the quote closing the string opened at `open` (length if none). */
function stringEnd(text: string, open: number): number {
  for (let i = open + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 92 /* \\ */) i++;
    else if (c === 34) return i;
  }
  return text.length;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * fdPath: the path of an fd argument "3</path>", or null ("-1", "99"); a
 * deleted file ("3</path>(deleted)", as strace 6 writes it) is
 * "/path (deleted)", as maps names it.
 */
export function fdPath(arg: string): string | null {
  const m = /^\d+<(.*)>(\(deleted\))?$/.exec(arg);
  if (!m) return null;
  return m[2] ? `${m[1]} (deleted)` : m[1];
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
