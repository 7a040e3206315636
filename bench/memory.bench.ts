/*
 * Memory the kernel's metadata takes: bytes per resident anonymous page and
 * per map entry. Measured as heapUsed + arrayBuffers after a forced
 * collection (node --expose-gc), before and after building the state, less
 * the frames' own bytes (typed-array storage is not in heapUsed).
 */
import { MAP_ANON, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../src/kernel/param.ts';
import { VmSystem } from '../src/sys/system.ts';

const PS = 4096;
const ONE = new Uint8Array([1]);

/**
 * used: heap and array buffers after full collections. Array buffers are
 * released after a collection, off the main thread, so collect and wait
 * until two readings agree.
 */
async function used(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with node --expose-gc');
  let last = -1;
  for (let i = 0; i < 20; i++) {
    gc();
    await new Promise((done) => setTimeout(done, 20));
    const m = process.memoryUsage();
    const now = m.heapUsed + m.arrayBuffers;
    if (Math.abs(now - last) < 64 * 1024) return now;
    last = now;
  }
  return last;
}

/**
 * perResidentPage: metadata bytes per resident anonymous page (`pages` of
 * them): the median of three builds, after a small one that compiles the
 * code (its feedback and code would otherwise count as metadata).
 */
export async function perResidentPage(pages: number): Promise<number> {
  await residentPageBytes(Math.max(64, pages >> 4));
  const runs = [];
  for (let i = 0; i < 3; i++) runs.push(await residentPageBytes(pages));
  return runs.sort((a, b) => a - b)[1];
}

/** residentPageBytes: one build of `pages` resident anonymous pages => bytes per page. */
async function residentPageBytes(pages: number): Promise<number> {
  const before = await used();
  const sys = new VmSystem({ physPages: pages, swapPages: 0 });
  const p = sys.spawn();
  const a = p.mmap(0, pages * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON);
  for (let i = 0; i < pages; i++) p.write(a + i * PS, ONE);
  if (p.rss !== pages) throw new Error(`expected ${pages} resident pages, got ${p.rss}`);
  const bytes = (await used()) - before - pages * PS;
  sys.close();
  return bytes / pages;
}

/** perMapEntry: bytes per map entry (`entries` one-page mappings that do not merge). */
export async function perMapEntry(entries: number): Promise<number> {
  const sys = new VmSystem({ physPages: 64, swapPages: 0 });
  const p = sys.spawn();
  const before = await used();
  for (let i = 0; i < entries; i++) {
    const prot = i & 1 ? PROT_READ : PROT_READ | PROT_WRITE;
    p.mmap(0x100000000 + i * PS, PS, prot, MAP_PRIVATE | MAP_ANON | MAP_FIXED);
  }
  if (p.vm.map.nentries !== entries) throw new Error('entries merged');
  const bytes = (await used()) - before;
  sys.close();
  return bytes / entries;
}
