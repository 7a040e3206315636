/*
 * build-explorer.mjs: the explorer as static files (npm run build runs it):
 * dist/explorer/index.html, explorer.css and explorer.js, the page and the
 * library bundled for the browser by esbuild, with every bundled scenario
 * (scenarios/*.uvm) built in. Any web server can host the folder; `uvm
 * explore` serves it. No CDN, no external font: it works offline.
 *
 *   node scripts/build-explorer.mjs [OUTDIR]
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
const out = process.argv[2] ?? join(root, 'dist/explorer');
const scenarios = Object.fromEntries(
  readdirSync(join(root, 'scenarios'))
    .filter((f) => f.endsWith('.uvm'))
    .sort()
    .map((f) => [f.slice(0, -4), readFileSync(join(root, 'scenarios', f), 'utf8')]),
);
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(root, 'src/explorer/page.ts')],
  outfile: join(out, 'explorer.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  legalComments: 'none',
  define: { __UVM_SCENARIOS__: JSON.stringify(scenarios) },
  logLevel: 'warning',
});
for (const f of ['index.html', 'explorer.css']) copyFileSync(join(root, 'src/explorer', f), join(out, f));
const size = statSync(join(out, 'explorer.js')).size;
if (process.env.npm_lifecycle_event !== 'build')
  console.log(`explorer: ${out} (explorer.js ${(size / 1024).toFixed(0)} KiB)`);
