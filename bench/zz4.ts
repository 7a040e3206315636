import { VmSystem } from '../src/system.ts';
import { uvmFault } from '../src/fault.ts';
import { MADV_DONTNEED, MAP_ANON, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../src/param.ts';
const sys = new VmSystem({ physPages: 140000, swapPages: 0 });
const p = sys.spawn();
const bytes = 512 << 20;
const ONE = new Uint8Array([1]);
const t = (f: () => void) => { const s = process.hrtime.bigint(); f(); return (Number(process.hrtime.bigint() - s) / (bytes / 4096)).toFixed(0); };
for (let r = 0; r < 4; r++) {
  const a = p.mmap(0, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON);
  const first = t(() => { for (let o = 0; o < bytes; o += 4096) p.write(a + o, ONE); });
  p.madvise(a, bytes, MADV_DONTNEED);
  const again = t(() => { for (let o = 0; o < bytes; o += 4096) p.write(a + o, ONE); });
  const rewrite = t(() => { for (let o = 0; o < bytes; o += 4096) p.write(a + o, ONE); });
  p.madvise(a, bytes, MADV_DONTNEED);
  const direct = t(() => { for (let o = 0; o < bytes; o += 4096) uvmFault(sys.uvm, p.vm.map, a + o, PROT_WRITE); });
  console.log({ first, again, rewrite, direct, entries: p.vm.map.nentries });
  p.munmap(a, bytes);
}
