import { VmSystem } from '../src/system.ts';
import { MAP_ANON, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../src/param.ts';
const sys = new VmSystem({ physPages: 140000, swapPages: 0 });
const p = sys.spawn();
const bytes = 512 << 20;
const ONE = new Uint8Array([1]);
for (let r = 0; r < 3; r++) {
  const a = p.mmap(0, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON);
  let s = process.hrtime.bigint();
  for (let o = 0; o < bytes; o += 4096) p.write(a + o, ONE);
  const t1 = Number(process.hrtime.bigint() - s) / (bytes / 4096);
  s = process.hrtime.bigint();
  p.munmap(a, bytes);
  const t2 = Number(process.hrtime.bigint() - s) / 1e6;
  console.log(r, t1.toFixed(0), 'ns/page; munmap', t2.toFixed(1), 'ms', JSON.stringify({ ext: sys.counters.amapextends, amapallocs: sys.counters.amapallocs, faults: sys.counters.faults, pdwoke: sys.counters.pdwoke }));
}
console.log(p.maps());
