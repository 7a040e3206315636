import { VmMapEntry } from '../src/map.ts';
const gc = (globalThis as any).gc;
gc(); gc(); const m0 = process.memoryUsage().heapUsed;
const arr: VmMapEntry[] = new Array(100000);
for (let i = 0; i < 100000; i++) { arr[i] = new VmMapEntry(0x7f0000000000 + i * 4096, 0x7f0000001000 + i * 4096); }
gc(); gc(); console.log('per entry object', (process.memoryUsage().heapUsed - m0) / 1e5 - 8, arr.length);
