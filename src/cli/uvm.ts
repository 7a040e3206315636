#!/usr/bin/env node
/*
 * cli/uvm.ts: the `uvm` executable: real files for file mappings and
 * swap, then the command line.
 */
import { NodeHost } from '../node/host.ts';
import { setDefaultHost } from '../sys/system.ts';
import { main } from './main.ts';

setDefaultHost(new NodeHost());
process.exitCode = await main(process.argv.slice(2));
