/*
 * run.ts: `npm run bench`: every benchmark, beside the Linux kernel of this
 * machine doing the same workloads (bench/native/linux.c, built with cc)
 * or beside a plain JS reference, in one run. Prints a table and writes
 * the rows as JSON (bench/results.json, or --out PATH). --quick shortens
 * every measurement (under a minute in all).
 *
 * Needs node --expose-gc (the npm script passes it) for the memory rows.
 */
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { table } from '../src/tools/dump.ts';
import { amapWorkloads } from './amap.bench.ts';
import { FLOOR_ROWS, floorFault } from './floor.bench.ts';
import { compare, formatNs, measure, type Row } from './harness.ts';
import { coldPage, KERNEL_WORKLOADS } from './kernel.bench.ts';
import { linuxFigures } from './linux.ts';
import { mapRows } from './map.bench.ts';
import { perMapEntry, perResidentPage } from './memory.bench.ts';
import { mmuWorkloads } from './mmu.bench.ts';
import { pagingBench } from './paging.bench.ts';
import { PDSIM_ROW, pdsimRow, referencesPerSecond } from './pdsim.bench.ts';
import { callsPerSecond, GENERATED_ROW, generatedLogRow, replayWorkloads } from './replay.bench.ts';
import { systemWorkloads } from './system.bench.ts';

function log(text: string): void {
  process.stderr.write(`  ${text}\n`);
}

/** kernelRows: our kernel workloads beside Linux's. */
function kernelRows(quick: boolean): Row[] {
  log('Linux: building and running bench/native/linux.c ...');
  const linux = linuxFigures(quick);
  const reps = quick ? 5 : 9;
  const ours = new Map<string, number>();
  const rows = KERNEL_WORKLOADS.map((w) => {
    ours.set(w.key, w.ours(reps, quick));
    const row = compare(w.label, ours.get(w.key)!, linux.get(w.key) ?? null, w.target);
    log(`${w.label}: ours ${formatNs(row.ours_ns)}, Linux ${formatNs(row.linux_ns)}`);
    return row;
  });
  return [...rows, ...memoryBoundRows(ours, reps, quick)];
}

const CLEAR_REFERENCE = 'Uint8Array.fill(0) of a cold 4 KiB page';

/**
 * memoryBoundRows: our faults per page beside clearing and copying a cold
 * page, then the floor model of a zero-fill fault beside the same clear.
 */
function memoryBoundRows(ours: Map<string, number>, reps: number, quick: boolean): Row[] {
  const pairs: [string, string, string, boolean][] = [
    ['zero-fill', 'zero-fill fault vs clearing a cold page', CLEAR_REFERENCE, false],
    [
      'cow-fault',
      'copy-on-write fault vs copying a cold page',
      'Uint8Array.set of a cold 4 KiB page',
      true,
    ],
  ];
  let clear = 0;
  const rows = pairs.map(([key, workload, reference, copy]) => {
    const ref = coldPage(copy, reps);
    if (!copy) clear = ref;
    const row = compare(workload, ours.get(key)!, ref, 2, reference);
    log(`${workload}: ours ${formatNs(row.ours_ns)}, ${reference} ${formatNs(ref)}`);
    return row;
  });
  return [...rows, ...floorRows(clear, reps, quick)];
}

/** floorRows: the flat model of a zero-fill fault, frames in either order, beside a cold clear (reported). */
function floorRows(clear: number, reps: number, quick: boolean): Row[] {
  return (['ascending', 'descending'] as const).map((order) => {
    const row = compare(
      FLOOR_ROWS[order],
      floorFault(order, quick ? 128 : 512, reps),
      clear,
      null,
      CLEAR_REFERENCE,
    );
    log(`${row.workload}: ${formatNs(row.ours_ns)}`);
    return row;
  });
}

/** workloadRows: the JS workloads, each beside its named reference if any. */
async function workloadRows(quick: boolean): Promise<Row[]> {
  const measured = new Map<string, number>();
  const rows: Row[] = [];
  for (const w of [
    ...systemWorkloads(),
    ...amapWorkloads(),
    ...replayWorkloads(),
    ...mmuWorkloads(),
  ]) {
    const ns = await measure(w, quick);
    measured.set(w.name, ns);
    const reference = 'reference' in w ? (w.reference as string) : undefined;
    const refNs = reference === undefined ? null : (measured.get(reference) ?? null);
    const target = 'target' in w ? (w.target as number) : null;
    rows.push(compare(w.name, ns, refNs, target, reference));
    log(`${w.name}: ${formatNs(ns)}`);
  }
  return rows;
}

/** memoryRows: metadata bytes per resident anonymous page and per map entry. */
async function memoryRows(): Promise<Row[]> {
  const size = (workload: string, bytes: number, target: number): Row => ({
    workload,
    ours_ns: null,
    linux_ns: null,
    ratio: null,
    target,
    met: bytes <= target,
    ours_bytes: Math.round(bytes * 10) / 10,
  });
  /* sizes large enough that fixed costs vanish; both take well under a second */
  const entry = await perMapEntry(100000);
  const page = await perResidentPage(65536);
  return [
    size('metadata bytes per resident anonymous page', page, 64),
    size('bytes per map entry', entry, 256),
  ];
}

function formatRow(r: Row): string[] {
  const ours = r.ours_bytes !== undefined ? `${r.ours_bytes} B` : formatNs(r.ours_ns);
  const other = r.reference !== undefined ? `${formatNs(r.reference_ns)} (${r.reference})` : '-';
  const target =
    r.target === null ? '-' : r.ours_bytes !== undefined ? `<= ${r.target} B` : `<= ${r.target}x`;
  return [
    r.workload,
    ours,
    formatNs(r.linux_ns),
    other,
    r.ratio === null ? '-' : `${r.ratio}x`,
    target,
    r.met === null ? '-' : r.met ? 'yes' : 'NO',
  ];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      out: { type: 'string', default: 'bench/results.json' },
    },
  });
  const quick = values.quick ?? false;
  const started = Date.now();
  /* memory first, before the big workloads leave buffers to release */
  const memory = await memoryRows();
  const rows = [...kernelRows(quick), ...memory];
  rows.push(...(await mapRows(quick)));
  rows.push(...(await workloadRows(quick)));
  log(`${GENERATED_ROW}: generating and replaying ...`);
  rows.push(generatedLogRow(quick));
  log(`${PDSIM_ROW}: ours and bench/native/lrustack.c ...`);
  rows.push(pdsimRow(quick));
  const paging = pagingBench(quick);
  rows.push(...paging.rows);
  const header = ['workload', 'ours', 'Linux', 'reference', 'ratio', 'target', 'met?'];
  console.log(table(header, rows.map(formatRow)).join('\n'));
  for (const r of rows.filter((r) => r.workload.startsWith('replay ') && r.ours_ns))
    console.log(`${r.workload.replace(' (per call)', '')}: ${callsPerSecond(r.ours_ns!)}`);
  for (const r of rows.filter((r) => r.workload === PDSIM_ROW && r.ours_ns))
    console.log(
      `pdsim one-pass LRU: ${referencesPerSecond(r.ours_ns!)}, C ${r.reference_ns ? referencesPerSecond(r.reference_ns) : '-'}`,
    );
  console.log(`a workload 4x larger than memory: ${JSON.stringify(paging.workload)}`);
  console.log(
    `machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ` +
      `${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; ` +
      `${((Date.now() - started) / 1000).toFixed(0)} s${quick ? ' (--quick)' : ''}`,
  );
  writeFileSync(values.out!, `${JSON.stringify(rows, null, 2)}\n`);
  console.log(`wrote ${values.out}`);
}

await main();
