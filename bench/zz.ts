import { KERNEL_WORKLOADS } from './kernel.bench.ts';
for (const w of KERNEL_WORKLOADS) { const s = Date.now(); const ns = w.ours(5, true); console.log(w.key, ns.toFixed(1), `${Date.now() - s} ms`); }
