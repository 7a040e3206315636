import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  amapAlloc,
  amapLock,
  amapUnlock,
  ppAdjref,
  ppEstablish,
  ppGetreflen,
  ppSetreflen,
} from '../src/kernel/amap.ts';
import { NOANON } from '../src/kernel/param.ts';
import { smallUvm } from './helpers.ts';

/* seed 002, lines 120-122 */
const REFS = [2, 2, 2, 2, 3, 1, 1, 0, 0, 0, 4, 4, 0, 1, 1, 1];
// biome-ignore format: laid out as in the seed
const PPREF = [-3, 4, null, null, 4, -2, 2, -1, 3, null, -5, 2, 1, -2, 3, null]; /* null: "x", unused */

/** runs: maximal runs of equal counts, as [start, ref, len]. */
function runs(refs: number[]): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (let i = 0; i < refs.length; ) {
    let j = i;
    while (j < refs.length && refs[j] === refs[i]) j++;
    out.push([i, refs[i], j - i]);
    i = j;
  }
  return out;
}

/** decode: walk a ppref array back into per-slot counts. */
function decode(ppref: Int32Array, n: number): number[] {
  const out: number[] = [];
  for (let lcv = 0; lcv < n; ) {
    const { ref, len } = ppGetreflen(ppref, lcv);
    for (let i = 0; i < len; i++) out.push(ref);
    lcv += len;
  }
  return out;
}

describe('ppref encoding (seed 002 lines 120-122)', () => {
  it('encodes the seed example exactly', () => {
    const ppref = new Int32Array(16);
    for (const [start, ref, len] of runs(REFS)) ppSetreflen(ppref, start, ref, len);
    PPREF.forEach((v, i) => {
      if (v !== null) assert.equal(ppref[i], v, `ppref[${i}]`);
    });
  });

  it('decodes the seed example back to the reference counts', () => {
    const ppref = new Int32Array(16);
    PPREF.forEach((v, i) => {
      ppref[i] = v ?? 0x7777; /* garbage in the unused slots must not matter */
    });
    assert.deepEqual(decode(ppref, 16), REFS);
  });

  it('reaches the same counts through amap_pp_adjref, merging at the first changed run', () => {
    const uvm = smallUvm();
    const amap = amapAlloc(uvm, 16 * 4096);
    amap.ref = 4; /* four references, as the example's largest count needs */
    amapLock(amap);
    ppEstablish(uvm, amap, 0);
    const ppref = amap.ppref as Int32Array;
    assert.deepEqual(decode(ppref, 16), new Array(16).fill(4));
    /* walk each run's count down from 4 to the example's */
    for (const [start, ref, len] of runs(REFS)) {
      for (let r = 4; r > ref; r--) ppAdjref(uvm, amap, start, len, -1, NOANON);
    }
    amapUnlock(amap);
    assert.deepEqual(decode(ppref, 16), REFS);
    /* adjref only merged where it could, so the runs may be shorter than
       maximal, but each one has the right count and they tile the amap */
    let covered = 0;
    for (let lcv = 0; lcv < 16; ) {
      const { len } = ppGetreflen(ppref, lcv);
      covered += len;
      lcv += len;
    }
    assert.equal(covered, 16);
  });
});
