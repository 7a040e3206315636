/*
 * uvm-ts: the BSD/UVM virtual memory system in TypeScript.
 *
 * The package root exports the constants and errors (param), the kernel
 * context (Uvm) and each kernel layer as a namespace named after its
 * concept, so that calls read like the C beside them: amap.amapCopy(...).
 */

export * as amap from './amap.ts';
export * as anon from './anon.ts';
export * as dump from './dump.ts';
export * as lock from './lock.ts';
export * as page from './page.ts';
export * from './param.ts';
export * as swap from './swap.ts';
export { type PmapPageOps, Uvm, type UvmConfig, Uvmexp } from './uvm.ts';
