// Power cuts in a sharded database. A seeded workload of batches across shards and single puts,
// each key written once, a third of them with sync: true, runs on a FaultInjectingFileSystem
// with small memtables (flushes and compactions on the main thread, seen by the fault FS). The
// power goes off after a random number of changing file calls; each file then keeps none, all
// or part of its unsynced bytes, chosen per file (as write-back would have it). The workload
// closes and reopens the database once, so that cuts land in a sharded recovery too. Reopened with
// the real file system, the database must hold
// - every batch whole or not at all, in every shard, sync: false batches included;
// - every write acknowledged with sync: true;
// - no key nobody wrote, no wrong value.
//
//   STRATA_SHARD_POWER_CUTS=N   crash points (default 120)
//   STRATA_SHARD_POWER_SEED=N   another workload and cut points (default 3: without the WAL
//                               syncs before a flush installs a part of a batch, it tears one)

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { open, type Database } from '../src/index.js';
import { FaultInjectingFileSystem, mutatingOps } from '../src/testing/index.js';
import { envInt, makeTempDir, removeDir, Rng } from './helpers.js';

const CUTS = envInt('STRATA_SHARD_POWER_CUTS') ?? 120;
const OPTIONS = {
  memtableBytes: 64 * 1024,
  l0CompactionTrigger: 2,
  levelBaseBytes: 128 * 1024,
  levelMultiplier: 4,
  targetFileBytes: 64 * 1024,
} as const;

const REOPEN_AT = 30;

const valueOf = (key: string) => Buffer.from(`${key}:`.padEnd(300 + (key.length % 7) * 100, '#'));

interface Issued {
  /** batch id → its keys */
  batches: Map<string, string[]>;
  puts: Set<string>;
  /** Keys of writes acknowledged with sync: true. */
  synced: Set<string>;
}

/** Runs the workload on `db`, closing and reopening it (through `reopen`) once midway. */
async function workload(first: Database, reopen: () => Promise<Database>, rng: Rng, issued: Issued, poweredOff: () => boolean): Promise<Database> {
  let db = first;
  for (let burst = 0; burst < 200 && !poweredOff(); burst++) {
    if (burst === REOPEN_AT) {
      // The cut can land in a sharded open too: replay, the shards' meeting points, new
      // MANIFESTs and WALs, the deletion of the old ones.
      await db.close();
      db = await reopen();
    }
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 8; i++) {
      const sync = rng.chance(1 / 3);
      const id = `${burst}.${i}`;
      if (rng.chance(0.6)) {
        // Every third batch tagged: its keys share a shard, a one-shard batch.
        const bid = i % 3 === 2 ? `{${id}}` : id;
        const keys = Array.from({ length: rng.range(2, 6) }, (_, j) => `b/${bid}/${j}`);
        issued.batches.set(bid, keys);
        const done = db.batch(keys.map((key) => ({ type: 'put' as const, key, value: valueOf(key) })), { sync });
        writes.push(done.then(() => void (sync && keys.forEach((k) => issued.synced.add(k)))));
      } else {
        const key = `p/${id}`;
        issued.puts.add(key);
        writes.push(db.put(key, valueOf(key), { sync }).then(() => void (sync && issued.synced.add(key))));
      }
    }
    const results = await Promise.allSettled(writes);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed && !poweredOff()) throw failed.reason;
  }
  return db;
}

async function check(dir: string, issued: Issued, what: string): Promise<number> {
  const db = await open(dir);
  try {
    const found = new Map<string, Buffer>();
    for await (const [k, v] of db.iterator()) found.set(k.toString(), v);
    for (const [key, value] of found) {
      const batch = /^b\/([^/]+)\/\d+$/.exec(key)?.[1];
      if (batch === undefined ? !issued.puts.has(key) : !issued.batches.get(batch)?.includes(key)) throw new Error(`${what}: a key nobody wrote: ${key}`);
      if (!value.equals(valueOf(key))) throw new Error(`${what}: wrong value under ${key}`);
    }
    for (const [id, keys] of issued.batches) {
      const present = keys.filter((k) => found.has(k)).length;
      if (present !== 0 && present !== keys.length) throw new Error(`${what}: batch ${id} is torn: ${present} of ${keys.length} keys`);
    }
    for (const key of issued.synced) if (!found.has(key)) throw new Error(`${what}: ${key} was acknowledged with sync: true and is lost`);
    return found.size;
  } finally {
    await db.close();
  }
}

// 3 shards (the seed's regression), then 4 and 8: each shard publishes and answers its own
// writes while the others sync (src/engine/shard-publication.ts).
for (const shards of [3, 4, 8]) test(`a power cut in a database of ${shards} shards keeps every batch whole in every shard and every synced write`, async () => {
  const rng = new Rng((envInt('STRATA_SHARD_POWER_SEED') ?? 3) + (shards === 3 ? 0 : shards * 1000));
  const summary: string[] = [];
  let reopened = 0;
  for (let cut = 0; cut < CUTS; cut++) {
    const dir = makeTempDir('strata-shard-power-');
    const what = `cut ${cut}`;
    try {
      const ffs = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
      // Every shard adds its files to each open, flush and compaction: more calls to cut among.
      const after = rng.range(1, 300 * shards);
      const keep = new Map<string, 'none' | 'all' | 'part'>();
      const keepRng = new Rng(rng.u32());
      const keepUnsynced = (file: string, unsynced: number) => {
        let how = keep.get(file);
        if (how === undefined) keep.set(file, (how = keepRng.pick(['none', 'all', 'part'] as const)));
        return how === 'none' ? 0 : how === 'all' ? unsynced : keepRng.int(unsynced + 1);
      };
      ffs.cutPowerAfter(after, mutatingOps, { keepUnsynced });
      const issued: Issued = { batches: new Map(), puts: new Set(), synced: new Set() };
      let db: Database | undefined;
      let opens = 0;
      try {
        const reopen = () => {
          opens++;
          return open(dir, { ...OPTIONS, shards, fs: ffs });
        };
        db = await reopen();
        db = await workload(db, async () => (db = await reopen()), new Rng(rng.u32()), issued, () => ffs.poweredOff);
        await db.close();
      } catch (err) {
        if (!ffs.poweredOff) throw err;
        await db?.close().catch(() => {});
      }
      if (!ffs.poweredOff) await ffs.powerCut({ keepUnsynced });
      await ffs.whenPowerCut();
      const entries = await check(dir, issued, `${what} (after ${after} changing calls)`);
      summary.push(`${after}:${entries}${opens > 1 ? ' (after the reopen began)' : ''}`);
      reopened += opens > 1 ? 1 : 0;
    } finally {
      removeDir(dir);
    }
  }
  assert.ok(summary.some((s) => Number(s.split(':')[1]!.split(' ')[0]) > 0), 'some cut kept data');
  assert.ok(reopened > CUTS / 10, `cuts land after the reopen began (${reopened} of ${CUTS})`);
  if (process.env['STRATA_SHARD_POWER_VERBOSE']) console.log(summary.join(' '));
});

test.run();
