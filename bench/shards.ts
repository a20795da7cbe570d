// Shards against one WAL: `sync: true` random puts, 256 in flight, on 1 shard and on 4 shards
// in the same run, each configuration in a child process of its own, the rounds interleaved
// (the machine is shared: compare within a round). Reports puts/s, fsyncs/s and the average
// group (writes per WAL append) of each, and the ratio of 4 shards to 1 in each round.
//
//   npm run build && node dist/bench/shards.js
//   node dist/bench/shards.js --num 50000 --rounds 3 --configs 1,4,4x8 --value-size 4096 --in-flight 64
//
// A config is SHARDS or SHARDSxTHREADS: THREADS sets UV_THREADPOOL_SIZE for that child (libuv's
// thread pool runs every write(2) and fdatasync(2); its default size is 4).

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { open } from '../src/index.js';

const { values: args } = parseArgs({
  options: {
    num: { type: 'string', default: '100000' },
    'in-flight': { type: 'string', default: '256' },
    'value-size': { type: 'string', default: '100' },
    rounds: { type: 'string', default: '3' },
    configs: { type: 'string', default: '1,4,4x8' },
    child: { type: 'string' },
    dir: { type: 'string' },
  },
});
const num = Number(args.num);
const inFlight = Number(args['in-flight']);
const valueSize = Number(args['value-size']);

interface Result {
  config: string;
  shards: number;
  threads: number;
  putsPerSecond: number;
  syncsPerSecond: number;
  averageGroup: number;
  syncs: number;
}

/** xorshift32: the same keys in every child. */
function* keys(n: number): Generator<Buffer> {
  let x = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    yield Buffer.from(`${x.toString(16).padStart(8, '0')}${String(i % 100_000_000).padStart(8, '0')}`);
  }
}

async function child(config: string, dir: string): Promise<void> {
  const [shards, threads] = config.split('x').map(Number) as [number, number | undefined];
  const db = await open(dir, { shards });
  const value = Buffer.alloc(valueSize, 0x61);
  const it = [...keys(num)][Symbol.iterator](); // made before the clock starts
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      for (let k = it.next(); !k.done; k = it.next()) await db.put(k.value, value, { sync: true });
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const s = db.stats();
  await db.close();
  const result: Result = {
    config,
    shards,
    threads: threads ?? 4,
    putsPerSecond: num / seconds,
    syncsPerSecond: s.walSyncs / seconds,
    averageGroup: s.writes / s.writeGroups,
    syncs: s.walSyncs,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

function runChild(config: string): Result {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratadb-shards-'));
  const threads = config.split('x')[1];
  try {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', config, '--dir', dir, '--num', String(num), '--in-flight', String(inFlight), '--value-size', String(valueSize)], {
      encoding: 'utf8',
      env: { ...process.env, ...(threads ? { UV_THREADPOOL_SIZE: threads } : {}) },
    });
    if (r.status !== 0) throw new Error(`child ${config} failed:\n${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as Result;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (args.child !== undefined) return child(args.child, args.dir!);
  const configs = args.configs.split(',');
  const rounds = Number(args.rounds);
  console.log(`stratadb shards bench: ${num.toLocaleString('en')} sync: true puts (16-byte keys, ${valueSize}-byte values), ${inFlight} in flight; ${os.availableParallelism()} cores, ${os.cpus()[0]?.model ?? ''}`);
  console.log('config = shards x libuv threads; each row one child process; rounds interleaved\n');
  const header = ['round', 'config', 'puts/s', 'fsyncs/s', 'writes/group', `÷ ${configs[0]}`];
  console.log(header.map((h) => h.padStart(12)).join(''));
  const all: Result[][] = [];
  for (let round = 1; round <= rounds; round++) {
    const results = configs.map(runChild);
    all.push(results);
    for (const r of results) {
      const cells = [
        String(round),
        `${r.shards}x${r.threads}`,
        Math.round(r.putsPerSecond).toLocaleString('en'),
        Math.round(r.syncsPerSecond).toLocaleString('en'),
        r.averageGroup.toFixed(1),
        (r.putsPerSecond / results[0]!.putsPerSecond).toFixed(2) + '×',
      ];
      console.log(cells.map((c) => c.padStart(12)).join(''));
    }
  }
  console.log('\nmedian over rounds');
  for (let c = 0; c < configs.length; c++) {
    const median = (pick: (r: Result) => number) => {
      const v = all.map((rs) => pick(rs[c]!)).sort((a, b) => a - b);
      return v[Math.floor(v.length / 2)]!;
    };
    const ratios = all.map((rs) => rs[c]!.putsPerSecond / rs[0]!.putsPerSecond).sort((a, b) => a - b);
    console.log(
      `${configs[c]!.padStart(6)}: ${Math.round(median((r) => r.putsPerSecond)).toLocaleString('en')} puts/s, ` +
        `${Math.round(median((r) => r.syncsPerSecond)).toLocaleString('en')} fsyncs/s, ${median((r) => r.averageGroup).toFixed(1)} writes/group; ` +
        `÷ ${configs[0]} per round: ${ratios.map((x) => x.toFixed(2)).join(', ')}`,
    );
  }
}

await main();
