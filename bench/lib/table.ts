// Text output: one line per finished run, and the tables printed at the end.

import type { StoreInfo, StoreName } from '../stores/index.js';
import type { JobResult } from './job.js';
import type { PlannedWorkload } from './plan.js';
import { findResult, ratio, type TargetCheck } from './results.js';

export function formatCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 1 : 2)}M`;
  if (n >= 1e4) return `${Math.round(n / 1e3)}k`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n >= 100 || Number.isInteger(n) ? String(Math.round(n)) : n.toFixed(1);
}

export function formatMicros(us: number): string {
  if (us < 10) return `${us.toFixed(1)} µs`;
  if (us < 1000) return `${Math.round(us)} µs`;
  if (us < 1e6) return `${(us / 1000).toFixed(us < 1e4 ? 2 : 1)} ms`;
  return `${(us / 1e6).toFixed(2)} s`;
}

export function formatMB(bytes: number): string {
  const mb = bytes / 1e6;
  return mb >= 100 ? mb.toFixed(0) : mb.toFixed(1);
}

const amp = (x: number | null) => (x === null ? '-' : x.toFixed(2));

/** Lays out rows as columns: the first left-aligned, the rest right-aligned. */
export function layout(rows: string[][], gap = 2): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(' '.repeat(gap)).trimEnd())
    .join('\n');
}

/** The one line printed as each run finishes (details are in the table and the JSON). */
export function resultLine(r: JobResult): string {
  const l = r.latency;
  const parts = [
    `${r.id.padEnd(16)} ${r.store.padEnd(8)}`,
    `${Math.round(r.opsPerSec).toLocaleString('en-US').padStart(9)} ops/s`,
    `${r.mbPerSec.toFixed(1).padStart(5)} MB/s`,
    `p50/p99/p99.9 ${formatMicros(l.p50Us)} ${formatMicros(l.p99Us)} ${formatMicros(l.p999Us)}${l.per === 'operation' ? '' : ` per ${l.per}`}`,
    `WA ${amp(r.writeAmplification)}`,
    `SA ${amp(r.spaceAmplification)}`,
    `rss ${formatMB(r.peakRssBytes)} MB`,
    `timer ${formatCount(r.timer.firingsPerSec)}/s, longest wait ${formatMicros(r.timer.maxGapMs * 1000)}`,
  ];
  if (r.ops < r.plannedOps) parts.push(`stopped by the time limit after ${r.ops.toLocaleString('en-US')} of ${r.plannedOps.toLocaleString('en-US')}`);
  if (r.found !== undefined && r.found !== r.ops) parts.push(`found ${r.found.toLocaleString('en-US')}`);
  if (r.writes !== undefined) parts.push(`${r.writes.toLocaleString('en-US')} writes`);
  if (r.feed !== undefined) {
    const f = r.feed;
    parts.push(
      `writers ${formatCount(f.putsPerSecWithout)} puts/s without the feed, ${formatCount(f.putsPerSecWith)} with it (cost ${f.costPercent.toFixed(1)}%)`,
      `feed ${formatCount(f.changesPerSec)} changes/s, lag p50 ${f.lagP50Ms.toFixed(2)} ms p99 ${f.lagP99Ms.toFixed(2)} ms`,
    );
    if (f.cpuCostPercent !== null) {
      parts.push(`main-thread CPU ${f.cpuUsPerPutWithout!.toFixed(2)} µs/put without, ${f.cpuUsPerPutWith!.toFixed(2)} with (cost ${f.cpuCostPercent.toFixed(1)}%)`);
    }
  }
  if (r.retries !== undefined) parts.push(`${r.retries.toLocaleString('en-US')} retries (${((100 * r.retries) / Math.max(1, r.ops)).toFixed(2)}% of transactions)`);
  if (r.phases !== undefined) {
    const show = (name: string, v: number) => (name.endsWith('Bytes') ? `${name} ${(v / 2 ** 20).toFixed(1)} MiB` : name.endsWith('Ms') ? `${name} ${v.toFixed(2)}` : `${name} ${Math.round(v).toLocaleString('en-US')}`);
    parts.push(`\n    ${Object.entries(r.phases).map(([k, v]) => show(k, v)).join(', ')}`);
  }
  return parts.join('  ');
}

/** ops/s per workload and store, each peer with stratadb's ratio over it. */
export function throughputTable(workloads: readonly PlannedWorkload[], stores: readonly StoreInfo[], results: readonly JobResult[]): string {
  const header = ['workload (ops/s)', ...stores.map((s) => (s.name === 'stratadb' ? s.label : `${s.label} (stratadb ÷)`))];
  const rows = [header];
  for (const w of workloads) {
    const row = [w.id];
    for (const s of stores) {
      const r = findResult(results, s.name, w.id);
      if (r === undefined) row.push('-');
      else if (s.name === 'stratadb') row.push(`${formatCount(r.opsPerSec)}${r.ops < r.plannedOps ? '*' : ''}`);
      else {
        const x = ratio(results, w.id, s.name);
        row.push(`${formatCount(r.opsPerSec)}${r.ops < r.plannedOps ? '*' : ''} (${x === null ? '-' : `${x.toFixed(2)}×`})`);
      }
    }
    rows.push(row);
  }
  return layout(rows);
}

/** Every figure of every run, a row each. */
export function detailTable(workloads: readonly PlannedWorkload[], stores: readonly StoreInfo[], results: readonly JobResult[]): string {
  const rows = [['workload', 'store', 'ops/s', 'MB/s', 'p50', 'p99', 'p99.9', 'written MB', 'WA', 'size MB', 'SA', 'rss MB', 'loop delay p99 ms']];
  for (const w of workloads) {
    for (const s of stores) {
      const r = findResult(results, s.name, w.id);
      if (r === undefined) continue;
      rows.push([
        w.id,
        s.name,
        formatCount(r.opsPerSec),
        r.mbPerSec.toFixed(1),
        formatMicros(r.latency.p50Us),
        formatMicros(r.latency.p99Us),
        formatMicros(r.latency.p999Us),
        formatMB(r.diskWriteBytes),
        amp(r.writeAmplification),
        formatMB(r.sizeOnDiskBytes),
        amp(r.spaceAmplification),
        formatMB(r.peakRssBytes),
        r.eventLoop.p99Ms === null ? '-' : r.eventLoop.p99Ms.toFixed(1),
      ]);
    }
  }
  return layout(rows);
}

/** Reads' effect on the event loop: a 1 ms timer's firings per second and its longest wait, per store. */
export function eventLoopTable(workloads: readonly PlannedWorkload[], stores: readonly StoreInfo[], results: readonly JobResult[]): string {
  const reads = workloads.filter((w) => ['readrandom', 'getloop', 'readseq', 'seekrandom', 'readwhilewriting', 'readlarge'].includes(w.workload));
  const rows = [['workload (1 ms timer: firings/s, longest wait)', ...stores.map((s) => s.label)]];
  for (const w of reads) {
    const row = [w.id];
    for (const s of stores) {
      const r = findResult(results, s.name, w.id);
      row.push(r === undefined ? '-' : `${formatCount(r.timer.firingsPerSec)}/s, ${formatMicros(r.timer.maxGapMs * 1000)}`);
    }
    rows.push(row);
  }
  return reads.length === 0 ? '' : layout(rows);
}

/** sustained: per store, the fill's rate overall and per tenth, the longest stall, the compaction, WA and memory. */
export function sustainedTable(stores: readonly StoreInfo[], results: readonly JobResult[]): string {
  const rows = [['store', 'puts/s', 'per tenth of the fill (k puts/s)', 'longest stall', 'compactRange', 'WA', 'peak RSS MB (sampled)']];
  for (const s of stores) {
    const r = findResult(results, s.name, 'sustained');
    const p = r?.phases;
    if (r === undefined || p === undefined) continue;
    const tenths = Array.from({ length: 10 }, (_, i) => p[`tenth${i + 1}PutsPerSec`]).map((v) => (v === undefined ? '-' : (v / 1000).toFixed(0)));
    rows.push([
      s.label,
      formatCount(r.opsPerSec) + (r.ops < r.plannedOps ? '*' : ''),
      tenths.join(' '),
      formatMicros((p['longestStallMs'] ?? 0) * 1000),
      `${((p['compactMs'] ?? 0) / 1000).toFixed(1)} s`,
      amp(r.writeAmplification),
      `${formatMB(r.peakRssBytes)} (${formatMB(p['peakRssSampledBytes'] ?? 0)})`,
    ]);
  }
  return rows.length === 1 ? '' : layout(rows);
}

export function targetsTable(checks: readonly TargetCheck[]): string {
  const rows = [['workload', 'target (stratadb ÷ peer)', 'measured', '']];
  for (const c of checks) {
    const measured = c.ratio === null ? 'not run' : `${c.ratio.toFixed(2)}×`;
    rows.push([c.id, `≥ ${c.atLeast}× ${c.peer}`, measured, c.met === null ? '' : c.met ? 'met' : 'not met']);
  }
  return layout(rows);
}

export const storeLabel = (stores: readonly StoreInfo[], name: StoreName) => stores.find((s) => s.name === name)?.label ?? name;

/** The throughput table and the targets as Markdown, for the README. */
export function markdownTables(
  workloads: readonly PlannedWorkload[],
  stores: readonly StoreInfo[],
  results: readonly JobResult[],
  checks: readonly TargetCheck[],
): string {
  const cell = (id: string, s: StoreInfo) => {
    const r = findResult(results, s.name, id);
    if (r === undefined) return '–';
    const rate = `${formatCount(r.opsPerSec)}${r.ops < r.plannedOps ? '\\*' : ''}`;
    const x = s.name === 'stratadb' ? null : ratio(results, id, s.name);
    return x === null ? rate : `${rate} (${x.toFixed(2)}×)`;
  };
  const lines = [
    `| ops/s (stratadb ÷ peer) | ${stores.map((s) => `${s.label} ${s.version}`).join(' | ')} |`,
    `|---|${stores.map(() => '---:').join('|')}|`,
    ...workloads.map((w) => `| ${w.id} | ${stores.map((s) => cell(w.id, s)).join(' | ')} |`),
    '',
    '| target | stratadb ÷ peer | |',
    '|---|---:|---|',
    ...checks.map((c) => `| ${c.id}: ≥ ${c.atLeast}× ${c.peer} | ${c.ratio === null ? 'not run' : `${c.ratio.toFixed(2)}×`} | ${c.met === null ? '' : c.met ? 'met' : 'not met'} |`),
  ];
  return `${lines.join('\n')}\n`;
}
