/*
 * pdpolicy/: page replacement policies behind one interface (uvmpdpol).
 *
 *   policy.ts      the interface and what a policy sees of the machine
 *   tunables.ts    checked tunables and the queues' audit
 *   clock.ts       NetBSD's clock (uvm_pdpolicy_clock.c), the default
 *   clockpro.ts    CLOCK-Pro (Jiang, Chen, Zhang 2005) as NetBSD's
 *                  uvm_pdpolicy_clockpro.c: hot and cold pages, test
 *                  periods, a non-resident history, an adaptive cold target
 *   workingset.ts  Linux's active/inactive lists with refault distance
 *                  (mm/workingset.c): shadow entries of evicted pages
 */
import { vmerr } from '../param.ts';
import { clockPolicy } from './clock.ts';
import { clockproPolicy } from './clockpro.ts';
import type { PdParams, PdPolicy, PdPolicyFactory, PdPolicyHost } from './policy.ts';
import { workingsetPolicy } from './workingset.ts';

export type {
  PdCounters,
  PdParams,
  PdPolicy,
  PdPolicyFactory,
  PdPolicyHost,
  PdQueueCounts,
} from './policy.ts';

/** The policies a system can run, by name. */
export const PD_POLICIES: Readonly<Record<string, PdPolicyFactory>> = {
  clock: clockPolicy,
  clockpro: clockproPolicy,
  workingset: workingsetPolicy,
};

/** the policy a system runs unless told otherwise */
export const DEFAULT_PD_POLICY = 'clock';

/**
 * makePdPolicy: the policy `name` over `host` (uvmpdpol_init).
 * => throws VmError EINVAL for an unknown name or tunable.
 */
export function makePdPolicy(name: string, host: PdPolicyHost, params: PdParams = {}): PdPolicy {
  const make = Object.hasOwn(PD_POLICIES, name) ? PD_POLICIES[name] : undefined;
  if (make === undefined)
    throw vmerr(
      'EINVAL',
      'policy',
      name,
      `no such policy (there are: ${Object.keys(PD_POLICIES).join(', ')})`,
    );
  return make(host, params);
}
