/*
 * tunables.ts: what every policy needs around its queues: checked
 * tunables (NetBSD's sysctl vm.* knobs of a policy) and the audit of
 * queues threaded through the frames.
 */
import { type PageQueue, PQ_PRIVATE } from '../page.ts';
import { type Frame, KernelPanic, vmerr } from '../param.ts';
import type { PdParams, PdPolicyHost } from './policy.ts';

/**
 * tunable: a policy's tunables from `params`, each an integer in its
 * range, defaults for the ones not given.
 * => `spec` names each tunable: [default, min, max].
 * => throws VmError EINVAL naming an unknown tunable or a bad value.
 */
export function tunable<K extends string>(
  policy: string,
  params: PdParams,
  spec: Record<K, readonly [number, number, number]>,
): Record<K, number> {
  for (const name of Object.keys(params))
    if (!(name in spec))
      throw vmerr(
        'EINVAL',
        'policy',
        name,
        `${policy} has no tunable ${name} (it has: ${Object.keys(spec).join(', ')})`,
      );
  const out = {} as Record<K, number>;
  for (const name of Object.keys(spec) as K[]) {
    const [def, min, max] = spec[name];
    const v = params[name] ?? def;
    if (!Number.isInteger(v) || v < min || v > max)
      throw vmerr(
        'EINVAL',
        'policy',
        name,
        `${policy}'s ${name} must be an integer ${min}..${max}, not ${v}`,
      );
    out[name] = v;
  }
  return out;
}

/**
 * auditQueues: each queue's links and members are sound, and every frame
 * with a PQ_PRIVATE bit is on one of them.
 * => throws KernelPanic naming the first broken one.
 */
export function auditQueues(
  host: PdPolicyHost,
  queues: readonly (readonly [PageQueue, (pg: Frame) => boolean])[],
): void {
  const seen = new Uint8Array(host.npages);
  for (const [q, member] of queues) q.audit(seen, member);
  for (let pg = 0; pg < host.npages; pg++)
    if (host.pqflags[pg] & PQ_PRIVATE && !seen[pg])
      throw new KernelPanic(`audit: policy: page ${pg} has queue bits but is on no queue`);
}
