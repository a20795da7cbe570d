// The change feed's cost: fillrandom (random 16-byte keys, each once, 100-byte values, 256
// puts in flight, sync: false) without a feed and with a live feed consuming every change,
// each run in a child process of its own, the two interleaved per round (the machine is
// shared: compare within a round). Reports the writers' puts/s in both, the feed's cost to
// them, the changes/s delivered and the lag from a put's resolution to its delivery (p50, p99).
//
//   npm run build && node dist/bench/changes.js
//   node dist/bench/changes.js --num 300000 --rounds 2 --shards 4 --durable
//
// Lag: each put records when it resolved (by its sequence number, in a preallocated array);
// the consumer, when the change arrives. A change delivered before its writer's promise
// callback ran counts as 0.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { open } from '../src/index.js';

const { values: args } = parseArgs({
  options: {
    num: { type: 'string', default: '300000' },
    'in-flight': { type: 'string', default: '256' },
    rounds: { type: 'string', default: '2' },
    shards: { type: 'string', default: '1' },
    durable: { type: 'boolean', default: false },
    child: { type: 'string' },
    dir: { type: 'string' },
  },
});
const num = Number(args.num);
const inFlight = Number(args['in-flight']);
const shards = Number(args.shards);

interface Result {
  feed: boolean;
  putsPerSecond: number;
  changesPerSecond: number;
  lagP50Ms: number;
  lagP99Ms: number;
}

function key(i: number): Buffer {
  // A fixed permutation of 0..num-1 (multiplicative hash with an odd constant, mod 2^32), 16 bytes.
  const k = Buffer.alloc(16);
  k.writeUInt32BE(Math.imul(i, 0x9e3779b1) >>> 0, 0);
  k.writeUInt32BE(i, 4);
  return k;
}

async function child(withFeed: boolean, dir: string): Promise<Result> {
  const db = await open(dir, { shards });
  const value = Buffer.alloc(100, 7);
  const resolvedAt = new Float64Array(num + 2);
  const lags = new Float64Array(num + 2);
  let delivered = 0;
  let feedDone: Promise<void> = Promise.resolve();
  const started = performance.now();
  let feedEnded = started;
  if (withFeed) {
    const feed = db.changes({ durable: args.durable === true });
    feedDone = (async () => {
      for await (const c of feed) {
        const seq = Number(c.seq);
        const at = resolvedAt[seq]!;
        lags[delivered++] = at === 0 ? 0 : Math.max(0, performance.now() - at);
        if (delivered === num) break;
      }
      feedEnded = performance.now();
    })();
  }
  let next = 0;
  const writer = async () => {
    while (next < num) {
      const i = next++;
      const seq = await db.put(key(i), value);
      resolvedAt[Number(seq)] = performance.now();
    }
  };
  await Promise.all(Array.from({ length: inFlight }, writer));
  const writeMs = performance.now() - started;
  await feedDone;
  await db.close();
  const sorted = lags.subarray(0, delivered).sort();
  return {
    feed: withFeed,
    putsPerSecond: num / (writeMs / 1000),
    changesPerSecond: withFeed ? delivered / ((feedEnded - started) / 1000) : 0,
    lagP50Ms: sorted[Math.floor(delivered * 0.5)] ?? 0,
    lagP99Ms: sorted[Math.floor(delivered * 0.99)] ?? 0,
  };
}

if (args.child !== undefined) {
  const result = await child(args.child === 'feed', args.dir!);
  process.stdout.write(JSON.stringify(result));
} else {
  const self = fileURLToPath(import.meta.url);
  const k = (n: number) => `${Math.round(n / 1000)}k`;
  console.log(`fillrandom ${num} puts, ${inFlight} in flight, ${shards} shard(s), feed ${args.durable ? 'durable' : 'durable: false'}`);
  for (let round = 0; round < Number(args.rounds); round++) {
    const results: Result[] = [];
    for (const mode of ['none', 'feed']) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-changes-bench-'));
      try {
        const r = spawnSync(process.execPath, [self, ...process.argv.slice(2), '--child', mode, '--dir', dir], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
        results.push(JSON.parse(r.stdout) as Result);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    const [without, withFeed] = results as [Result, Result];
    console.log(
      `round ${round + 1}: writers ${k(without.putsPerSecond)} puts/s without a feed, ${k(withFeed.putsPerSecond)} with one` +
        ` (cost ${(100 * (1 - withFeed.putsPerSecond / without.putsPerSecond)).toFixed(1)}%);` +
        ` feed ${k(withFeed.changesPerSecond)} changes/s, lag p50 ${withFeed.lagP50Ms.toFixed(2)} ms, p99 ${withFeed.lagP99Ms.toFixed(2)} ms`,
    );
  }
}
