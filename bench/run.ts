/*
 * run.ts: `npm run bench` — runs every benchmark, prints a table and
 * writes the rows as JSON (bench/results.json, or --out PATH).
 * --quick shortens each measurement.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { table } from '../src/dump.ts';
import { amapWorkloads } from './amap.bench.ts';
import { formatNs, measure, type Row } from './harness.ts';
import { mapRows } from './map.bench.ts';
import { pagingBench } from './paging.bench.ts';
import { replayWorkloads } from './replay.bench.ts';
import { systemWorkloads } from './system.bench.ts';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      out: { type: 'string', default: 'bench/results.json' },
    },
  });
  const quick = values.quick ?? false;
  const rows: Row[] = [];
  for (const w of [...amapWorkloads(), ...systemWorkloads(quick), ...replayWorkloads()]) {
    const ns = await measure(w, quick);
    rows.push({
      workload: w.name,
      ours_ns: Number(ns.toFixed(1)),
      reference_ns: null,
      ratio: null,
      target: null,
      met: null,
    });
    process.stderr.write(`  ${w.name}: ${formatNs(ns)}\n`);
  }
  rows.push(...(await mapRows(quick)));
  const paging = pagingBench(quick);
  rows.push(...paging.rows);
  const lines = table(
    ['workload', 'ours', 'reference', 'ratio', 'target', 'met?'],
    rows.map((r) => [
      r.workload,
      formatNs(r.ours_ns),
      formatNs(r.reference_ns),
      r.ratio == null ? '-' : `${r.ratio}x`,
      r.target == null ? '-' : `<= ${r.target}x`,
      r.met == null ? '-' : r.met ? 'yes' : 'NO',
    ]),
  );
  console.log(lines.join('\n'));
  console.log(`\na workload 4x larger than memory: ${JSON.stringify(paging.workload)}`);
  const replay = rows.find((r) => r.workload.startsWith('replay '));
  if (replay) console.log(`replay throughput: ${Math.round(1e9 / replay.ours_ns)} calls/s`);
  writeFileSync(values.out!, `${JSON.stringify(rows, null, 2)}\n`);
  console.log(`\nwrote ${values.out}`);
}

await main();
