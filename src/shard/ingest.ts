/**
 * Ingest: sorted [key, value] pairs written straight to tables and linked into the tree, all
 * or nothing, bypassing the WAL and the memtables (`db.ingest`).
 *
 * Invariants:
 * 1. One sequence number S for the whole ingest, written into every entry of its tables (a
 *    real sequence number, as in any table: no table property stands in for it). S is
 *    reserved RESERVED_GAP above the last number allocated at the call (SequenceClock
 *    invariant 4): writes go on while the tables are built, taking the numbers below S (when
 *    those run out, they wait for the install). The install closes the clock's gate (every
 *    new write waits: ShardSet.write parks it), waits until every write below S is published,
 *    installs, then takes S (the numbers left below it complete as a hole), publishes it and
 *    lets the waiting writes go on above it. So: every write resolved before the call, and
 *    every write made while the tables are built, is below S; every write made after the
 *    ingest resolved (or that waited for its install) is above it; on a key both touch, the
 *    higher number wins everywhere (reads, iterators, snapshots, compactions, a reopen, since
 *    the order is in the sequence numbers themselves); and no reader sees part of an ingest (a
 *    snapshot is below S, or sees it all). Writes are held only for the install (the flush of
 *    what came in since the flush before it, and one MANIFEST edit per receiving shard).
 * 2. The main thread only checks and packs the pairs (strictly ascending; a key equal to or
 *    below the one before rejects with INVALID_ARGUMENT) and routes them to their shards;
 *    each shard's pairs are cut into tables of about targetFileBytes (raw key and value bytes;
 *    less with many shards, so that the packs being filled stay within PACK_BUDGET_BYTES) and
 *    built on the worker pool (src/compaction/ingest-job.ts), a few at a time. Packing lets
 *    the event loop turn every TURN_BUDGET_MS.
 * 3. Nothing is installed until every table is built and fsynced, with its directory. A
 *    failure before that (bad input, a damaged table file, an I/O error) removes every table
 *    built, gives the reservation up (S was never written: the clock goes on without a hole)
 *    and installs nothing. An ingest of no pairs gives it up too.
 * 4. Install: each receiving shard (with one shard, always) flushes its memtables while
 *    writes go on, and again with the gate closed (IngestHost.flushAll), so the ingested
 *    tables sit above nothing a memtable holds and no WAL holding records below S is ahead of
 *    the log number (a one-shard replay wants no gaps, and S and the hole below it are in no
 *    log); then its tables go in with one MANIFEST edit at the deepest level they overlap
 *    nothing at or above (src/engine/ingest.ts), whose last sequence is S. One shard: that
 *    edit is the commit point. Several: an INGEST file (ingest-intent.ts) naming every
 *    shard's edit is made durable first, so that a crash between the shards' edits is
 *    completed at the next open (no MANIFEST reaches S before its shard's edit: every number
 *    allocated before the edits is below S); it is removed once all are durable. A failure
 *    once the install has begun stops writes in every shard, keeps every table and never
 *    publishes S in this process: the next open has all of the ingest (the INGEST file, or
 *    the one shard's edit, reached the disk) or none of it.
 * 5. Open transactions and conditional writes whose snapshot is below S conflict: the write
 *    tracker's cut moves to S when the gate closes (and when a write first has to wait), and
 *    a transaction's commit or a conditional write that would have to wait waits before its
 *    check (ShardSet.writeMustWait), so its check and its write stay one synchronous step.
 *    The tracker does not list the ingested keys.
 */

import { hugePageBytes, invalidArgument, StrataError, tableFileName, type FileSystem, type SeqNum } from '../base/index.js';
import type { BackgroundPool } from '../compaction/index.js';
import { ingestEdit, type IngestHost, type SequenceClock } from '../engine/index.js';
import type { TableMeta, VersionEdit } from '../manifest/index.js';
import { removeIngestIntent, writeIngestIntent } from './ingest-intent.js';
import type { Placement } from './router.js';
import type { WriteTracker } from './write-tracker.js';
import { nextTurn } from '../base/loop-turns.js';

/** What the ingest needs of the database (ShardSet). */
export interface IngestContext {
  fs: FileSystem;
  dir: string;
  hosts: readonly IngestHost[];
  /** Which host takes each key. */
  placement: Placement;
  clock: SequenceClock;
  pool: BackgroundPool;
  tracker: WriteTracker;
}

export interface IngestResult {
  sequence: SeqNum;
  entries: number;
  tables: number;
  bytes: number;
}

/** One pair of the source as bytes (filled in place: no allocation per pair). */
export interface IngestPair {
  key: Uint8Array;
  value: Uint8Array;
}

/** Sets `out` to the key and value bytes of one item of the source; throws INVALID_ARGUMENT. */
export type PairOf = (item: unknown, index: number, out: IngestPair) => void;

/**
 * Packing holds the event loop at most about this long before it lets it turn (a source that
 * is a synchronous iterable, or an async one whose items are ready, would otherwise keep the
 * loop for the whole ingest: no write, timer or I/O callback could run).
 */
const TURN_BUDGET_MS = 5;
/** Pairs between two looks at the clock (a power of two). */
const TURN_CHECK_EVERY = 1024;

/** Table builds in flight at most, beyond which the source waits. */
const MAX_BUILDS_IN_FLIGHT = 4;
/**
 * The packs being filled, one per shard, take at most about this much memory together: with
 * many shards a table is cut below targetFileBytes (at least 1 MiB).
 */
const PACK_BUDGET_BYTES = 256 * 1024 * 1024;

/** Ingests `source` (an iterable or async iterable of items `pairOf` understands). */
export async function ingest(ctx: IngestContext, source: Iterable<unknown> | AsyncIterable<unknown>, pairOf: PairOf): Promise<IngestResult> {
  const { clock } = ctx;
  const seq = clock.reserveAhead(RESERVED_GAP);
  const builds = new Builds(ctx, seq);
  let installing = false;
  try {
    await builds.consume(source, pairOf);
    const perShard = await builds.finish();
    const tables = perShard.reduce((n, t) => n + t.length, 0);
    if (tables === 0) {
      // Nothing to install: S was never written anywhere.
      clock.giveUpReserved();
      return { sequence: clock.last, entries: builds.entries, tables: 0, bytes: 0 };
    }
    // Every receiving shard flushes while writes go on, so that the flush under the closed
    // gate below has little left to do.
    await settleAll(ctx.hosts.map((h, i) => (perShard[i]!.length > 0 || ctx.hosts.length === 1 ? h.flushAll() : Promise.resolve())));
    // Install (invariant 1): from here every new write waits, and every write below S is published first.
    installing = true;
    clock.closeGate();
    ctx.tracker.cutAt(seq);
    await clock.whenPublished(clock.last);
    await install(ctx, perShard, seq);
    builds.forget();
    clock.takeReserved();
    clock.complete(seq, 1);
    const bytes = perShard.reduce((n, t) => n + t.reduce((m, f) => m + f.fileSize, 0), 0);
    return { sequence: seq, entries: builds.entries, tables, bytes };
  } catch (err) {
    if (!installing) {
      await builds.abandon();
      clock.giveUpReserved();
      throw err;
    }
    // Some edit may be durable: keep every table, publish nothing, take no more writes; the
    // next open has the whole ingest or none of it.
    const error = err instanceof StrataError ? err : new StrataError('IO_ERROR', `ingest: ${String(err)}`, { cause: err });
    for (const h of ctx.hosts) h.failWrites(error);
    clock.giveUpReserved();
    throw error;
  }
}

/**
 * How far above the last number allocated an ingest reserves S: the writes made while its
 * tables are built take the numbers below S (beyond this many, they wait for the install).
 * The sequence space (2^53) holds 2^23 ingests at this spacing.
 */
const RESERVED_GAP = 2 ** 30;

/**
 * The pairs of one shard waiting to become a table, in one buffer of its own (shared with the
 * worker that builds the table: IngestJob). Allocated at the table's size at once,
 * uninitialized: growing it pair by pair would copy it over and over. Once its table is built,
 * the next table of the ingest fills it again (Builds' spare packs): fresh memory costs a page
 * fault per page at its first write, which on a virtual machine cost the packing thread as
 * much as the packing itself.
 */
class Pack {
  readonly data: Uint8Array;
  used = 0;
  ends = new Uint32Array(new SharedArrayBuffer(4096 * 4));
  count = 0;

  constructor(capacity: number) {
    // Fresh memory written once through: on huge pages where it can be (faults in 4 KiB
    // pages were 41% of the packing thread's time here).
    this.data = hugePageBytes(capacity, true);
  }

  fits(bytes: number): boolean {
    return this.used + bytes <= this.data.length;
  }

  /** Appends one pair. REQUIRES: fits(key.length + value.length). */
  add(key: Uint8Array, value: Uint8Array): void {
    if (this.count + 2 > this.ends.length) {
      const grown = new Uint32Array(new SharedArrayBuffer(this.ends.length * 8));
      grown.set(this.ends);
      this.ends = grown;
    }
    this.used = copyInto(this.data, this.used, key);
    this.ends[this.count++] = this.used;
    this.used = copyInto(this.data, this.used, value);
    this.ends[this.count++] = this.used;
  }

  /** The pairs added, for the worker: views of the pack's memory, which it must not change until the build settles. */
  job(): { data: Uint8Array; ends: Uint32Array } {
    return { data: this.data.subarray(0, this.used), ends: this.ends.subarray(0, this.count) };
  }

  /** Empties the pack for the next table. REQUIRES: the build of what it held has settled. */
  reset(): void {
    this.used = 0;
    this.count = 0;
  }
}

/** compareBytes(key, data[start, end)) without a view of `data`. */
function compareToPrevious(key: Uint8Array, data: Uint8Array, start: number, end: number): number {
  const length = end - start;
  const n = key.length < length ? key.length : length;
  for (let i = 0; i < n; i++) {
    const d = key[i]! - data[start + i]!;
    if (d !== 0) return d;
  }
  return key.length - length;
}

const EMPTY = new Uint8Array(0);

/** Copies `src` into `dst` at `at`; returns the offset after it. Short copies by hand: set() costs more for them. */
function copyInto(dst: Uint8Array, at: number, src: Uint8Array): number {
  const n = src.length;
  if (n <= 32) for (let i = 0; i < n; i++) dst[at + i] = src[i]!;
  else dst.set(src, at);
  return at + n;
}

/** The tables of an ingest being built, per shard, in key order. */
class Builds {
  readonly #ctx: IngestContext;
  readonly #seq: SeqNum;
  readonly #packs: (Pack | undefined)[];
  /** Packs of a table's size whose builds have settled, to fill again. */
  readonly #spare: Pack[] = [];
  /** Per shard, each table's build in key order. */
  readonly #tables: Promise<TableMeta>[][];
  readonly #reserved: { host: IngestHost; n: number }[] = [];
  readonly #inFlight: Promise<unknown>[] = [];
  /**
   * Where the key before lies: data[start, end) of the pack it went to, whose bytes nothing
   * changes before the next pair is checked against them (a pack is written only by #add,
   * after its check; reset() only forgets what it held).
   */
  #previousData: Uint8Array = EMPTY;
  #previousStart = 0;
  #previousEnd = -1;
  entries = 0;

  constructor(ctx: IngestContext, seq: SeqNum) {
    this.#ctx = ctx;
    this.#seq = seq;
    this.#packs = ctx.hosts.map(() => undefined);
    this.#tables = ctx.hosts.map(() => []);
  }

  async consume(source: Iterable<unknown> | AsyncIterable<unknown>, pairOf: PairOf): Promise<void> {
    const pair: IngestPair = { key: EMPTY, value: EMPTY };
    let turnAt = performance.now();
    // One item: packed, then a wait for the builds in flight if they are full, and a turn of
    // the event loop once the source held it TURN_BUDGET_MS (a synchronous source never lets
    // it turn by itself). A promise only when there is something to wait for.
    const take = (item: unknown): Promise<void> | undefined => {
      pairOf(item, this.entries, pair);
      const wait = this.#add(pair.key, pair.value);
      if ((this.entries & (TURN_CHECK_EVERY - 1)) !== 0 || performance.now() - turnAt <= TURN_BUDGET_MS) return wait?.then(() => {});
      return Promise.resolve(wait)
        .then(nextTurn)
        .then(() => {
          turnAt = performance.now();
        });
    };
    if (Symbol.asyncIterator in source) {
      for await (const item of source) {
        const wait = take(item);
        if (wait !== undefined) await wait;
      }
    } else {
      for (const item of source) {
        const wait = take(item);
        if (wait !== undefined) await wait;
      }
    }
  }

  /** Adds one pair; returns a promise only when the source must wait for builds in flight. */
  #add(key: Uint8Array, value: Uint8Array): Promise<unknown> | undefined {
    if (this.#previousEnd >= 0) {
      const order = compareToPrevious(key, this.#previousData, this.#previousStart, this.#previousEnd);
      if (order <= 0) throw invalidArgument(`ingest: keys must be strictly ascending, but pair ${this.entries} ${order === 0 ? 'repeats the key before it' : 'sorts before the one before it'}`);
    }
    const hosts = this.#ctx.hosts;
    const shard = this.#ctx.placement.shardOf(key);
    const bytes = key.length + value.length;
    let wait: Promise<unknown> | undefined;
    let pack = this.#packs[shard];
    if (pack !== undefined && !pack.fits(bytes)) {
      wait = this.#submit(shard);
      pack = undefined;
    }
    if (pack === undefined) {
      // A table's worth of room (within the budget), or more for one pair larger than that.
      const tableBytes = Math.min(hosts[shard]!.targetFileBytes, Math.max(1 << 20, Math.floor(PACK_BUDGET_BYTES / hosts.length)));
      pack = bytes <= tableBytes ? this.#sparePack(tableBytes) : new Pack(bytes);
      this.#packs[shard] = pack;
    }
    this.#previousData = pack.data;
    this.#previousStart = pack.used;
    this.#previousEnd = pack.used + key.length;
    pack.add(key, value);
    this.entries++;
    return wait;
  }

  /** A pack of `capacity` bytes: a spare one when there is one. */
  #sparePack(capacity: number): Pack {
    const spare = this.#spare;
    while (spare.length > 0) {
      const pack = spare.pop()!;
      if (pack.data.length === capacity) return pack;
    }
    return new Pack(capacity);
  }

  /** Sends the shard's pack to be built; returns a build to wait for when too many are in flight. */
  #submit(shard: number): Promise<unknown> | undefined {
    const pack = this.#packs[shard];
    this.#packs[shard] = undefined;
    if (pack === undefined || pack.count === 0) return undefined;
    const host = this.#ctx.hosts[shard]!;
    const n = host.reserveFileNumber();
    this.#reserved.push({ host, n });
    const build = this.#ctx.pool
      .runIngest({ kind: 'ingest', dir: host.dir, fileNumber: n, seq: this.#seq, ...pack.job(), builder: host.builder }, this.#ctx.fs)
      .then((r) => r.table)
      .finally(() => {
        pack.reset();
        this.#spare.push(pack);
      });
    this.#tables[shard]!.push(build);
    this.#inFlight.push(build.catch(() => {}));
    return this.#inFlight.length > MAX_BUILDS_IN_FLIGHT ? this.#inFlight.shift() : undefined;
  }

  /** Builds what is left; resolves, per shard, to its tables in key order, all durable. */
  async finish(): Promise<TableMeta[][]> {
    for (let shard = 0; shard < this.#packs.length; shard++) this.#submit(shard);
    const perShard = await Promise.all(this.#tables.map((builds) => settleAll(builds)));
    for (let shard = 0; shard < perShard.length; shard++) {
      if (perShard[shard]!.length > 0) await this.#ctx.fs.syncDir(this.#ctx.hosts[shard]!.dir);
    }
    return perShard;
  }

  /** Removes every table built or being built (invariant 3). */
  async abandon(): Promise<void> {
    await Promise.allSettled(this.#tables.flat());
    for (const { host, n } of this.#reserved) {
      await this.#ctx.fs.unlink(tableFileName(host.dir, n)).catch(() => {});
      host.forgetFileNumber(n);
    }
  }

  /** Once installed (or left to the next open), the numbers need no reserving. */
  forget(): void {
    for (const { host, n } of this.#reserved) host.forgetFileNumber(n);
  }
}

async function install(ctx: IngestContext, perShard: readonly TableMeta[][], seq: SeqNum): Promise<void> {
  const { hosts } = ctx;
  // Every shard that gets tables flushes first; a database of one shard always does, so that
  // no WAL it replays steps over S (src/engine/ingest.ts, invariant 2).
  await settleAll(hosts.map((h, i) => (perShard[i]!.length > 0 || hosts.length === 1 ? h.flushAll() : Promise.resolve())));
  const receiving = hosts.flatMap((h, i) => (perShard[i]!.length > 0 ? [i] : []));
  if (receiving.length === 0) return;
  // No compaction in the receiving shards from the choice of level to the edit.
  let entered!: () => void;
  const allEntered = new Promise<void>((resolve) => (entered = resolve));
  let waiting = receiving.length;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const quiet = receiving.map((i) =>
    hosts[i]!.withoutCompactions(async () => {
      if (--waiting === 0) entered();
      await finished;
    }),
  );
  try {
    await allEntered;
    const edits = new Map<number, VersionEdit>(receiving.map((i) => [i, ingestEdit(hosts[i]!.current(), hosts[i]!.lastSequence, perShard[i]!, seq)]));
    if (hosts.length === 1) {
      await hosts[0]!.logAndApply(edits.get(0)!);
      return;
    }
    await writeIngestIntent(ctx.fs, ctx.dir, { seq, edits });
    await settleAll([...edits].map(([i, edit]) => hosts[i]!.logAndApply(edit)));
    await removeIngestIntent(ctx.fs, ctx.dir);
  } finally {
    done();
    await Promise.allSettled(quiet);
  }
}

/** Waits for every promise, then rejects with the first failure, or resolves to the values. */
async function settleAll<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}
