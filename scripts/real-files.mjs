/*
 * node --import ./scripts/real-files.mjs SCRIPT: run a script that uses the
 * package root (dist/index.js) with real files: systems made without a
 * `host` then open files and make swap files on the real file system, as
 * the root did before it became free of Node (uvm-ts/node's NodeHost).
 * For scripts written against that older root, e.g. the repros of issue 17.
 * Needs a build (npm run build).
 */
import { setDefaultHost } from '../dist/index.js';
import { NodeHost } from '../dist/node.js';

setDefaultHost(new NodeHost());
