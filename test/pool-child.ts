// A process that test/pool.test.ts starts with Node flags of its choosing: it writes through
// a small memtable so that flushes and a compaction run on the pool's worker threads, reads
// everything back, reopens, and prints one line of JSON: what it saw, or the error.
//
//   node [flags] dist/test/pool-child.js DIR

import { open, type Database } from '../src/index.js';

const dir = process.argv[2];
if (dir === undefined) {
  process.stderr.write('usage: pool-child.js DIR\n');
  process.exit(2);
}

const KEYS = 2000;
const key = (i: number) => `key-${String(i).padStart(5, '0')}`;
const value = (i: number) => `${key(i)}|`.padEnd(200, String.fromCharCode(0x61 + (i % 26)));

/** The keys that do not read back as written. */
async function wrongKeys(db: Database): Promise<string[]> {
  const wrong: string[] = [];
  for (let i = 0; i < KEYS; i++) if ((await db.get(key(i)))?.toString() !== value(i)) wrong.push(key(i));
  return wrong;
}

try {
  const options = { memtableBytes: 65536, l0CompactionTrigger: 2, compactionWorkers: 1 };
  const db = await open(dir, options);
  for (let i = 0; i < KEYS; i++) await db.put(key(i), value(i));
  await db.flush();
  await db.compactRange();
  const { flushes, compactions } = db.stats();
  const wrongBeforeReopen = await wrongKeys(db);
  await db.close();
  const again = await open(dir, options);
  const wrongAfterReopen = await wrongKeys(again);
  await again.close();
  console.log(JSON.stringify({ flushes, compactions, wrongBeforeReopen: wrongBeforeReopen.length, wrongAfterReopen: wrongAfterReopen.length }));
} catch (err) {
  const { code, errno, message } = err as { code?: string; errno?: string; message?: string };
  console.log(JSON.stringify({ error: { code, errno, message } }));
}
