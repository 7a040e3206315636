/*
 * cli/memtrace.ts: a memory trace read from a file or `-` (stdin),
 * streamed a megabyte at a time into the decoder (lab/trace.ts);
 * gzip-compressed input, known by its magic bytes (1f 8b), is inflated
 * as it streams (node:zlib).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { VmError } from '../kernel/param.ts';
import { type Alloc, type RefTrace, TraceDecoder } from '../lab/trace.ts';
import { UsageError } from './usage.ts';

/** How to read a trace. */
export interface ReadTraceOptions {
  /** bytes per page (default 4096) */
  pageSize?: number;
  /** where the arrays live (the command: SharedArrayBuffer, for its workers) */
  alloc?: Alloc;
  /** after each chunk: bytes of the file read, and its size (a file only) */
  progress?: (done: number, total: number) => void;
}

/**
 * readTrace: the page-reference string of the trace `file` ('-': stdin).
 * => throws UsageError naming the file when it cannot be read, is not
 *    valid gzip, or has a malformed line (with its line number).
 */
export async function readTrace(file: string, opts: ReadTraceOptions = {}): Promise<RefTrace> {
  const name = file === '-' ? 'stdin' : file;
  const decoder = new TraceDecoder(name, opts.pageSize, opts.alloc);
  let bad: unknown;
  try {
    const total = file === '-' ? 0 : (await stat(file)).size;
    const src = file === '-' ? process.stdin : createReadStream(file, { highWaterMark: 1 << 20 });
    let done = 0;
    const counted = async function* (): AsyncGenerator<Buffer> {
      for await (const chunk of src as AsyncIterable<Buffer>) {
        done += chunk.length;
        if (total > 0) opts.progress?.(done, total);
        yield chunk;
      }
    };
    const head = await sniff(counted());
    /* the decoder's error, which pipeline reports as an abort */
    const sink = async (chunks: AsyncIterable<Buffer>) => {
      try {
        for await (const chunk of chunks) decoder.push(chunk);
      } catch (e) {
        bad = e;
        throw e;
      }
    };
    if (head.gzip) await pipeline(Readable.from(head.chunks), createGunzip(), sink);
    else await sink(head.chunks);
    return decoder.end();
  } catch (caught) {
    const e = bad ?? caught;
    if (e instanceof VmError) throw new UsageError(e.message.replace(/^trace: EINVAL: /, ''));
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    if (code.startsWith('Z_')) throw new UsageError(`${name}: not valid gzip data (${code})`);
    throw new UsageError(`cannot read the trace ${name}: ${code}`);
  }
}

/**
 * sniff: the first two bytes of a stream: gzip's magic or not; and the
 * stream again, whole.
 */
async function sniff(
  chunks: AsyncGenerator<Buffer>,
): Promise<{ gzip: boolean; chunks: AsyncGenerator<Buffer> }> {
  let head = Buffer.alloc(0);
  while (head.length < 2) {
    const r = await chunks.next();
    if (r.done) break;
    head = Buffer.concat([head, r.value]);
  }
  const again = async function* (): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    yield* chunks;
  };
  return { gzip: head[0] === 0x1f && head[1] === 0x8b, chunks: again() };
}
