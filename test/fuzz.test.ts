/*
 * The fuzzer's slice for CI: fixed seeds, run exactly as `npm run fuzz`
 * runs them (test/fuzz/), chosen to cover every kind of configuration:
 * 2 KiB and 4 KiB pages, with and without memory pressure, with injected
 * I/O errors. Every seed maps files. Deterministic: the same seeds, the
 * same commands, every time.
 *
 * A failing seed names its failure; the first seed of each failure class
 * is shrunk (briefly) and printed as a scenario file for `uvm run`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configFor, type FuzzConfig } from './fuzz/config.ts';
import { runSeed, scenarioOf, shrink } from './fuzz/run.ts';

/** commands per seed, as in a campaign */
const OPS = 2000;
/** seeds per kind of configuration */
const PER_KIND = 40;
/** time to shrink the first failure of each class */
const SHRINK_MS = 15_000;

const KINDS: [string, (c: FuzzConfig) => boolean][] = [
  ['4 KiB pages, no pressure', (c) => c.pageSize === 4096 && !c.pressure && !c.inject],
  ['2 KiB pages, no pressure', (c) => c.pageSize === 2048 && !c.pressure && !c.inject],
  ['4 KiB pages, 4-10x overcommitted', (c) => c.pageSize === 4096 && c.pressure && !c.inject],
  ['2 KiB pages, 4-10x overcommitted', (c) => c.pageSize === 2048 && c.pressure && !c.inject],
  ['injected I/O errors, overcommitted', (c) => c.pressure && c.inject],
  ['injected I/O errors, no pressure', (c) => !c.pressure && c.inject],
];

/** seedsOf: the first PER_KIND seeds from 1 whose configuration is of this kind. */
function seedsOf(kind: (c: FuzzConfig) => boolean): number[] {
  const out: number[] = [];
  for (let s = 1; out.length < PER_KIND; s++) if (kind(configFor(s))) out.push(s);
  return out;
}

const shrunk = new Set<string>();

/** explain: a failing seed's report; the first of its class with a shrunk scenario. */
function explain(seed: number): string {
  const cfg = configFor(seed);
  const r = runSeed(seed, OPS, cfg);
  const d = r.failure!;
  const head = `seed ${seed}: ${d.kind}: ${d.message}${d.detail ? ` (${d.detail})` : ''}\nrerun: npm run fuzz -- --seed ${seed}`;
  if (shrunk.has(d.signature())) return head;
  shrunk.add(d.signature());
  const s = shrink(cfg, r.cmds, d.signature(), SHRINK_MS);
  return `${head}\nshrunk to ${s.cmds.length} commands (uvm run FILE):\n${scenarioOf(cfg, s.cmds).text}`;
}

describe('the fuzzer: fixed seeds of every kind', () => {
  for (const [name, kind] of KINDS) {
    it(name, () => {
      const failed: string[] = [];
      let ops = 0;
      for (const seed of seedsOf(kind)) {
        const r = runSeed(seed, OPS);
        ops += r.steps;
        if (r.failure !== null) failed.push(explain(seed));
      }
      assert.deepEqual(failed, [], failed.join('\n\n'));
      assert.ok(ops >= PER_KIND * OPS * 0.95, `only ${ops} operations ran`);
    });
  }
});
