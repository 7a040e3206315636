/*
 * Memory the kernel's metadata takes: bytes per resident anonymous page and
 * per map entry. Measured as heapUsed + arrayBuffers after a forced
 * collection (node --expose-gc), before and after building the state, less
 * the frames' own bytes (typed-array storage is not in heapUsed).
 */
import { MAP_ANON, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../src/param.ts';
import { VmSystem } from '../src/system.ts';

const PS = 4096;
const ONE = new Uint8Array([1]);

/** used: heap and array buffers after a full collection. */
function used(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with node --expose-gc');
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** perResidentPage: metadata bytes per resident anonymous page (`pages` of them). */
export function perResidentPage(pages: number): number {
  const before = used();
  const sys = new VmSystem({ physPages: pages, swapPages: 0 });
  const p = sys.spawn();
  const a = p.mmap(0, pages * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON);
  for (let i = 0; i < pages; i++) p.write(a + i * PS, ONE);
  if (p.rss !== pages) throw new Error(`expected ${pages} resident pages, got ${p.rss}`);
  const bytes = used() - before - pages * PS;
  sys.close();
  return bytes / pages;
}

/** perMapEntry: bytes per map entry (`entries` one-page mappings that do not merge). */
export function perMapEntry(entries: number): number {
  const sys = new VmSystem({ physPages: 64, swapPages: 0 });
  const p = sys.spawn();
  const before = used();
  for (let i = 0; i < entries; i++) {
    const prot = i & 1 ? PROT_READ : PROT_READ | PROT_WRITE;
    p.mmap(0x100000000 + i * PS, PS, prot, MAP_PRIVATE | MAP_ANON | MAP_FIXED);
  }
  if (p.vm.map.nentries !== entries) throw new Error('entries merged');
  const bytes = used() - before;
  sys.close();
  return bytes / entries;
}
