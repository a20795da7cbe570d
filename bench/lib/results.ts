// The results of a run, ratios between stores, and the targets checked against them.

import type { StoreInfo, StoreName } from '../stores/index.js';
import type { JobResult } from './job.js';
import type { PlannedWorkload } from './plan.js';

export interface RunResults {
  meta: {
    started: string;
    finished: string;
    node: string;
    platform: string;
    cpus: string;
    cores: number;
    memoryBytes: number;
    options: Record<string, unknown>;
    stores: StoreInfo[];
    notes: string[];
  };
  workloads: PlannedWorkload[];
  results: JobResult[];
  failures: { store: StoreName; id: string; error: string }[];
  ratios: { id: string; peer: StoreName; stratadbOverPeer: number }[];
  targets: TargetCheck[];
  feedTargets: FeedTargetCheck[];
  sustainedTargets: FeedTargetCheck[];
}

export interface FeedTargetCheck {
  target: string;
  value: string;
  met: boolean;
}

export interface TargetCheck {
  target: string;
  id: string;
  peer: StoreName;
  atLeast: number;
  /** stratadb's ops/s over the peer's, or null when either did not run. */
  ratio: number | null;
  met: boolean | null;
}

/** The targets of issues 5 and 18: stratadb's throughput over a peer's, measured in one run. */
const TARGETS: { target: string; ids: string[]; peer: StoreName; atLeast: number }[] = [
  { target: 'fillseq, fillrandom, overwrite (256 in flight): at least 2× RocksDB', ids: ['fillseq', 'fillrandom', 'overwrite'], peer: 'rocksdb', atLeast: 2 },
  { target: 'fillbatch: at least 2× RocksDB', ids: ['fillbatch'], peer: 'rocksdb', atLeast: 2 },
  { target: 'fillsync, 64 writers in flight: at least 2× LMDB', ids: ['fillsync-64'], peer: 'lmdb', atLeast: 2 },
  { target: 'readrandom: at least LMDB', ids: ['readrandom'], peer: 'lmdb', atLeast: 1 },
  { target: 'readseq: at least RocksDB', ids: ['readseq'], peer: 'rocksdb', atLeast: 1 },
  { target: 'seekrandom: at least half of LMDB', ids: ['seekrandom'], peer: 'lmdb', atLeast: 0.5 },
  { target: 'seekrandom: at least LevelDB', ids: ['seekrandom'], peer: 'leveldb', atLeast: 1 },
  { target: 'readwhilewriting: at least RocksDB', ids: ['readwhilewriting'], peer: 'rocksdb', atLeast: 1 },
  { target: 'readwhilewriting: at least LevelDB', ids: ['readwhilewriting'], peer: 'leveldb', atLeast: 1 },
  { target: 'bulkload: at least 2× LMDB (and 5× stratadb fillseq, read from the table)', ids: ['bulkload'], peer: 'lmdb', atLeast: 2 },
];

export function findResult(results: readonly JobResult[], store: StoreName, id: string): JobResult | undefined {
  return results.find((r) => r.store === store && r.id === id && !r.setup);
}

export function ratio(results: readonly JobResult[], id: string, peer: StoreName): number | null {
  const ours = findResult(results, 'stratadb', id);
  const theirs = findResult(results, peer, id);
  if (ours === undefined || theirs === undefined || theirs.opsPerSec === 0) return null;
  return ours.opsPerSec / theirs.opsPerSec;
}

export function allRatios(results: readonly JobResult[], ids: readonly string[], stores: readonly StoreName[]): RunResults['ratios'] {
  const out: RunResults['ratios'] = [];
  for (const id of ids) {
    for (const peer of stores) {
      if (peer === 'stratadb') continue;
      const r = ratio(results, id, peer);
      if (r !== null) out.push({ id, peer, stratadbOverPeer: r });
    }
  }
  return out;
}

/** The targets of issue 15 (the change feed), from stratadb's changes run. */
export function feedTargets(results: readonly JobResult[]): FeedTargetCheck[] {
  const f = findResult(results, 'stratadb', 'changes')?.feed;
  if (f === undefined) return [];
  return [
    { target: 'the feed costs the writers less than 15% (puts/s)', value: `${f.costPercent.toFixed(1)}%`, met: f.costPercent < 15 },
    ...(f.cpuCostPercent === null
      ? []
      : [{ target: 'the same by main-thread CPU per put (less noisy)', value: `${f.cpuCostPercent.toFixed(1)}%`, met: f.cpuCostPercent < 15 }]),
    { target: 'lag p99 below 5 ms (durable: false)', value: `${f.lagP99Ms.toFixed(2)} ms`, met: f.lagP99Ms < 5 },
  ];
}

/**
 * The targets of issue 19 (sustained writes, memory) against RocksDB: the sustained fill's rate,
 * its compactRange time, write amplification and longest stall; peak RSS (getrusage maxRSS) in
 * fillrandom and sustained.
 */
export function sustainedTargets(results: readonly JobResult[]): FeedTargetCheck[] {
  const out: FeedTargetCheck[] = [];
  const ours = findResult(results, 'stratadb', 'sustained');
  const rocks = findResult(results, 'rocksdb', 'sustained');
  const x = (v: number) => `${v.toFixed(2)}×`;
  if (ours !== undefined && rocks !== undefined) {
    const compact = (r: JobResult) => r.phases?.['compactMs'] ?? 0;
    const put = ours.opsPerSec / rocks.opsPerSec;
    out.push({ target: 'sustained: put rate over the fill at least 1.5× RocksDB', value: x(put), met: put >= 1.5 });
    const c = compact(ours) / Math.max(1e-9, compact(rocks));
    out.push({ target: 'sustained: compactRange time at most 1.5× RocksDB', value: x(c), met: c <= 1.5 });
    if (ours.writeAmplification !== null && rocks.writeAmplification !== null) {
      const wa = ours.writeAmplification / rocks.writeAmplification;
      out.push({ target: 'sustained: write amplification at most 1.2× RocksDB', value: x(wa), met: wa <= 1.2 });
    }
  }
  if (ours !== undefined) {
    const stall = ours.phases?.['longestStallMs'] ?? 0;
    out.push({ target: 'sustained: no stall longer than 200 ms', value: `${stall.toFixed(0)} ms`, met: stall <= 200 });
  }
  for (const id of ['fillrandom', 'sustained']) {
    const a = findResult(results, 'stratadb', id);
    const b = findResult(results, 'rocksdb', id);
    if (a === undefined || b === undefined) continue;
    const rss = a.peakRssBytes / b.peakRssBytes;
    out.push({ target: `${id}: peak RSS at most 1.2× RocksDB`, value: `${x(rss)} (${(a.peakRssBytes / 1e6).toFixed(0)} MB against ${(b.peakRssBytes / 1e6).toFixed(0)} MB)`, met: rss <= 1.2 });
  }
  return out;
}

export function checkTargets(results: readonly JobResult[]): TargetCheck[] {
  const out: TargetCheck[] = [];
  for (const t of TARGETS) {
    for (const id of t.ids) {
      const r = ratio(results, id, t.peer);
      out.push({ target: t.target, id, peer: t.peer, atLeast: t.atLeast, ratio: r, met: r === null ? null : r >= t.atLeast });
    }
  }
  return out;
}
