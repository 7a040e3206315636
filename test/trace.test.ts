/*
 * Memory traces (src/lab/trace.ts, src/cli/memtrace.ts): valgrind lackey
 * lines and plain hex addresses to a page-reference string; accesses that
 * span pages, stores, valgrind's own lines, chunks cut anywhere, gzip,
 * malformed lines named by their number.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { readTrace } from '../src/cli/memtrace.ts';
import { UsageError } from '../src/cli/usage.ts';
import { VmError } from '../src/kernel/param.ts';
import { type RefTrace, TraceDecoder } from '../src/lab/trace.ts';

const enc = new TextEncoder();

function decode(text: string, pageSize = 4096, chunk = text.length || 1): RefTrace {
  const d = new TraceDecoder('t', pageSize);
  const bytes = enc.encode(text);
  for (let i = 0; i < bytes.length; i += chunk) d.push(bytes.subarray(i, i + chunk));
  return d.end();
}

/** pagesOf: the page number of each reference. */
function pagesOf(t: RefTrace): number[] {
  return Array.from(t.refs, (id) => t.pages[id]);
}

function writesOf(t: RefTrace): number[] {
  return Array.from(t.refs, (_, i) => (t.writes[i >> 3] >> (i & 7)) & 1);
}

const LACKEY = [
  '==22202== Lackey, an example Valgrind tool',
  '==22202== Command: ./sort',
  'I  0401ab70,3',
  ' S 1fff000698,8',
  ' L 0401bffe,4',
  ' M 1fff000690,8',
  '--22202-- a valgrind warning',
  '',
  '==22202== Exit code:       0',
].join('\n');

describe('lackey traces', () => {
  it('references each page an access touches, in order; S and M are writes', () => {
    const t = decode(LACKEY);
    assert.deepEqual(pagesOf(t), [0x401a, 0x1fff000, 0x401b, 0x401c, 0x1fff000]);
    assert.deepEqual(writesOf(t), [0, 1, 0, 0, 1]);
    assert.equal(t.distinct, 4);
    assert.deepEqual(Array.from(t.refs), [0, 1, 2, 3, 1]);
  });

  it('the page size divides the addresses', () => {
    assert.deepEqual(pagesOf(decode('I  1000,1\n L 13ff,2\n', 512)), [8, 9, 10]);
    assert.deepEqual(pagesOf(decode(' L 0,65536\n', 32768)), [0, 1]);
  });

  it('addresses of 64 bits give exact page numbers', () => {
    assert.deepEqual(pagesOf(decode(' L ffffffffff600000,8\n')), [0xffffffffff600]);
  });

  it('lines cut across chunks anywhere decode the same', () => {
    const whole = decode(LACKEY);
    for (const chunk of [1, 2, 3, 7, 16]) {
      const t = decode(LACKEY, 4096, chunk);
      assert.deepEqual(pagesOf(t), pagesOf(whole), `chunks of ${chunk}`);
      assert.deepEqual(writesOf(t), writesOf(whole));
    }
  });

  it('long traces with many pages grow the arrays and keep every reference', () => {
    const lines = Array.from(
      { length: 200_000 },
      (_, i) => ` S ${((i * 7919) % 5000).toString(16)}000,1`,
    );
    const t = decode(lines.join('\r\n'));
    assert.equal(t.refs.length, 200_000);
    assert.equal(t.distinct, 5000);
    assert.equal(t.pages[t.refs[199_999]], (199_999 * 7919) % 5000);
    assert.ok(writesOf(t).every((w) => w === 1));
  });
});

describe('hex traces', () => {
  it('one address per line, with or without 0x, a one-byte read each', () => {
    const t = decode('0x1000\n2fff\n  0X3000  \n1000');
    assert.deepEqual(pagesOf(t), [1, 2, 3, 1]);
    assert.deepEqual(writesOf(t), [0, 0, 0, 0]);
  });
});

describe('malformed lines', () => {
  const bad: [string, RegExp][] = [
    ['I  0401ab70', /t:3: no comma after the address/],
    [' L 12,x', /t:3: the size is not a decimal number/],
    [' S 12,0', /t:3: no size, or size 0/],
    ['hello', /t:3: not a lackey line/],
    [' L ,8', /t:3: no hex address/],
    ['0x12345678901234567', /t:3: an address wider than 64 bits/],
  ];
  for (const [line, why] of bad)
    it(`${JSON.stringify(line)} is an error naming its line`, () => {
      assert.throws(
        () => decode(`I  1000,1\n\n${line}\nI  2000,1\n`),
        (e) => e instanceof VmError && e.code === 'EINVAL' && why.test(e.message),
      );
    });

  it('a page size that is no power of two is refused', () => {
    assert.throws(() => new TraceDecoder('t', 3000), VmError);
  });
});

describe('readTrace (files)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvm-trace-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a plain file and the same file gzip-compressed alike', async () => {
    const plain = join(dir, 't.lackey');
    const gz = join(dir, 't.lackey.gz');
    writeFileSync(plain, LACKEY);
    writeFileSync(gz, gzipSync(LACKEY));
    const a = await readTrace(plain);
    const b = await readTrace(gz, { pageSize: 4096 });
    assert.deepEqual(pagesOf(b), pagesOf(a));
    assert.equal(a.refs.length, 5);
  });

  it('reports progress over the file', async () => {
    const f = join(dir, 'p.hex');
    writeFileSync(f, '1000\n2000\n');
    const seen: number[][] = [];
    await readTrace(f, { progress: (done, total) => seen.push([done, total]) });
    assert.deepEqual(seen.at(-1), [10, 10]);
  });

  it('a malformed line is a UsageError naming the file and line', async () => {
    const f = join(dir, 'bad.gz');
    writeFileSync(f, gzipSync('1000\n2000\nzz\n'));
    await assert.rejects(
      readTrace(f),
      (e) => e instanceof UsageError && /bad\.gz:3: /.test(e.message),
    );
  });

  it('a missing file, and broken gzip, are UsageErrors', async () => {
    await assert.rejects(readTrace(join(dir, 'none')), /cannot read the trace .*none: ENOENT/);
    const f = join(dir, 'broken.gz');
    writeFileSync(f, Buffer.from([0x1f, 0x8b, 1, 2, 3, 4]));
    await assert.rejects(
      readTrace(f),
      (e) => e instanceof UsageError && /not valid gzip/.test(e.message),
    );
  });
});
