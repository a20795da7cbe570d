// Which workloads run, in which order, with how many operations, on which database.
//
// Fill workloads (fillseq, fillsync, fillbatch, fillrandom) each start from an empty
// directory. fillrandom's database is kept, closed, as the "main" database: the reads run on it
// (each opens it afresh, in its own process), then overwrite and readwhilewriting change it and
// deleterandom deletes from it. That is db_bench's order, with the reads moved before overwrite
// so that they see the database fillrandom made. If no fillrandom was asked for but a workload
// needs the main database, fillrandom runs as an unreported setup step.
//
// How many keys the main database holds is known only as the runs finish (a run can stop at
// the time limit), so the jobs on it are made from the plan and that count (jobFor).

import type { Job } from './job.js';
import { INCR_COUNTERS, LARGE_READS, TRANSFER_ACCOUNTS, TRANSFER_IN_FLIGHT, TTL_MS } from './drivers.js';
import { WORKLOAD_NAMES, type BenchOptions, type WorkloadName } from './options.js';

export interface PlannedWorkload {
  /** 'fillsync-64' for fillsync with 64 writers; else the workload's name. */
  id: string;
  workload: WorkloadName;
  title: string;
  /** 'fresh': an empty directory of its own; 'main': the shared, filled database. */
  db: 'fresh' | 'main';
  /** Operations; for readseq and deleterandom at most the keys the main database holds. */
  ops: number;
  inFlight: number;
  sync: boolean;
  effect: Job['effect'];
  setup: boolean;
  /** readlarge-into: the reads through Store.getInto. */
  into?: boolean;
}

const EXECUTION_ORDER: readonly WorkloadName[] = [
  'fillseq',
  'fillsync',
  'fillbatch',
  'fillrandom',
  'readrandom',
  'readseq',
  'seekrandom',
  'overwrite',
  'readwhilewriting',
  'getloop',
  'deleterandom',
  'transfer',
  'incr',
  'readlarge',
  'bulkload',
  'changes',
  'clearrange',
  'ttl',
  'sustained',
];

/** Tables list workloads in the order options.ts declares them. */
const DISPLAY_ORDER: readonly WorkloadName[] = WORKLOAD_NAMES;

/** bulkload loads this many times --num pairs. */
const BULKLOAD_TIMES_NUM = 10;
const NEEDS_MAIN = new Set<WorkloadName>(['readrandom', 'readseq', 'seekrandom', 'overwrite', 'readwhilewriting', 'deleterandom', 'getloop']);

const TITLES: Record<WorkloadName, string> = {
  fillseq: 'puts in key order',
  fillrandom: 'puts in random key order, each key once',
  overwrite: 'puts of random existing keys',
  fillsync: 'puts in random key order with sync: true',
  fillbatch: 'puts in key order, 1,000 a batch, one batch in flight',
  readrandom: 'gets of random existing keys',
  readseq: 'every entry, in key order',
  seekrandom: 'seek to a random key and read the entry there',
  deleterandom: 'deletes of random existing keys, each once',
  readwhilewriting: 'readrandom while one writer overwrites random keys',
  incr: `increments of random counters among ${INCR_COUNTERS.toLocaleString('en-US')}, each store's best way`,
  getloop: 'awaited gets of random existing keys back to back, one in flight, no turn given by the bench (the event-loop check)',
  readlarge: `gets of values of 1 to 64 MiB from tables, one in flight (MB/s and the event loop's worst delay)`,
  bulkload: 'sorted pairs loaded in bulk (stratadb: db.ingest; LMDB: append puts in transactions; others: fillbatch)',
  changes: 'fillrandom without and with a live change feed consuming every write (phases: without, with, with, without)',
  transfer: `two-key read-modify-write transactions between ${TRANSFER_ACCOUNTS.toLocaleString('en-US')} accounts, ${TRANSFER_IN_FLIGHT} in flight`,
  clearrange: 'clear half of num keys in one call; reads over the whole key space before and after compactRange, against a database that never held the cleared keys',
  ttl: `fill num keys with a ${TTL_MS / 1000}-second ttl, wait for them to expire, compactRange: the space returned`,
  sustained: 'random puts, each key once (--sustained-num), then compactRange: the put rate per tenth, the longest stall, the compaction, memory',
};

/**
 * Puts of a fillsync run: --sync-ops, else num/50 with 1 writer and num/25 with more (20,000 and
 * 40,000 at the default num). db_bench runs num/1000; a run that short measures a JavaScript
 * store's warm-up more than its rate: stratadb's first 2,000 synced puts (64 writers) ran at
 * 18k–21k a second, most thousands after 10,000 at 145k–227k (its runs of 10,000 puts: 37k/s,
 * of 40,000: 63k–68k/s; README, Benchmarks). With one writer, 4,000 puts (num/250, before 5
 * December, evening) are about one second, while V8 still compiles stratadb's write path on
 * both cores: its syncs then wait for a core (p99 2.0–2.4 ms, against 0.4–0.5 ms for RocksDB and
 * for the addon's own write-and-sync alone), 0.85× and 0.90× RocksDB; 10,000 puts 0.92×,
 * 20,000 1.11× and 1.20× (the same runs, `--workloads fillsync --writers 1 --sync-ops N`).
 */
export function syncOpsFor(options: BenchOptions, writers: number): number {
  return options.syncOps ?? Math.max(writers, Math.floor(options.num / (writers === 1 ? 50 : 25)));
}

export function planWorkloads(options: BenchOptions): PlannedWorkload[] {
  const wanted = new Set(options.workloads);
  const needMain = options.workloads.some((w) => NEEDS_MAIN.has(w));
  const plan: PlannedWorkload[] = [];
  for (const w of EXECUTION_ORDER) {
    const base = { id: w, workload: w, title: TITLES[w], inFlight: options.inFlight, sync: false, effect: 'keeps' as const, setup: false };
    switch (w) {
      case 'fillseq':
        if (wanted.has(w)) plan.push({ ...base, db: 'fresh', ops: options.num, effect: 'adds' });
        break;
      case 'fillbatch':
        if (wanted.has(w)) plan.push({ ...base, db: 'fresh', ops: options.num, inFlight: 1, effect: 'adds' });
        break;
      case 'fillsync':
        if (wanted.has(w)) {
          for (const writers of options.syncWriters) {
            const title = `${TITLES[w]}, ${writers} in flight`;
            plan.push({ ...base, id: `fillsync-${writers}`, title, db: 'fresh', ops: syncOpsFor(options, writers), inFlight: writers, sync: true, effect: 'adds' });
          }
        }
        break;
      case 'fillrandom':
        if (wanted.has(w) || needMain) plan.push({ ...base, db: 'main', ops: options.num, effect: 'adds', setup: !wanted.has(w) });
        break;
      case 'readrandom':
      case 'seekrandom':
      case 'readwhilewriting':
        if (wanted.has(w)) plan.push({ ...base, db: 'main', ops: options.reads });
        break;
      case 'readseq':
        if (wanted.has(w)) plan.push({ ...base, db: 'main', ops: options.num, inFlight: 1 });
        break;
      case 'overwrite':
        if (wanted.has(w)) plan.push({ ...base, db: 'main', ops: options.num });
        break;
      case 'deleterandom':
        if (wanted.has(w)) plan.push({ ...base, db: 'main', ops: options.reads, effect: 'removes' });
        break;
      case 'bulkload':
        // The 10M pairs at the default --num: a load is a bulk one, and a fixed cost
        // (threads starting, the install) would weigh on a load of 1M.
        if (wanted.has(w)) plan.push({ ...base, db: 'fresh', ops: BULKLOAD_TIMES_NUM * options.num, inFlight: 1, effect: 'adds' });
        break;
      case 'transfer':
        if (wanted.has(w)) plan.push({ ...base, db: 'fresh', ops: options.reads, inFlight: TRANSFER_IN_FLIGHT });
        break;
      case 'incr':
        if (wanted.has(w)) plan.push({ ...base, db: 'fresh', ops: options.num, effect: 'adds' });
        break;
      case 'getloop':
        if (wanted.has(w)) plan.push({ ...base, db: 'main', ops: options.reads, inFlight: 1 });
        break;
      case 'readlarge':
        if (wanted.has(w)) {
          plan.push({ ...base, db: 'fresh', ops: LARGE_READS, inFlight: 1 });
          plan.push({ ...base, id: 'readlarge-into', title: `${TITLES[w]}, each into a buffer the reader reuses (Store.getInto)`, db: 'fresh', ops: LARGE_READS, inFlight: 1, into: true });
        }
        break;
      case 'changes':
        // Four phases of num/2 puts: num with the feed, num without.
        if (wanted.has(w)) plan.push({ ...base, db: 'fresh', ops: 2 * options.num, effect: 'adds' });
        break;
      case 'clearrange':
        // One operation, the clear; the fill is num keys (Job.fillOps), each read phase --reads.
        if (wanted.has(w)) plan.push({ ...base, db: 'fresh', ops: 1 });
        break;
      case 'ttl':
        if (wanted.has(w)) plan.push({ ...base, db: 'fresh', ops: options.num, inFlight: 64 });
        break;
      case 'sustained':
        if (wanted.has(w)) plan.push({ ...base, db: 'fresh', ops: options.sustainedNum, effect: 'adds' });
        break;
    }
  }
  return plan;
}

/** The order results are shown in: the issue's, with fillsync's runs in writer order. */
export function displayOrder(plan: readonly PlannedWorkload[]): PlannedWorkload[] {
  const rank = (w: WorkloadName) => DISPLAY_ORDER.indexOf(w);
  return plan.filter((p) => !p.setup).sort((a, b) => rank(a.workload) - rank(b.workload) || a.inFlight - b.inFlight);
}

/** The job of `p` on `store`, whose main database now holds `mainKeys` keys. */
export function jobFor(p: PlannedWorkload, store: Job['store'], dir: string, options: BenchOptions, mainKeys: number): Job {
  const keySpace = p.db === 'main' && p.workload !== 'fillrandom' ? mainKeys : 0;
  let ops = p.ops;
  if (p.workload === 'readseq') ops = keySpace;
  else if (p.workload === 'deleterandom') ops = Math.min(p.ops, keySpace);
  return {
    store,
    id: p.id,
    workload: p.workload,
    dir,
    ops,
    inFlight: p.inFlight,
    valueBytes: options.valueBytes,
    sync: p.sync,
    keySpace,
    fillOps: options.num,
    effect: p.effect,
    setup: p.setup,
    // A sustained fill cut short would compare its compaction and write amplification with
    // another store's over a different amount of data: it always runs whole.
    maxSeconds: p.workload === 'sustained' ? 0 : options.maxSeconds,
    shards: options.shards,
    seed: options.seed,
    reads: options.reads,
    into: p.into === true,
  };
}
