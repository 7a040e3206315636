/*
 * cli/tracefile.ts: a recording's files as the replay reads them, streamed.
 *
 *   readLines(file)     the lines of a file, read 1 MiB at a time (a log of
 *                       millions of calls is never held whole)
 *   straceEvents(file)  the events of NAME.strace, line by line
 *   readMapsFile(file)  a /proc/PID/maps dump, every line checked
 */
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { readMapsRow } from '../sys/procmaps.ts';
import { type StraceEvent, StraceReader } from '../tools/strace.ts';
import { readInput, UsageError } from './usage.ts';

const CHUNK = 1 << 20;

/**
 * readLines: the lines of `file` (the last one even without its newline).
 * => `what` names the file in errors; progress(bytes read, bytes in all) after each chunk; throws
 *    UsageError naming the file when it cannot be read.
 */
export function* readLines(
  file: string,
  what: string,
  progress?: (done: number, total: number) => void,
): Generator<string> {
  const fd = openInput(file, what);
  try {
    const total = fstatSync(fd).size;
    let buf = Buffer.alloc(CHUNK);
    let have = 0;
    let done = 0;
    for (let n = readSync(fd, buf, have, buf.length - have, null); n > 0; ) {
      done += n;
      const end = have + n;
      let start = 0;
      /* lines end at a newline byte, never inside a UTF-8 character */
      for (let nl = buf.indexOf(10, start); nl >= 0 && nl < end; nl = buf.indexOf(10, start)) {
        yield buf.toString('utf8', start, nl);
        start = nl + 1;
      }
      buf.copyWithin(0, start, end);
      have = end - start;
      if (have === buf.length) buf = Buffer.concat([buf, Buffer.alloc(buf.length)]);
      progress?.(done, total);
      n = readSync(fd, buf, have, buf.length - have, null);
    }
    if (have > 0) yield buf.toString('utf8', 0, have);
  } finally {
    closeSync(fd);
  }
}

function openInput(file: string, what: string): number {
  try {
    return openSync(file, 'r');
  } catch (e) {
    throw new UsageError(
      `cannot read the ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`,
    );
  }
}

/**
 * straceEvents: the events of an strace log file, streamed; a line the
 * reader cannot use is a note event, never an exception.
 */
export function* straceEvents(
  file: string,
  progress?: (done: number, total: number) => void,
): Generator<StraceEvent> {
  const reader = new StraceReader();
  for (const line of readLines(file, 'trace', progress)) yield* reader.line(line);
  yield* reader.end();
}

/**
 * readMapsFile: a /proc/PID/maps dump's rows, or null when the file does
 * not exist.
 * => throws UsageError naming the file when a line is not a maps row
 *    ("not a maps file"); an empty file gives no rows.
 */
export function readMapsFile(file: string, what: string): string[] | null {
  if (!existsSync(file)) return null;
  const lines = readInput(file, what).split('\n');
  const bad = lines.findIndex((l) => l.trim() !== '' && readMapsRow(l) === null);
  if (bad >= 0)
    throw new UsageError(
      `${file}: not a maps file (${what}): line ${bad + 1} is not a /proc/PID/maps row: ${JSON.stringify(lines[bad].slice(0, 80))}`,
    );
  return lines.filter((l) => l.trim() !== '');
}
