/**
 * Ingest: sorted [key, value] pairs written straight to tables and linked into the tree, all
 * or nothing, bypassing the WAL and the memtables (`db.ingest`).
 *
 * Invariants:
 * 1. One sequence number S for the whole ingest, written into every entry of its tables (a
 *    real sequence number, as in any table: no table property stands in for it). S is
 *    allocated once every shard's writes are held (IngestHost.holdWrites: a pipeline barrier)
 *    and no batch across shards is half prepared, and is published only once every shard's
 *    part is installed: every write before the call is below S and visible before it, every
 *    write after the call waits behind the holds and is above S, and no reader ever sees a
 *    part of the ingest without the rest (a snapshot is either below S or sees it all).
 *    Reads go on throughout; writes queue, and resolve after the ingest.
 * 2. The main thread only checks and packs the pairs (strictly ascending; a key equal to or
 *    below the one before rejects with INVALID_ARGUMENT) and routes them to their shards;
 *    each shard's pairs are cut into tables of about targetFileBytes (raw key and value bytes)
 *    and built on the worker pool (src/compaction/ingest-job.ts), a few at a time.
 * 3. Nothing is installed until every table is built and fsynced, with its directory. A
 *    failure before that (bad input, a damaged table file, an I/O error) removes every table
 *    built, frees S (as a failed write's number) and installs nothing.
 * 4. Install: each shard flushes its memtables (IngestHost.flushAll), then its tables go in
 *    with one MANIFEST edit at the deepest level they overlap nothing at or above
 *    (src/engine/ingest.ts). One shard: that edit is the commit point. Several: an INGEST
 *    file (ingest-intent.ts) naming every shard's edit is made durable first, so that a crash
 *    between the shards' edits is completed at the next open; it is removed once all are
 *    durable. A failure once the install has begun stops writes in every shard, keeps every
 *    table and never publishes S in this process: the next open has all of the ingest (the
 *    INGEST file, or the one shard's edit, reached the disk) or none of it.
 * 5. Open transactions and conditional writes whose snapshot is below S conflict (the write
 *    tracker's cut moves to S): the tracker does not list the ingested keys.
 */

import { compareBytes, invalidArgument, StrataError, tableFileName, type FileSystem, type SeqNum } from '../base/index.js';
import type { BackgroundPool } from '../compaction/index.js';
import { ingestEdit, type IngestHost, type SequenceClock } from '../engine/index.js';
import type { TableMeta, VersionEdit } from '../manifest/index.js';
import { removeIngestIntent, writeIngestIntent } from './ingest-intent.js';
import { shardOf } from './router.js';
import type { WriteTracker } from './write-tracker.js';

/** What the ingest needs of the database (ShardSet). */
export interface IngestContext {
  fs: FileSystem;
  dir: string;
  hosts: readonly IngestHost[];
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

/** Turns one item of the source into its key and value bytes; throws INVALID_ARGUMENT. */
export type PairOf = (item: unknown, index: number) => readonly [Uint8Array, Uint8Array];

/** Table builds in flight at most, beyond which the source waits. */
const MAX_BUILDS_IN_FLIGHT = 4;
const FIRST_PACK_BYTES = 64 * 1024;

/** Ingests `source` (an iterable or async iterable of items `pairOf` understands). */
export async function ingest(ctx: IngestContext, source: Iterable<unknown> | AsyncIterable<unknown>, pairOf: PairOf): Promise<IngestResult> {
  const { seq, releases } = await holdAllWrites(ctx);
  const builds = new Builds(ctx, seq);
  let installing = false;
  try {
    await builds.consume(source, pairOf);
    const perShard = await builds.finish();
    installing = true;
    await install(ctx, perShard, seq);
    builds.forget();
    ctx.clock.complete(seq, 1);
    const tables = perShard.reduce((n, t) => n + t.length, 0);
    const bytes = perShard.reduce((n, t) => n + t.reduce((m, f) => m + f.fileSize, 0), 0);
    return { sequence: seq, entries: builds.entries, tables, bytes };
  } catch (err) {
    if (!installing) {
      await builds.abandon();
      ctx.clock.complete(seq, 1);
      throw err;
    }
    // Some edit may be durable: keep every table, publish nothing, take no more writes; the
    // next open has the whole ingest or none of it.
    const error = err instanceof StrataError ? err : new StrataError('IO_ERROR', `ingest: ${String(err)}`, { cause: err });
    for (const h of ctx.hosts) h.failWrites(error);
    throw error;
  } finally {
    for (const release of releases) release();
  }
}

/**
 * Holds every shard's writes at a moment no batch across shards is half prepared, and
 * allocates S there (invariant 1). Resolves once every write below S is published.
 */
async function holdAllWrites(ctx: IngestContext): Promise<{ seq: SeqNum; releases: (() => void)[] }> {
  for (;;) {
    const seq = ctx.clock.allocate(1);
    ctx.tracker.cutAt(seq);
    const held = await Promise.allSettled(ctx.hosts.map((h) => h.holdWrites()));
    const releases = held.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = held.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    // A batch across shards prepared before the holds may have its Commit records queued
    // behind them: let it finish, and try again with a new number.
    if (failed !== undefined || ctx.hosts.some((h) => h.preparing)) {
      for (const release of releases) release();
      ctx.clock.complete(seq, 1);
      if (failed !== undefined) throw failed.reason;
      await new Promise((resolve) => setTimeout(resolve, 1));
      continue;
    }
    await ctx.clock.whenPublished(seq - 1);
    return { seq, releases };
  }
}

/** The pairs of one shard waiting to become a table. */
class Pack {
  data = new Uint8Array(FIRST_PACK_BYTES);
  used = 0;
  ends = new Uint32Array(1024);
  count = 0;

  add(key: Uint8Array, value: Uint8Array): Uint8Array {
    const need = this.used + key.length + value.length;
    if (need > this.data.length) {
      const grown = new Uint8Array(Math.max(need, this.data.length * 2));
      grown.set(this.data.subarray(0, this.used));
      this.data = grown;
    }
    if (this.count + 2 > this.ends.length) {
      const grown = new Uint32Array(this.ends.length * 2);
      grown.set(this.ends);
      this.ends = grown;
    }
    const keyAt = this.used;
    this.data.set(key, keyAt);
    this.used += key.length;
    this.ends[this.count++] = this.used;
    this.data.set(value, this.used);
    this.used += value.length;
    this.ends[this.count++] = this.used;
    return this.data.subarray(keyAt, keyAt + key.length);
  }
}

/** The tables of an ingest being built, per shard, in key order. */
class Builds {
  readonly #ctx: IngestContext;
  readonly #seq: SeqNum;
  readonly #packs: Pack[];
  /** Per shard, each table's build in key order. */
  readonly #tables: Promise<TableMeta>[][];
  readonly #reserved: { host: IngestHost; n: number }[] = [];
  readonly #inFlight: Promise<unknown>[] = [];
  #previous: Uint8Array | undefined;
  entries = 0;

  constructor(ctx: IngestContext, seq: SeqNum) {
    this.#ctx = ctx;
    this.#seq = seq;
    this.#packs = ctx.hosts.map(() => new Pack());
    this.#tables = ctx.hosts.map(() => []);
  }

  async consume(source: Iterable<unknown> | AsyncIterable<unknown>, pairOf: PairOf): Promise<void> {
    if (Symbol.asyncIterator in source) {
      for await (const item of source) {
        const wait = this.#add(pairOf(item, this.entries));
        if (wait) await wait;
      }
    } else {
      for (const item of source) {
        const wait = this.#add(pairOf(item, this.entries));
        if (wait) await wait;
      }
    }
  }

  /** Adds one pair; returns a promise only when the source must wait for builds in flight. */
  #add([key, value]: readonly [Uint8Array, Uint8Array]): Promise<unknown> | undefined {
    const previous = this.#previous;
    if (previous !== undefined && compareBytes(key, previous) <= 0) {
      throw invalidArgument(`ingest: keys must be strictly ascending, but pair ${this.entries} ${compareBytes(key, previous) === 0 ? 'repeats the key before it' : 'sorts before the one before it'}`);
    }
    const hosts = this.#ctx.hosts;
    const shard = hosts.length === 1 ? 0 : shardOf(key, hosts.length);
    const pack = this.#packs[shard]!;
    this.#previous = pack.add(key, value);
    this.entries++;
    if (pack.used < hosts[shard]!.targetFileBytes) return undefined;
    this.#submit(shard);
    if (this.#inFlight.length < MAX_BUILDS_IN_FLIGHT) return undefined;
    return this.#inFlight.shift();
  }

  #submit(shard: number): void {
    const pack = this.#packs[shard]!;
    this.#packs[shard] = new Pack();
    if (pack.count === 0) return;
    const host = this.#ctx.hosts[shard]!;
    const n = host.reserveFileNumber();
    this.#reserved.push({ host, n });
    const build = this.#ctx.pool
      .runIngest(
        { kind: 'ingest', dir: host.dir, fileNumber: n, seq: this.#seq, data: pack.data.subarray(0, pack.used), ends: pack.ends.subarray(0, pack.count), builder: host.builder },
        this.#ctx.fs,
      )
      .then((r) => r.table);
    this.#tables[shard]!.push(build);
    this.#inFlight.push(build.catch(() => {}));
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
  const edits = new Map<number, VersionEdit>();
  hosts.forEach((h, i) => {
    if (perShard[i]!.length > 0) edits.set(i, ingestEdit(h.current(), h.lastSequence, perShard[i]!, seq));
  });
  if (hosts.length === 1) {
    const edit = edits.get(0);
    if (edit !== undefined) await hosts[0]!.logAndApply(edit);
    return;
  }
  if (edits.size === 0) return;
  await writeIngestIntent(ctx.fs, ctx.dir, { seq, edits });
  await settleAll([...edits].map(([i, edit]) => hosts[i]!.logAndApply(edit)));
  await removeIngestIntent(ctx.fs, ctx.dir);
}

/** Waits for every promise, then rejects with the first failure, or resolves to the values. */
async function settleAll<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}
