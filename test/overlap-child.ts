// The process test/overlap.test.ts runs with a deadline: it calls flush(), compactRange() and
// close() so that they overlap, and prints "done" once every call settled. A hang here once
// spun on settled promises, starving the event loop so that no timer in this process fired:
// only the parent, from outside, can tell.
//
//   node dist/test/overlap-child.js DIR SCENARIO SHARDS

import { open, type Database } from '../src/index.js';

const [dir, scenario, shardsArg] = process.argv.slice(2);
if (dir === undefined || scenario === undefined || shardsArg === undefined) {
  process.stderr.write('usage: overlap-child.js DIR SCENARIO SHARDS\n');
  process.exit(2);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function fill(db: Database, from: number, count: number): Promise<void> {
  const writes: Promise<unknown>[] = [];
  for (let i = from; i < from + count; i++) writes.push(db.put(`key${String(i).padStart(6, '0')}`, 'v'.repeat(200)));
  await Promise.all(writes);
}

const scenarios: Record<string, (db: Database) => Promise<unknown>> = {
  'two compactRange': (db) => Promise.all([db.compactRange(), db.compactRange()]),
  'three compactRange with an iterator open': async (db) => {
    const it = db.iterator();
    await it.next();
    await Promise.all([db.compactRange(), db.compactRange('key000100', 'key000900'), db.compactRange()]);
    await it.close();
  },
  'flush then compactRange 5 ms apart': async (db) => {
    const flushed = db.flush();
    await sleep(5);
    await Promise.all([flushed, db.compactRange()]);
  },
  'compactRange racing writes and flushes': async (db) => {
    const calls: Promise<unknown>[] = [];
    for (let round = 0; round < 4; round++) {
      calls.push(fill(db, 2000 + round * 500, 500), db.compactRange(), db.flush());
      await sleep(1);
    }
    await Promise.all(calls);
  },
  'close during compactRange': async (db) => {
    const compacting = db.compactRange().catch((err: { code?: string }) => {
      if (err.code !== 'CLOSED') throw err;
    });
    const second = db.compactRange().catch((err: { code?: string }) => {
      if (err.code !== 'CLOSED') throw err;
    });
    await sleep(1);
    await Promise.all([db.close(), compacting, second]);
  },
};

const run = scenarios[scenario];
if (run === undefined) throw new Error(`no scenario ${scenario}`);
let db = await open(dir, { shards: Number(shardsArg), memtableBytes: 64 * 1024, l0CompactionTrigger: 2, targetFileBytes: 64 * 1024 });
await fill(db, 0, 2000);
await db.flush();
await fill(db, 1000, 1000);
await run(db);
if (db.closed) db = await open(dir);
// Two compactions of the same files once ran side by side, installing overlapping tables in
// one level: a scan then came back to keys it had passed.
let previous: Buffer | undefined;
let entries = 0;
for await (const [key] of db.iterator()) {
  if (previous !== undefined && Buffer.compare(previous, key) >= 0) throw new Error(`the scan went from ${previous} back to ${key}`);
  previous = key;
  entries++;
}
if (entries < 2000) throw new Error(`the scan found ${entries} entries, expected at least 2000`);
await db.close();
process.stdout.write('done\n');
