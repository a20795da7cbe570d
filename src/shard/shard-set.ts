/**
 * ShardSet: a database as N engines over disjoint parts of the key space (router.ts), in the
 * folders shard-0 … shard-(N-1) of its directory (shards-file.ts). One shard is one engine in
 * the directory itself.
 *
 * Invariants:
 * 1. One SequenceClock for all shards: a sequence number names one point of the whole
 *    database, and a read at the published sequence sees one consistent cut of every shard.
 * 2. A batch within one shard is that shard's plain WAL record. A batch across shards
 *    commits in two phases: its part as a Prepare record in each participant's WAL; once
 *    every Prepare is written (synced, with sync), a Commit record in each; once every Commit
 *    is written, the parts are applied and the batch is published. Recovery replays a
 *    prepared batch only if a Commit record for it survives in some participant
 *    (RecoveryCoordinator), so a batch is in every shard or in none.
 * 3. Each shard has its own commit pipeline: syncs of different shards are in flight at
 *    once. Flushes and compactions of all shards share one worker pool (first come, first
 *    served; each shard runs at most one compaction at a time, so none starves the others).
 * 4. A failed write in any shard stops writes in every shard (as a failed write does in one
 *    engine); reads go on.
 * 5. While a reader that validates at commit is open (a transaction, a conditional write),
 *    write() records every batch's keys in the WriteTracker, in the same synchronous step in
 *    which its sequence numbers are allocated (write-tracker.ts). With no such reader open,
 *    write() costs one test of a flag more than before.
 *
 * A database of one shard takes the same paths (the router sends every key to shard 0
 * without hashing, a cursor over one shard is that shard's own); it differs in one place,
 * open(): its engine lives in the directory itself and holds the lock there, with no SHARDS
 * file, as every database made before shards existed does.
 */

import {
  closedError,
  ensureDirectory,
  currentFileName,
  invariant,
  loadChecksum,
  lockFileName,
  StrataError,
  ValueKind,
  withExpiry,
  type BatchEntry,
  type FileLock,
  type MergeOperator,
  type FileSystem,
  type SeqNum,
} from '../base/index.js';
import { BackgroundPool } from '../compaction/index.js';
import type { VersionEdit } from '../manifest/index.js';
import {
  Engine,
  SequenceClock,
  type Bounds,
  type Cursor,
  type EngineStats,
  type ResolvedOptions,
  type TwoPhaseParticipant,
} from '../engine/index.js';
import { ChangeFeed, type FeedOptions } from './change-feed.js';
import { writeCheckpoint, type CheckpointResult } from './checkpoint.js';
import { ingest, type IngestResult, type PairOf } from './ingest.js';
import { readIngestIntent, removeIngestIntent } from './ingest-intent.js';
import { openCursor } from './merged-cursor.js';
import { RecoveryCoordinator } from './recovery-coordinator.js';
import { hasRangeDelete, shardOf, splitByShard } from './router.js';
import { readShardsFile, shardDirName, writeShardsFile } from './shards-file.js';
import { WriteTracker } from './write-tracker.js';
import type { LargeBlocks } from '../sstable/index.js';

export interface ShardedStats extends EngineStats {
  /** Each shard's own numbers; the fields above are their totals (levels summed per level). */
  shards: EngineStats[];
}

export class ShardSet {
  readonly dir: string;
  readonly #engines: readonly Engine[];
  /** Each shard's participant in batches that span shards; none for one shard. */
  readonly #participants: readonly TwoPhaseParticipant[];
  readonly #clock: SequenceClock;
  readonly #pool: BackgroundPool;
  /** The lock on `dir` when the shards live in folders (one shard's engine holds its own). */
  readonly #lock: FileLock | undefined;
  /** The writes open validating readers must know of (invariant 5). */
  readonly tracker: WriteTracker;
  /** Option ttl: the puts of every write that carry no expiry get one (undefined: ttl 0). */
  readonly #defaultTtl: DefaultTtl | undefined;

  private constructor(
    dir: string,
    engines: readonly Engine[],
    participants: readonly TwoPhaseParticipant[],
    shared: { clock: SequenceClock; pool: BackgroundPool; lock: FileLock | undefined; trackingBytes: number; defaultTtl: DefaultTtl | undefined },
  ) {
    this.dir = dir;
    this.#defaultTtl = shared.defaultTtl;
    this.tracker = new WriteTracker(shared.trackingBytes);
    this.#engines = engines;
    this.#participants = participants;
    this.#clock = shared.clock;
    this.#pool = shared.pool;
    this.#lock = shared.lock;
  }

  /**
   * Opens (creating if allowed) the database in `dir`. `shards` is the count asked for:
   * undefined takes the recorded count (1 for a new database); a count other than the
   * recorded one fails with INVALID_ARGUMENT before anything is written.
   */
  static async open(dir: string, options: ResolvedOptions, shards: number | undefined): Promise<ShardSet> {
    const trackingBytes = options.conflictTrackingBytes;
    const defaultTtl = options.ttl > 0 ? { ms: options.ttl, now: options.clock } : undefined;
    await loadChecksum();
    const fs = options.fs;
    const recorded = (await readShardsFile(fs, dir)) ?? ((await fs.exists(currentFileName(dir))) ? 1 : undefined);
    if (recorded !== undefined && shards !== undefined && shards !== recorded) {
      throw new StrataError(
        'INVALID_ARGUMENT',
        `${dir} holds a database of ${recorded} shard${recorded === 1 ? '' : 's'}; it cannot be opened with shards: ${shards}`,
      );
    }
    const count = recorded ?? shards ?? 1;
    const clock = new SequenceClock(0);
    const pool = new BackgroundPool({ workers: options.compactionWorkers });
    try {
      if (count === 1) return new ShardSet(dir, [await Engine.open(dir, options, { clock, pool })], [], { clock, pool, lock: undefined, trackingBytes, defaultTtl });
      return await ShardSet.#openInFolders(dir, options, count, recorded !== undefined, clock, pool, trackingBytes, defaultTtl);
    } catch (err) {
      await pool.close().catch(() => {});
      throw err;
    }
  }

  /** Opens a database of `count` > 1 shards, each in its folder, under one lock on `dir`. */
  static async #openInFolders(
    dir: string,
    options: ResolvedOptions,
    count: number,
    recorded: boolean,
    clock: SequenceClock,
    pool: BackgroundPool,
    trackingBytes: number,
    defaultTtl: DefaultTtl | undefined,
  ): Promise<ShardSet> {
    const fs = options.fs;
    if (recorded && options.errorIfExists) {
      throw new StrataError('INVALID_ARGUMENT', `${dir}: a database already exists there (errorIfExists)`);
    }
    await ensureDirectory(fs, dir, options.createIfMissing);
    const lock = await fs.lock(lockFileName(dir));
    try {
      if (!recorded && !options.createIfMissing) throw new StrataError('NOT_FOUND', `${dir} holds no database (createIfMissing is false)`);
      // An ingest cut short between its shards' MANIFEST edits is completed (ingest-intent.ts).
      const intent = recorded ? await readIngestIntent(fs, dir) : undefined;
      const { engines, participants } = await ShardSet.#openShards(dir, options, count, clock, pool, recorded, intent?.edits);
      if (intent) {
        try {
          await removeIngestIntent(fs, dir);
        } catch (err) {
          for (const e of engines) await e.close().catch(() => {});
          throw err;
        }
      }
      if (!recorded) {
        // The SHARDS file goes last: once it is durable, so is every shard (its CURRENT and
        // its folder's name), and a shard without a database is a lost one. Before it, no
        // write was ever acknowledged, and shard folders left by a creation cut short are
        // opened again as new.
        try {
          await fs.syncDir(dir);
          await writeShardsFile(fs, dir, count);
        } catch (err) {
          for (const e of engines) await e.close().catch(() => {});
          throw err;
        }
      }
      return new ShardSet(dir, engines, participants, { clock, pool, lock, trackingBytes, defaultTtl });
    } catch (err) {
      await lock.release().catch(() => {});
      throw err;
    }
  }

  static async #openShards(
    dir: string,
    options: ResolvedOptions,
    count: number,
    clock: SequenceClock,
    pool: BackgroundPool,
    recorded: boolean,
    pendingIngest: Map<number, VersionEdit> | undefined,
  ): Promise<{ engines: Engine[]; participants: TwoPhaseParticipant[] }> {
    const fs = options.fs;
    if (recorded) {
      const present = await Promise.all(Array.from({ length: count }, (_, i) => fs.exists(currentFileName(shardDirName(dir, i)))));
      const missing = present.indexOf(false);
      if (missing >= 0) throw new StrataError('CORRUPTION', `${shardDirName(dir, missing)}: shard ${missing} of ${count} holds no database (the SHARDS file says it must)`);
    }
    /** Filled once every shard is open. */
    const participants: TwoPhaseParticipant[] = [];
    // Before a shard installs a table holding its part of a batch across shards, the other
    // parts (Prepare records, maybe not synced) are made durable: every shard's WAL is synced.
    const syncAllWals = () => settleAll(participants.map((p) => p.syncWal()));
    const coordinator = new RecoveryCoordinator(count, clock, syncAllWals);
    // A shard that stops taking writes stops them all (invariant 4).
    let stopped = false;
    const onWritesFailed = (err: StrataError) => {
      if (stopped) return;
      stopped = true;
      for (const p of participants) p.failWrites(err);
    };
    // Each shard's cache gets its part of the budget; memtable budgets are per shard.
    const shardOptions: ResolvedOptions = {
      ...options,
      createIfMissing: true,
      errorIfExists: false,
      blockCacheBytes: Math.floor(options.blockCacheBytes / count),
    };
    const opening = Array.from({ length: count }, (_, i) =>
      Engine.open(shardDirName(dir, i), shardOptions, { clock, pool, onWritesFailed, twoPhase: coordinator.hooks(i), ...ingestPart(pendingIngest, i) }).catch((err: unknown) => {
        coordinator.fail(err);
        throw err;
      }),
    );
    const results = await Promise.allSettled(opening);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      for (const r of results) if (r.status === 'fulfilled') await r.value.close().catch(() => {});
      throw failed.reason;
    }
    const engines = results.map((r) => (r as PromiseFulfilledResult<Engine>).value);
    for (const e of engines) {
      invariant(e.twoPhase !== undefined, 'a shard opened with twoPhase hooks has a participant');
      participants.push(e.twoPhase);
    }
    return { engines, participants };
  }

  get publishedSeq(): SeqNum {
    return this.#clock.published;
  }

  get closed(): boolean {
    return this.#engines[0]!.closed;
  }

  /**
   * Writes one atomic batch; resolves to its last sequence number. Unless writeMustWait(), its
   * sequence numbers are allocated before this returns (both paths allocate before their first
   * await), so a check made just before the call, in the same synchronous step, holds at the
   * write's sequence number. When it must wait (an ingest is installing, or the numbers below
   * the one it reserved are used up: SequenceClock invariant 4), the batch is copied and parked,
   * and goes on above the ingest. `tracked`: the entries' keys in the WriteTracker's form, when
   * the caller has them (keyString(), one per entry, in order). REQUIRES: entries validated, not
   * empty.
   */
  write(entries: readonly BatchEntry[], sync: boolean, tracked?: readonly string[]): Promise<bigint> {
    if (this.#defaultTtl !== undefined) entries = withDefaultExpiry(entries, this.#defaultTtl);
    if (this.writeMustWait(entries)) {
      const owned = entries.map(ownBytes);
      return new Promise((resolve, reject) =>
        this.#clock.park(() => {
          try {
            this.#writeNow(owned, sync, tracked).then(resolve, reject);
          } catch (err) {
            reject(err);
          }
        }),
      );
    }
    return this.#writeNow(entries, sync, tracked);
  }

  /**
   * Whether write(entries) would wait for an ingest (see write()). A caller that checks
   * conditions before writing waits (whenWritesGo) and checks again. While it is true, the
   * tracker's cut is at the ingest's number: a reader below it conflicts.
   */
  writeMustWait(entries: readonly BatchEntry[]): boolean {
    if (this.#clock.reserved === undefined) return false;
    // A range deletion goes to every shard: an upper bound of the numbers the batch takes.
    const count = hasRangeDelete(entries) ? entries.length * this.#engines.length : entries.length;
    if (!this.#clock.mustWait(count)) return false;
    this.tracker.cutAt(this.#clock.reserved!);
    return true;
  }

  /** Resolves once writes no longer wait for an ingest (in order with the writes parked before). */
  whenWritesGo(): Promise<void> {
    return new Promise((resolve) => this.#clock.park(resolve));
  }

  #writeNow(entries: readonly BatchEntry[], sync: boolean, tracked: readonly string[] | undefined): Promise<bigint> {
    const engines = this.#engines;
    const first = shardOf(entries[0]!.key, engines.length);
    const ranged = hasRangeDelete(entries);
    // A range deletion is every shard's: with several, the batch spans them all.
    let single = !ranged || engines.length === 1;
    for (let i = 1; i < entries.length && single; i++) single = shardOf(entries[i]!.key, engines.length) === first;
    const done = single ? engines[first]!.write(entries, sync) : this.#writeAcross(entries, sync);
    // The batch's numbers are the last ones allocated. A write refused before allocating
    // (closed, failed) is recorded under an older number: at worst a needless conflict.
    if (this.tracker.active) {
      this.tracker.record(entries, this.#clock.last, tracked);
      if (ranged) this.tracker.cutAt(this.#clock.last);
    }
    return done;
  }

  /**
   * Opens a reader that validates against later writes: starts the tracker if needed, waits
   * until every write it did not record is published, then pins and registers the published
   * sequence S, which it returns. Every write above S is then in the tracker (invariant 5).
   * The caller must closeReader(S).
   */
  openReader(): SeqNum | Promise<SeqNum> {
    const clock = this.#clock;
    const tracker = this.tracker;
    // While writes wait for an ingest, a reader opened now reads at or above the ingest's
    // number: the cut that would make it conflict may have been set before it was active.
    tracker.activate(clock.mustWait(1) ? clock.reserved! : clock.last);
    // The common case while transactions are open, answered without a promise: every hop
    // through the microtask queue delays the commit that follows and splits write groups.
    if (clock.published >= tracker.from) {
      const seq = clock.published;
      this.pinSnapshot(seq);
      tracker.register(seq);
      return seq;
    }
    return this.#openReaderLater();
  }

  async #openReaderLater(): Promise<SeqNum> {
    const clock = this.#clock;
    const tracker = this.tracker;
    // Registered at once, so that the tracker stays active while this waits.
    const held = clock.published;
    tracker.register(held);
    try {
      await clock.whenPublished(tracker.from);
      if (this.closed) throw closedError('database');
      const seq = clock.published;
      this.pinSnapshot(seq);
      tracker.register(seq);
      return seq;
    } finally {
      tracker.unregister(held);
    }
  }

  closeReader(seq: SeqNum): void {
    this.releaseSnapshot(seq);
    this.tracker.unregister(seq);
  }

  /** Resolves once every write up to `seq` is published. */
  whenPublished(seq: SeqNum): Promise<void> {
    return this.#clock.whenPublished(seq);
  }

  /** The two-phase commit of a batch whose keys fall in several shards (invariant 2). */
  async #writeAcross(entries: readonly BatchEntry[], sync: boolean): Promise<bigint> {
    const clock = this.#clock;
    // A part is applied to its memtable only after every Commit record is written, long after
    // the caller got its promise: take the bytes now, as its Prepare record does, so that a
    // caller reusing its buffers meanwhile cannot make reads differ from what recovery replays.
    const parts = splitByShard(entries.map(ownBytes), this.#engines.length);
    const participants = [...parts.keys()].sort((a, b) => a - b);
    // A range deletion is in every part: the parts may hold more entries than the batch.
    let count = 0;
    for (const part of parts.values()) count += part.entries.length;
    const txn = clock.allocate(count);
    let next = txn;
    const ranges = participants.map((shard) => {
      const part = parts.get(shard)!;
      const range = { shard: this.#participants[shard]!, firstSeq: next, entries: part.entries, places: part.places };
      next += part.entries.length;
      return range;
    });
    const prepared = ranges.map((r) => r.shard.prepare(txn, participants, r.firstSeq, r.entries, r.places, sync));
    try {
      await settleAll(prepared);
      await settleAll(ranges.map((r) => r.shard.commit(txn, sync)));
    } catch (err) {
      // Some Commit record may be in a WAL: then recovery finds the batch committed. The
      // caller hears of the failure (as of a failed sync: the write may or may not survive a
      // reopen) and every shard stops taking writes.
      for (const r of ranges) r.shard.endPrepare();
      clock.complete(txn, count);
      throw err;
    }
    for (const r of ranges) {
      r.shard.applyPrepared(r.firstSeq, r.entries);
      r.shard.endPrepare();
    }
    clock.complete(txn, count);
    const lastSeq = txn + count - 1;
    await clock.whenPublished(lastSeq);
    return BigInt(lastSeq);
  }

  /**
   * A change feed over every shard's retained logs (change-feed.ts). Throws OUT_OF_RANGE when
   * `since` is older than what they retain. `onEnd` is called once when the feed ends.
   */
  changes(options: FeedOptions, onEnd: (feed: ChangeFeed) => void): ChangeFeed {
    return new ChangeFeed(this.#engines.map((e) => e.changeLog), this.#clock, options, onEnd);
  }

  /** The newest value of `key` visible at `seq`. */
  get(key: Uint8Array, seq: SeqNum): Buffer | undefined {
    const engines = this.#engines;
    return engines[shardOf(key, engines.length)]!.get(key, seq);
  }

  /** Where an asynchronous read of `key` defers large blocks: its shard's. */
  largeBlocksOf(key: Uint8Array): LargeBlocks {
    const engines = this.#engines;
    return engines[shardOf(key, engines.length)]!.largeBlocks;
  }

  /** The newest value of `key` visible at `seq`, with the sequence number that wrote it. */
  getEntry(key: Uint8Array, seq: SeqNum): { value: Buffer; seq: SeqNum } | undefined {
    const engines = this.#engines;
    return engines[shardOf(key, engines.length)]!.getEntry(key, seq);
  }

  /** Pins the published sequence in every shard; the caller must releaseSnapshot() it. */
  acquireSnapshot(): SeqNum {
    return this.pinSnapshot(this.publishedSeq);
  }

  /** Pins `seq` (already pinned by the caller's reader) once more in every shard. */
  pinSnapshot(seq: SeqNum): SeqNum {
    for (const e of this.#engines) e.pinSnapshot(seq);
    return seq;
  }

  releaseSnapshot(seq: SeqNum): void {
    for (const e of this.#engines) e.releaseSnapshot(seq);
  }

  /** A cursor over every shard at `seq` (pinned by the caller). */
  iterator(seq: SeqNum, bounds: Bounds, reverse: boolean, limit: number): Cursor {
    return openCursor(this.#engines, seq, bounds, reverse, limit);
  }

  async flush(): Promise<void> {
    await settleAll(this.#engines.map((e) => e.flush()));
  }

  /** Writes sorted pairs straight to tables, all or nothing (ingest.ts). */
  ingest(fs: FileSystem, source: Iterable<unknown> | AsyncIterable<unknown>, pairOf: PairOf): Promise<IngestResult> {
    if (this.closed) return Promise.reject(closedError('database'));
    const hosts = this.#engines.map((e) => e.ingestHost);
    return ingest({ fs, dir: this.dir, hosts, clock: this.#clock, pool: this.#pool, tracker: this.tracker }, source, pairOf);
  }

  /** A copy of the database at the published sequence, in the new directory `dst` (checkpoint.ts). */
  async checkpoint(fs: FileSystem, dst: string): Promise<CheckpointResult> {
    const seq = this.acquireSnapshot();
    try {
      return await writeCheckpoint(fs, this.#engines, seq, dst);
    } finally {
      this.releaseSnapshot(seq);
    }
  }

  async compactRange(start: Uint8Array | undefined, end: Uint8Array | undefined): Promise<void> {
    await settleAll(this.#engines.map((e) => e.compactRange(start, end)));
  }

  /** The database's merge operator (every shard's is the same), if it has one. */
  get mergeOperator(): MergeOperator | undefined {
    return this.#engines[0]!.mergeOperator;
  }

  /** The shards' Engine.approximateSize() summed. */
  approximateSize(start: Uint8Array | undefined, end: Uint8Array | undefined): number {
    let bytes = 0;
    for (const e of this.#engines) bytes += e.approximateSize(start, end);
    return bytes;
  }

  stats(): ShardedStats {
    const shards = this.#engines.map((e) => e.stats());
    return { ...totalOf(shards, this.#clock), shards };
  }

  /** Closes every shard, then the shared pool and the lock. Idempotent. Reports the first failure. */
  async close(): Promise<void> {
    if (this.closed) return;
    const results = await Promise.allSettled(this.#engines.map((e) => e.close()));
    await this.#pool.close().catch(() => {});
    await this.#lock?.release();
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

/** Shard `i`'s part of an interrupted ingest, as EngineHooks.pendingIngest. */
function ingestPart(edits: Map<number, VersionEdit> | undefined, i: number): { pendingIngest?: VersionEdit } {
  const edit = edits?.get(i);
  return edit === undefined ? {} : { pendingIngest: edit };
}

const ownBytes = (e: BatchEntry): BatchEntry => ({ kind: e.kind, key: Buffer.from(e.key), value: Buffer.from(e.value) });

/** Waits for every promise, then rejects with the first failure, if any. */
async function settleAll(promises: readonly Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

interface DefaultTtl {
  ms: number;
  now: () => number;
}

/** `entries` with every plain Put made a PutWithExpiry at now + ttl (src/base/ttl.ts). */
function withDefaultExpiry(entries: readonly BatchEntry[], ttl: DefaultTtl): readonly BatchEntry[] {
  const expiresAtMs = ttl.now() + ttl.ms;
  return entries.map((e) => (e.kind === ValueKind.Put ? { kind: ValueKind.PutWithExpiry, key: e.key, value: withExpiry(e.value, expiresAtMs) } : e));
}

/** The shards' numbers summed (for one shard: its own numbers). */
function totalOf(shards: readonly EngineStats[], clock: SequenceClock): EngineStats {
  const sum = (pick: (s: EngineStats) => number) => shards.reduce((n, s) => n + pick(s), 0);
  const writes = sum((s) => s.writes);
  const groups = sum((s) => s.writeGroups);
  const userBytes = sum((s) => s.userBytesWritten);
  const diskBytes = sum((s) => s.walBytes + s.bytesFlushed + s.bytesCompactedOut);
  invariant(shards.length > 0, 'stats of no shards');
  return {
    writes,
    writeGroups: groups,
    averageGroupSize: groups === 0 ? 0 : writes / groups,
    largestGroup: Math.max(...shards.map((s) => s.largestGroup)),
    walSyncs: sum((s) => s.walSyncs),
    walBytes: sum((s) => s.walBytes),
    userBytesWritten: userBytes,
    lastSequence: clock.last,
    publishedSequence: clock.published,
    memtableBytes: sum((s) => s.memtableBytes),
    memtableEntries: sum((s) => s.memtableEntries),
    immutableMemtables: sum((s) => s.immutableMemtables),
    flushes: sum((s) => s.flushes),
    bytesFlushed: sum((s) => s.bytesFlushed),
    writeStalls: sum((s) => s.writeStalls),
    writeStallMs: sum((s) => s.writeStallMs),
    compactions: sum((s) => s.compactions),
    compactionsRunning: sum((s) => s.compactionsRunning),
    subcompactions: sum((s) => s.subcompactions),
    bytesCompactedIn: sum((s) => s.bytesCompactedIn),
    bytesCompactedOut: sum((s) => s.bytesCompactedOut),
    droppedByRangeTombstones: sum((s) => s.droppedByRangeTombstones),
    droppedRangeTombstones: sum((s) => s.droppedRangeTombstones),
    droppedByExpiry: sum((s) => s.droppedByExpiry),
    pendingCompactionBytes: sum((s) => s.pendingCompactionBytes),
    merges: sum((s) => s.merges),
    changeRetention: {
      bytes: sum((s) => s.changeRetention.bytes),
      logs: sum((s) => s.changeRetention.logs),
      // A feed needs every shard to reach back that far.
      oldestSequence: Math.max(...shards.map((s) => s.changeRetention.oldestSequence)),
    },
    writeAmplification: userBytes === 0 ? 0 : diskBytes / userBytes,
    levels: shards[0]!.levels.map((l, i) => ({
      level: l.level,
      files: sum((s) => s.levels[i]!.files),
      bytes: sum((s) => s.levels[i]!.bytes),
      score: Math.max(...shards.map((s) => s.levels[i]!.score)),
      targetBytes: sum((s) => s.levels[i]!.targetBytes),
    })),
    blockCache: {
      hits: sum((s) => s.blockCache.hits),
      misses: sum((s) => s.blockCache.misses),
      usedBytes: sum((s) => s.blockCache.usedBytes),
    },
    openTables: sum((s) => s.openTables),
    liveSnapshots: shards[0]!.liveSnapshots,
  };
}
