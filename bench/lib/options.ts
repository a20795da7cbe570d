// The bench's command-line flags, parsed with util.parseArgs and resolved once.

import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { STORE_NAMES, type StoreName } from '../stores/index.js';

export const WORKLOAD_NAMES = [
  'fillseq',
  'fillrandom',
  'overwrite',
  'fillsync',
  'fillbatch',
  'readrandom',
  'readseq',
  'seekrandom',
  'deleterandom',
  'readwhilewriting',
  'transfer',
  'incr',
  'getloop',
  'readlarge',
  'bulkload',
  'changes',
  'clearrange',
  'ttl',
  'sustained',
] as const;
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];

const DEFAULT_READS = 200_000;
const DEFAULT_SUSTAINED = 2_000_000;

export interface BenchOptions {
  /** Operations of each write workload; keys in the database the reads run on. */
  num: number;
  /** Operations of readrandom, seekrandom, readwhilewriting, deleterandom and getloop. */
  reads: number;
  /** Puts of the sustained workload (the full run: 20M). */
  sustainedNum: number;
  /** Operations of fillsync per writer count; undefined: num/50 for 1 writer, num/25 for more (plan.ts, syncOpsFor). */
  syncOps: number | undefined;
  valueBytes: number;
  inFlight: number;
  /** Writers in flight for fillsync, one run each. */
  syncWriters: number[];
  shards: number;
  /** A run stops issuing operations after this many seconds; 0 for no limit. */
  maxSeconds: number;
  workloads: WorkloadName[];
  /** undefined: every store that is installed. */
  stores: StoreName[] | undefined;
  baseDir: string;
  jsonPath: string | undefined;
  svgPath: string | undefined;
  markdownPath: string | undefined;
  seed: number;
  keep: boolean;
  help: boolean;
}

export const USAGE = `stratadb bench: db_bench's workloads on stratadb and its peers (RocksDB, LevelDB, LMDB, SQLite)

  npm run bench -- [flags]        or        npx stratadb bench [flags]

  --num N            puts of each write workload, and keys of the database reads run on (1000000)
  --reads N          operations of readrandom, seekrandom, readwhilewriting, deleterandom and
                     getloop (200000, or --num if smaller)
  --sustained-num N  puts of the sustained workload, before its compactRange (2000000; the full
                     run: 20000000); sustained always runs whole (no --max-seconds)
  --value-size N     value bytes (100); keys are 16 bytes
  --in-flight N      operations in flight, for every workload but fillsync and fillbatch (256)
  --writers LIST     writers in flight for fillsync, one run each (1,64)
  --sync-ops N       puts of each fillsync run (default: num/50 with 1 writer, num/25 with more)
  --shards N         stratadb's shard count (1)
  --max-seconds N    a run stops after N seconds and reports on the operations done; 0: no limit (60)
  --workloads LIST   comma-separated, from: ${WORKLOAD_NAMES.join(',')} (all)
  --stores LIST      comma-separated, from: ${STORE_NAMES.join(',')} (every one installed)
  --dir PATH         where the temporary directory goes (${tmpdir()}); removed at the end
  --json PATH        write every figure here (default: a file in ${tmpdir()})
  --svg PATH         write the chart here (default: a file in ${tmpdir()}); docs/bench.svg for the README
  --markdown PATH    also write the throughput table and the targets as Markdown (for the README)
  --seed N           seed of the key orders and values (1)
  --keep             keep the databases instead of removing the temporary directory
  --help
`;

function positiveInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text.replaceAll('_', ''));
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${text}`);
  return n;
}

function list<T extends string>(name: string, text: string | undefined, allowed: readonly T[]): T[] | undefined {
  if (text === undefined) return undefined;
  const items = text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  for (const item of items) {
    if (!allowed.includes(item as T)) throw new Error(`--${name}: unknown ${JSON.stringify(item)}; choose from ${allowed.join(', ')}`);
  }
  if (items.length === 0) throw new Error(`--${name} is empty`);
  return [...new Set(items)] as T[];
}

export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      num: { type: 'string' },
      reads: { type: 'string' },
      'sustained-num': { type: 'string' },
      'value-size': { type: 'string' },
      'in-flight': { type: 'string' },
      writers: { type: 'string' },
      'sync-ops': { type: 'string' },
      shards: { type: 'string' },
      'max-seconds': { type: 'string' },
      workloads: { type: 'string' },
      stores: { type: 'string' },
      dir: { type: 'string' },
      json: { type: 'string' },
      svg: { type: 'string' },
      markdown: { type: 'string' },
      seed: { type: 'string' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const num = positiveInt('num', values.num, 1_000_000);
  const writers = (values.writers ?? '1,64').split(',').map((w) => positiveInt('writers', w.trim(), 1));
  return {
    num,
    reads: positiveInt('reads', values.reads, Math.min(num, DEFAULT_READS)),
    sustainedNum: positiveInt('sustained-num', values['sustained-num'], DEFAULT_SUSTAINED),
    syncOps: values['sync-ops'] === undefined ? undefined : positiveInt('sync-ops', values['sync-ops'], 1),
    valueBytes: positiveInt('value-size', values['value-size'], 100),
    inFlight: positiveInt('in-flight', values['in-flight'], 256),
    syncWriters: [...new Set(writers)],
    shards: positiveInt('shards', values.shards, 1),
    maxSeconds: values['max-seconds'] === '0' ? 0 : positiveInt('max-seconds', values['max-seconds'], 60),
    workloads: list('workloads', values.workloads, WORKLOAD_NAMES) ?? [...WORKLOAD_NAMES],
    stores: list('stores', values.stores, STORE_NAMES),
    baseDir: values.dir ?? tmpdir(),
    jsonPath: values.json,
    svgPath: values.svg,
    markdownPath: values.markdown,
    seed: positiveInt('seed', values.seed, 1),
    keep: values.keep ?? false,
    help: values.help ?? false,
  };
}
