import { KERNEL_WORKLOADS } from './kernel.bench.ts';
const w = KERNEL_WORKLOADS.find((x) => x.key === process.argv[2])!;
const s = Date.now(); const ns = w.ours(5, true); console.log(w.key, ns.toFixed(1), `${Date.now() - s} ms`);
