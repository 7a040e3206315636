/*
 * vmsim.ts: a trace run through a real VmSystem (`uvm pdsim --vm`): one
 * process, its touched pages private anonymous memory, `frames` physical
 * frames, the kernel's policy, its pagedaemon (freemin, freetarg) and an
 * in-memory swap device large enough for every page.
 *
 * The pages are compacted: the trace's distinct pages, in order of page
 * number, become one anonymous mapping with the gaps between them left
 * out (the neighbours of a page stay its neighbours; a trace's addresses
 * need not lie in the user range). Each reference reads one byte of its
 * page, or writes one for a store (lackey S, M), so pages the trace only
 * reads come back clean from swap and are dropped without a pageout.
 */
import { MAP_ANON, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../kernel/param.ts';
import { VmSystem } from '../sys/system.ts';
import type { RefTrace } from './trace.ts';

/** What the kernel counted over a trace. */
export interface VmCounts {
  faults: number;
  pageouts: number;
  pageins: number;
}

/**
 * vmPolicy: run `trace` through a VmSystem of `frames` frames under the
 * kernel policy `policy`.
 * => throws VmError EINVAL for an unknown policy or a frame count the
 *    system refuses (below 16), ENOMEM if memory runs out.
 */
export function vmPolicy(policy: string, trace: RefTrace, frames: number): VmCounts {
  const ps = trace.pageSize;
  const sys = new VmSystem({ policy, physPages: frames, pageSize: ps, swapPages: trace.distinct });
  try {
    const p = sys.spawn();
    const base = p.mmap(0, trace.distinct * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON);
    const at = layout(trace.pages);
    const one = new Uint8Array(1);
    const { refs, writes } = trace;
    for (let t = 0; t < refs.length; t++) {
      const va = base + at[refs[t]] * ps;
      if ((writes[t >> 3] >> (t & 7)) & 1) p.write(va, one);
      else p.read(va, 1);
    }
    const exp = sys.uvm.exp;
    return { faults: exp.faults, pageouts: exp.pageouts, pageins: exp.pageins };
  } finally {
    sys.close();
  }
}

/** layout: each page id's slot in the compacted mapping (ids by page number). */
function layout(pages: Float64Array): Int32Array {
  const order = Array.from(pages.keys()).sort((a, b) => pages[a] - pages[b]);
  const at = new Int32Array(pages.length);
  order.forEach((id, slot) => {
    at[id] = slot;
  });
  return at;
}
