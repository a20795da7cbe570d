// Memory and event-loop delay during a long fillrandom, through the public open() API:
// `num` puts of random 16-byte keys (each key once) with 100-byte values, `inFlight` in flight,
// the event loop let turn every 100 puts (as bench/lib/drivers.ts does). Every `sampleMs` it
// samples process.memoryUsage(); at the end it prints one table: the memory budget the options
// set (memtable × (1 + maxImmutableMemtables) + block cache), the process before the first put
// (node, V8, the modules, the compaction workers: the fixed overhead), peak and final RSS and
// heap, the RSS at each tenth of the puts (does it grow with the data?), and the event loop's
// delay (monitorEventLoopDelay, p99 and max).
//
//   npx tsc && node dist/bench/memory.js [--num 5000000] [--in-flight 256] [--sample-ms 100]
//                                          [--memtable-bytes N] [--max-immutable N]
//                                          [--block-cache-bytes N] [--compaction-workers N]
//                                          [--dir DIR] [--keep]

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { open } from '../src/index.js';
import { EventLoopMonitor } from './lib/measure.js';
import { makeKey, permutation, Random, ValueSource } from './lib/keys.js';

const MiB = 1024 * 1024;
const TURN_EVERY = 100;

const { values: flags } = parseArgs({
  options: {
    num: { type: 'string', default: '5000000' },
    'in-flight': { type: 'string', default: '256' },
    'sample-ms': { type: 'string', default: '100' },
    'memtable-bytes': { type: 'string', default: String(64 * MiB) },
    'max-immutable': { type: 'string', default: '2' },
    'block-cache-bytes': { type: 'string', default: String(32 * MiB) },
    'compaction-workers': { type: 'string' },
    dir: { type: 'string', default: tmpdir() },
    keep: { type: 'boolean', default: false },
  },
});
const num = Number(flags.num);
const inFlight = Number(flags['in-flight']);
const sampleMs = Number(flags['sample-ms']);
const memtableBytes = Number(flags['memtable-bytes']);
const maxImmutableMemtables = Number(flags['max-immutable']);
const blockCacheBytes = Number(flags['block-cache-bytes']);
const workers = flags['compaction-workers'] === undefined ? {} : { compactionWorkers: Number(flags['compaction-workers']) };

interface Sample {
  puts: number;
  /** db.stats().memory at the time (undefined before open and after close). */
  engine: Record<string, number> | undefined;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

const samples: Sample[] = [];
let puts = 0;
let statsOf: (() => Record<string, number>) | undefined;
const sample = () => {
  const m = process.memoryUsage();
  samples.push({ puts, engine: statsOf?.(), rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers });
};

const order = permutation(num, new Random(0x5eed));
const values = new ValueSource(100, new Random(0xbeef));
const dir = mkdtempSync(join(flags.dir, 'stratadb-memory-'));
try {
  const db = await open(dir, { memtableBytes, maxImmutableMemtables, blockCacheBytes, ...workers });
  statsOf = () => ({ ...db.stats().memory });
  // Let the workers start and the heap settle before taking the fixed overhead.
  await new Promise((resolve) => setTimeout(resolve, 500));
  sample();
  const before = samples[0]!;

  const loop = new EventLoopMonitor();
  const timer = setInterval(sample, sampleMs);
  loop.start();
  const started = performance.now();
  let next = 0;
  let turn: Promise<void> | undefined;
  let sinceTurn = 0;
  const writer = async () => {
    for (;;) {
      if (turn !== undefined) await turn;
      if (next >= num) return;
      const i = next++;
      await db.put(makeKey(order[i]!), values.next());
      puts++;
      if (++sinceTurn >= TURN_EVERY && turn === undefined) {
        sinceTurn = 0;
        turn = new Promise((resolve) =>
          setImmediate(() => {
            turn = undefined;
            resolve();
          }),
        );
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, writer));
  const seconds = (performance.now() - started) / 1000;
  const delay = loop.stop();
  clearInterval(timer);
  sample();
  const stats = db.stats() as unknown as Record<string, unknown>;
  statsOf = undefined;
  await db.close();
  sample();

  const peak = (f: (s: Sample) => number) => Math.max(...samples.map(f));
  const mib = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`;
  const budget = memtableBytes * (1 + maxImmutableMemtables) + blockCacheBytes;
  const atTenths: string[] = [];
  for (let tenth = 1; tenth <= 10; tenth++) {
    const upTo = (num * tenth) / 10;
    const window = samples.filter((s) => s.puts > (num * (tenth - 1)) / 10 && s.puts <= upTo);
    atTenths.push(window.length > 0 ? (Math.max(...window.map((s) => s.rss)) / MiB).toFixed(0) : '-');
  }
  const final = samples[samples.length - 2]!;
  const atPeak = samples.reduce((a, b) => (b.rss > a.rss ? b : a));
  const byConsumer = Object.entries(atPeak.engine ?? {})
    .map(([k, v]) => (k.endsWith('Bytes') ? `${k.replace(/Bytes$/, '')} ${mib(v)}` : `${k} ${v}`))
    .join(', ');
  const peakOf = (name: string) => mib(Math.max(...samples.map((s) => s.engine?.[name] ?? 0)));
  const rows: [string, string][] = [
    ['puts', `${num.toLocaleString('en-US')} in ${seconds.toFixed(1)} s (${Math.round(num / seconds / 1000)}k/s), ${inFlight} in flight`],
    ['budget', `${mib(budget)} = ${mib(memtableBytes)} memtable × (1 + ${maxImmutableMemtables} immutable) + ${mib(blockCacheBytes)} block cache`],
    ['before the first put (fixed)', `RSS ${mib(before.rss)}, heap ${mib(before.heapUsed)} used of ${mib(before.heapTotal)}`],
    ['peak RSS', `${mib(peak((s) => s.rss))} (budget + fixed = ${mib(budget + before.rss)})`],
    ['stats().memory at peak RSS', byConsumer],
    ['peak memtables / pool / total', `${peakOf('memtableBytes')} / ${peakOf('memtablePoolBytes')} / ${peakOf('totalBytes')}`],
    ['peak heap used / total', `${mib(peak((s) => s.heapUsed))} / ${mib(peak((s) => s.heapTotal))}`],
    ['peak external / arrayBuffers', `${mib(peak((s) => s.external))} / ${mib(peak((s) => s.arrayBuffers))}`],
    ['RSS at the end of the puts', `${mib(final.rss)}, heap ${mib(final.heapUsed)}`],
    ['RSS after close()', mib(samples[samples.length - 1]!.rss)],
    ['peak RSS per tenth of the puts (MiB)', atTenths.join(' ')],
    ['event loop delay p99 / max', `${delay.p99Ms ?? '-'} ms / ${delay.maxMs ?? '-'} ms (${delay.samples} samples)`],
    ['write stalls', `${String(stats['writeStalls'] ?? '-')} (${Math.round(Number(stats['writeStallMs'] ?? 0))} ms)`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(`stratadb memory: fillrandom of ${num.toLocaleString('en-US')} keys, ${samples.length} samples every ${sampleMs} ms\n`);
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}  ${v}\n`);
} finally {
  if (!flags.keep) rmSync(dir, { recursive: true, force: true });
}
