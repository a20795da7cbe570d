// The workloads themselves, run in the child process against one open store. After db_bench:
//
//   fillseq           puts in key order into an empty database
//   fillrandom        puts in random key order, each key once, into an empty database
//   overwrite         puts of random existing keys (with repeats, as db_bench draws them)
//   fillsync          fillrandom with sync: true on every put, with 1 or 64 writers in flight
//   fillbatch         fillseq in atomic batches of 1,000 puts, one batch in flight
//   readrandom        gets of random existing keys
//   readseq           one pass over the whole database in key order
//   seekrandom        a seek to a random existing key and a read of the entry there, through
//                     long-lived cursors (one per operation in flight)
//   deleterandom      deletes of random existing keys, each once
//   readwhilewriting  readrandom while one more writer overwrites random keys without pause
//   getloop           gets of random existing keys, one in flight, each awaited before the next
//                     and no turn of the event loop given by the bench: does the store let a
//                     timer run? (the timer figures of the result)
//   readlarge         gets of values of 1 to 64 MiB (LARGE_SIZES, LARGE_READS gets in a random
//                     order), one in flight, from a fresh database that holds them in its
//                     files (Store.flush where the store has it): MB/s and the worst wait of a
//                     1 ms timer; as readlarge-into (Job.into), the same reads through
//                     Store.getInto, each into one buffer reused
//   bulkload          job.ops pairs in key order into an empty database through the store's
//                     bulk path (Store.bulkLoad: stratadb's db.ingest, LMDB's append puts in
//                     large write transactions); a store without one loads them as fillbatch
//   transfer          transactions that move an amount between two random accounts (read both
//                     balances, write both), 64 in flight, on a fresh database of
//                     TRANSFER_ACCOUNTS accounts loaded before the clock starts; each store
//                     with its own transactions (Store.transfer), which retry on conflict
//   incr              increments (by 1 to 100) of random counters among INCR_COUNTERS, on a
//                     fresh database, each store its best way (Store.increment): stratadb's
//                     merge, LMDB's write transaction, SQLite's upsert, get + put serialized
//                     per key for RocksDB and LevelDB
//   changes           fillrandom in four phases of num/2 puts each (Job.ops is 2 × num), on one fresh database: without
//                     a feed, with a live feed (Store.changes) consuming every write, with, without
//                     (the order cancels a steady drift, as the database grows), after an untimed
//                     warm-up with a feed, and a flush and a compaction after each (untimed); reports the
//                     writers' puts/s without and with the feed (ops/s: with), the changes/s
//                     delivered, and the lag from a put's resolution to its change's delivery
//                     (0 when the change came first). The consumer reads every key and value,
//                     as a projection would.
//   clearrange        a fresh database of num keys (loaded in random order and compacted before
//                     the clock starts), then: clear the lower half in one call (Store.clear,
//                     timed); readrandom and seekrandom of `ops` each over the whole key space;
//                     the directory's size; where the store flushes (Store.flush), a flush, a
//                     wait of RECLAIM_WAIT_MS without writes and the size again (what automatic
//                     compactions returned by themselves); compact (Store.compact), with the
//                     directory's size after;
//                     the same reads again; then the same reads on a second database that only
//                     ever held the upper half (loaded and compacted the same way). Figures in
//                     JobResult.phases; the one operation is the clear.
//   sustained         Job.ops random puts (each key once, as fillrandom; --sustained-num, 2M by
//                     default, 20M for the full run) into an empty database, then compact (the
//                     whole key space, Store.compact): a fill long enough to meet compaction.
//                     ops/s is the fill's; JobResult.phases holds the fill's rate in each tenth
//                     of the puts, the longest stall (the longest time between two consecutive
//                     put completions), the compaction's time and the resident memory sampled
//                     every RSS_SAMPLE_MS (its peak; getrusage's maxRSS is peakRssBytes). Write
//                     amplification covers fill, compaction and close, as for every workload.
//   ttl               num puts with a ttl of TTL_MS (Store.putWithTtl, batches of 1,000 in
//                     flight), the directory's size, a wait until they expired, compact: the
//                     size after (JobResult.phases)
//
// "Existing keys" are those fillrandom wrote to the main database: key numbers
// fillOrder[0..keySpace-1] (Job.keySpace), all of them unless the time limit stopped it.
//
// Operations in flight: each of `inFlight` loops issues an operation and awaits it before its
// next. Latency is from the call to the settled promise, so it includes waiting behind the
// other operations in flight. Every TURN_EVERY operations the loops let the event loop turn (as
// a server does between requests); without that, stores whose calls are synchronous would run
// a whole workload on microtasks and starve timers and I/O.

import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { STORES, type BatchPut, type Seeker, type Store } from '../stores/index.js';
import type { FeedFigures, Job } from './job.js';
import { KEY_BYTES, makeKey, permutation, Random, ValueSource } from './keys.js';
import { LatencyRecorder, mainThreadCpuMs } from './measure.js';

export const BATCH_SIZE = 1000;
export const TRANSFER_ACCOUNTS = 10_000;
export const TRANSFER_IN_FLIGHT = 64;
export const INCR_COUNTERS = 10_000;
const TRANSFER_START_BALANCE = 1_000_000;
export const SCAN_CHUNK = 1000;
export const LARGE_READS = 64;
const LARGE_SIZES_MIB = [1, 2, 4, 8, 16, 32, 64];
/** The ttl workload's time-to-live. */
export const TTL_MS = 1000;
const TURN_EVERY = 100;
/** sustained: how often resident memory is sampled. */
const RSS_SAMPLE_MS = 100;
/** clearrange: how long automatic compactions get to return the cleared bytes before compact(). */
const RECLAIM_WAIT_MS = 10_000;

export interface DriverContext {
  store: Store;
  job: Job;
  latency: LatencyRecorder;
  /** Operations completed so far; read by the progress reporter. */
  progress: { done: number };
}

export interface DriverOutcome {
  /** Operations completed: fewer than planned when the time limit stopped the run. */
  ops: number;
  /** What one latency value measures. */
  latencyPer: string;
  /** Keys and values written, or read, by the workload. */
  userBytes: number;
  userWriteBytes: number;
  found?: number;
  writes?: number;
  /** transfer: callback runs beyond the first, caused by conflicts. */
  retries?: number;
  /** The figure to report as ops/s, where it is not ops over the whole run (changes). */
  opsPerSec?: number;
  feed?: FeedFigures;
  /** clearrange, ttl: figures of their phases (JobResult.phases). */
  phases?: Record<string, number>;
}

/** A prepared workload: inputs built before the store opens, then run() timed. */
export interface Driver {
  /** Loads what the workload needs into the open store, before the clock starts. */
  setup?(store: Store): Promise<void>;
  run(ctx: DriverContext): Promise<DriverOutcome>;
}

/**
 * Lets the event loop turn every TURN_EVERY operations: the loop that completes the
 * TURN_EVERY-th operation opens a turn (a setImmediate), and every loop waits for it before
 * its next operation.
 */
class Turns {
  #since = 0;
  #turn: Promise<void> | undefined;

  /** A promise to await before the next operation, or undefined to go on. */
  get pending(): Promise<void> | undefined {
    return this.#turn;
  }

  completed(): void {
    if (++this.#since < TURN_EVERY || this.#turn !== undefined) return;
    this.#since = 0;
    this.#turn = new Promise((resolve) =>
      setImmediate(() => {
        this.#turn = undefined;
        resolve();
      }),
    );
  }
}

const deadlineOf = (job: Job) => (job.maxSeconds > 0 ? performance.now() + job.maxSeconds * 1000 : Infinity);

/**
 * Runs op(0..total-1) with `inFlight` loops, recording each op's latency, until all are done
 * or the deadline passes. Returns the operations completed.
 */
async function inFlightLoops(
  total: number,
  inFlight: number,
  ctx: DriverContext,
  deadline: number,
  op: (i: number, loop: number) => Promise<unknown> | unknown,
  turns = new Turns(),
): Promise<number> {
  let next = 0;
  let completed = 0;
  const { latency, progress } = ctx;
  const loop = async (loopIndex: number) => {
    for (;;) {
      const turn = turns.pending;
      if (turn !== undefined) await turn;
      if (next >= total) return;
      const started = performance.now();
      if (started >= deadline) return;
      const i = next++;
      await op(i, loopIndex);
      latency.record(performance.now() - started);
      completed++;
      progress.done++;
      turns.completed();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(inFlight, total)) }, (_, i) => loop(i)));
  return completed;
}

/** A random stream of its own for (workload, salt), the same for every store. */
function randomFor(seed: number, workload: string, salt: string): Random {
  let h = seed >>> 0;
  for (const c of `${workload}/${salt}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return new Random(h);
}

/** The order in which fillrandom writes the main database's keys. */
function fillOrder(job: Job): Uint32Array {
  return permutation(job.fillOps, randomFor(job.seed, 'fillrandom', 'keys'));
}

/** Picks existing keys of the main database at random, with repeats. */
function existingKeys(job: Job, salt: string): () => number {
  const order = fillOrder(job);
  const random = randomFor(job.seed, job.workload, salt);
  return () => order[random.below(job.keySpace)]!;
}

function putDriver(job: Job, keyAt: (i: number) => number): Driver {
  const values = new ValueSource(job.valueBytes, randomFor(job.seed, job.workload, 'values'));
  return {
    async run(ctx) {
      const { store } = ctx;
      const sync = job.sync;
      const ops = await inFlightLoops(job.ops, job.inFlight, ctx, deadlineOf(job), (i) => store.put(makeKey(keyAt(i)), values.next(), sync));
      const bytes = ops * (KEY_BYTES + job.valueBytes);
      return { ops, latencyPer: 'operation', userBytes: bytes, userWriteBytes: bytes };
    },
  };
}

function fillbatch(job: Job): Driver {
  const values = new ValueSource(job.valueBytes, randomFor(job.seed, job.workload, 'values'));
  const batches = Math.ceil(job.ops / BATCH_SIZE);
  return {
    async run(ctx) {
      const { store } = ctx;
      let ops = 0;
      await inFlightLoops(batches, 1, ctx, deadlineOf(job), async (b) => {
        const first = b * BATCH_SIZE;
        const end = Math.min(job.ops, first + BATCH_SIZE);
        const puts: BatchPut[] = [];
        for (let k = first; k < end; k++) puts.push({ type: 'put', key: makeKey(k), value: values.next() });
        await store.batch(puts, job.sync);
        ops += end - first;
        ctx.progress.done += end - first - 1;
      });
      const bytes = ops * (KEY_BYTES + job.valueBytes);
      return { ops, latencyPer: `batch of ${BATCH_SIZE}`, userBytes: bytes, userWriteBytes: bytes };
    },
  };
}

function bulkload(job: Job): Driver {
  const values = new ValueSource(job.valueBytes, randomFor(job.seed, job.workload, 'values'));
  return {
    async run(ctx) {
      const { store } = ctx;
      if (store.bulkLoad === undefined) return fillbatch(job).run(ctx);
      const started = performance.now();
      let ops = 0;
      function* pairs(): Generator<[Buffer, Buffer]> {
        for (let i = 0; i < job.ops; i++) {
          yield [makeKey(i), values.next()];
          ops++;
          ctx.progress.done++;
        }
      }
      await store.bulkLoad(pairs());
      ctx.latency.record(performance.now() - started);
      const bytes = ops * (KEY_BYTES + job.valueBytes);
      return { ops, latencyPer: `load of ${ops} pairs`, userBytes: bytes, userWriteBytes: bytes };
    },
  };
}

function readrandom(job: Job): Driver {
  const nextKey = existingKeys(job, 'reads');
  return {
    async run(ctx) {
      const { store } = ctx;
      let found = 0;
      let bytes = 0;
      const ops = await inFlightLoops(job.ops, job.inFlight, ctx, deadlineOf(job), async (): Promise<void> => {
        const length = await store.get(makeKey(nextKey()));
        if (length >= 0) {
          found++;
          bytes += KEY_BYTES + length;
        }
      });
      return { ops, latencyPer: 'operation', userBytes: bytes, userWriteBytes: 0, found };
    },
  };
}

function getloop(job: Job): Driver {
  const nextKey = existingKeys(job, 'reads');
  return {
    async run(ctx) {
      const { store, latency, progress } = ctx;
      const deadline = deadlineOf(job);
      let found = 0;
      let bytes = 0;
      let ops = 0;
      while (ops < job.ops && performance.now() < deadline) {
        const started = performance.now();
        const length = await store.get(makeKey(nextKey()));
        latency.record(performance.now() - started);
        if (length >= 0) {
          found++;
          bytes += KEY_BYTES + length;
        }
        ops++;
        progress.done++;
      }
      return { ops, latencyPer: 'operation', userBytes: bytes, userWriteBytes: 0, found };
    },
  };
}

function readlarge(job: Job): Driver {
  const random = randomFor(job.seed, job.workload, 'order');
  const order = Array.from({ length: job.ops }, () => random.below(LARGE_SIZES_MIB.length));
  const keyOf = (i: number) => makeKey(1_000_000_000 + i);
  // readlarge-into's one buffer for every read: the largest value, and room for the rest of its
  // block; made and written once before the reads (a buffer reused is one whose pages are in).
  let target: Buffer | undefined;
  return {
    async setup(store) {
      if (job.into) target = Buffer.alloc(LARGE_SIZES_MIB[LARGE_SIZES_MIB.length - 1]! * 1024 * 1024 + 64 * 1024, 1);
      const values = new ValueSource(LARGE_SIZES_MIB[LARGE_SIZES_MIB.length - 1]! * 1024 * 1024, randomFor(job.seed, job.workload, 'values'));
      for (let i = 0; i < LARGE_SIZES_MIB.length; i++) await store.put(keyOf(i), values.next().subarray(0, LARGE_SIZES_MIB[i]! * 1024 * 1024), false);
      await store.flush?.();
    },
    async run(ctx) {
      const { store, latency, progress } = ctx;
      let bytes = 0;
      let ops = 0;
      const deadline = deadlineOf(job);
      const getInto = store.getInto?.bind(store);
      if (job.into && getInto === undefined) throw new Error(`${store.name} has no getInto in this bench`);
      for (const i of order) {
        if (performance.now() >= deadline) break;
        const started = performance.now();
        const length = target === undefined ? await store.get(keyOf(i)) : await getInto!(keyOf(i), target);
        latency.record(performance.now() - started);
        if (length !== LARGE_SIZES_MIB[i]! * 1024 * 1024) throw new Error(`readlarge: value ${i} has ${length} bytes`);
        bytes += KEY_BYTES + length;
        ops++;
        progress.done++;
      }
      return { ops, latencyPer: 'operation', userBytes: bytes, userWriteBytes: 0, found: ops };
    },
  };
}

function readseq(): Driver {
  return {
    async run(ctx) {
      let entries = 0;
      let bytes = 0;
      let last = performance.now();
      await ctx.store.scan(SCAN_CHUNK, async (n, b) => {
        entries += n;
        bytes += b;
        ctx.progress.done += n;
        const now = performance.now();
        if (n >= SCAN_CHUNK) ctx.latency.record(((now - last) * SCAN_CHUNK) / n);
        await new Promise((resolve) => setImmediate(resolve));
        last = performance.now();
      });
      return { ops: entries, latencyPer: `${SCAN_CHUNK} entries`, userBytes: bytes, userWriteBytes: 0, found: entries };
    },
  };
}

function seekrandom(job: Job): Driver {
  const nextKey = existingKeys(job, 'seeks');
  return {
    async run(ctx) {
      const { store } = ctx;
      const seekers: Seeker[] = Array.from({ length: Math.max(1, Math.min(job.inFlight, job.ops)) }, () => store.seeker());
      let found = 0;
      let bytes = 0;
      let ops = 0;
      try {
        ops = await inFlightLoops(job.ops, job.inFlight, ctx, deadlineOf(job), async (_i, loop): Promise<void> => {
          const entryBytes = await seekers[loop]!.seek(makeKey(nextKey()));
          if (entryBytes > 0) {
            found++;
            bytes += entryBytes;
          }
        });
      } finally {
        for (const s of seekers) await s.close();
      }
      return { ops, latencyPer: 'seek and read', userBytes: bytes, userWriteBytes: 0, found };
    },
  };
}

function deleterandom(job: Job): Driver {
  const order = fillOrder(job);
  const victims = permutation(job.keySpace, randomFor(job.seed, job.workload, 'keys'));
  return {
    async run(ctx) {
      const { store } = ctx;
      const ops = await inFlightLoops(job.ops, job.inFlight, ctx, deadlineOf(job), (i) => store.del(makeKey(order[victims[i]!]!), job.sync));
      const bytes = ops * KEY_BYTES;
      return { ops, latencyPer: 'operation', userBytes: bytes, userWriteBytes: bytes };
    },
  };
}

function readwhilewriting(job: Job): Driver {
  const readKey = existingKeys(job, 'reads');
  const writeKey = existingKeys(job, 'writes');
  const values = new ValueSource(job.valueBytes, randomFor(job.seed, job.workload, 'values'));
  return {
    async run(ctx) {
      const { store } = ctx;
      const turns = new Turns();
      let readersDone = false;
      let writes = 0;
      const writer = (async () => {
        while (!readersDone) {
          const turn = turns.pending;
          if (turn !== undefined) await turn;
          await store.put(makeKey(writeKey()), values.next(), job.sync);
          writes++;
          turns.completed();
        }
      })();
      let found = 0;
      let bytes = 0;
      let ops = 0;
      try {
        ops = await inFlightLoops(
          job.ops,
          job.inFlight,
          ctx,
          deadlineOf(job),
          async (): Promise<void> => {
            const length = await store.get(makeKey(readKey()));
            if (length >= 0) {
              found++;
              bytes += KEY_BYTES + length;
            }
          },
          turns,
        );
      } finally {
        readersDone = true;
        await writer;
      }
      return { ops, latencyPer: 'read', userBytes: bytes, userWriteBytes: writes * (KEY_BYTES + job.valueBytes), found, writes };
    },
  };
}

/** The balance of an account: 8 bytes, a signed integer (transfers may overdraw). */
const balanceOf = (b: Buffer | undefined) => (b === undefined ? 0 : Number(b.readBigInt64LE()));
function balanceBytes(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(BigInt(n));
  return b;
}

function transfer(job: Job): Driver {
  const rng = randomFor(job.seed, job.workload, 'accounts');
  const pairs = Array.from({ length: job.ops }, () => {
    const from = rng.below(TRANSFER_ACCOUNTS);
    return [from, (from + 1 + rng.below(TRANSFER_ACCOUNTS - 1)) % TRANSFER_ACCOUNTS, 1 + rng.below(100)] as const;
  });
  return {
    async setup(store) {
      const transfer = store.transfer;
      if (transfer === undefined) throw new Error(`${store.name} offers no transactions`);
      for (let at = 0; at < TRANSFER_ACCOUNTS; at += BATCH_SIZE) {
        const puts: BatchPut[] = [];
        for (let i = at; i < Math.min(at + BATCH_SIZE, TRANSFER_ACCOUNTS); i++) puts.push({ type: 'put', key: makeKey(i), value: balanceBytes(TRANSFER_START_BALANCE) });
        await store.batch(puts, job.sync);
      }
    },
    async run(ctx) {
      const { store } = ctx;
      let attempts = 0;
      const ops = await inFlightLoops(job.ops, job.inFlight, ctx, deadlineOf(job), async (i) => {
        const [from, to, amount] = pairs[i]!;
        const runs = await store.transfer!(makeKey(from), makeKey(to), (a, b) => [balanceBytes(balanceOf(a) - amount), balanceBytes(balanceOf(b) + amount)], job.sync);
        attempts += runs;
      });
      const bytes = ops * 2 * (KEY_BYTES + 8);
      return { ops, latencyPer: 'transaction', userBytes: 2 * bytes, userWriteBytes: bytes, retries: attempts - ops };
    },
  };
}

function incr(job: Job): Driver {
  const rng = randomFor(job.seed, job.workload, 'counters');
  const steps = Array.from({ length: job.ops }, () => [rng.below(INCR_COUNTERS), 1 + rng.below(100)] as const);
  const keys = Array.from({ length: INCR_COUNTERS }, (_, i) => makeKey(i));
  return {
    async run(ctx) {
      const { store } = ctx;
      const ops = await inFlightLoops(job.ops, job.inFlight, ctx, deadlineOf(job), (i) => {
        const [counter, by] = steps[i]!;
        return store.increment(keys[counter]!, BigInt(by), job.sync);
      });
      const bytes = ops * (KEY_BYTES + 8);
      return { ops, latencyPer: 'increment', userBytes: bytes, userWriteBytes: bytes };
    },
  };
}

/**
 * Bytes of the files under `dir` (apparent sizes, recursive): all of them, and the table files
 * alone (.sst, LevelDB's .ldb). stratadb keeps up to 64 MiB of WAL for the change feed
 * (changeRetention), which the total counts and the tables do not.
 */
function directoryBytes(dir: string): { total: number; tables: number } {
  let total = 0;
  let tables = 0;
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const st = statSync(join(dir, name));
    if (!st.isFile()) continue;
    total += st.size;
    if (name.endsWith('.sst') || name.endsWith('.ldb')) tables += st.size;
  }
  return { total, tables };
}

function recordSize(phases: Record<string, number>, name: string, dir: string): void {
  const { total, tables } = directoryBytes(dir);
  phases[`${name}Bytes`] = total;
  phases[`${name}TablesBytes`] = tables;
}

/** Loads keys lo..hi-1 in a random order, in batches of BATCH_SIZE (8 in flight), then compacts. */
async function loadRange(store: Store, job: Job, lo: number, hi: number): Promise<void> {
  const order = permutation(hi - lo, randomFor(job.seed, job.workload, 'load'));
  const values = new ValueSource(job.valueBytes, randomFor(job.seed, job.workload, 'values'));
  let next = 0;
  const loop = async () => {
    while (next < order.length) {
      const at = next;
      next = Math.min(order.length, next + BATCH_SIZE);
      const puts: BatchPut[] = [];
      for (let i = at; i < next; i++) puts.push({ type: 'put', key: makeKey(lo + order[i]!), value: values.next() });
      await store.batch(puts, false);
    }
  };
  await Promise.all(Array.from({ length: 8 }, loop));
  await store.compact!();
}

/** readrandom and seekrandom of `n` each over keys 0..keySpace-1: their rates (ops/s) and hits. */
async function readPhase(store: Store, job: Job, keySpace: number, n: number, salt: string): Promise<{ getsPerSec: number; seeksPerSec: number; found: number }> {
  const random = randomFor(job.seed, job.workload, salt);
  const keys = Array.from({ length: n }, () => makeKey(random.below(keySpace)));
  const inFlight = Math.max(1, Math.min(job.inFlight, n));
  const ctx: DriverContext = { store, job, latency: new LatencyRecorder(), progress: { done: 0 } };
  let found = 0;
  // Each phase stops at --max-seconds, as a workload does: LevelDB's seeks into a cleared range
  // step over every deletion in it (500k of them at the default --num), and without a limit
  // its run of this phase went on for over 11 minutes.
  let t = performance.now();
  const gets = await inFlightLoops(n, inFlight, ctx, deadlineOf(job), async (i) => {
    if ((await store.get(keys[i]!)) >= 0) found++;
  });
  const getsPerSec = gets / ((performance.now() - t) / 1000);
  const seekers: Seeker[] = Array.from({ length: inFlight }, () => store.seeker());
  t = performance.now();
  let seeks: number;
  try {
    seeks = await inFlightLoops(n, inFlight, ctx, deadlineOf(job), (i, loop) => seekers[loop]!.seek(keys[i]!));
  } finally {
    for (const s of seekers) await s.close();
  }
  const seeksPerSec = seeks / ((performance.now() - t) / 1000);
  return { getsPerSec, seeksPerSec, found };
}

function clearrange(job: Job): Driver {
  const keys = job.fillOps;
  const half = Math.floor(keys / 2);
  return {
    async setup(store) {
      if (store.clear === undefined || store.compact === undefined) throw new Error(`${store.name} has no clear() or compaction in this bench`);
      await loadRange(store, job, 0, keys);
    },
    async run(ctx) {
      const { store } = ctx;
      const phases: Record<string, number> = {};
      let t = performance.now();
      await store.clear!(makeKey(0), makeKey(half));
      phases['clearMs'] = performance.now() - t;
      ctx.latency.record(phases['clearMs']);
      ctx.progress.done++;
      const before = await readPhase(store, job, keys, job.reads, 'before');
      phases['getsPerSecBeforeCompaction'] = before.getsPerSec;
      phases['seeksPerSecBeforeCompaction'] = before.seeksPerSec;
      recordSize(phases, 'sizeBeforeCompaction', job.dir);
      if (store.flush !== undefined) {
        await store.flush();
        await new Promise((resolve) => setTimeout(resolve, RECLAIM_WAIT_MS));
        recordSize(phases, 'sizeAfterWait', job.dir);
      }
      t = performance.now();
      await store.compact!();
      phases['compactMs'] = performance.now() - t;
      recordSize(phases, 'sizeAfterCompaction', job.dir);
      const after = await readPhase(store, job, keys, job.reads, 'after');
      phases['getsPerSecAfterCompaction'] = after.getsPerSec;
      phases['seeksPerSecAfterCompaction'] = after.seeksPerSec;
      // A database that never held the cleared keys, read the same way.
      const baselineDir = `${job.dir}-never-held`;
      const baseline = await STORES[job.store].open(baselineDir, { durable: false, shards: job.shards });
      try {
        await loadRange(baseline, job, half, keys);
        const never = await readPhase(baseline, job, keys, job.reads, 'after');
        phases['getsPerSecNeverHeld'] = never.getsPerSec;
        phases['seeksPerSecNeverHeld'] = never.seeksPerSec;
        recordSize(phases, 'sizeNeverHeld', baselineDir);
      } finally {
        await baseline.close();
        rmSync(baselineDir, { recursive: true, force: true });
      }
      return { ops: 1, latencyPer: 'clear() of half the keys', userBytes: 0, userWriteBytes: 0, found: after.found, phases };
    },
  };
}

const CHANGES_PHASES = [false, true, true, false] as const;

/**
 * Between the changes workload's phases, untimed: a flush and a compaction, so that each phase
 * starts on an empty memtable with no background work pending. Otherwise the flush a run of
 * this size needs fell in the second phase with the feed (halving its puts/s, whichever build
 * ran), and the compactions of the flushes in the last phase, without.
 */
async function settle(store: Store): Promise<void> {
  await store.flush?.();
  await store.compact?.();
}

/** Puts of the changes workload's untimed warm-up, with a feed consuming. */
const CHANGES_WARMUP_PUTS = 30_000;

function changes(job: Job): Driver {
  const phaseOps = Math.max(1, Math.floor(job.ops / CHANGES_PHASES.length));
  const order = permutation(phaseOps * CHANGES_PHASES.length, randomFor(job.seed, job.workload, 'keys'));
  const values = new ValueSource(job.valueBytes, randomFor(job.seed, job.workload, 'values'));
  return {
    async run(ctx) {
      const { store } = ctx;
      if (store.changes === undefined) throw new Error(`${store.name} offers no change feed`);
      const deadline = deadlineOf(job);
      const phases: FeedFigures['phases'] = [];
      const lags = new LatencyRecorder();
      const seconds = { with: 0, without: 0 };
      const puts = { with: 0, without: 0 };
      const cpuMs: { with: number | null; without: number | null } = { with: 0, without: 0 };
      let delivered = 0;
      let deliverSeconds = 0;
      // Untimed, before the phases: writers and a consumer run until their code is optimized
      // (the first phase ran on colder code than the last, and was up to 1.7× slower), then a
      // flush, as between phases. Its keys are outside the phases' range.
      const warmup = Math.min(phaseOps, CHANGES_WARMUP_PUTS);
      {
        const feed = store.changes();
        let seen = 0;
        const consumer = (async () => {
          let bytes = 0;
          for await (const c of feed) {
            for (const op of c.ops) bytes += op.key.length + (op.value?.length ?? 0);
            if (++seen >= warmup) break;
          }
          if (bytes < 0) throw new Error('unreachable');
        })();
        let next = 0;
        const writer = async () => {
          while (next < warmup) await store.put(makeKey(order.length + next++), values.next(), job.sync);
        };
        await Promise.all(Array.from({ length: job.inFlight }, writer));
        await consumer;
        await settle(store);
      }
      for (const [p, withFeed] of CHANGES_PHASES.entries()) {
        const base = p * phaseOps;
        // Index: sequence number - first; set when the put resolves.
        const resolvedAt = new Float64Array(phaseOps + 1);
        let first = -1;
        let consumer: Promise<void> = Promise.resolve();
        let wanted = Infinity;
        let seen = 0;
        // Each change's sequence number and delivery time, in delivery order: the lags are
        // computed after the phase, so that the consumer pays a clock read and two stores a
        // change, not a histogram insert (which cost about as much as the feed itself).
        const deliveredSeq = new Float64Array(phaseOps);
        const deliveredAt = new Float64Array(phaseOps);
        const feed = withFeed ? store.changes() : undefined;
        if (feed !== undefined) {
          consumer = (async () => {
            let bytes = 0;
            // A plain for await, as an application's projection would read the feed.
            for await (const c of feed) {
              for (const op of c.ops) bytes += op.key.length + (op.value?.length ?? 0);
              if (seen < phaseOps) {
                deliveredSeq[seen] = Number(c.seq);
                deliveredAt[seen] = performance.now();
              }
              if (++seen >= wanted) break;
            }
            if (bytes < 0) throw new Error('unreachable');
          })();
        }
        const phaseCtx: DriverContext = { ...ctx, latency: withFeed ? ctx.latency : new LatencyRecorder() };
        const started = performance.now();
        const cpuStarted = mainThreadCpuMs();
        const done = await inFlightLoops(phaseOps, job.inFlight, phaseCtx, deadline, async (i) => {
          const seq = await store.put(makeKey(order[base + i]!), values.next(), job.sync);
          if (typeof seq !== 'bigint') return;
          if (first < 0) first = Number(seq) - i - 1;
          const at = Number(seq) - first;
          if (at >= 0 && at < resolvedAt.length) resolvedAt[at] = performance.now();
        });
        const phaseSeconds = (performance.now() - started) / 1000;
        const cpuEnded = mainThreadCpuMs();
        const phaseCpuMs = cpuStarted === undefined || cpuEnded === undefined ? null : cpuEnded - cpuStarted;
        if (feed !== undefined) {
          wanted = done;
          // Ends the loop if it already saw every put; a feed that cannot catch up within the
          // time limit is cut off there.
          if (seen >= wanted) void feed.return?.();
          const cutOff = setTimeout(() => void feed.return?.(), Math.max(0, deadline - performance.now()));
          await consumer;
          clearTimeout(cutOff);
          const timed = Math.min(seen, phaseOps);
          for (let i = 0; i < timed; i++) {
            // 0: the change came before its writer heard back (or before the first did).
            const at = first < 0 ? 0 : resolvedAt[deliveredSeq[i]! - first] ?? 0;
            lags.record(at === 0 ? 0 : Math.max(0, deliveredAt[i]! - at));
          }
          delivered += seen;
          deliverSeconds += ((seen >= wanted && timed > 0 ? deliveredAt[timed - 1]! : performance.now()) - started) / 1000;
        }
        phases.push({ feed: withFeed, putsPerSec: done / phaseSeconds, cpuUsPerPut: phaseCpuMs === null ? null : (1000 * phaseCpuMs) / done });
        await settle(store);
        const side = withFeed ? 'with' : 'without';
        seconds[side] += phaseSeconds;
        puts[side] += done;
        const spent = cpuMs[side];
        cpuMs[side] = spent === null || phaseCpuMs === null ? null : spent + phaseCpuMs;
        if (done < phaseOps) break;
      }
      const putsPerSecWith = puts.with / Math.max(seconds.with, 1e-9);
      const putsPerSecWithout = puts.without / Math.max(seconds.without, 1e-9);
      const lag = lags.summary('change');
      const cpuWith = cpuMs.with === null ? null : (1000 * cpuMs.with) / Math.max(1, puts.with);
      const cpuWithout = cpuMs.without === null ? null : (1000 * cpuMs.without) / Math.max(1, puts.without);
      const ops = puts.with + puts.without;
      const bytes = ops * (KEY_BYTES + job.valueBytes);
      return {
        ops,
        latencyPer: 'put with the feed',
        userBytes: bytes,
        userWriteBytes: bytes,
        opsPerSec: putsPerSecWith,
        feed: {
          putsPerSecWithout,
          putsPerSecWith,
          costPercent: 100 * (1 - putsPerSecWith / putsPerSecWithout),
          changesPerSec: delivered / Math.max(deliverSeconds, 1e-9),
          lagP50Ms: lag.p50Us / 1000,
          lagP99Ms: lag.p99Us / 1000,
          cpuUsPerPutWithout: cpuWithout,
          cpuUsPerPutWith: cpuWith,
          cpuCostPercent: cpuWith === null || cpuWithout === null ? null : 100 * (1 - cpuWithout / cpuWith),
          phases,
        },
      };
    },
  };
}

function ttl(job: Job): Driver {
  const values = new ValueSource(job.valueBytes, randomFor(job.seed, job.workload, 'values'));
  return {
    async setup(store) {
      if (store.putWithTtl === undefined || store.compact === undefined) throw new Error(`${store.name} has no time-to-live in this bench`);
    },
    async run(ctx) {
      const { store } = ctx;
      const phases: Record<string, number> = {};
      const t = performance.now();
      const ops = await inFlightLoops(job.ops, 64, ctx, deadlineOf(job), (i) => store.putWithTtl!(makeKey(i), values.next(), TTL_MS));
      phases['fillMs'] = performance.now() - t;
      recordSize(phases, 'sizeBeforeExpiry', job.dir);
      // The last put expires TTL_MS after it was made.
      const wait = TTL_MS - (performance.now() - t - phases['fillMs']);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait + 10));
      const c = performance.now();
      await store.compact!();
      phases['compactMs'] = performance.now() - c;
      recordSize(phases, 'sizeAfterExpiry', job.dir);
      let left = 0;
      await store.scan(SCAN_CHUNK, async (n) => {
        left += n;
      });
      phases['keysLeft'] = left;
      const bytes = ops * (KEY_BYTES + job.valueBytes);
      return { ops, latencyPer: 'put with a ttl', userBytes: bytes, userWriteBytes: bytes, phases };
    },
  };
}

function sustained(job: Job): Driver {
  const order = permutation(job.ops, randomFor(job.seed, job.workload, 'keys'));
  const values = new ValueSource(job.valueBytes, randomFor(job.seed, job.workload, 'values'));
  return {
    async setup(store) {
      if (store.compact === undefined) throw new Error(`${store.name} has no compaction in this bench`);
    },
    async run(ctx) {
      const { store } = ctx;
      const tenth = Math.max(1, Math.floor(job.ops / 10));
      const tenthEnds: number[] = [];
      let completed = 0;
      let longestStallMs = 0;
      let peakRss = process.memoryUsage.rss();
      const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), RSS_SAMPLE_MS);
      const started = performance.now();
      let last = started;
      let ops: number;
      let fillMs: number;
      let compactMs: number;
      try {
        ops = await inFlightLoops(job.ops, job.inFlight, ctx, deadlineOf(job), async (i) => {
          await store.put(makeKey(order[i]!), values.next(), false);
          const now = performance.now();
          if (now - last > longestStallMs) longestStallMs = now - last;
          last = now;
          if (++completed % tenth === 0 && tenthEnds.length < 10) tenthEnds.push(now);
        });
        fillMs = performance.now() - started;
        const t = performance.now();
        await store.compact!();
        compactMs = performance.now() - t;
      } finally {
        clearInterval(sampler);
      }
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
      const phases: Record<string, number> = { fillMs, compactMs, longestStallMs, peakRssSampledBytes: peakRss };
      tenthEnds.forEach((end, i) => (phases[`tenth${i + 1}PutsPerSec`] = (tenth * 1000) / (end - (i === 0 ? started : tenthEnds[i - 1]!))));
      const bytes = ops * (KEY_BYTES + job.valueBytes);
      return { ops, latencyPer: 'operation', userBytes: bytes, userWriteBytes: bytes, opsPerSec: (ops * 1000) / fillMs, phases };
    },
  };
}

/** Builds the inputs of `job` (key orders, values) before the store opens. */
export function prepareDriver(job: Job): Driver {
  switch (job.workload) {
    case 'fillseq':
      return putDriver(job, (i) => i);
    case 'fillrandom': {
      const order = fillOrder(job);
      return putDriver(job, (i) => order[i]!);
    }
    case 'fillsync': {
      const order = permutation(job.ops, randomFor(job.seed, job.workload, 'keys'));
      return putDriver(job, (i) => order[i]!);
    }
    case 'overwrite': {
      const nextKey = existingKeys(job, 'keys');
      return putDriver(job, () => nextKey());
    }
    case 'fillbatch':
      return fillbatch(job);
    case 'readrandom':
      return readrandom(job);
    case 'readseq':
      return readseq();
    case 'seekrandom':
      return seekrandom(job);
    case 'deleterandom':
      return deleterandom(job);
    case 'readwhilewriting':
      return readwhilewriting(job);
    case 'transfer':
      return transfer(job);
    case 'incr':
      return incr(job);
    case 'getloop':
      return getloop(job);
    case 'readlarge':
      return readlarge(job);
    case 'bulkload':
      return bulkload(job);
    case 'changes':
      return changes(job);
    case 'clearrange':
      return clearrange(job);
    case 'ttl':
      return ttl(job);
    case 'sustained':
      return sustained(job);
    default:
      throw new Error(`no driver for workload ${job.workload}`);
  }
}
