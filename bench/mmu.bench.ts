/*
 * The fast access path (src/sys/mmu.ts): 8-byte reads and writes of
 * resident memory through the software TLB (every access a hit), each
 * beside a DataView doing the same on a plain buffer, in the same run.
 */
import { MAP_ANON, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../src/kernel/param.ts';
import type { Mmu } from '../src/sys/mmu.ts';
import { VmSystem } from '../src/sys/system.ts';
import type { Workload } from './harness.ts';

const PS = 4096;
const PAGES = 16;
const A = 0x10000000;
const BATCH = 100_000;
/* addresses over PAGES pages, 8-byte aligned, in a fixed scattered order */
const OFFSETS = Float64Array.from(
  { length: 4096 },
  (_, i) => ((i * 2654435761) % (PAGES * PS)) & ~7,
);

/** An MMU over PAGES resident, written pages. */
function mmu(): Mmu {
  const sys = new VmSystem({ physPages: 256, swapPages: 0 });
  const p = sys.spawn();
  p.mmap(A, PAGES * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON | MAP_FIXED);
  const m = p.mmu;
  for (let i = 0; i < PAGES; i++) m.writeBigU64(A + i * PS, 1n);
  return m;
}

/** what the reads fold into, so they are not optimised away */
export let sink = 0n;

/** The workloads, each with the reference it is set beside and its target ratio. */
export function mmuWorkloads(): (Workload & { reference?: string; target?: number })[] {
  const m = mmu();
  const dv = new DataView(new ArrayBuffer(PAGES * PS));
  return [
    {
      name: 'DataView.getBigUint64 of a resident buffer',
      batch: BATCH,
      run: () => {
        let s = 0n;
        for (let i = 0; i < BATCH; i++) s ^= dv.getBigUint64(OFFSETS[i & 4095], true);
        sink ^= s;
      },
    },
    {
      name: 'read 8 bytes through the MMU (TLB hit)',
      batch: BATCH,
      reference: 'DataView.getBigUint64 of a resident buffer',
      target: 3,
      run: () => {
        let s = 0n;
        for (let i = 0; i < BATCH; i++) s ^= m.readBigU64(A + OFFSETS[i & 4095]);
        sink ^= s;
      },
    },
    {
      name: 'DataView.setBigUint64 of a resident buffer',
      batch: BATCH,
      run: () => {
        for (let i = 0; i < BATCH; i++) dv.setBigUint64(OFFSETS[i & 4095], 7n, true);
      },
    },
    {
      name: 'write 8 bytes through the MMU (TLB hit)',
      batch: BATCH,
      reference: 'DataView.setBigUint64 of a resident buffer',
      target: 3,
      run: () => {
        for (let i = 0; i < BATCH; i++) m.writeBigU64(A + OFFSETS[i & 4095], 7n);
      },
    },
  ];
}
