// The chart, as a plain SVG string: one row per workload and store; on the left, throughput
// as bars scaled to the fastest store of each workload (labelled with ops/s); on the right,
// latency p50, p99 and p99.9 on a logarithmic axis.

import type { StoreInfo } from '../stores/index.js';
import type { JobResult } from './job.js';
import type { PlannedWorkload } from './plan.js';
import { findResult } from './results.js';
import { formatCount } from './table.js';

const COLORS: Record<string, string> = {
  stratadb: '#e4572e',
  rocksdb: '#4c78a8',
  leveldb: '#72b7b2',
  lmdb: '#54a24b',
  sqlite: '#b279a2',
};

const WIDTH = 1120;
const LABEL_X = 16;
const BAR_X = 262;
const BAR_MAX = 300;
const LAT_X0 = 680;
const LAT_X1 = WIDTH - 30;
const ROW = 14;
const GROUP_GAP = 14;
const TOP = 120;

/** 10^d microseconds as an axis label: 100 µs, 1 ms, 10 ms, 1 s. */
function decade(d: number): string {
  if (d < 0) return `${10 ** d} µs`;
  if (d < 3) return `${10 ** d} µs`;
  if (d < 6) return `${10 ** (d - 3)} ms`;
  return `${10 ** (d - 6)} s`;
}

const esc = (s: string) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${esc(s)}</text>`;
}

export interface ChartContext {
  title: string;
  subtitle: string;
}

export function renderSvg(workloads: readonly PlannedWorkload[], stores: readonly StoreInfo[], results: readonly JobResult[], ctx: ChartContext): string {
  const out: string[] = [];
  const rowsPerGroup = stores.length;
  const groupHeight = Math.max(rowsPerGroup * ROW, 44) + GROUP_GAP;
  const height = TOP + workloads.length * groupHeight + 50;

  // Latency axis: whole decades around every p50 and p99.9 shown.
  let lo = Infinity;
  let hi = 0;
  for (const r of results) {
    if (r.setup) continue;
    lo = Math.min(lo, r.latency.p50Us);
    hi = Math.max(hi, r.latency.p999Us);
  }
  if (!Number.isFinite(lo)) [lo, hi] = [1, 1000];
  const decLo = Math.floor(Math.log10(Math.max(0.1, lo)));
  const decHi = Math.max(decLo + 1, Math.ceil(Math.log10(Math.max(hi, 1))));
  const latX = (us: number) => LAT_X0 + ((Math.log10(Math.max(us, 10 ** decLo)) - decLo) / (decHi - decLo)) * (LAT_X1 - LAT_X0);

  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="11" fill="#222">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    text(LABEL_X, 26, ctx.title, 'font-size="16" font-weight="bold"'),
    text(LABEL_X, 44, ctx.subtitle, 'fill="#555"'),
  );

  // Store legend.
  let lx = LABEL_X;
  for (const s of stores) {
    out.push(`<rect x="${lx}" y="56" width="12" height="12" fill="${COLORS[s.name] ?? '#888'}"/>`, text(lx + 16, 66, `${s.label} ${s.version}`));
    lx += 24 + (s.label.length + s.version.length + 1) * 6.6;
  }

  // Panel headings and the latency legend.
  out.push(
    text(BAR_X, 96, 'throughput, ops/s (bars scaled to the fastest store)', 'font-weight="bold"'),
    text(LAT_X0, 96, 'latency (log scale):', 'font-weight="bold"'),
  );
  const legendX = LAT_X0 + 128;
  out.push(
    `<circle cx="${legendX}" cy="92" r="3.5" fill="#444"/>`,
    text(legendX + 7, 96, 'p50'),
    `<rect x="${legendX + 38}" y="86" width="2.5" height="11" fill="#444"/>`,
    text(legendX + 45, 96, 'p99'),
    `<rect x="${legendX + 76}" y="88" width="7" height="7" fill="#444"/>`,
    text(legendX + 87, 96, 'p99.9'),
  );

  // Latency grid: a line per decade.
  const gridBottom = height - 40;
  for (let d = decLo; d <= decHi; d++) {
    const x = latX(10 ** d);
    out.push(`<line x1="${x.toFixed(1)}" y1="${TOP - 8}" x2="${x.toFixed(1)}" y2="${gridBottom}" stroke="#ddd"/>`);
    out.push(text(x, gridBottom + 14, decade(d), 'text-anchor="middle" fill="#555"'));
    out.push(text(x, TOP - 12, decade(d), 'text-anchor="middle" fill="#555"'));
  }

  let anyCapped = false;
  let y = TOP;
  for (const w of workloads) {
    const group = stores.map((s) => findResult(results, s.name, w.id));
    const best = Math.max(0, ...group.map((r) => r?.opsPerSec ?? 0));
    const per = group.find((r) => r !== undefined)?.latency.per;
    out.push(text(LABEL_X, y + 10, w.id, 'font-weight="bold" font-size="12"'));
    const note = [`${formatCount(w.ops)} ops`, w.sync ? 'sync' : '', w.inFlight > 1 ? `${w.inFlight} in flight` : ''].filter((s) => s).join(', ');
    out.push(text(LABEL_X, y + 24, note, 'fill="#666" font-size="10"'));
    if (per !== undefined && per !== 'operation') out.push(text(LABEL_X, y + 37, `latency per ${per}`, 'fill="#666" font-size="10"'));
    out.push(`<line x1="${LABEL_X}" y1="${y - 5}" x2="${WIDTH - 16}" y2="${y - 5}" stroke="#eee"/>`);

    stores.forEach((s, i) => {
      const r = group[i];
      const rowY = y + i * ROW;
      const color = COLORS[s.name] ?? '#888';
      out.push(text(BAR_X - 8, rowY + 9, s.label, 'text-anchor="end" fill="#444" font-size="10"'));
      if (r === undefined) {
        out.push(text(BAR_X, rowY + 9, '—', 'fill="#999"'));
        return;
      }
      const width = best > 0 ? Math.max(1, (r.opsPerSec / best) * BAR_MAX) : 1;
      out.push(`<rect x="${BAR_X}" y="${rowY}" width="${width.toFixed(1)}" height="${ROW - 3}" fill="${color}"/>`);
      const weight = s.name === 'stratadb' ? ' font-weight="bold"' : '';
      const capped = r.ops < r.plannedOps ? '*' : '';
      anyCapped ||= capped !== '';
      out.push(text(BAR_X + width + 5, rowY + 9, `${formatCount(r.opsPerSec)}/s${capped}`, `font-size="10"${weight}`));

      const x50 = latX(r.latency.p50Us);
      const x99 = latX(r.latency.p99Us);
      const x999 = latX(r.latency.p999Us);
      const cy = rowY + (ROW - 3) / 2;
      out.push(
        `<line x1="${x50.toFixed(1)}" y1="${cy}" x2="${x999.toFixed(1)}" y2="${cy}" stroke="${color}" stroke-width="2"/>`,
        `<circle cx="${x50.toFixed(1)}" cy="${cy}" r="3.5" fill="${color}"/>`,
        `<rect x="${(x99 - 1.25).toFixed(1)}" y="${cy - 5.5}" width="2.5" height="11" fill="${color}"/>`,
        `<rect x="${(x999 - 3.5).toFixed(1)}" y="${cy - 3.5}" width="7" height="7" fill="${color}"/>`,
      );
    });
    y += groupHeight;
  }
  if (anyCapped) out.push(text(LABEL_X, height - 12, '* stopped by the time limit (--max-seconds): the rate of the operations done', 'fill="#666" font-size="10"'));
  out.push('</svg>');
  return out.join('\n');
}
