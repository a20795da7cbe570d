// The process test/crash.test.ts kills. It opens the database in DIR and writes with
// sync: true from many concurrent writers until it is killed, acknowledging each write on
// stdout once its promise resolved, with the sequence number it resolved to (the line protocol
// is in test/crash.test.ts, Expected). The change feed's logs are kept for the whole test.
// Some writes are merges (operator 'add') of 1 into eight counters.
//
//   node dist/test/crash-child.js DIR ROUND SEED MEMTABLE_BYTES MAX_EXTRA_VALUE_BYTES SHARDS
//
// Acknowledgments go out through acknowledge() (helpers.ts: fs.writeSync(1)): process.stdout
// is asynchronous on a pipe, and a line still queued in this process when it is killed would be
// an acknowledgment lost.

import { open } from '../src/index.js';
import { acknowledge as say, batchKey, CRASH_RETENTION, crashOptions, crashValue, Rng } from './helpers.js';

const [dir, roundArg, seedArg, memtableArg, extraArg, shardsArg] = process.argv.slice(2);
if (dir === undefined || roundArg === undefined || seedArg === undefined || memtableArg === undefined || extraArg === undefined || shardsArg === undefined) {
  process.stderr.write('usage: crash-child.js DIR ROUND SEED MEMTABLE_BYTES MAX_EXTRA_VALUE_BYTES SHARDS\n');
  process.exit(2);
}
const round = Number(roundArg);
const maxExtra = Number(extraArg);
const rng = new Rng(Number(seedArg));
const WRITERS = 32;

const db = await open(dir, { ...crashOptions(Number(memtableArg)), changeRetention: CRASH_RETENTION, shards: Number(shardsArg), mergeOperator: 'add' });
say('R');

let nextId = 0;
/** Keys whose put was acknowledged and that no delete has touched: candidates for a delete. */
const deletable: string[] = [];
/** Batches acknowledged and not cleared: candidates for a clear of their key range. */
const clearable: string[] = [];

async function writer(): Promise<never> {
  for (;;) {
    const id = nextId++;
    const r = rng.float();
    if (r < 0.1 && deletable.length > 0) {
      const key = deletable.splice(rng.int(deletable.length), 1)[0]!;
      say(`d ${key}`);
      const seq = await db.del(key, { sync: true });
      say(`D ${key} ${seq}`);
    } else if (r < 0.14 && clearable.length > 0) {
      // A range deletion of one acknowledged batch's keys (all of "b/<batch>/…").
      const batch = clearable.splice(rng.int(clearable.length), 1)[0]!;
      say(`c ${batch}`);
      const seq = await db.clear({ gte: `b/${batch}/`, lt: `b/${batch}0` }, { sync: true });
      say(`C ${batch} ${seq}`);
    } else if (r < 0.4) {
      const n = rng.range(2, 8);
      const batch = `${round}/${id}/${n}`;
      const ops = [];
      for (let j = 0; j < n; j++) {
        const key = batchKey(batch, j);
        ops.push({ type: 'put' as const, key, value: crashValue(key, maxExtra) });
      }
      const seq = await db.batch(ops, { sync: true });
      say(`B ${batch} ${seq}`);
      clearable.push(batch);
    } else if (r < 0.5) {
      const key = `m/${rng.int(8)}`;
      say(`m ${key}`);
      const seq = await db.merge(key, 1n, { sync: true });
      say(`M ${key} ${seq}`);
    } else {
      const key = `p/${round}/${id}`;
      const seq = await db.put(key, crashValue(key, maxExtra), { sync: true });
      say(`P ${key} ${seq}`);
      deletable.push(key);
    }
  }
}

try {
  await Promise.all(Array.from({ length: WRITERS }, writer));
} catch (err) {
  process.stderr.write(`crash-child: a write failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
}
