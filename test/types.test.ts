/*
 * What a number is: frames, anons and swap slots are branded (param.ts), so
 * passing one for another does not compile. `npm test` type-checks this
 * file first: each @ts-expect-error below must meet its error, or the
 * type check fails. At run time the brands cost nothing: they are numbers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { anonAlloc, anonFree } from '../src/kernel/anon.ts';
import { NOPAGE, pageAlloc, pageFree } from '../src/kernel/page.ts';
import { type AnonId, type Frame, NOANON, NOSLOT } from '../src/kernel/param.ts';
import { swapAlloc, swapFree } from '../src/kernel/swap.ts';
import { smallUvm } from './helpers.ts';

/** mixUps: calls that pass one kind of number for another (never run). */
export function mixUps(uvm: ReturnType<typeof smallUvm>, an: AnonId, pg: Frame): void {
  // @ts-expect-error a frame is not an anon
  anonFree(uvm, pg);
  // @ts-expect-error an anon is not a frame
  pageFree(uvm, an);
  // @ts-expect-error a frame is not a swap slot
  swapFree(uvm, pg);
  // @ts-expect-error a plain number is none of them
  pageFree(uvm, 3);
}

describe('branded numbers', () => {
  it('are plain numbers at run time', () => {
    const uvm = smallUvm();
    const an = anonAlloc(uvm);
    const pg = pageAlloc(uvm, 0, 0, an, 0);
    const slot = swapAlloc(uvm);
    assert.equal(typeof an, 'number');
    assert.ok(pg >= 0 && slot > 0);
    assert.deepEqual([NOPAGE, NOANON, NOSLOT], [-1, 0, 0]);
  });
});
