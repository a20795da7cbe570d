// What the abstract-level adapter costs: fillrandom and readrandom through stratadb's own API
// and through StrataLevel (stratadb/level, buffer encodings), side by side in one run, each
// into a fresh database. One line per store per round.
//
//   npm run build && node dist/bench/level.js [--num 1000000] [--reads 200000] [--rounds 2]

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { open } from '../src/index.js';
import { StrataLevel } from '../src/level/index.js';

const { values: args } = parseArgs({
  options: {
    num: { type: 'string', default: '1000000' },
    reads: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '2' },
    'in-flight': { type: 'string', default: '256' },
  },
});
const num = Number(args.num);
const reads = Number(args.reads);
const inFlight = Number(args['in-flight']);

interface Target {
  put(key: Buffer, value: Buffer): Promise<unknown>;
  get(key: Buffer): Promise<unknown>;
  close(): Promise<void>;
}

async function engine(dir: string): Promise<Target> {
  const db = await open(dir);
  return { put: (k, v) => db.put(k, v), get: (k) => db.get(k), close: () => db.close() };
}

async function adapter(dir: string): Promise<Target> {
  const db = new StrataLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  return { put: (k, v) => db.put(k, v), get: (k) => db.get(k), close: () => db.close() };
}

const key = (i: number) => Buffer.from(String(i).padStart(16, '0'), 'latin1');

async function run(name: string, make: (dir: string) => Promise<Target>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-level-bench-'));
  const order = new Uint32Array(num);
  for (let i = 0; i < num; i++) order[i] = i;
  for (let i = num - 1; i > 0; i--) {
    const j = (Math.random() * (i + 1)) | 0;
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const value = Buffer.alloc(100);
  for (let j = 0; j < 50; j++) value[j] = (Math.random() * 256) | 0;
  let db = await make(dir);
  let next = 0;
  let started = performance.now();
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < num) await db.put(key(order[next++]!), value);
  }));
  const fill = num / ((performance.now() - started) / 1000);
  await db.close();
  db = await make(dir);
  next = 0;
  started = performance.now();
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next++ < reads) await db.get(key((Math.random() * num) | 0));
  }));
  const read = reads / ((performance.now() - started) / 1000);
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(`${name.padEnd(26)} fillrandom ${Math.round(fill).toLocaleString('en-US').padStart(9)} puts/s   readrandom ${Math.round(read).toLocaleString('en-US').padStart(9)} gets/s`);
}

console.log(`${num.toLocaleString('en-US')} random puts (16-byte keys, 100-byte values, ${inFlight} in flight), then ${reads.toLocaleString('en-US')} random gets`);
for (let r = 0; r < Number(args.rounds); r++) {
  await run('stratadb (own API)', engine);
  await run('StrataLevel (abstract-level)', adapter);
}
