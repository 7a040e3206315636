/*
 * pdsim.ts: page replacement policies compared on a page-reference string
 * (NetBSD's pdsim, libCacheSim's miss-ratio curves), as tasks a pool of
 * workers can share out:
 *
 *   stack policies   lru, opt: one task gives every frame count (stack.ts)
 *   sized policies   fifo, random, sieve (classic.ts), arc, 2q, s3fifo
 *                    (adaptive.ts): one task a frame count
 *   kernel policies  every name in pdpolicy/'s PD_POLICIES, through the
 *                    PdPolicy interface (kernelsim.ts), one task a frame
 *                    count; with `vm`, through a real VmSystem instead
 *                    (vmsim.ts), rows named vm:NAME with the kernel's
 *                    pageouts and pageins
 *
 * Demand paging from empty frames: every miss is a fault, first touches
 * included. An ideal policy's name wins over a kernel policy's.
 */
import { vmerr } from '../kernel/param.ts';
import { PD_POLICIES } from '../kernel/pdpolicy/index.ts';
import { arc, s3fifo, twoq } from './adaptive.ts';
import { fifo, random, type SizedPolicy, sieve } from './classic.ts';
import { kernelPolicy } from './kernelsim.ts';
import { lruCurve, optCurve, type StackCurve } from './stack.ts';
import type { RefTrace } from './trace.ts';
import { vmPolicy } from './vmsim.ts';

/** One row of the comparison. */
export interface PdsimResult {
  policy: string;
  frames: number;
  faults: number;
  missRatio: number;
  /** vm:NAME rows: the kernel's pageouts and pageins */
  pageouts?: number;
  pageins?: number;
}

/** One unit of work: a policy at the frame counts it covers in one run. */
export interface PdsimTask {
  policy: string;
  frames: number[];
  seed: number;
  vm: boolean;
}

const STACK: Readonly<Record<string, (refs: Int32Array, distinct: number) => StackCurve>> = {
  lru: lruCurve,
  opt: optCurve,
};

const SIZED: Readonly<Record<string, SizedPolicy>> = {
  fifo,
  random,
  arc,
  '2q': twoq,
  s3fifo,
  sieve,
};

/** pdsimPolicies: every policy name pdsim knows, ideal ones first. */
export function pdsimPolicies(): string[] {
  const ideal = [...Object.keys(STACK), ...Object.keys(SIZED)];
  return [...ideal, ...Object.keys(PD_POLICIES).filter((k) => !ideal.includes(k))];
}

/**
 * pdsimTasks: the tasks of a sweep, in the order results are reported.
 * => throws VmError EINVAL naming an unknown policy (and listing the
 *    known ones) or a frame count that is not a positive integer.
 */
export function pdsimTasks(
  policies: readonly string[],
  frames: readonly number[],
  opts: { seed?: number; vm?: boolean } = {},
): PdsimTask[] {
  const known = pdsimPolicies();
  for (const p of policies)
    if (!known.includes(p))
      throw vmerr('EINVAL', 'pdsim', p, `${p}: no such policy (there are: ${known.join(', ')})`);
  for (const f of frames)
    if (!Number.isSafeInteger(f) || f < 1)
      throw vmerr('EINVAL', 'pdsim', String(f), `${f} frames: not a positive integer`);
  const base = { seed: opts.seed ?? 1, vm: opts.vm === true };
  return policies.flatMap((policy) =>
    Object.hasOwn(STACK, policy)
      ? [{ ...base, policy, frames: [...frames] }]
      : frames.map((f) => ({ ...base, policy, frames: [f] })),
  );
}

/**
 * runTask: one task's rows.
 * => throws VmError as vmPolicy for a vm run the system refuses.
 */
export function runTask(trace: RefTrace, task: PdsimTask): PdsimResult[] {
  const { refs, distinct } = trace;
  const row = (policy: string, frames: number, faults: number): PdsimResult => ({
    policy,
    frames,
    faults,
    missRatio: refs.length === 0 ? 0 : faults / refs.length,
  });
  const { policy, frames } = task;
  if (Object.hasOwn(STACK, policy)) {
    const curve = STACK[policy](refs, distinct);
    return frames.map((f) => row(policy, f, curve.faults(f)));
  }
  const f = frames[0];
  /* room for every page: each faults once, whatever the policy (and no frame array is made) */
  if (f >= distinct && !(task.vm && Object.hasOwn(PD_POLICIES, policy)))
    return [row(policy, f, distinct)];
  if (Object.hasOwn(SIZED, policy))
    return [row(policy, f, SIZED[policy](refs, distinct, f, task.seed))];
  if (!task.vm) return [row(policy, f, kernelPolicy(policy, refs, distinct, f))];
  const { faults, pageouts, pageins } = vmPolicy(policy, trace, f);
  return [{ ...row(`vm:${policy}`, f, faults), pageouts, pageins }];
}

/** pdsim: a whole sweep in this thread (the command shares it out to workers). */
export function pdsim(
  trace: RefTrace,
  policies: readonly string[],
  frames: readonly number[],
  opts: { seed?: number; vm?: boolean } = {},
): PdsimResult[] {
  return pdsimTasks(policies, frames, opts).flatMap((t) => runTask(trace, t));
}
