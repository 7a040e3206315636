/*
 * trace.ts: memory traces decoded to a page-reference string, in chunks
 * of bytes as they come (a trace of 10^8 accesses is never held as text).
 *
 *   formats, mixed freely, one access a line:
 *     I  0401ab70,3        valgrind lackey (--tool=lackey --trace-mem=yes):
 *      L 1fff000698,8      I fetch, L load, S store, M modify; the address
 *      S 1fff000690,8      in hex, the size in bytes in decimal (as lackey
 *      M 1fff000690,8      prints it); S and M are writes
 *     0x7ffd1234 / 7ffd1234   a plain hex address: a one-byte read
 *   ignored: empty lines, valgrind's own (`==PID==`, `--PID--`, `**PID**`)
 *
 *   An access of `size` bytes at `a` references the pages floor(a/P) ..
 *   floor((a+size-1)/P), in order. Pages become dense ids 0..distinct-1 in
 *   order of first touch:
 *
 *     refs    Int32Array   one id per reference (4 bytes each)
 *     writes  Uint8Array   a bit per reference: was it a store
 *     pages   Float64Array the page number of each id
 *
 *   The arrays grow by half when full, on buffers from `alloc` (the
 *   command passes SharedArrayBuffer, so worker threads share them).
 */
import { vmerr } from '../kernel/param.ts';

/** A decoded trace: the page-reference string and what each id is. */
export interface RefTrace {
  /** the page id of each reference, in order */
  readonly refs: Int32Array;
  /** bit i (writes[i >> 3] >> (i & 7) & 1): reference i was a store */
  readonly writes: Uint8Array;
  /** the page number (address / page size) of each id */
  readonly pages: Float64Array;
  readonly distinct: number;
  readonly pageSize: number;
}

/** How the arrays' memory is made (default: ArrayBuffer). */
export type Alloc = (bytes: number) => ArrayBufferLike;

const NL = 10;
const CR = 13;
const SPACE = 32;
const TAB = 9;

/** The decoder: feed it chunks of a trace's bytes, then end it. */
export class TraceDecoder {
  private readonly shift: number;
  /** a page number's worth of an address's high 32 bits */
  private readonly hiScale: number;
  private readonly ids: PageIds;
  private refs: Int32Array;
  private writes: Uint8Array;
  private n = 0;
  private line = 0;
  private carry: Uint8Array = new Uint8Array(0);
  private lastPage = -1;
  private lastId = -1;
  /** the address hex() read last, in 32-bit halves */
  private hi = 0;
  private lo = 0;

  constructor(
    /** names the trace in errors */
    private readonly name: string,
    readonly pageSize = 4096,
    private readonly alloc: Alloc = (bytes) => new ArrayBuffer(bytes),
  ) {
    if (!Number.isInteger(Math.log2(pageSize)) || pageSize < 1 || pageSize > 2 ** 30)
      throw vmerr('EINVAL', 'trace', String(pageSize), 'the page size must be a power of two');
    this.shift = Math.log2(pageSize);
    this.hiScale = 2 ** (32 - this.shift);
    this.ids = new PageIds(alloc);
    this.refs = new Int32Array(alloc(4 << 16));
    this.writes = new Uint8Array(alloc(1 << 13));
  }

  /** references: how many are decoded so far. */
  get references(): number {
    return this.n;
  }

  /**
   * push: decode the complete lines of `chunk` (a line cut at its end
   * waits for the next chunk).
   * => throws VmError EINVAL naming the trace and line of a malformed line.
   */
  push(chunk: Uint8Array): void {
    let start = 0;
    let nl = chunk.indexOf(NL);
    if (this.carry.length > 0) {
      if (nl < 0) {
        this.carry = concat(this.carry, chunk);
        return;
      }
      const first = concat(this.carry, chunk.subarray(0, nl));
      this.carry = new Uint8Array(0);
      this.parseLine(first, 0, first.length);
      start = nl + 1;
      nl = chunk.indexOf(NL, start);
    }
    for (; nl >= 0; nl = chunk.indexOf(NL, start)) {
      this.parseLine(chunk, start, nl);
      start = nl + 1;
    }
    if (start < chunk.length) this.carry = chunk.slice(start);
  }

  /**
   * end: the last line (even without its newline), and the trace.
   * => throws VmError EINVAL as push.
   */
  end(): RefTrace {
    if (this.carry.length > 0) this.parseLine(this.carry, 0, this.carry.length);
    this.carry = new Uint8Array(0);
    return {
      refs: this.refs.subarray(0, this.n),
      writes: this.writes.subarray(0, (this.n + 7) >> 3),
      pages: this.ids.pages(),
      distinct: this.ids.count,
      pageSize: this.pageSize,
    };
  }

  private parseLine(b: Uint8Array, s: number, e: number): void {
    this.line++;
    while (e > s && (b[e - 1] === CR || b[e - 1] === SPACE || b[e - 1] === TAB)) e--;
    if (e === s || isValgrindNote(b, s)) return;
    let i = s;
    while (i < e && (b[i] === SPACE || b[i] === TAB)) i++;
    const kind = b[i];
    if ((kind === 73 || kind === 76 || kind === 83 || kind === 77) && b[i + 1] === SPACE)
      this.lackey(b, i + 2, s, e, kind === 83 || kind === 77);
    else this.plain(b, i, e);
  }

  /** lackey: the `address,size` of a lackey line, from b[i]. */
  private lackey(b: Uint8Array, i: number, s: number, e: number, write: boolean): void {
    while (i < e && b[i] === SPACE) i++;
    i = this.hex(b, i, e);
    if (b[i] !== 44) this.fail(b, s, e, 'no comma after the address');
    let size = 0;
    for (i++; i < e; i++) {
      const d = b[i] - 48;
      if (d < 0 || d > 9 || size > 2 ** 40) this.fail(b, s, e, 'the size is not a decimal number');
      size = size * 10 + d;
    }
    if (size === 0) this.fail(b, s, e, 'no size, or size 0');
    this.access(size, write, b, s, e);
  }

  private plain(b: Uint8Array, i: number, e: number): void {
    const s = i;
    if (b[i] === 48 && (b[i + 1] === 120 || b[i + 1] === 88)) i += 2;
    if (hexDigit(b[i]) < 0 || this.hex(b, i, e) !== e)
      this.fail(b, s, e, 'not a lackey line (I, L, S, M) nor a hex address');
    this.access(1, false, b, s, e);
  }

  /** hex: the hex number at b[i..] into hi and lo (its 32-bit halves); => where it ends. */
  private hex(b: Uint8Array, i: number, e: number): number {
    const s = i;
    let hi = 0;
    let lo = 0;
    for (; i < e; i++) {
      const d = hexDigit(b[i]);
      if (d < 0) break;
      if (i - s === 16) this.fail(b, s, e, 'an address wider than 64 bits');
      hi = hi * 16 + (lo >>> 28);
      lo = ((lo << 4) | d) >>> 0;
    }
    if (i === s) this.fail(b, s, e, 'no hex address');
    this.hi = hi;
    this.lo = lo;
    return i;
  }

  private access(size: number, write: boolean, b: Uint8Array, s: number, e: number): void {
    const { hi, lo, shift, pageSize } = this;
    const first = hi * this.hiScale + (lo >>> shift);
    const span = Math.floor(((lo & (pageSize - 1)) + size - 1) / pageSize);
    if (first + span > Number.MAX_SAFE_INTEGER)
      this.fail(b, s, e, 'a page number past 2^53 (use a larger --page-size)');
    for (let k = 0; k <= span; k++) this.ref(first + k, write);
  }

  private ref(page: number, write: boolean): void {
    if (page !== this.lastPage) {
      this.lastPage = page;
      this.lastId = this.ids.id(page);
    }
    if (this.n === this.refs.length) this.grow();
    const n = this.n++;
    this.refs[n] = this.lastId;
    if (write) this.writes[n >> 3] |= 1 << (n & 7);
  }

  private grow(): void {
    const cap = this.refs.length + (this.refs.length >> 1);
    const refs = new Int32Array(this.alloc(cap * 4));
    refs.set(this.refs);
    this.refs = refs;
    const writes = new Uint8Array(this.alloc((cap + 7) >> 3));
    writes.set(this.writes);
    this.writes = writes;
  }

  private fail(b: Uint8Array, s: number, e: number, why: string): never {
    const text = new TextDecoder().decode(b.subarray(s, Math.min(e, s + 80)));
    const at = `${this.name}:${this.line}`;
    throw vmerr('EINVAL', 'trace', at, `${at}: ${why}: ${JSON.stringify(text)}`);
  }
}

/** isValgrindNote: a line valgrind writes about itself (==PID==, --PID--, **PID**). */
function isValgrindNote(b: Uint8Array, s: number): boolean {
  const c = b[s];
  return (c === 61 || c === 45 || c === 42) && b[s + 1] === c;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 32;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * PageIds: page numbers to dense ids in order of first sight (an
 * open-addressing hash table of doubles, half full at most).
 */
class PageIds {
  count = 0;
  private keys = new Float64Array(1024);
  private vals = new Int32Array(1024).fill(-1);
  private byId: Float64Array;

  constructor(private readonly alloc: Alloc) {
    this.byId = new Float64Array(alloc(8 * 512));
  }

  /** id: the id of `page`, a new one the first time. */
  id(page: number): number {
    const mask = this.keys.length - 1;
    for (let h = hash(page) & mask; ; h = (h + 1) & mask) {
      const v = this.vals[h];
      if (v < 0) return this.add(page, h);
      if (this.keys[h] === page) return v;
    }
  }

  /** pages: the page number of each id. */
  pages(): Float64Array {
    return this.byId.subarray(0, this.count);
  }

  private add(page: number, h: number): number {
    const id = this.count++;
    this.keys[h] = page;
    this.vals[h] = id;
    if (id === this.byId.length) {
      const more = new Float64Array(this.alloc(16 * this.byId.length));
      more.set(this.byId);
      this.byId = more;
    }
    this.byId[id] = page;
    if (2 * this.count > this.keys.length) this.rehash();
    return id;
  }

  private rehash(): void {
    const size = this.keys.length * 2;
    this.keys = new Float64Array(size);
    this.vals = new Int32Array(size).fill(-1);
    for (let id = 0; id < this.count; id++) {
      let h = hash(this.byId[id]) & (size - 1);
      while (this.vals[h] >= 0) h = (h + 1) & (size - 1);
      this.keys[h] = this.byId[id];
      this.vals[h] = id;
    }
  }
}

/** hash: a page number (below 2^53) mixed into 32 bits. */
function hash(page: number): number {
  const lo = page >>> 0;
  const hi = (page / 4294967296) >>> 0;
  const x = Math.imul(lo ^ Math.imul(hi, 0x27d4eb2d), 0x9e3779b1);
  return x ^ (x >>> 16);
}
