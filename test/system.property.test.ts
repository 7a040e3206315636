/*
 * The real system against the naive model (test/model.ts, test/world.ts):
 * every byte read, every errno and the coalesced maps of every process
 * must agree, and the full audit must pass after every step.
 */
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { opArb, pressureOpArb, World } from './world.ts';

describe('the system against the naive model', () => {
  it('random programs agree on every byte, errno and map', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 50, maxLength: 250, size: 'max' }), (ops) => {
        const w = new World();
        for (const o of ops) {
          w.run(o);
          w.check();
        }
        w.sweep();
        w.teardown();
      }),
      { numRuns: 150 },
    );
  });

  it('under memory pressure (16 frames, pageout, swapon and swapoff), every byte still agrees', () => {
    fc.assert(
      fc.property(
        fc.array(pressureOpArb, { minLength: 50, maxLength: 250, size: 'max' }),
        (ops) => {
          const w = new World(true);
          for (const o of ops) {
            w.run(o);
            w.check();
          }
          w.sweep();
          w.teardown();
        },
      ),
      { numRuns: 80 },
    );
  });
});
