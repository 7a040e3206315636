/*
 * uvm-ts: the BSD/UVM virtual memory system in TypeScript.
 *
 * The package root exports the constants and errors (param), the kernel
 * context (Uvm) and each kernel layer as a namespace named after its
 * concept, so that calls read like the C beside them: amap.amapCopy(...).
 */

export * as amap from './amap.ts';
export * as anon from './anon.ts';
export * as aobj from './aobj.ts';
export * as dump from './dump.ts';
export * as fault from './fault.ts';
export { type Host, type HostFile, MemoryHost } from './host.ts';
export * as lock from './lock.ts';
export * as map from './map.ts';
export * as mmap from './mmap.ts';
export { NodeHost } from './node/host.ts';
export * as object from './object.ts';
export * as page from './page.ts';
export * from './param.ts';
export * as pdaemon from './pdaemon.ts';
export * as pmap from './pmap.ts';
export { Process } from './proc.ts';
export * as shm from './shm.ts';
export * as swap from './swap.ts';
export { setDefaultHost, VmSystem, type VmSystemConfig } from './system.ts';
export { type PmapPageOps, Uvm, type UvmConfig, Uvmexp } from './uvm.ts';
export * as vmspace from './vmspace.ts';
export * as vnode from './vnode.ts';

import { NodeHost as RealFiles } from './node/host.ts';
import { setDefaultHost as useHost } from './system.ts';

/* in Node, systems map and swap to the real file system unless told otherwise */
useHost(new RealFiles());
