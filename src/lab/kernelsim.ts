/*
 * kernelsim.ts: the kernel's own replacement policies (every name in
 * pdpolicy/'s PD_POLICIES) on a page-reference string, driven through
 * the same PdPolicy interface the pagedaemon uses, over a simulated
 * machine of `frames` frames:
 *
 *   a frame      pqflags, next/prev links (the policy's queues), a
 *                referenced bit, the page it holds (pageKey: its id)
 *   a hit        sets the frame's referenced bit, as the MMU does
 *   a miss       a fault: take a free frame, set its referenced bit (the
 *                faulting access), activate it (as uvm_fault does)
 *   no frame     the pagedaemon, as pdaemon.ts's uvmPageout: up to four
 *   free         passes of tune, then (if short) scanInit, selectVictim
 *                until freetarg frames are free or none is offered, each
 *                victim evicted (dequeue, referenced bit cleared), balance
 *
 * freetarg is 1 here, the daemon runs only when no frame is free: pure
 * demand paging, so every frame holds a page and a kernel policy is
 * measured with the same frames as the ideal ones (the kernel's own
 * freemin/freetarg keep 1/64 of memory and more free, and would leave
 * frames idle; `uvm pdsim --vm` shows the kernel with them).
 */
import { NOPAGE } from '../kernel/page.ts';
import { type Frame, type Int32ArrayOf, KernelPanic } from '../kernel/param.ts';
import { makePdPolicy, type PdPolicy, type PdPolicyHost } from '../kernel/pdpolicy/index.ts';

/** The simulated machine: frames, their bits, and which page each holds. */
class SimMachine {
  readonly referenced: Uint8Array;
  readonly key: Int32Array;
  readonly free: Int32Array;
  nfree: number;
  readonly host: PdPolicyHost;

  constructor(readonly frames: number) {
    this.referenced = new Uint8Array(frames);
    this.key = new Int32Array(frames);
    this.free = Int32Array.from({ length: frames }, (_, i) => frames - 1 - i);
    this.nfree = frames;
    const ref = this.referenced;
    this.host = {
      npages: frames,
      pqflags: new Uint8Array(frames),
      next: new Int32Array(frames) as Int32ArrayOf<Frame>,
      prev: new Int32Array(frames) as Int32ArrayOf<Frame>,
      exp: { pdscans: 0, pdreact: 0, pddeact: 0 },
      isReferenced: (pg) => ref[pg] !== 0,
      clearReference: (pg) => {
        const was = ref[pg] !== 0;
        ref[pg] = 0;
        return was;
      },
      pageKey: (pg) => this.key[pg],
      freetarg: () => 1,
    };
  }
}

/**
 * kernelPolicy: the faults of kernel policy `name` with `frames` frames.
 * => throws VmError EINVAL for an unknown policy.
 */
export function kernelPolicy(
  name: string,
  refs: Int32Array,
  distinct: number,
  frames: number,
): number {
  const m = new SimMachine(frames);
  const pol = makePdPolicy(name, m.host);
  const frameOf = new Int32Array(distinct).fill(-1);
  let faults = 0;
  for (let t = 0; t < refs.length; t++) {
    const x = refs[t];
    const f = frameOf[x];
    if (f >= 0) {
      m.referenced[f] = 1;
      continue;
    }
    faults++;
    if (m.nfree === 0) pageout(m, pol, frameOf);
    const pg = m.free[--m.nfree] as Frame;
    frameOf[x] = pg;
    m.key[pg] = x;
    m.referenced[pg] = 1;
    pol.activate(pg);
  }
  return faults;
}

/**
 * pageout: one run of the daemon (uvmPageout's passes) until a frame is
 * free. => throws KernelPanic if the policy offers no victim at all.
 */
function pageout(m: SimMachine, pol: PdPolicy, frameOf: Int32Array): void {
  for (let pass = 0; pass < 4; pass++) {
    pol.tune();
    if (m.nfree >= 1) return;
    const before = m.nfree;
    pol.scanInit();
    for (let budget = m.frames; budget > 0 && m.nfree < 1; budget--) {
      const pg = pol.selectVictim();
      if (pg === NOPAGE) break;
      frameOf[m.key[pg]] = -1;
      pol.dequeue(pg);
      m.referenced[pg] = 0;
      m.free[m.nfree++] = pg;
    }
    pol.balance();
    if (m.nfree === before && pass > 0) break;
  }
  if (m.nfree === 0) throw new KernelPanic(`pdsim: policy ${pol.name} offered no page to evict`);
}
