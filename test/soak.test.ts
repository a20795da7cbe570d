// A soak test: for a bounded time, many concurrent writers (put, del, batch, some with
// sync: true), readers (get, getSync, scans), iterators left open across flushes and
// compactions, and flush() and compactRange() calls overlapping each other; at the end,
// close() racing with writes in flight, then a reopen.
//
// Checks: every read gives the last write acknowledged before it or one in flight (values name
// their write); an iterator gives, for each key, a version from the moment it was opened; once
// acknowledged, a write is there after the reopen (a write in flight at close may be there or
// not); every error is a StrataError of a documented code (none is expected but CLOSED for the
// writes racing close()); nothing hangs (each call has 15 s, and the run is in a worker thread
// watched from here: see test/watchdog.ts); and the event loop keeps turning: a 5 ms timer may
// wait at most 2 s for its turn.
//
//   node test/run.js soak                  10 s on 1 shard, then 10 s on 4
//   SOAK_SECONDS=300 node test/run.js soak  5 minutes each
//   SOAK_SEED=7 SOAK_SHARDS=4 node test/run.js soak

import { test } from 'uvu';
import { envInt } from './helpers.js';
import type { SoakData } from './soak-workload.js';
import { runWatched } from './watchdog.js';

const SECONDS = envInt('SOAK_SECONDS') ?? 10;
const SEED = envInt('SOAK_SEED') ?? 1;
const SHARD_COUNTS = envInt('SOAK_SHARDS') !== undefined ? [envInt('SOAK_SHARDS')!] : [1, 4];

for (const shards of SHARD_COUNTS) {
  test(`${shards} shard${shards > 1 ? 's' : ''}: ${SECONDS} s of concurrent writes, reads, lingering iterators and overlapping flushes and compactions lose no acknowledged write and never stall`, async () => {
    const what = `soak on ${shards} shard${shards > 1 ? 's' : ''}, seed ${SEED} (replay: SOAK_SEED=${SEED} SOAK_SECONDS=${SECONDS} SOAK_SHARDS=${shards})`;
    const data: SoakData = { seed: SEED, seconds: SECONDS, shards };
    try {
      const summary = await runWatched(new URL('./soak-workload.js', import.meta.url), data, { stallMs: 10_000, deadlineMs: SECONDS * 1000 + 60_000, what });
      if (process.env['SOAK_VERBOSE']) console.log(`${what}: ${summary}`);
    } catch (err) {
      const e = err as Error;
      if (!e.message.startsWith(what)) e.message = `${what}: ${e.message}`;
      throw e;
    }
  });
}

test.run();
