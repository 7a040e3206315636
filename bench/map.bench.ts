/*
 * Map benchmarks: lookupEntry, findSpace, insert+delete at 10^3 .. 10^6
 * entries, each beside a binary search of a sorted Float64Array of the
 * same size (random probes), measured in the same run.
 */
import {
  type VmMap,
  vmMapCreate,
  vmMapFindspace,
  vmMapInsert,
  vmMapLookupEntry,
  vmMapRemove,
} from '../src/kernel/map/index.ts';
import { PROT_ALL } from '../src/kernel/param.ts';
import { Pmap } from '../src/kernel/pmap.ts';
import { Uvm } from '../src/kernel/uvm.ts';
import { compare, measure, type Row } from './harness.ts';

const PS = 4096;
const BASE = 0x100000000;
const PROBES = 1 << 16;

/** xorshift32: a fixed pseudo-random sequence. */
function rng(seed: number): (n: number) => number {
  let s = seed;
  return (n) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
}

/**
 * buildMap: n one-page entries, two pages apart, protections alternating
 * so none merge; every 64th gap is 8 pages, so findSpace for 4 pages must
 * search the tree.
 */
function buildMap(uvm: Uvm, n: number): { map: VmMap; starts: Float64Array } {
  const map = vmMapCreate(uvm, new Pmap(uvm.pv, PS), 0x10000, 0x7ffffffff000);
  const starts = new Float64Array(n);
  let va = BASE;
  for (let i = 0; i < n; i++) {
    starts[i] = va;
    vmMapInsert(map, null, 0, va, va + PS, 1 + (i & 1), PROT_ALL, 0);
    va += i % 64 === 63 ? 9 * PS : 2 * PS;
  }
  return { map, starts };
}

/** binarySearch: index of the last key <= x (the reference). */
function binarySearch(keys: Float64Array, x: number): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

export async function mapRows(quick: boolean): Promise<Row[]> {
  const rows: Row[] = [];
  for (const n of [1e3, 1e4, 1e5, 1e6]) {
    const uvm = new Uvm({ physPages: 64, swapPages: 0 });
    const { map, starts: keys } = buildMap(uvm, n);
    const r = rng(n);
    const probes = new Float64Array(PROBES);
    for (let i = 0; i < PROBES; i++) probes[i] = keys[r(n)] + r(2 * PS);
    let k = 0;
    let sink = 0;
    const batch = 1000;
    const refNs = await measure(
      {
        name: `binary search ${n}`,
        batch,
        run() {
          for (let i = 0; i < batch; i++) sink += binarySearch(keys, probes[k++ & (PROBES - 1)]);
        },
      },
      quick,
    );
    const lookup = await measure(
      {
        name: `lookupEntry ${n}`,
        batch,
        run() {
          for (let i = 0; i < batch; i++)
            if (vmMapLookupEntry(map, probes[k++ & (PROBES - 1)]) !== map.header) sink++;
        },
      },
      quick,
    );
    const find = await measure(
      {
        name: `findSpace ${n}`,
        batch,
        run() {
          for (let i = 0; i < batch; i++)
            sink += vmMapFindspace(map, probes[k++ & (PROBES - 1)], 4 * PS, PS);
        },
      },
      quick,
    );
    const insdel = await measure(
      {
        name: `insert+delete ${n}`,
        batch,
        run() {
          for (let i = 0; i < batch; i++) {
            const va = keys[r(n)] + PS;
            vmMapInsert(map, null, 0, va, va + PS, PROT_ALL, PROT_ALL, 0);
            vmMapRemove(map, va, va + PS);
          }
        },
      },
      quick,
    );
    if (sink === 0.5) console.log('unreachable');
    const ref = 'binary search, sorted Float64Array';
    const row = (workload: string, ours: number, target: number | null): Row =>
      compare(workload, ours, refNs, target, ref);
    const label = n.toLocaleString('en-US');
    rows.push(row(`map lookupEntry, ${label} entries`, lookup, n === 1e6 ? 4 : null));
    rows.push(row(`map findSpace, ${label} entries`, find, null));
    rows.push(row(`map insert+delete (1 page), ${label} entries`, insdel / 2, null));
  }
  return rows;
}
