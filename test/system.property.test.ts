/*
 * The real system against the naive model (test/model.ts, test/world.ts),
 * with fast-check's programs: the fuzzer's operation mix (test/fuzz/gen.ts)
 * draws its choices from fast-check's numbers, so fast-check shrinks a
 * failing program itself; the failure is then printed as a scenario file
 * for `uvm run`. The seed also picks the page replacement policy (every
 * one of PD_POLICIES, test/fuzz/config.ts). Every byte read, every errno
 * and the coalesced maps of every process must agree, and the full audit
 * must pass after every step.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { configFor } from './fuzz/config.ts';
import { runChoices, scenarioOf } from './fuzz/run.ts';

/** A program: a seed for the configuration, and the choices of each command. */
const program = fc.record({
  seed: fc.nat(),
  ops: fc.array(fc.array(fc.nat(), { minLength: 12, maxLength: 12 }), {
    minLength: 40,
    maxLength: 250,
    size: 'max',
  }),
});

/** the time fast-check may take, shrinking included (a failure is reported with its best so far) */
const SHRINK_MS = 60_000;

/**
 * check: the property over `runs` programs, memory pressure on or off; a
 * failure is reported with fast-check's smallest program as a scenario.
 */
function check(pressure: boolean, runs: number): void {
  const out = fc.check(
    fc.property(program, ({ seed, ops }) => {
      const r = runChoices(configFor(seed, pressure), ops);
      if (r.failure !== null) throw r.failure;
    }),
    { numRuns: runs, interruptAfterTimeLimit: SHRINK_MS },
  );
  if (!out.failed) return;
  const [{ seed, ops }] = out.counterexample!;
  const cfg = configFor(seed, pressure);
  const r = runChoices(cfg, ops);
  const scenario = r.failure === null ? '' : scenarioOf(cfg, r.cmds).text;
  assert.fail(`${out.errorInstance}\n${scenario && `as a scenario (uvm run FILE):\n${scenario}`}`);
}

describe('the system against the naive model', () => {
  it('random programs agree on every byte, errno and map', () => {
    check(false, 200);
  });

  it('under memory pressure (pageout, swapon and swapoff, injected I/O errors), every byte still agrees', () => {
    check(true, 200);
  });
});
