/*
 * uvm-ts: the BSD/UVM virtual memory system in TypeScript.
 *
 * The package root runs anywhere (Node, a browser, a bundle): it imports
 * no Node module and changes no global state. It exports the constants
 * and errors (param), the kernel context (Uvm), each kernel layer as a
 * namespace named after its concept, so that calls read like the C beside
 * them (amap.amapCopy(...)), the system and its processes, and the tools
 * over them: the scenario language, strace logs and their replay, dumps.
 * Real files and swap files are `uvm-ts/node`'s (src/node.ts).
 */

export * as amap from './kernel/amap.ts';
export * as anon from './kernel/anon.ts';
export * as aobj from './kernel/aobj.ts';
export * as fault from './kernel/fault.ts';
export {
  type FaultPath,
  type HistEvent,
  type HistListener,
  histSubscribe,
} from './kernel/hist.ts';
export { FaultInjector, type Host, type HostFile, MemoryHost } from './kernel/host.ts';
export * as loan from './kernel/loan.ts';
export * as lock from './kernel/lock.ts';
export * as map from './kernel/map/index.ts';
export * as object from './kernel/object.ts';
export * as page from './kernel/page.ts';
export * from './kernel/param.ts';
export * as pdaemon from './kernel/pdaemon.ts';
export * as pdpolicy from './kernel/pdpolicy/index.ts';
export * as pmap from './kernel/pmap.ts';
export * as swap from './kernel/swap.ts';
export * as tlb from './kernel/tlb.ts';
export * as upcall from './kernel/upcall.ts';
export { type PmapPageOps, Uvm, type UvmConfig, Uvmexp } from './kernel/uvm.ts';
export * as vmspace from './kernel/vmspace.ts';
export * as vnode from './kernel/vnode.ts';
export * as vpagetable from './kernel/vpagetable.ts';
export * as pdsim from './lab/pdsim.ts';
export { type RefTrace, TraceDecoder } from './lab/trace.ts';
export * as mmap from './sys/mmap.ts';
export { Mmu } from './sys/mmu.ts';
export { Process } from './sys/proc.ts';
export * as procmaps from './sys/procmaps.ts';
export * as shm from './sys/shm.ts';
export { type Counters, setDefaultHost, VmSystem, type VmSystemConfig } from './sys/system.ts';
export * as dump from './tools/dump.ts';
export * as replay from './tools/replay.ts';
export { ScenarioError, ScenarioRunner, type StepResult } from './tools/scenario.ts';
export * as strace from './tools/strace.ts';
