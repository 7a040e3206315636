#!/usr/bin/env node
// The `uvm` command, from the build (npm run build makes dist/).
import '../dist/cli/uvm.js';
