#!/bin/sh
# The package as another project uses it: npm pack, install the tarball in a
# scratch project, import it (ESM) and require it (CommonJS), use uvm-ts/node,
# and type-check TypeScript consumers of both against the published .d.ts
# (no skipLibCheck) with the project's TypeScript, the oldest it claims.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root"
npm pack --silent --pack-destination "$tmp" >/dev/null
cd "$tmp"
echo '{ "name": "scratch", "private": true }' > package.json
npm install --no-audit --no-fund --silent ./uvm-ts-*.tgz

cat > esm.mjs <<'JS'
import { MAP_ANON, MAP_PRIVATE, PROT_READ, PROT_WRITE, VmSystem } from 'uvm-ts';
import { NodeHost, runScenario } from 'uvm-ts/node';
const sys = new VmSystem({ physPages: 64, swapPages: 64, host: new NodeHost() });
const p = sys.spawn();
const a = p.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON);
p.write(a, [42]);
if (p.fork().read(a, 1)[0] !== 42) throw new Error('esm: wrong byte');
if (runScenario('needs-copy').error !== undefined) throw new Error('esm: the scenario failed');
console.log('esm: ok');
JS
cat > cjs.cjs <<'JS'
const uvm = require('uvm-ts');
const sys = new uvm.VmSystem({ physPages: 64, swapPages: 64 });
const p = sys.spawn();
const a = p.mmap(0, 4096, uvm.PROT_READ | uvm.PROT_WRITE, uvm.MAP_PRIVATE | uvm.MAP_ANON);
p.write(a, [7]);
if (p.read(a, 1)[0] !== 7) throw new Error('cjs: wrong byte');
sys.audit();
console.log('cjs: ok');
JS
node esm.mjs
node cjs.cjs

cat > consumer.mts <<'TS'
import { type Counters, MAP_ANON, MAP_PRIVATE, PROT_READ, VmSystem } from 'uvm-ts';
import { NodeHost } from 'uvm-ts/node';
const sys: VmSystem = new VmSystem({ host: new NodeHost() });
const n: number = sys.spawn().mmap(0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANON);
const c: Counters = sys.counters;
export const flt: number = c.flt_acow + n;
TS
cat > consumer.cts <<'TS'
import uvm = require('uvm-ts');
export const sys: uvm.VmSystem = new uvm.VmSystem({ physPages: 64 });
TS
cat > tsconfig.json <<'JSON'
{ "compilerOptions": { "module": "Node16", "moduleResolution": "Node16", "target": "ES2022",
  "strict": true, "noEmit": true, "skipLibCheck": false, "types": [] },
  "files": ["consumer.mts", "consumer.cts"] }
JSON
"$root/node_modules/.bin/tsc" -p tsconfig.json
echo "typescript $("$root/node_modules/.bin/tsc" --version): ok"
