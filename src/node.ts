/*
 * uvm-ts/node: the package for Node: everything the root exports, and
 * what needs Node's file system: NodeHost (real files to map, swap files),
 * and the uvm command's runs: runScenario (a scenario file, or a bundled
 * scenario by name) and replayTrace (a recorded program).
 *
 *   import { NodeHost, VmSystem } from 'uvm-ts/node';
 *   const sys = new VmSystem({ host: new NodeHost(), swapFile: '/tmp/uvm.swap' });
 */

export { replayTrace } from './cli/replay.ts';
export { runScenario } from './cli/run.ts';
export * from './index.ts';
export { NodeHost } from './node/host.ts';
