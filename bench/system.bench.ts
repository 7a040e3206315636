/*
 * System benchmarks with no Linux counterpart here: memory access through
 * the pmap (beside a 4 KiB copy between cache-hot buffers, Node's own
 * floor), and fork + exit of a tiny process.
 */
import { MAP_ANON, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../src/kernel/param.ts';
import { VmSystem } from '../src/sys/system.ts';
import type { Workload } from './harness.ts';

const PS = 4096;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANON;

/** The workloads; `reference` names the workload each is set beside. */
export function systemWorkloads(): (Workload & { reference?: string })[] {
  const sys = new VmSystem({ physPages: 256, swapPages: 0 });
  const res = sys.spawn();
  const ra = res.mmap(0, PS, RW, ANON);
  res.write(ra, new Uint8Array(8));
  const eight = new Uint8Array(8);
  const tiny = sys.spawn();
  tiny.write(tiny.mmap(0, PS, RW, ANON), eight);
  const src = new Uint8Array(PS).fill(1);
  const dst = new Uint8Array(PS);
  return [
    {
      name: 'memcpy 4 KiB, cache-hot (Node)',
      batch: 1000,
      run() {
        for (let i = 0; i < 1000; i++) dst.set(src);
      },
    },
    {
      name: 'read 8 bytes of a resident page through the pmap',
      reference: 'memcpy 4 KiB, cache-hot (Node)',
      batch: 1000,
      run() {
        for (let i = 0; i < 1000; i++) res.read(ra, 8);
      },
    },
    {
      name: 'write 8 bytes to a resident page through the pmap',
      reference: 'memcpy 4 KiB, cache-hot (Node)',
      batch: 1000,
      run() {
        for (let i = 0; i < 1000; i++) res.write(ra, eight);
      },
    },
    {
      name: 'fork + exit, a one-page process',
      batch: 100,
      run() {
        for (let i = 0; i < 100; i++) tiny.fork().exit();
      },
    },
  ];
}
