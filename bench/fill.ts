// Write throughput: N puts of 16-byte keys and 100-byte values (half compressible), with W
// writes in flight, in sequential and in random key order, each into a fresh database in a
// temporary directory. One line per round, so runs compare side by side.
//
//   npm run bench                      (1,000,000 puts, 256 in flight, seq then random)
//   node dist/bench/fill.js --num 200000 --in-flight 64 --sync --rounds 3 --order random

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { open } from '../src/index.js';

const { values: args } = parseArgs({
  options: {
    num: { type: 'string', default: '1000000' },
    'in-flight': { type: 'string', default: '256' },
    'value-size': { type: 'string', default: '100' },
    order: { type: 'string', default: 'both' },
    sync: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '1' },
    dir: { type: 'string' },
  },
});
const num = Number(args.num);
const inFlight = Number(args['in-flight']);
const valueSize = Number(args['value-size']);
const rounds = Number(args.rounds);

function key(i: number, out: Buffer): Buffer {
  // 16 bytes: the decimal index, zero padded, so sequential order is key order.
  out.write(String(i).padStart(16, '0'), 0, 'latin1');
  return out;
}

/** A value whose first half is random and second half zeros: compresses to about half. */
function makeValues(count: number): Buffer[] {
  const out = [];
  for (let i = 0; i < count; i++) {
    const v = Buffer.alloc(valueSize);
    for (let j = 0; j < valueSize / 2; j++) v[j] = (Math.random() * 256) | 0;
    out.push(v);
  }
  return out;
}

function shuffledIndexes(n: number): Uint32Array {
  const a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = (Math.random() * (i + 1)) | 0;
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  return a;
}

async function fill(order: 'seq' | 'random'): Promise<void> {
  const base = args.dir ?? os.tmpdir();
  const dir = fs.mkdtempSync(path.join(base, 'strata-bench-'));
  const db = await open(dir);
  const values = makeValues(1024);
  const indexes = order === 'random' ? shuffledIndexes(num) : undefined;
  let next = 0;
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  async function writer(): Promise<void> {
    while (next < num) {
      const i = next++;
      const k = key(indexes ? indexes[i]! : i, Buffer.allocUnsafe(16));
      await db.put(k, values[i & 1023]!, { sync: args.sync });
    }
  }
  await Promise.all(Array.from({ length: inFlight }, writer));
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStarted);
  const cpuUsPerPut = (cpu.user + cpu.system) / num;
  const s = db.stats();
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
  const mbps = (num * (16 + valueSize)) / seconds / 1e6;
  console.log(
    `fill${order.padEnd(7)} ${String(num).padStart(8)} puts  ${inFlight} in flight  sync=${args.sync}  ` +
      `${Math.round(num / seconds).toLocaleString('en-US').padStart(9)} puts/s  ${mbps.toFixed(1)} MB/s  cpu ${cpuUsPerPut.toFixed(2)} µs/put  ` +
      `groups ${s.writeGroups} (avg ${s.averageGroupSize.toFixed(1)})  syncs ${s.walSyncs}  flushes ${s.flushes}  stalls ${s.writeStalls} (${Math.round(s.writeStallMs)} ms)`,
  );
}

for (let r = 0; r < rounds; r++) {
  if (args.order === 'seq' || args.order === 'both') await fill('seq');
  if (args.order === 'random' || args.order === 'both') await fill('random');
}
