// A fuzz test of the public API: seeded random calls of every public method (put, del, batch,
// get, getSync, iterator with next, nextSync, nextv, seek and close, snapshot and release,
// flush, compactRange, overlapping flush and compactRange, stats, close and reopen, open with
// wrong options), with arguments that are often wrong: values of the wrong type, misspelt and
// out-of-range options, null bounds, keys over 64 KiB, strings with lone surrogates, typed
// arrays over detached buffers and SharedArrayBuffers, offset views, DataViews and other typed
// arrays, forged snapshots, released ones and those of another database; and buffers changed by
// the caller right after a write was called.
//
// Every call either succeeds and agrees with a sorted in-memory map (snapshots and open
// iterators have a copy of their own), or fails with a StrataError of the code the README
// gives for it; a failed call changes nothing. A call that does not settle within 15 s fails
// the test, and so does an event loop that stops turning (see test/watchdog.ts: the run is in
// a worker thread watched from here). Every seed ends with close, reopen, and a comparison of
// everything with the model; reopens in the middle do the same.
//
// Small memtables (64 KiB), one and four shards, so that flushes, compactions and two-phase
// batches happen all along.
//
//   node test/run.js fuzz                           3 seeds × 500 calls, on 1 and on 4 shards
//   FUZZ_SEED=7 node test/run.js fuzz               one seed (to replay a failure)
//   FUZZ_SEEDS=20 FUZZ_OPS=5000 node test/run.js fuzz
//   FUZZ_SHARDS=4 node test/run.js fuzz             only that shard count
//   FUZZ_AVOID=unknown-names,detached node test/run.js fuzz
//       leaves out the inputs of defects of issue 13 (AVOIDABLE in fuzz-workload.ts), to look
//       past one that is not fixed yet; the default run generates everything
//
// A failure names the seed, the call that disagreed and the calls before it.

import { test } from 'uvu';
import { envInt } from './helpers.js';
import { AVOIDABLE, type Avoidable, type FuzzData } from './fuzz-workload.js';
import { runWatched } from './watchdog.js';

const ONE_SEED = envInt('FUZZ_SEED');
const FIRST_SEED = ONE_SEED ?? 1;
const SEEDS = ONE_SEED !== undefined ? 1 : (envInt('FUZZ_SEEDS') ?? 3);
const OPS = envInt('FUZZ_OPS') ?? 500;
const SHARD_COUNTS = envInt('FUZZ_SHARDS') !== undefined ? [envInt('FUZZ_SHARDS')!] : [1, 4];
const AVOID = (process.env['FUZZ_AVOID'] ?? '').split(',').filter((w) => w !== '') as Avoidable[];
for (const w of AVOID) if (!AVOIDABLE.includes(w)) throw new Error(`FUZZ_AVOID: ${w} is none of ${AVOIDABLE.join(', ')}`);

/** No timer of the workload's thread fired for this long: its event loop is starved. */
const STALL_MS = 10_000;

for (const shards of SHARD_COUNTS) {
  for (let seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++) {
    test(`${shards} shard${shards > 1 ? 's' : ''}, seed ${seed}: ${OPS} random calls, many with wrong arguments, agree with the model or fail with a documented code`, async () => {
      const what = `fuzz seed ${seed} on ${shards} shard${shards > 1 ? 's' : ''} (replay: FUZZ_SEED=${seed} FUZZ_OPS=${OPS} FUZZ_SHARDS=${shards}${AVOID.length ? ` FUZZ_AVOID=${AVOID.join(',')}` : ''})`;
      const data: FuzzData = { seed, ops: OPS, shards, avoid: AVOID };
      try {
        const summary = await runWatched(new URL('./fuzz-workload.js', import.meta.url), data, { stallMs: STALL_MS, deadlineMs: 30_000 + OPS * 50, what });
        if (process.env['FUZZ_VERBOSE']) console.log(`${what}: ${summary}`);
      } catch (err) {
        const e = err as Error;
        if (!e.message.startsWith(what)) e.message = `${what}: ${e.message}`;
        throw e;
      }
    });
  }
}

test.run();
