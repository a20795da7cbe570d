/**
 * ShardSet: a database as N engines over disjoint parts of the key space (router.ts), in the
 * shard folders of its directory that its SHARDS file names (shards-file.ts). One shard made by
 * open() is one engine in the directory itself (a reshard to one shard keeps it in a folder).
 *
 * Invariants:
 * 1. One SequenceClock for all shards: a sequence number names one point of the whole
 *    database (db.sequence and the change feed follow its global `published`). What is
 *    published in each shard, what a write waits for before it is answered and what reads
 *    see, is the ShardPublication's: a write in one shard waits for that shard alone, and a
 *    read takes a cut, each shard's published sequence read in one synchronous step, that
 *    holds a batch across shards whole or not at all (shard-publication.ts). One shard has
 *    no ShardPublication: its published sequence is the clock's.
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
  batchEncodedLength,
  closedError,
  encodeBatchInto,
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
  memoryTotal,
  SequenceClock,
  lowest,
  ShardPublication,
  SyncRounds,
  type Bounds,
  type Cut,
  type CheckpointView,
  type Cursor,
  type DbIterator,
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
import { hasRangeDelete, Placement } from './router.js';
import { readShardsFile, shardFolders, writeShardsFile, type ShardLayout } from './shards-file.js';
import { removeStaleShards } from './stale-shards.js';
import { WriteTracker } from './write-tracker.js';
import type { LargeBlocks } from '../sstable/index.js';

export interface ShardedStats extends EngineStats {
  /** Writes (put, del, batch) whose keys all fall in one shard: no two-phase commit. */
  batchesInOneShard: number;
  /** Batches across shards, each a two-phase commit (a range deletion, with several shards). */
  batchesAcrossShards: number;
  /** Each shard's own numbers; the fields above are their totals (levels summed per level). */
  shards: EngineStats[];
}

export class ShardSet {
  readonly dir: string;
  readonly #engines: readonly Engine[];
  /** Which engine holds each key. */
  readonly #placement: Placement;
  /** The SHARDS file's record; undefined for one shard in the directory itself. */
  readonly layout: ShardLayout | undefined;
  /** Each shard's participant in batches that span shards; none for one shard. */
  readonly #participants: readonly TwoPhaseParticipant[];
  readonly #clock: SequenceClock;
  readonly #pool: BackgroundPool;
  /** The lock on `dir` when the shards live in folders (one shard's engine holds its own). */
  readonly #lock: FileLock | undefined;
  /** What is published in each shard (invariant 1); undefined for one shard. */
  readonly #publication: ShardPublication | undefined;
  /** Batches written (not refused before allocating), within one shard and across shards. */
  #batchesInOneShard = 0;
  #batchesAcrossShards = 0;
  /** The writes open validating readers must know of (invariant 5). */
  readonly tracker: WriteTracker;
  /** Option ttl: the puts of every write that carry no expiry get one (undefined: ttl 0). */
  readonly #defaultTtl: DefaultTtl | undefined;

  private constructor(
    dir: string,
    engines: readonly Engine[],
    participants: readonly TwoPhaseParticipant[],
    shared: {
      clock: SequenceClock;
      publication: ShardPublication | undefined;
      pool: BackgroundPool;
      lock: FileLock | undefined;
      trackingBytes: number;
      defaultTtl: DefaultTtl | undefined;
    },
    layout: ShardLayout | undefined,
  ) {
    this.dir = dir;
    this.layout = layout;
    this.#placement = layout?.placement ?? new Placement(1, 'jump', false);
    this.#defaultTtl = shared.defaultTtl;
    this.tracker = new WriteTracker(shared.trackingBytes);
    this.#engines = engines;
    this.#participants = participants;
    this.#clock = shared.clock;
    this.#publication = shared.publication;
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
    const layout = await readShardsFile(fs, dir);
    const recorded = layout?.placement.count ?? ((await fs.exists(currentFileName(dir))) ? 1 : undefined);
    if (recorded !== undefined && shards !== undefined && shards !== recorded) {
      throw new StrataError(
        'INVALID_ARGUMENT',
        `${dir} holds a database of ${recorded} shard${recorded === 1 ? '' : 's'}; it cannot be opened with shards: ${shards} ` +
          `(to change the count, run \`stratadb reshard ${dir} --shards ${shards}\` on the closed database)`,
      );
    }
    const count = recorded ?? shards ?? 1;
    const clock = new SequenceClock(0);
    const pool = new BackgroundPool({ workers: options.compactionWorkers, heapLimitBytes: options.compactionWorkerHeapBytes, nice: options.backgroundNice });
    try {
      if (count === 1 && layout === undefined) {
        const engine = await Engine.open(dir, options, { clock, pool });
        try {
          // Folders of a reshard from this one shard cut short before its commit point.
          await removeStaleShards(fs, dir, undefined);
        } catch (err) {
          await engine.close().catch(() => {});
          throw err;
        }
        return new ShardSet(dir, [engine], [], { clock, publication: undefined, pool, lock: undefined, trackingBytes, defaultTtl }, undefined);
      }
      const created = layout ?? { placement: Placement.forNew(count, options.hashTags), generation: 0 };
      return await ShardSet.#openInFolders(dir, options, created, layout !== undefined, clock, pool, trackingBytes, defaultTtl);
    } catch (err) {
      await pool.close().catch(() => {});
      throw err;
    }
  }

  /** Opens a database of `count` > 1 shards, each in its folder, under one lock on `dir`. */
  static async #openInFolders(
    dir: string,
    options: ResolvedOptions,
    layout: ShardLayout,
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
      // What a reshard cut short left: the folders of the other generation, engine files in
      // the root directory (stale-shards.ts).
      if (recorded) await removeStaleShards(fs, dir, layout);
      // An ingest cut short between its shards' MANIFEST edits is completed (ingest-intent.ts).
      const intent = recorded ? await readIngestIntent(fs, dir) : undefined;
      const publication = new ShardPublication(clock, layout.placement.count);
      const { engines, participants } = await ShardSet.#openShards(shardFolders(dir, layout), options, clock, publication, pool, recorded, intent?.edits);
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
          await writeShardsFile(fs, dir, layout);
        } catch (err) {
          for (const e of engines) await e.close().catch(() => {});
          throw err;
        }
      }
      return new ShardSet(dir, engines, participants, { clock, publication, pool, lock, trackingBytes, defaultTtl }, layout);
    } catch (err) {
      await lock.release().catch(() => {});
      throw err;
    }
  }

  static async #openShards(
    folders: readonly string[],
    options: ResolvedOptions,
    clock: SequenceClock,
    publication: ShardPublication,
    pool: BackgroundPool,
    recorded: boolean,
    pendingIngest: Map<number, VersionEdit> | undefined,
  ): Promise<{ engines: Engine[]; participants: TwoPhaseParticipant[] }> {
    const fs = options.fs;
    const count = folders.length;
    if (recorded) {
      const present = await Promise.all(folders.map((folder) => fs.exists(currentFileName(folder))));
      const missing = present.indexOf(false);
      if (missing >= 0) throw new StrataError('CORRUPTION', `${folders[missing]}: shard ${missing} of ${count} holds no database (the SHARDS file says it must)`);
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
    const syncRounds = new SyncRounds();
    const opening = Array.from({ length: count }, (_, i) =>
      Engine.open(folders[i]!, shardOptions, {
        clock,
        publication: { owner: publication, shard: i, syncRounds },
        pool,
        onWritesFailed,
        twoPhase: coordinator.hooks(i),
        ...ingestPart(pendingIngest, i),
      }).catch((err: unknown) => {
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

  /**
   * The globally published sequence: every write at or below it is published in every shard
   * (db.sequence, the change feed). A read takes a cut() instead, which may be ahead of it.
   */
  get publishedSeq(): SeqNum {
    return this.#clock.published;
  }

  /** What reads see now: each shard's published sequence, read in one step (invariant 1). */
  cut(): Cut {
    return this.#publication === undefined ? [this.#clock.published] : this.#publication.cut();
  }

  /** The sequence number a read of `key` at `cut` reads its shard at. */
  seqIn(cut: Cut, key: Uint8Array): SeqNum {
    return cut.length === 1 ? cut[0]! : cut[this.#placement.shardOf(key)]!;
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
    const placement = this.#placement;
    const first = placement.shardOf(entries[0]!.key);
    const ranged = hasRangeDelete(entries);
    // A range deletion is every shard's: with several, the batch spans them all.
    let single = !ranged || engines.length === 1;
    for (let i = 1; i < entries.length && single; i++) single = placement.shardOf(entries[i]!.key) === first;
    const done = single ? engines[first]!.write(entries, sync) : this.#writeAcross(entries, sync);
    if (single) this.#batchesInOneShard++;
    else this.#batchesAcrossShards++;
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
   * until every write it did not record is published, then pins the cut it reads at, which it
   * returns, and registers the cut's lowest number S. Every write above S, so every write
   * above the cut in its shard, is then in the tracker (invariant 5): a write to a key k that
   * the reader did not see is one above seqIn(cut, k). The caller must closeReader(cut).
   */
  openReader(): Cut | Promise<Cut> {
    const clock = this.#clock;
    const tracker = this.tracker;
    // While writes wait for an ingest, a reader opened now reads at or above the ingest's
    // number: the cut that would make it conflict may have been set before it was active.
    tracker.activate(clock.mustWait(1) ? clock.reserved! : clock.last);
    // The common case while transactions are open, answered without a promise: every hop
    // through the microtask queue delays the commit that follows and splits write groups.
    // Every entry of a cut is at or above the clock's published sequence.
    if (clock.published >= tracker.from) {
      const cut = this.cut();
      this.pinSnapshot(cut);
      tracker.register(lowest(cut));
      return cut;
    }
    return this.#openReaderLater();
  }

  async #openReaderLater(): Promise<Cut> {
    const clock = this.#clock;
    const tracker = this.tracker;
    // Registered at once, so that the tracker stays active while this waits.
    const held = clock.published;
    tracker.register(held);
    try {
      await clock.whenPublished(tracker.from);
      if (this.closed) throw closedError('database');
      const cut = this.cut();
      this.pinSnapshot(cut);
      tracker.register(lowest(cut));
      return cut;
    } finally {
      tracker.unregister(held);
    }
  }

  closeReader(cut: Cut): void {
    this.releaseSnapshot(cut);
    this.tracker.unregister(lowest(cut));
  }

  /** Resolves once every write up to `seq` is published in every shard. */
  whenPublished(seq: SeqNum): Promise<void> {
    return this.#clock.whenPublished(seq);
  }

  /** The two-phase commit of a batch whose keys fall in several shards (invariant 2). */
  async #writeAcross(entries: readonly BatchEntry[], sync: boolean): Promise<bigint> {
    const clock = this.#clock;
    const publication = this.#publication!;
    const parts = this.#placement.split(entries);
    const participants = [...parts.keys()].sort((a, b) => a - b);
    // A range deletion is in every part: the parts may hold more entries than the batch.
    let count = 0;
    for (const part of parts.values()) count += part.entries.length;
    const txn = clock.allocate(count);
    let answer!: (seq: bigint) => void;
    const published = new Promise<bigint>((resolve) => (answer = resolve));
    const entry = publication.enterAcross(participants, { firstSeq: txn, count, resolve: answer });
    let next = txn;
    const ranges = participants.map((shard) => {
      const part = parts.get(shard)!;
      // A part is applied to its memtable only after every Commit record is written, long
      // after the caller got its promise: its bytes are taken now, encoded once, for its
      // Prepare record and that insert both, so that a caller reusing its buffers meanwhile
      // cannot make reads differ from what recovery replays.
      const batch = new Uint8Array(batchEncodedLength(part.entries));
      encodeBatchInto(batch, 0, next, part.entries);
      const range = { shard: this.#participants[shard]!, batch, entries: part.entries, places: part.places };
      next += part.entries.length;
      return range;
    });
    const prepared = ranges.map((r) => r.shard.prepare(txn, participants, r.batch, r.entries, r.places, sync));
    try {
      await settleAll(prepared);
      await settleAll(ranges.map((r) => r.shard.commit(txn, sync)));
    } catch (err) {
      // Some Commit record may be in a WAL: then recovery finds the batch committed. The
      // caller hears of the failure (as of a failed sync: the write may or may not survive a
      // reopen) and every shard stops taking writes.
      for (const r of ranges) r.shard.endPrepare();
      clock.complete(txn, count);
      publication.complete(entry);
      throw err;
    }
    for (const r of ranges) {
      r.shard.applyPrepared(r.batch);
      r.shard.endPrepare();
    }
    clock.complete(txn, count);
    // Published in every participant at once, after every earlier write of each of them.
    publication.complete(entry);
    return published;
  }

  /**
   * A change feed over every shard's retained logs (change-feed.ts). Throws OUT_OF_RANGE when
   * `since` is older than what they retain. `onEnd` is called once when the feed ends.
   */
  changes(options: FeedOptions, onEnd: (feed: ChangeFeed) => void): ChangeFeed {
    return new ChangeFeed(this.#engines.map((e) => e.changeLog), this.#clock, options, onEnd);
  }

  /** The newest value of `key` visible at `cut`. */
  get(key: Uint8Array, cut: Cut): Buffer | undefined {
    const engines = this.#engines;
    if (engines.length === 1) return engines[0]!.get(key, cut[0]!);
    const shard = this.#placement.shardOf(key);
    return engines[shard]!.get(key, cut[shard]!);
  }

  /** Engine.getInto in the shard that holds `key`, at `cut`. */
  getInto(key: Uint8Array, cut: Cut, target: Uint8Array): ReturnType<Engine['getInto']> {
    const engines = this.#engines;
    const shard = engines.length === 1 ? 0 : this.#placement.shardOf(key);
    return engines[shard]!.getInto(key, cut[shard]!, target);
  }

  /** The shard that holds `key` (0 in a database of one shard). */
  shardOf(key: Uint8Array): number {
    return this.#engines.length === 1 ? 0 : this.#placement.shardOf(key);
  }

  /** Where an asynchronous read of `key` defers large blocks: its shard's. */
  largeBlocksOf(key: Uint8Array): LargeBlocks {
    const engines = this.#engines;
    return engines[this.#placement.shardOf(key)]!.largeBlocks;
  }

  /** The newest value of `key` visible at `cut`, with the sequence number that wrote it. */
  getEntry(key: Uint8Array, cut: Cut): { value: Buffer; seq: SeqNum } | undefined {
    const engines = this.#engines;
    const shard = engines.length === 1 ? 0 : this.#placement.shardOf(key);
    return engines[shard]!.getEntry(key, cut[shard]!);
  }

  /** Pins the current cut in every shard; the caller must releaseSnapshot() it. */
  acquireSnapshot(): Cut {
    return this.pinSnapshot(this.cut());
  }

  /** Pins `cut` (already pinned by the caller's reader) once more: shard i at cut[i]. */
  pinSnapshot(cut: Cut): Cut {
    const engines = this.#engines;
    for (let i = 0; i < engines.length; i++) engines[i]!.pinSnapshot(cut[i]!);
    return cut;
  }

  releaseSnapshot(cut: Cut): void {
    const engines = this.#engines;
    for (let i = 0; i < engines.length; i++) engines[i]!.releaseSnapshot(cut[i]!);
  }

  /** A cursor over every shard at `cut` (pinned by the caller). */
  iterator(cut: Cut, bounds: Bounds, reverse: boolean, limit: number): Cursor {
    return openCursor(this.#engines, cut, bounds, reverse, limit);
  }

  async flush(): Promise<void> {
    await settleAll(this.#engines.map((e) => e.flush()));
  }

  /** Writes sorted pairs straight to tables, all or nothing (ingest.ts). */
  ingest(fs: FileSystem, source: Iterable<unknown> | AsyncIterable<unknown>, pairOf: PairOf): Promise<IngestResult> {
    if (this.closed) return Promise.reject(closedError('database'));
    const hosts = this.#engines.map((e) => e.ingestHost);
    return ingest({ fs, dir: this.dir, hosts, placement: this.#placement, clock: this.#clock, pool: this.#pool, tracker: this.tracker }, source, pairOf);
  }

  /** A copy of the database at the current cut, in the new directory `dst` (checkpoint.ts). */
  async checkpoint(fs: FileSystem, dst: string): Promise<CheckpointResult> {
    const cut = this.acquireSnapshot();
    try {
      return await writeCheckpoint(fs, this.#engines, cut, dst, this.layout?.placement);
    } finally {
      this.releaseSnapshot(cut);
    }
  }

  async compactRange(start: Uint8Array | undefined, end: Uint8Array | undefined): Promise<void> {
    await settleAll(this.#engines.map((e) => e.compactRange(start, end)));
  }

  /**
   * Each shard's own cursor over all its keys, shard i at `cut[i]` (pinned by the caller), in shard order,
   * for a reshard (reshard.ts). The caller closes them.
   */
  shardCursors(cut: Cut): DbIterator[] {
    const cursors: DbIterator[] = [];
    try {
      const engines = this.#engines;
      for (let i = 0; i < engines.length; i++) cursors.push(engines[i]!.iterator(cut[i]!, { lowerInclusive: true, upperInclusive: false }, false, -1));
    } catch (err) {
      for (const c of cursors) c.close();
      throw err;
    }
    return cursors;
  }

  /**
   * Each shard's CheckpointView (its memtables flushed; Engine.checkpointView), in shard order,
   * for a reshard (reshard.ts). The caller releases them.
   */
  async checkpointViews(): Promise<CheckpointView[]> {
    const taken = await Promise.allSettled(this.#engines.map((e) => e.checkpointView()));
    const views = taken.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = taken.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      for (const v of views) v.release();
      throw failed.reason;
    }
    return views;
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
    const total = totalOf(shards, this.#clock);
    // The worker pool is the database's, shared by the shards: counted once, here.
    const workers = this.#pool.memory;
    const memory = { ...total.memory, workerThreads: workers.threads, workerHeapBytes: workers.heapBytes };
    return {
      ...total,
      memory: { ...memory, totalBytes: memoryTotal(memory) },
      batchesInOneShard: this.#batchesInOneShard,
      batchesAcrossShards: this.#batchesAcrossShards,
      shards,
    };
  }

  /**
   * Closes every shard, then the shared pool and the lock. Idempotent. Reports the first
   * failure. `settle`: each shard first leaves its tree as the next open is to find it (Engine.close).
   */
  async close(settle = false): Promise<void> {
    if (this.closed) return;
    const results = await Promise.allSettled(this.#engines.map((e) => e.close(settle)));
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
    memory: {
      memtableBytes: sum((s) => s.memory.memtableBytes),
      memtablePoolBytes: sum((s) => s.memory.memtablePoolBytes),
      blockCacheBytes: sum((s) => s.memory.blockCacheBytes),
      indexAndFilterBytes: sum((s) => s.memory.indexAndFilterBytes),
      changeRingBytes: sum((s) => s.memory.changeRingBytes),
      workerThreads: sum((s) => s.memory.workerThreads),
      workerHeapBytes: sum((s) => s.memory.workerHeapBytes),
      totalBytes: sum((s) => s.memory.totalBytes),
    },
  };
}
