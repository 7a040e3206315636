/*
 * svg.ts: miss-ratio curves as a self-contained SVG: faults against
 * frames, one line per policy, with axes, ticks, labels and a legend.
 * The frame axis is logarithmic when the counts span 16x or more, the
 * fault axis when they span 100x or more.
 */
import type { PdsimResult } from './pdsim.ts';

const W = 760;
const H = 440;
const M = { left: 80, right: 170, top: 40, bottom: 56 };
const COLORS = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

/**
 * missRatioSvg: the curves of `results` (grouped by policy), titled.
 * => an SVG document; the miss ratio of each point is in its tooltip.
 */
export function missRatioSvg(results: readonly PdsimResult[], title: string): string {
  const frames = results.map((r) => r.frames);
  const lo = Math.min(...frames);
  const hi = Math.max(...frames);
  const log = hi / lo >= 16;
  const fx = (f: number) => (log ? Math.log2(f) : f);
  const [x0, x1] = [fx(lo), fx(hi) === fx(lo) ? fx(lo) + 1 : fx(hi)];
  const ys = yScale(results.map((r) => r.faults));
  const px = (f: number) => M.left + ((fx(f) - x0) / (x1 - x0)) * (W - M.left - M.right);
  const py = (v: number) => H - M.bottom - ys.at(v) * (H - M.top - M.bottom);
  const policies = [...new Set(results.map((r) => r.policy))];
  const lines = policies.flatMap((p, i) =>
    curve(
      results.filter((r) => r.policy === p).sort((a, b) => a.frames - b.frames),
      i,
      px,
      py,
    ),
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${esc(title)}</text>`,
    ...axes(ticksX(lo, hi, log), px, ys.ticks, py),
    ...lines,
    ...legend(policies),
    '</svg>',
    '',
  ].join('\n');
}

/** curve: one policy's polyline and its points. */
function curve(
  rows: PdsimResult[],
  i: number,
  px: (f: number) => number,
  py: (v: number) => number,
): string[] {
  const pts = rows.map((r) => [px(r.frames).toFixed(1), py(r.faults).toFixed(1)]);
  return [
    `<polyline fill="none" ${stroke(i)} stroke-width="2" points="${pts.map((p) => p.join(',')).join(' ')}"/>`,
    ...rows.map(
      (r, k) =>
        `<circle cx="${pts[k][0]}" cy="${pts[k][1]}" r="3" fill="${COLORS[i % COLORS.length]}">` +
        `<title>${esc(r.policy)}, ${r.frames} frames: ${r.faults} faults (miss ratio ${r.missRatio.toFixed(4)})</title></circle>`,
    ),
  ];
}

/** axes: the frame and fault axes with their ticks, grid and labels. */
function axes(
  xticks: number[],
  px: (f: number) => number,
  yticks: number[],
  py: (v: number) => number,
): string[] {
  const bottom = H - M.bottom;
  const out = [
    `<line x1="${M.left}" y1="${bottom}" x2="${W - M.right}" y2="${bottom}" stroke="black"/>`,
    `<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${bottom}" stroke="black"/>`,
    `<text x="${(M.left + W - M.right) / 2}" y="${H - 14}" text-anchor="middle">frames</text>`,
    `<text transform="translate(18 ${(M.top + bottom) / 2}) rotate(-90)" text-anchor="middle">faults</text>`,
  ];
  for (const f of xticks) {
    const x = px(f).toFixed(1);
    out.push(
      `<line x1="${x}" y1="${bottom}" x2="${x}" y2="${bottom + 5}" stroke="black"/>`,
      `<text x="${x}" y="${bottom + 18}" text-anchor="middle">${f}</text>`,
    );
  }
  for (const v of yticks) {
    const y = py(v).toFixed(1);
    out.push(
      `<line x1="${M.left}" y1="${y}" x2="${W - M.right}" y2="${y}" stroke="#ddd"/>`,
      `<text x="${M.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${v.toLocaleString('en-US')}</text>`,
    );
  }
  return out;
}

/** legend: a swatch and the name of each policy, right of the plot. */
function legend(policies: string[]): string[] {
  const x = W - M.right + 16;
  return policies.flatMap((p, i) => {
    const y = M.top + 10 + i * 20;
    return [
      `<line x1="${x}" y1="${y}" x2="${x + 24}" y2="${y}" ${stroke(i)} stroke-width="3"/>`,
      `<text x="${x + 30}" y="${y}" dominant-baseline="middle">${esc(p)}</text>`,
    ];
  });
}

/** stroke: the i-th policy's line: a colour, dashed past the tenth. */
function stroke(i: number): string {
  const dash = i >= COLORS.length ? ' stroke-dasharray="6 3"' : '';
  return `stroke="${COLORS[i % COLORS.length]}"${dash}`;
}

/** ticksX: powers of two on a log axis, about eight even steps on a linear one. */
function ticksX(lo: number, hi: number, log: boolean): number[] {
  if (log) {
    const out = [];
    for (let f = 2 ** Math.ceil(Math.log2(lo)); f <= hi; f *= 2) out.push(f);
    return out;
  }
  const step = Math.max(1, niceMax((hi - lo) / 8));
  const out = [];
  for (let f = Math.ceil(lo / step) * step; f <= hi; f += step) out.push(f);
  return out;
}

/**
 * yScale: the fault axis: linear from 0, or logarithmic (powers of ten)
 * when the counts span 100x or more.
 * => at(v): v's height as a fraction of the axis; the ticks.
 */
function yScale(faults: number[]): { at: (v: number) => number; ticks: number[] } {
  const top = Math.max(1, ...faults);
  const low = Math.max(1, Math.min(...faults));
  if (top / low < 100) {
    const max = niceMax(top);
    return { at: (v) => v / max, ticks: [0, 1, 2, 3, 4, 5].map((k) => (max * k) / 5) };
  }
  const [e0, e1] = [Math.floor(Math.log10(low)), Math.ceil(Math.log10(top))];
  const ticks = Array.from({ length: e1 - e0 + 1 }, (_, k) => 10 ** (e0 + k));
  return { at: (v) => (Math.log10(Math.max(v, 1)) - e0) / (e1 - e0), ticks };
}

/** niceMax: the next 1, 2 or 5 times a power of ten at or above v. */
function niceMax(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  return ([1, 2, 5, 10].find((m) => m * p >= v) ?? 10) * p;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
