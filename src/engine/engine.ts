/**
 * Engine: one shard's complete LSM engine — commit pipeline, memtables, flush, version set,
 * read path and recovery — over one directory.
 *
 * Invariants:
 * 1. Writes go WAL → memtable in sequence order (CommitPipeline); a read at sequence S sees
 *    exactly the writes with sequence <= S.
 * 2. Each memtable has its own WAL. A full memtable becomes immutable, the old WAL is synced
 *    and closed, and a new one starts, so only the newest WAL can have a torn tail.
 * 3. Immutable memtables are flushed oldest first. A flush's MANIFEST edit names the new
 *    table and moves the log number to the oldest WAL still needed; only then is the flushed
 *    memtable dropped and its WAL deleted.
 * 4. A table is deleted only when no live version names it and no flush is writing it.
 * 5. After a background (flush, compaction) or WAL failure, writes fail with that error;
 *    reads go on.
 * 6. One compaction at a time per engine, picked by CompactionPicker and run by the
 *    BackgroundPool (in a worker thread); its MANIFEST edit, written here on the main thread,
 *    is its commit point. Its input files go when no version in use names them.
 * 7. Backpressure: at l0SlowdownTrigger level-0 files each write group waits 1 ms, at
 *    l0StopTrigger (or with maxImmutableMemtables waiting) writes wait for a flush or a
 *    compaction to finish. Writers are delayed, never failed, for this; stalls are counted.
 * 8. As a shard (EngineHooks): sequence numbers come from the database's one SequenceClock,
 *    the worker pool is shared, and its part in batches that span shards is its participant's
 *    (two-phase-participant.ts, `twoPhase`): the memtable and WAL do not switch while a
 *    prepared batch is open, and a memtable holding such a part is installed only after every
 *    shard's WAL is synced.
 * 9. The WALs are the WalSet's (src/wal): this engine decides when one starts, rotates or is
 *    released (after the MANIFEST edit that moves the log number past it); the set does it.
 */

import {
  closedError,
  liveValue,
  ensureDirectory,
  corruption,
  invariant,
  ioError,
  lockFileName,
  MergingIterator,
  parseFileName,
  StrataError,
  tableFileName,
  manifestFileName,
  tempFileName,
  ValueKind,
  loadChecksum,
  loadMergeOperator,
  type BatchEntry,
  type MergeOperator,
  type FileLock,
  type InternalIterator,
  type SeqNum,
} from '../base/index.js';
import {
  approximateBytesIn,
  CompactionPicker,
  BackgroundPool,
  coveredBytesBelow,
  levelTargetBytes,
  filesInRange,
  outputFilesToReserve,
  pendingCompactionBytes,
  subcompactionCuts,
  writeMemtable,
  type CompactionJob,
  type CompactionResult,
  type PickedCompaction,
} from '../compaction/index.js';
import { NUM_LEVELS, VersionSet, type TableMeta, type Version, type VersionEdit } from '../manifest/index.js';
import { Memtable, MemtablePool } from '../memtable/index.js';
import { BlockCache, LargeBlocks, TableCache, type TableBuilderOptions } from '../sstable/index.js';
import { WalSet } from '../wal/index.js';
import { CommitPipeline, type PublishedIn } from './commit-pipeline.js';
import { DbIterator, type Bounds, type ReadSource } from './db-iterator.js';
import type { ResolvedOptions } from './options.js';
import { cutRetainedWals, plainBatches, replayWals } from './recovery.js';
import { SequenceClock } from './sequence-clock.js';
import { SnapshotList } from './snapshots.js';
import { Participant, type TwoPhaseHooks, type TwoPhaseParticipant } from './two-phase-participant.js';
import { ChangeLog } from './change-log.js';
import { resolveMergeChain, type FoundVersion } from './merge-chain.js';
import type { CheckpointView } from './checkpoint.js';
import type { IngestHost } from './ingest.js';
import { RangeTombstoneView, TombstoneSkippingIterator } from './range-tombstones.js';

/** The value of a version that holds none (a Delete read path answer). */
const EMPTY = new Uint8Array(0);

interface Immutable {
  readonly mem: Memtable;
  /** The WAL that holds exactly this memtable's writes. */
  readonly walNumber: number;
}

export interface EngineStats {
  writes: number;
  writeGroups: number;
  averageGroupSize: number;
  largestGroup: number;
  walSyncs: number;
  walBytes: number;
  userBytesWritten: number;
  lastSequence: SeqNum;
  publishedSequence: SeqNum;
  memtableBytes: number;
  memtableEntries: number;
  immutableMemtables: number;
  flushes: number;
  bytesFlushed: number;
  writeStalls: number;
  writeStallMs: number;
  compactions: number;
  compactionsRunning: number;
  /** Key ranges that compactions were cut into and ran side by side (subcompactions.ts); a compaction not cut counts none. */
  subcompactions: number;
  bytesCompactedIn: number;
  bytesCompactedOut: number;
  /** Versions that compactions dropped because a range tombstone covered them. */
  droppedByRangeTombstones: number;
  /** Range tombstones that compactions dropped (nothing older left beneath them). */
  droppedRangeTombstones: number;
  /** Expired puts that compactions turned into deletions (dropped, or kept as a Delete while something older may lie below). */
  droppedByExpiry: number;
  pendingCompactionBytes: number;
  /** Merge operands written (db.merge(), merges in batches and transactions). */
  merges: number;
  /**
   * WAL kept past its flush for the change feed (option changeRetention, and what open feeds
   * read): bytes and files, and the oldest `since` a feed can start from.
   */
  changeRetention: { bytes: number; logs: number; oldestSequence: SeqNum };
  /** Bytes written to disk (WAL, flushes, compactions) per byte the user wrote. */
  writeAmplification: number;
  levels: { level: number; files: number; bytes: number; score: number; targetBytes: number }[];
  blockCache: { hits: number; misses: number; usedBytes: number };
  openTables: number;
  liveSnapshots: number;
  /** Memory by consumer; an engine's own has no workers (the pool is the database's). */
  memory: MemoryStats;
}

/**
 * Memory by consumer, in bytes (stats().memory). What the engine holds in typed arrays and
 * buffers, counted where it is allocated; not the process's resident size, which adds Node
 * itself, the JavaScript heap and the allocator's slack (the README's memory bound).
 */
export interface MemoryStats {
  /** The active and immutable memtables: arena chunks and node arrays, spare capacity included. */
  memtableBytes: number;
  /**
   * Memory of flushed memtables kept for the next ones and still resident (src/memtable/pool.ts):
   * with the native addon the pool gives its pages back to the kernel, and this is about 0.
   */
  memtablePoolBytes: number;
  /** Decompressed data blocks in the block cache. */
  blockCacheBytes: number;
  /** Index and filter blocks of the open tables (kept for as long as a table is open). */
  indexAndFilterBytes: number;
  /** Commit groups held for live change feeds (src/engine/change-ring.ts); 0 with no feed open. */
  changeRingBytes: number;
  /** Worker threads running now, and the JavaScript heaps they reported after their last job. */
  workerThreads: number;
  workerHeapBytes: number;
  /** The sum of the byte figures above. */
  totalBytes: number;
}

/** What a sharded database shares with, and asks of, each shard's engine. */
export interface EngineHooks {
  /** The database's one sequence counter (default: the engine's own). */
  clock?: SequenceClock;
  /** As a shard of several: where its writes are published (default: by the clock alone). */
  publication?: PublishedIn;
  /** The worker pool shared by all shards (default: the engine's own, closed with it). */
  pool?: BackgroundPool;
  /** Called once when this engine stops taking writes (a WAL or background failure). */
  onWritesFailed?(err: StrataError): void;
  /** Makes the engine a participant shard: its WALs may hold Prepare and Commit records. */
  twoPhase?: TwoPhaseHooks;
  /**
   * This shard's part of an ingest across shards whose MANIFEST edit may not have been written
   * (src/shard/ingest-intent.ts): applied at open unless the MANIFEST's last sequence already
   * reached the edit's (then it was).
   */
  pendingIngest?: VersionEdit;
}

/**
 * The operator option `mergeOperator` names, loaded, after checking it against the name the
 * MANIFEST recorded (`recorded`): another operator, or none, for a database that records one
 * fails with INVALID_ARGUMENT before anything is written (operands mean something only to the
 * operator that wrote them). A database that records none takes any operator, and records it.
 */
async function openMergeOperator(dir: string, options: ResolvedOptions, recorded: string | undefined): Promise<MergeOperator | undefined> {
  const spec = options.mergeOperator;
  if (spec === undefined) {
    if (recorded !== undefined) {
      throw new StrataError('INVALID_ARGUMENT', `${dir}: the database records merge operator ${JSON.stringify(recorded)}; open it with that mergeOperator`);
    }
    return undefined;
  }
  const op = await loadMergeOperator(spec);
  if (recorded !== undefined && recorded !== op.name) {
    throw new StrataError('INVALID_ARGUMENT', `${dir}: the database records merge operator ${JSON.stringify(recorded)}, not ${JSON.stringify(op.name)}`);
  }
  return op;
}

/** How this database builds tables (flushes, compactions, recovery). */
function builderOptionsOf(options: ResolvedOptions): TableBuilderOptions {
  return { blockBytes: options.blockBytes, compression: options.compression, bloomBitsPerKey: options.bloomBitsPerKey };
}

/** The caches a shard reads its tables through: made by open() before recovery, so that the recovered tables open while the WALs replay. */
interface TableReaders {
  readonly blockCache: BlockCache | undefined;
  readonly tableCache: TableCache;
  readonly largeBlocks: LargeBlocks;
}

/** The tables open() opens ahead: up to maxOpenFiles of them, level 0 and then each level down. */
function tablesToOpenAhead(versions: VersionSet, options: ResolvedOptions): number[] {
  const files: number[] = [];
  for (const { table } of versions.current.allFiles()) {
    if (files.length === options.maxOpenFiles) break;
    files.push(table.fileNumber);
  }
  return files;
}

function tableReadersOf(dir: string, options: ResolvedOptions): TableReaders {
  const blockCache = options.blockCacheBytes > 0 ? new BlockCache(options.blockCacheBytes) : undefined;
  const largeBlocks = new LargeBlocks();
  const tableCache = new TableCache(options.fs, (n) => tableFileName(dir, n), { maxOpenFiles: options.maxOpenFiles, blockCache, largeBlocks });
  return { blockCache, tableCache, largeBlocks };
}

/**
 * close() settles the tree (Engine.#settle) when the work is at most this many memtables'
 * bytes: about one level-0 compaction at the default sizes (a 1M-key fill's close: 1.3-1.6 s on
 * the project's 2-core test machine), not the backlog of writes that outran their compactions.
 */
const SETTLE_MAX_MEMTABLES = 4;

/** The most bytes of tables' pages #openTablesAhead maps in after open(). */
const PREFAULT_BYTES = 256 * 1024 * 1024;
/** What one of its thread-pool jobs maps in: a close() waits for one at most. */
const PREFAULT_SLICE_BYTES = 8 * 1024 * 1024;

export class Engine {
  readonly dir: string;
  readonly #options: ResolvedOptions;
  /** The database's merge operator (src/base/merge-operator.ts), if it has one. */
  readonly #mergeOperator: MergeOperator | undefined;
  readonly #lock: FileLock;
  readonly #versions: VersionSet;
  readonly #pipeline: CommitPipeline;
  readonly #clock: SequenceClock;
  readonly #blockCache: BlockCache | undefined;
  readonly #tableCache: TableCache;
  /** Where asynchronous reads of this shard defer large blocks (src/sstable/large-blocks.ts). */
  readonly largeBlocks: LargeBlocks;
  readonly #snapshots = new SnapshotList();
  /** The range tombstones reads apply (range-tombstones.ts). */
  readonly #rangeTombstones: RangeTombstoneView;
  readonly #builderOptions: TableBuilderOptions;
  /** Tables being written whose edit is not yet applied: never deleted as obsolete. */
  readonly #pendingOutputs = new Set<number>();
  #mem: Memtable;
  /** Memory of flushed memtables for the next ones (src/memtable/pool.ts says why). */
  readonly #memPool: MemtablePool;
  /** The WALs: this engine decides when to rotate and release them, the set does it. */
  readonly #wals: WalSet;
  #imms: Immutable[] = [];
  #flushing: Promise<void> | undefined;
  #compacting: Promise<void> | undefined;
  /**
   * compactRange() calls waiting for #compacting: while any waits, no automatic compaction
   * starts (RocksDB's pending manual compaction does the same). The manual one rewrites its
   * range into the deepest level anyway, so automatic ones started meanwhile (a level pushed
   * over its target by the one that just ended) would only be work done twice.
   */
  #manualWaiting = 0;
  readonly #pool: BackgroundPool;
  readonly #ownsPool: boolean;
  readonly #picker: CompactionPicker;
  /** The retained logs read back for the change feed. */
  readonly changeLog: ChangeLog;
  /** Applies retention's age limit when no flush does (WalSet invariant 4). */
  readonly #expiry: ReturnType<typeof setInterval> | undefined;
  /** This shard's part in batches that span shards; undefined for an engine alone. */
  readonly #twoPhase: Participant | undefined;
  /** Writers and flush() waiting for a flush or compaction to finish. */
  #progressWaiters: { resolve(): void; reject(err: unknown): void }[] = [];
  #backgroundError: StrataError | undefined;
  #closed = false;
  #deleting: Promise<void> = Promise.resolve();
  /** The tables being opened after open() (#openTablesAhead); close() waits for it. */
  #openingAhead: Promise<void> = Promise.resolve();
  #userBytes = 0;
  #merges = 0;
  #flushes = 0;
  #bytesFlushed = 0;
  #stalls = 0;
  #stallMs = 0;
  #compactions = 0;
  #compactionsRunning = 0;
  #bytesCompactedIn = 0;
  #bytesCompactedOut = 0;
  #subcompactions = 0;
  #droppedByRangeTombstones = 0;
  #droppedRangeTombstones = 0;
  #droppedByExpiry = 0;

  private constructor(
    dir: string,
    options: ResolvedOptions,
    hooks: EngineHooks,
    lock: FileLock,
    versions: VersionSet,
    wals: WalSet,
    mergeOperator: MergeOperator | undefined,
    readers: TableReaders,
  ) {
    this.dir = dir;
    this.#options = options;
    this.#mergeOperator = mergeOperator;
    this.#lock = lock;
    this.#versions = versions;
    this.#wals = wals;
    this.#memPool = MemtablePool.forMemtables(options.memtableBytes);
    this.#mem = new Memtable({ pool: this.#memPool, expectedBytes: this.#options.memtableBytes });
    this.#blockCache = readers.blockCache;
    this.#tableCache = readers.tableCache;
    this.largeBlocks = readers.largeBlocks;
    this.#rangeTombstones = new RangeTombstoneView(this.#tableCache);
    this.#builderOptions = builderOptionsOf(options);
    this.#clock = hooks.clock ?? new SequenceClock(versions.lastSequence);
    this.#clock.advanceTo(versions.lastSequence);
    this.#pipeline = new CommitPipeline(
      this.#clock,
      {
        beforeGroup: () => this.#makeRoomForWrite(),
      append: (records, sync) => this.#wals.append(records, sync),
      apply: (bytes, at) => this.#mem.addBatch(bytes, at),
      beforeApply: (bytes, ats) => this.#mem.hintBatches(bytes, ats),
      appended: (records, firstSeq, lastSeq, writes) => {
        const ring = this.changeLog.ring;
        if (ring.active) ring.add(records, wals.currentNumber, wals.current.completedBytes - records.length, firstSeq, lastSeq, writes);
      },
        failed: (err) => hooks.onWritesFailed?.(err),
      },
      hooks.publication,
    );
    this.#twoPhase =
      hooks.twoPhase &&
      new Participant(hooks.twoPhase, {
        pipeline: this.#pipeline,
        wals,
        memtable: () => this.#mem,
        closed: () => this.#closed,
        written: (entries) => {
          for (const e of entries) {
            this.#userBytes += e.key.length + e.value.length;
            if (e.kind === ValueKind.Merge) this.#merges++;
          }
        },
        failWrites: (err) => this.#setBackgroundError('write', err),
      });
    this.#ownsPool = hooks.pool === undefined;
    this.#pool = hooks.pool ?? new BackgroundPool({ workers: options.compactionWorkers, heapLimitBytes: options.compactionWorkerHeapBytes, nice: options.backgroundNice });
    // An estimate: a table that fails to open counts nothing here, and the compaction or read
    // that needs its bytes reports the failure.
    const coveredBytes = (version: Version, level: number, file: TableMeta) => {
      try {
        return coveredBytesBelow(version, level, file, this.#tableCache);
      } catch {
        return 0;
      }
    };
    this.#picker = new CompactionPicker(
      { l0CompactionTrigger: options.l0CompactionTrigger, levelBaseBytes: options.levelBaseBytes, levelMultiplier: options.levelMultiplier },
      coveredBytes,
    );
    versions.onObsoleteFiles(() => this.#scheduleObsoleteDeletion());
    // Called from inside a read: the compaction starts on the next turn, not within the read.
    versions.onReadCompactionDue(() => void setImmediate(() => this.#maybeScheduleCompaction()));
    this.changeLog = new ChangeLog({ fs: options.fs, wals, flushedSeq: () => this.#versions.lastSequence });
    const { bytes, ms } = options.changeRetention;
    if (bytes > 0 && ms > 0) {
      this.#expiry = setInterval(() => void wals.expire().catch(() => {}), Math.max(1000, Math.min(ms / 4, 60_000)));
      this.#expiry.unref();
    }
  }

  /**
   * Opens (creating if allowed) the database in `dir`: takes the lock, recovers the MANIFEST,
   * replays and flushes the WALs no table covers, starts a fresh WAL and MANIFEST, and deletes
   * files nothing refers to.
   */
  static async open(dir: string, options: ResolvedOptions, hooks: EngineHooks = {}): Promise<Engine> {
    await loadChecksum();
    const fs = options.fs;
    await ensureDirectory(fs, dir, options.createIfMissing);
    const lock = await fs.lock(lockFileName(dir));
    let readers: TableReaders | undefined;
    /** The tables open() starts opening ahead (openAhead), each settling once its tables are open or failed. */
    const openingAhead: Promise<void>[] = [];
    try {
      const names = await fs.readdir(dir);
      const files = names.map((name) => ({ name, parsed: parseFileName(name) }));
      // An engine alone rotates its WAL without syncing the old one (WalSet's deferSync);
      // a shard of several syncs it: its recovery scans older WALs for two-phase records.
      const wals = new WalSet(fs, dir, names, options.changeRetention, options.walPreallocateBytes, hooks.twoPhase === undefined);
      let versions: VersionSet;
      if (names.includes('CURRENT')) {
        if (options.errorIfExists) throw new StrataError('INVALID_ARGUMENT', `${dir}: a database already exists there (errorIfExists)`);
        versions = await VersionSet.recover(fs, dir);
      } else {
        if (!options.createIfMissing) throw new StrataError('NOT_FOUND', `${dir} holds no database (createIfMissing is false)`);
        // A first open cut short (a crash before CURRENT was renamed into place) leaves a WAL
        // and a MANIFEST that nothing was written through: start over. A table, or a WAL
        // holding records, means data that a lost CURRENT would orphan: refuse.
        for (const f of files) {
          const holdsData =
            f.parsed?.kind === 'table' ||
            (f.parsed?.kind === 'wal' && (await wals.holdsRecords(f.parsed.number)));
          if (holdsData) throw corruption(`${dir}/CURRENT`, 0, `missing, yet ${f.name} holds data`);
        }
        versions = VersionSet.empty(fs, dir);
      }
      const mergeOperator = await openMergeOperator(dir, options, versions.mergeOperator);
      for (const f of files) if (f.parsed) versions.markFileNumberUsed(f.parsed.number);
      const present = new Set(files.filter((f) => f.parsed?.kind === 'table').map((f) => f.parsed!.number));
      for (const { table } of versions.current.allFiles()) {
        if (!present.has(table.fileNumber)) throw corruption(tableFileName(dir, table.fileNumber), 0, 'table named by the MANIFEST is missing');
      }
      // The recovered tables open on the thread pool while the WALs replay and the recovery
      // flush runs (#openTablesAhead then waits for them), rather than after open() returns,
      // when the first gets would wait for them.
      readers = tableReadersOf(dir, options);
      if (options.openTablesAhead) openingAhead.push(readers.tableCache.openAhead(tablesToOpenAhead(versions, options)));

      // The WAL the log number names is created before any edit names it and deleted only
      // after a later edit moves past it. Missing, it means the MANIFEST lost an edit that was
      // synced (a damaged or cut file, not a crash): refuse rather than open without it.
      if (versions.logNumber > 0 && !wals.has(versions.logNumber)) {
        throw corruption(wals.path(versions.logNumber), 0, 'the WAL the MANIFEST names as current is missing: the MANIFEST lost an edit');
      }
      const allWals = wals.stored();
      const walNumbers = allWals.filter((n) => n >= versions.logNumber);
      const recovered = hooks.twoPhase
        ? await Participant.recover(hooks.twoPhase, wals, versions.logNumber, versions.lastSequence)
        : { rules: plainBatches, highestSeq: 0 };
      const rules = recovered.rules;
      const replay = await replayWals(wals, walNumbers, {
        mode: options.walRecovery,
        memtableBytes: options.memtableBytes,
        lastSeq: versions.lastSequence,
        onSkip: options.onRecoverySkip,
        rules,
        olderLogsUnsynced: hooks.twoPhase === undefined,
      });
      if (hooks.twoPhase === undefined) {
        // Logs after a power cut's cut are deleted before anything is written (their sequence
        // numbers are handed out again), and so are retained logs it cut short. What stays
        // is made durable: the first LogsSynced record of this run will vouch for it.
        const retained = allWals.filter((n) => n < versions.logNumber);
        const cutRetained = await cutRetainedWals(wals, retained, replay.marked, versions.firstLogNumber);
        await wals.discard([...cutRetained, ...replay.dropped]);
        await wals.syncAllStored();
      }
      const added: { level: number; table: TableMeta }[] = [];
      for (const mem of replay.memtables) {
        const n = versions.newFileNumber();
        mem.markImmutable();
        const meta = await writeMemtable(fs, dir, n, mem, builderOptionsOf(options));
        if (meta) {
          added.push({ level: 0, table: meta });
          if (options.openTablesAhead) openingAhead.push(readers.tableCache.openAhead([meta.fileNumber]));
        }
      }
      const ingest = hooks.pendingIngest;
      let ingestSeq = 0;
      if (ingest?.lastSequence !== undefined && versions.lastSequence < ingest.lastSequence) {
        added.push(...(ingest.added ?? []));
        ingestSeq = ingest.lastSequence;
      }
      const walNumber = versions.newFileNumber();
      await wals.start(walNumber);
      try {
        // The numbers of a prepared batch that did not commit are never handed out again: the
        // retained logs still hold its Prepare records, and a change feed reading them beside
        // later writes relies on every shard's logs rising in sequence order. (They are this
        // shard's own records, in logs recovery just synced: a flushed sequence this high says
        // nothing untrue to the coordinator's "part in a table" rule.)
        const lastSequence = Math.max(replay.lastSeq, recovered.highestSeq, ingestSeq);
        await versions.startManifest({ logNumber: walNumber, lastSequence, added, ...(mergeOperator && { mergeOperator: mergeOperator.name }) });
      } catch (err) {
        await wals.close(false).catch(() => {});
        throw err;
      }
      const engine = new Engine(dir, options, hooks, lock, versions, wals, mergeOperator, readers);
      if (engine.#twoPhase) {
        try {
          await engine.#twoPhase.recovered();
        } catch (err) {
          await engine.close().catch(() => {});
          throw err;
        }
      }
      await wals.release(versions.logNumber);
      await engine.#deleteObsoleteFiles();
      engine.#maybeScheduleCompaction();
      if (options.openTablesAhead) engine.#openingAhead = engine.#openTablesAhead();
      return engine;
    } catch (err) {
      // The tables opening ahead are closed once open (openAhead settles, failed or not): a
      // failed open leaves no descriptor of the directory's behind.
      await Promise.all(openingAhead);
      readers?.tableCache.close();
      await lock.release().catch(() => {});
      throw err;
    }
  }

  get publishedSeq(): SeqNum {
    return this.#clock.published;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Writes one atomic batch; resolves to its last sequence number. REQUIRES: entries validated, not empty. */
  write(entries: readonly BatchEntry[], sync: boolean): Promise<bigint> {
    if (this.#closed) return Promise.reject(closedError('database'));
    for (const e of entries) {
      this.#userBytes += e.key.length + e.value.length;
      if (e.kind === ValueKind.Merge) this.#merges++;
    }
    return this.#pipeline.submit(entries, sync);
  }

  /** This shard's side of batches that span shards (ShardSet drives it); undefined alone. */
  get twoPhase(): TwoPhaseParticipant | undefined {
    return this.#twoPhase;
  }

  /** The newest value of `key` visible at `seq` (default: everything published). */
  get(key: Uint8Array, seq: SeqNum = this.#clock.published): Buffer | undefined {
    const hit = this.#find(key, seq);
    if (hit === undefined || hit.kind === ValueKind.Delete) return undefined;
    return this.largeBlocks.copyOut(hit.value);
  }

  /**
   * get() into `target`: the value's `length` and where its bytes are in target (`at`), or
   * undefined when `key` has no value. A value that fits is copied to target's start (`at`
   * 0), unless it is a view of `target` already (a large block read into it: large-blocks.ts),
   * which the caller moves; one longer than target is not copied (target's bytes unspecified).
   */
  getInto(key: Uint8Array, seq: SeqNum, target: Uint8Array): { length: number; at: number } | undefined {
    const hit = this.#find(key, seq);
    if (hit === undefined || hit.kind === ValueKind.Delete) return undefined;
    const value = hit.value;
    const length = value.length;
    const at = value.byteOffset - target.byteOffset;
    if (value.buffer === target.buffer && at >= 0 && at + length <= target.length) return { length, at };
    if (length <= target.length) target.set(value);
    return { length, at: 0 };
  }

  /** get() with the sequence number of the write that stored the value. */
  getEntry(key: Uint8Array, seq: SeqNum): { value: Buffer; seq: SeqNum } | undefined {
    const hit = this.#find(key, seq);
    if (hit === undefined || hit.kind === ValueKind.Delete) return undefined;
    return { value: this.largeBlocks.copyOut(hit.value), seq: hit.seq };
  }

  /**
   * The newest version of `key` at or below `seq` as reads see it: a Put or a Delete; merge
   * operands there are resolved into a Put (with the newest operand's seq).
   */
  #find(key: Uint8Array, seq: SeqNum) {
    this.#checkOpen();
    const hit = this.#findVersion(key, seq);
    if (hit?.kind !== ValueKind.Merge) return hit;
    return resolveMergeChain(this.#mergeOperator, key, hit, (below) => this.#findVersion(key, below));
  }

  /**
   * The newest stored version of `key` at or below `seq`, as reads see it: a Put (an expiry
   * stripped), a Merge, or a Delete (also for a put expired by the clock, or a version that a
   * range tombstone visible at `seq` and newer than it hides).
   */
  #findVersion(key: Uint8Array, seq: SeqNum): FoundVersion | undefined {
    const hit = this.#mem.get(key, seq) ?? this.#getFromImmutables(key, seq) ?? this.#versions.current.get(key, seq, this.#tableCache);
    if (hit === undefined) return undefined;
    if (hit.kind !== ValueKind.Delete && this.#currentRangeTombstones().hides(key, hit.seq, seq)) return { seq: hit.seq, kind: ValueKind.Delete, value: EMPTY };
    if (hit.kind !== ValueKind.PutWithExpiry) return hit;
    // The clock is read only for an entry that can expire.
    const value = liveValue(hit.kind, hit.value, this.#options.clock());
    return value === undefined ? { seq: hit.seq, kind: ValueKind.Delete, value: EMPTY } : { seq: hit.seq, kind: ValueKind.Put, value };
  }

  #currentRangeTombstones() {
    return this.#rangeTombstones.current(this.#versions.current, this.#mem, this.#imms);
  }

  /** The database's merge operator, if it has one. */
  get mergeOperator(): MergeOperator | undefined {
    return this.#mergeOperator;
  }

  /** Pins the published sequence for reads; the caller must releaseSnapshot() it. */
  acquireSnapshot(): SeqNum {
    this.#checkOpen();
    const seq = this.#clock.published;
    this.#snapshots.acquire(seq);
    return seq;
  }

  /** Pins `seq` (an already pinned sequence, read through by a new reader) once more. */
  pinSnapshot(seq: SeqNum): SeqNum {
    this.#checkOpen();
    this.#snapshots.acquire(seq);
    return seq;
  }

  releaseSnapshot(seq: SeqNum): void {
    this.#snapshots.release(seq);
  }

  /**
   * A cursor at `seq` (which the caller has pinned with acquireSnapshot). Each of its sources
   * (#readSource) holds the memtables and version of its moment until replaced or closed, so
   * the tables it reads stay on disk.
   */
  iterator(seq: SeqNum, bounds: Bounds, reverse: boolean, limit: number): DbIterator {
    this.#checkOpen();
    return new DbIterator(() => this.#readSource(seq, reverse), seq, this.#mergeOperator, bounds, reverse, limit);
  }

  /** The memtables and current version as one merged cursor at `seq`, pinned until release(). */
  #readSource(seq: SeqNum, reverse: boolean): ReadSource {
    const version = this.#versions.current;
    const mem = this.#mem;
    version.ref();
    const children: InternalIterator[] = [mem.iterator(), ...this.#imms.map((imm) => imm.mem.iterator())];
    version.addIterators(children, this.#tableCache);
    const rangeTombstones = this.#currentRangeTombstones();
    if (rangeTombstones.size > 0) {
      // Each source steps over what the tombstones hide from it (range-tombstones.ts).
      const maxSeqs = [mem.lastSeq ?? 0, ...this.#imms.map((imm) => imm.mem.lastSeq ?? 0), ...version.iteratorMaxSeqs()];
      invariant(maxSeqs.length === children.length, 'one largest sequence number per cursor');
      for (let i = 0; i < children.length; i++) children[i] = new TombstoneSkippingIterator(children[i]!, maxSeqs[i]!, rangeTombstones, seq);
    }
    const it = new MergingIterator(children);
    const tables = this.#tableCache;
    return {
      it,
      rangeTombstones,
      nowMs: this.#options.clock(),
      // A closed engine makes no new source: the iterator reads on over the one it has.
      stale: () => !this.#closed && (this.#versions.current !== version || this.#mem !== mem),
      tablesReady: (target) => tables.whenOpen(version.tablesToPosition(target, reverse)),
      release: () => {
        it.close();
        version.unref();
      },
    };
  }

  /** Writes the current memtable (if it holds anything) and every older one to tables. */
  async flush(): Promise<void> {
    this.#checkOpen();
    const rotate = async () => {
      if (this.#mem.entryCount > 0) await this.#rotate();
    };
    // Not while a prepared batch is open (invariant 8).
    await (this.#twoPhase?.betweenPrepares(rotate) ?? this.#pipeline.barrier(rotate));
    await this.#waitForFlushes();
  }

  /**
   * What a checkpoint copies (checkpoint.ts): switches the memtable, waits until it and every
   * older one are tables, then returns the current version, ref()ed until release(). Every
   * write published before the call is then in that version's tables.
   */
  async checkpointView(): Promise<CheckpointView> {
    this.#checkOpen();
    let through: number | undefined;
    const rotate = async () => {
      if (this.#mem.entryCount > 0) await this.#rotate();
      through = this.#imms.at(-1)?.walNumber;
    };
    // Not while a prepared batch is open (invariant 8).
    await (this.#twoPhase?.betweenPrepares(rotate) ?? this.#pipeline.barrier(rotate));
    // Only the memtables up to the switch: later ones hold later writes only.
    while (through !== undefined && this.#imms.length > 0 && this.#imms[0]!.walNumber <= through) {
      this.#scheduleFlush();
      await this.#waitForProgress();
    }
    this.#checkOpen();
    const version = this.#versions.current;
    version.ref();
    const mergeOperator = this.#mergeOperator?.name;
    return { fs: this.#options.fs, dir: this.dir, version, builder: this.#builderOptions, ...(mergeOperator !== undefined && { mergeOperator }), release: () => version.unref() };
  }

  /** What an ingest needs of this engine (ingest.ts). */
  get ingestHost(): IngestHost {
    const engine = this;
    return {
      fs: this.#options.fs,
      dir: this.dir,
      builder: this.#builderOptions,
      targetFileBytes: this.#options.targetFileBytes,
      reserveFileNumber: () => {
        const n = this.#versions.newFileNumber();
        this.#pendingOutputs.add(n);
        return n;
      },
      forgetFileNumber: (n) => void this.#pendingOutputs.delete(n),
      flushAll: async () => {
        this.#checkOpen();
        // The switch between groups and not while a prepared batch is open, as checkpointView's.
        const rotate = async () => {
          if (this.#mem.entryCount > 0) await this.#rotate();
        };
        await (this.#twoPhase?.betweenPrepares(rotate) ?? this.#pipeline.barrier(rotate));
        await this.#waitForFlushes();
      },
      current: () => this.#versions.current,
      get lastSequence() {
        return engine.#versions.lastSequence;
      },
      logAndApply: async (edit) => {
        await this.#versions.logAndApply(edit);
        this.#maybeScheduleCompaction();
      },
      failWrites: (err) => this.#setBackgroundError('ingest', err),
      withoutCompactions: async (step) => {
        // As compactRange() claims #compacting: wait and claim in one synchronous step.
        while (this.#compacting) await this.#compacting;
        let finished!: () => void;
        this.#compacting = new Promise<void>((resolve) => (finished = resolve));
        try {
          return await step();
        } finally {
          this.#compacting = undefined;
          finished();
          this.#notifyProgress();
          this.#maybeScheduleCompaction();
        }
      },
    };
  }

  /**
   * Flushes, then compacts the files overlapping [start, end] (everything by default) of every
   * level, in one compaction, into the deepest level holding data, rewriting them (so tombstones and shadowed
   * versions no snapshot needs are gone), and rewrites the deepest level's files in that range
   * that hold range tombstones or expired puts. Resolves when done.
   */
  async compactRange(start: Uint8Array | undefined, end: Uint8Array | undefined): Promise<void> {
    this.#manualWaiting++;
    try {
      await this.flush();
      while (this.#compacting) await this.#compacting;
    } finally {
      this.#manualWaiting--;
    }
    // The wait and the claim below happen in one synchronous step: an `await` between them
    // (an async helper that returns once idle) would let a second caller, or an automatic
    // compaction, claim #compacting too, and two compactions of the same files would install
    // overlapping tables in one level.
    while (this.#compacting) await this.#compacting;
    if (this.#backgroundError) throw this.#backgroundError;
    // Set before any work and settled only after it was cleared: a caller woken by it never
    // finds it still set and already settled, which would spin on resolved microtasks and
    // starve the event loop.
    let finished!: () => void;
    this.#compacting = new Promise<void>((resolve) => (finished = resolve));
    try {
      // One compaction of every level into the deepest: each byte read and written once.
      const pick = this.#picker.pickRangeToBottom(this.#versions.current, start, end);
      if (pick) await this.#compactAndInstall(pick, true);
      // The deepest level's range tombstones (with what they cover) and expired puts are
      // dropped by rewriting their files in place: no level below them to compact into.
      const deepestNow = this.#versions.current.deepestNonEmptyLevel();
      // Whether a file holds expired puts is in its properties: its outputs just written are not
      // open yet, and opening each in the call held the event loop (as the cuts did).
      if (deepestNow > 0) await this.#tableCache.whenOpen(this.#versions.current.overlappingFiles(deepestNow, start, end).map((f) => f.fileNumber));
      const nowMs = this.#options.clock();
      const needsRewrite = (f: TableMeta) => f.rangeDeletions > 0 || this.#expiredIn(f.fileNumber, nowMs);
      const rewrite = deepestNow > 0 ? this.#picker.pickBottomRewrite(this.#versions.current, deepestNow, start, end, needsRewrite) : undefined;
      if (rewrite) await this.#compactAndInstall(rewrite, true);
      // The replaced files are gone when compactRange() resolves, unless a reader holds them.
      await this.#deleting;
    } catch (err) {
      if (err instanceof StrataError && err.code === 'CLOSED') throw err;
      this.#setBackgroundError('compaction', err);
      throw this.#backgroundError;
    } finally {
      this.#compacting = undefined;
      finished();
      this.#notifyProgress();
      this.#maybeScheduleCompaction();
    }
  }

  /** Whether table `fileNumber` holds a put that expired by `nowMs` (its properties say so). */
  #expiredIn(fileNumber: number, nowMs: number): boolean {
    const handle = this.#tableCache.acquire(fileNumber);
    try {
      const earliest = handle.reader.properties.earliestExpiryMs;
      return earliest !== 0 && earliest <= nowMs;
    } finally {
      handle.release();
    }
  }

  /**
   * About how many bytes of table files hold the keys in [start, end) (either end open when
   * undefined): whole files inside the range, and for a file it cuts, the part between the
   * data blocks where the range starts and ends (from each table's index). Memtables and WALs
   * are not counted (as in LevelDB). Synchronous: tables may be opened.
   */
  approximateSize(start: Uint8Array | undefined, end: Uint8Array | undefined): number {
    this.#checkOpen();
    const version = this.#versions.current;
    let bytes = 0;
    for (const { table } of version.allFiles()) bytes += approximateBytesIn(table, this.#tableCache, start, end);
    return bytes;
  }

  /**
   * Resolves once no compaction runs. Each wait is on a promise that settles only after the
   * compaction it stands for has cleared #compacting; a new one may have started since.
   */
  async #compactionsIdle(): Promise<void> {
    while (this.#compacting) await this.#compacting;
  }

  stats(): EngineStats {
    const s = this.#pipeline.stats;
    const version = this.#versions.current;
    const scores = this.#picker.scores(version);
    const levels = [];
    for (let level = 0; level < NUM_LEVELS; level++) {
      const files = version.levels[level]!;
      levels.push({
        level,
        files: files.length,
        bytes: files.reduce((n, f) => n + f.fileSize, 0),
        score: scores[level]!,
        targetBytes: level === 0 ? 0 : levelTargetBytes(level, this.#picker.policy),
      });
    }
    const diskBytes = s.walBytes + this.#bytesFlushed + this.#bytesCompactedOut;
    return {
      writes: s.writes,
      writeGroups: s.groups,
      averageGroupSize: s.groups === 0 ? 0 : s.writes / s.groups,
      largestGroup: s.largestGroup,
      walSyncs: s.syncs,
      walBytes: s.walBytes,
      userBytesWritten: this.#userBytes,
      lastSequence: this.#clock.last,
      publishedSequence: this.#clock.published,
      memtableBytes: this.#mem.approximateBytes + this.#imms.reduce((n, i) => n + i.mem.approximateBytes, 0),
      memtableEntries: this.#mem.entryCount,
      immutableMemtables: this.#imms.length,
      flushes: this.#flushes,
      bytesFlushed: this.#bytesFlushed,
      writeStalls: this.#stalls,
      writeStallMs: this.#stallMs,
      compactions: this.#compactions,
      compactionsRunning: this.#compactionsRunning,
      subcompactions: this.#subcompactions,
      bytesCompactedIn: this.#bytesCompactedIn,
      bytesCompactedOut: this.#bytesCompactedOut,
      droppedByRangeTombstones: this.#droppedByRangeTombstones,
      droppedRangeTombstones: this.#droppedRangeTombstones,
      droppedByExpiry: this.#droppedByExpiry,
      pendingCompactionBytes: pendingCompactionBytes(version, this.#picker.policy),
      merges: this.#merges,
      changeRetention: this.changeLog.retention(),
      writeAmplification: this.#userBytes === 0 ? 0 : diskBytes / this.#userBytes,
      levels,
      blockCache: {
        hits: this.#blockCache?.hits ?? 0,
        misses: this.#blockCache?.misses ?? 0,
        usedBytes: this.#blockCache?.usedBytes ?? 0,
      },
      openTables: this.#tableCache.openFiles,
      liveSnapshots: this.#snapshots.size,
      memory: this.#memory(),
    };
  }

  #memory(): MemoryStats {
    const memory = {
      memtableBytes: this.#mem.allocatedBytes + this.#imms.reduce((n, i) => n + i.mem.allocatedBytes, 0),
      memtablePoolBytes: this.#memPool.residentBytes,
      blockCacheBytes: this.#blockCache?.usedBytes ?? 0,
      indexAndFilterBytes: this.#tableCache.indexAndFilterBytes,
      changeRingBytes: this.changeLog.ring.bytes,
      workerThreads: 0,
      workerHeapBytes: 0,
    };
    return { ...memory, totalBytes: memoryTotal(memory) };
  }

  /**
   * Waits for the writes already submitted and for a flush in progress, syncs the WAL, and
   * releases every file and the lock. Idempotent; later calls fail with CLOSED. With `settle`
   * (the user's close(): the caller takes no more writes), first leaves the tree as the next
   * open() is to find it (#settle); a failure there is reported once everything is released.
   */
  async close(settle = false): Promise<void> {
    if (this.#closed) return;
    const settleError = settle ? await this.#settle().then(() => undefined, (err: unknown) => err) : undefined;
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#expiry);
    await this.#pipeline.drain();
    await this.#flushing?.catch(() => {});
    await this.#compactionsIdle();
    if (this.#ownsPool) await this.#pool.close().catch(() => {});
    await this.#deleting;
    await this.#openingAhead;
    // A failed final sync is reported (after everything is released): the README promises
    // that what was written before a clean close() survives a power cut.
    let syncError: unknown;
    await this.#wals.close(!this.#pipeline.error).catch((err: unknown) => (syncError = err));
    await this.#versions.close().catch(() => {});
    this.#tableCache.close();
    this.#memPool.clear();
    await this.#lock.release();
    if (syncError !== undefined) throw syncError;
    if (settleError !== undefined) throw settleError;
  }

  /**
   * When the next open() would start a compaction (the memtables' flushes, its own recovery
   * flush among them, taking level 0 to its trigger, or a level due already), and that work is
   * at most SETTLE_MAX_MEMTABLES memtables' worth of bytes: makes every write durable (the logs
   * synced), flushes the memtable, and waits until no flush or compaction runs and none is
   * due. So a database closed after writes does not reopen to a compaction running beside its
   * first reads: the compaction its writes made due runs here, in the process that wrote, as
   * it would have had they gone on. Otherwise (nothing due, or compactions far behind, where
   * close() would take many seconds) close() leaves the memtable in the log for the next
   * open() to replay, and the compactions to it. The sync comes first, so a flush that fails
   * (ENOSPC) loses nothing: the log holds the writes.
   */
  async #settle(): Promise<void> {
    // A database whose writes failed settles nothing: close() reports no more than before.
    if (this.#backgroundError || this.#pipeline.error) return;
    await this.#pipeline.drain();
    const version = this.#versions.current;
    const memtables = [this.#mem, ...this.#imms.map((imm) => imm.mem)].filter((m) => m.entryCount > 0);
    const work = pendingCompactionBytes(version, this.#picker.policy, memtables.length) + memtables.reduce((n, m) => n + m.approximateBytes, 0);
    const due = version.levels[0]!.length + memtables.length >= this.#options.l0CompactionTrigger || this.#picker.scores(version).some((score) => score >= 1);
    if (!due || work > SETTLE_MAX_MEMTABLES * this.#options.memtableBytes) return;
    await this.#wals.syncCurrent();
    await this.flush();
    while (this.#flushing || this.#compacting) {
      await this.#flushing;
      await this.#compactionsIdle();
    }
    if (this.#backgroundError) throw this.#backgroundError;
  }

  /**
   * With openTablesAhead: opens the tables of the version open() recovered (up to maxOpenFiles
   * of them, level 0 and then each level down, tablesToOpenAhead) off the event loop's thread
   * (TableCache.openAhead), as RocksDB opens every table at open. open() starts them before it
   * replays the WALs, and the recovery flush's table once written, so that they open while it
   * replays and flushes (the five reads of a table's open each wait for a turn of the loop; the
   * bench's four level-0 tables were open about 50 ms after open() returned, and the first
   * gets waited for them); this waits for them, opening any other (an ingest's). Otherwise the first gets open them one after another:
   * a get waits for each table it consults to open before it consults the next, and every get
   * issued meanwhile waits with it (readrandom's first 200,000 gets after an open of 4 level-0
   * tables: about 150 ms before the first answers). Stops at close(); a table that fails to open
   * is left for a read's own open to meet the error.
   *
   * Then maps in the pages of those tables' data blocks that the page cache already holds (up
   * to PREFAULT_BYTES, in that order, PREFAULT_SLICE_BYTES at a time on the thread pool:
   * TableReader.prefault): a get's first touch of a page of a table's mapping is a page fault
   * on the event loop's thread, 1.4–2.3 µs a page on this kind of virtual machine, and a
   * reopened database's first random gets touch a new page nearly every time (README, "Native
   * addon"). Pages the page cache lacks are left alone: no disk reads. The pages read count in
   * the resident set, as pages a read touched do (they are the page cache's).
   */
  async #openTablesAhead(): Promise<void> {
    const files = tablesToOpenAhead(this.#versions, this.#options);
    await this.#tableCache.whenOpen(files);
    let left = PREFAULT_BYTES;
    for (const fileNumber of files) {
      const reader = this.#tableCache.peek(fileNumber);
      if (reader === undefined) continue;
      for (let at = 0; at < reader.dataBytes && left > 0; at += PREFAULT_SLICE_BYTES) {
        if (this.#closed) return;
        left -= await reader.prefault(at, at + Math.min(PREFAULT_SLICE_BYTES, left)).catch(() => 0);
      }
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw closedError('database');
  }

  #getFromImmutables(key: Uint8Array, seq: SeqNum) {
    for (let i = this.#imms.length - 1; i >= 0; i--) {
      const hit = this.#imms[i]!.mem.get(key, seq);
      if (hit) return hit;
    }
    return undefined;
  }

  /**
   * beforeGroup: delays writes while level 0 is deep (backpressure) and switches memtables
   * when the current one is full, waiting when flushes lag.
   */
  async #makeRoomForWrite(): Promise<void> {
    let slowed = false;
    for (;;) {
      if (this.#backgroundError) throw this.#backgroundError;
      const l0 = this.#versions.current.levels[0]!.length;
      if (l0 >= this.#options.l0StopTrigger) {
        await this.#stall(() => this.#waitForProgress());
      } else if (!slowed && l0 >= this.#options.l0SlowdownTrigger) {
        slowed = true;
        await this.#stall(() => new Promise((resolve) => setTimeout(resolve, 1)));
      } else if (this.#mem.approximateBytes < this.#options.memtableBytes || this.#twoPhase?.preparing) {
        return;
      } else if (this.#imms.length >= this.#options.maxImmutableMemtables) {
        await this.#stall(() => this.#waitForProgress());
      } else {
        await this.#rotate();
      }
    }
  }

  async #stall(wait: () => Promise<void>): Promise<void> {
    const started = performance.now();
    this.#stalls++;
    this.#maybeScheduleCompaction();
    try {
      await wait();
    } finally {
      this.#stallMs += performance.now() - started;
    }
  }

  /** Makes the current memtable immutable and starts a new memtable and WAL. Runs between groups. */
  async #rotate(): Promise<void> {
    const walNumber = await this.#wals.rotate(this.#versions.newFileNumber());
    this.#mem.markImmutable();
    this.#imms.push({ mem: this.#mem, walNumber });
    this.#mem = new Memtable({ pool: this.#memPool, expectedBytes: this.#options.memtableBytes });
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushing || this.#backgroundError) return;
    this.#flushing = this.#flushLoop().finally(() => {
      this.#flushing = undefined;
      // A memtable switched out after the loop's last check found #flushing still set and
      // left its flush to this loop: without this, a writer stalled on it would never wake.
      if (this.#imms.length > 0) this.#scheduleFlush();
    });
  }

  async #flushLoop(): Promise<void> {
    try {
      while (this.#imms.length > 0 && !this.#backgroundError) {
        await this.#flushOldest();
        this.#notifyProgress();
        this.#maybeScheduleCompaction();
      }
    } catch (err) {
      this.#setBackgroundError('flush', err);
    }
  }

  #setBackgroundError(op: string, err: unknown): void {
    const error = err instanceof StrataError ? err : ioError(op, this.dir, err);
    this.#backgroundError ??= error;
    this.#pipeline.fail(this.#backgroundError);
    const waiters = this.#progressWaiters;
    this.#progressWaiters = [];
    for (const w of waiters) w.reject(this.#backgroundError);
  }

  async #flushOldest(): Promise<void> {
    const imm = this.#imms[0];
    invariant(imm !== undefined, 'flush with no immutable memtable');
    const fileNumber = this.#versions.newFileNumber();
    this.#pendingOutputs.add(fileNumber);
    let logNumber: number;
    try {
      const { table: meta } = await this.#pool.runFlush(
        { kind: 'flush', dir: this.dir, fileNumber, memtable: imm.mem.toShared(), builder: this.#builderOptions },
        this.#options.fs,
      );
      logNumber = this.#imms[1]?.walNumber ?? this.#wals.currentNumber;
      await this.#twoPhase?.beforeInstall(imm.mem);
      await this.#versions.logAndApply({
        logNumber,
        lastSequence: Math.max(this.#versions.lastSequence, imm.mem.lastSeq ?? 0),
        ...(meta ? { added: [{ level: 0, table: meta }] } : {}),
      });
      this.#flushes++;
      this.#bytesFlushed += meta?.fileSize ?? 0;
    } finally {
      this.#pendingOutputs.delete(fileNumber);
    }
    this.#imms.shift();
    imm.mem.release();
    // The edit above moved the log number past this memtable's WAL.
    await this.#wals.release(logNumber);
  }

  #waitForProgress(): Promise<void> {
    if (this.#backgroundError) return Promise.reject(this.#backgroundError);
    return new Promise((resolve, reject) => this.#progressWaiters.push({ resolve, reject }));
  }

  async #waitForFlushes(): Promise<void> {
    while (this.#imms.length > 0) {
      this.#scheduleFlush();
      await this.#waitForProgress();
    }
  }

  #notifyProgress(): void {
    const waiters = this.#progressWaiters;
    this.#progressWaiters = [];
    for (const w of waiters) w.resolve();
  }

  #maybeScheduleCompaction(): void {
    if (this.#compacting || this.#closed || this.#backgroundError || this.#manualWaiting > 0) return;
    const pick = this.#picker.pick(this.#versions.current);
    if (!pick) return;
    this.#compacting = this.#compactAndInstall(pick, false).then(
      () => {
        this.#compacting = undefined;
        this.#notifyProgress();
        this.#maybeScheduleCompaction();
      },
      (err) => {
        this.#compacting = undefined;
        this.#setBackgroundError('compaction', err);
      },
    );
  }

  /** Runs one compaction and installs its result. `rewrite` forbids a trivial move. */
  async #compactAndInstall(pick: PickedCompaction, rewrite: boolean): Promise<void> {
    const version = this.#versions.current;
    version.ref();
    const removed = pick.inputs.flatMap(({ level, files }) => files.map((f) => ({ level, fileNumber: f.fileNumber })));
    try {
      if (pick.trivialMove && !rewrite) {
        const table = pick.inputs[0]!.files[0]!;
        await this.#versions.logAndApply({ removed, added: [{ level: pick.outputLevel, table }] });
        this.#compactions++;
        return;
      }
      const inputBytes = pick.inputs.reduce((n, { files }) => n + files.reduce((m, f) => m + f.fileSize, 0), 0);
      const parts = inputBytes >= 2 * this.#options.targetFileBytes ? this.#subcompactionParts(rewrite) : 1;
      const inputFiles = pick.inputs.flatMap(({ files }) => files);
      // The cuts read every input's index: opened in the call, a compactRange() of 70 tables
      // held the event loop a quarter of a second. (The version is referenced: no input goes.)
      // Opens under way (open()'s #openTablesAhead) are waited for, not skipped: a table skipped
      // while it opened was then opened again in the call by the cuts.
      if (parts > 1) await this.#tableCache.whenOpen(inputFiles.map((f) => f.fileNumber));
      const cuts = subcompactionCuts(inputFiles, this.#tableCache, parts);
      const reserved: number[] = [];
      this.#compactionsRunning++;
      try {
        const base = {
          dir: this.dir,
          outputLevel: pick.outputLevel,
          snapshots: this.#snapshots.withNewest(this.#clock.published),
          deeperRanges: version.rangesBelow(pick.outputLevel, pick.smallestKey, pick.largestKey),
          targetFileBytes: this.#options.targetFileBytes,
          builder: this.#builderOptions,
          filters: [{ kind: 'ttl' as const, nowMs: this.#options.clock() }],
          mergeOperator: this.#options.mergeOperator,
        };
        const jobs: CompactionJob[] = [];
        for (let i = 0; i <= cuts.length; i++) {
          const start = cuts[i - 1];
          const end = cuts[i];
          const inputs = pick.inputs
            .map(({ level, files }) => ({ level, fileNumbers: filesInRange(files, start, end).map((f) => f.fileNumber) }))
            .filter((input) => input.fileNumbers.length > 0);
          if (inputs.length === 0) continue;
          const subBytes = pick.inputs.reduce((n, { files }) => n + filesInRange(files, start, end).reduce((m, f) => m + f.fileSize, 0), 0);
          const outputFileNumbers = Array.from({ length: outputFilesToReserve(subBytes, this.#options.targetFileBytes) }, () => this.#versions.newFileNumber());
          for (const n of outputFileNumbers) this.#pendingOutputs.add(n);
          reserved.push(...outputFileNumbers);
          jobs.push({ ...base, inputs, outputFileNumbers, ...(cuts.length > 0 && { start, end }) });
        }
        const results = await this.#runSubcompactions(jobs);
        const added = results.flatMap((r) => r.outputs.map((table) => ({ level: pick.outputLevel, table })));
        // Reads switch to the outputs the moment they are installed: open them first, off the
        // event loop's thread (as open() does its tables, RocksDB its new files), so that the
        // gets after the switch do not wait for them to open. Their pages are not mapped in
        // (TableReader.prefault), as open()'s are: that held them in the resident set, and a
        // 2M-put fill's compactRange() peaked at 408-418 MB against 241-258 (README, "Native addon").
        if (this.#options.openTablesAhead) await this.#tableCache.whenOpen(added.map((a) => a.table.fileNumber));
        await this.#versions.logAndApply({ removed, added });
        this.#compactions++;
        if (results.length > 1) this.#subcompactions += results.length;
        this.#bytesCompactedIn += inputBytes;
        for (const result of results) {
          this.#bytesCompactedOut += result.outputs.reduce((n, t) => n + t.fileSize, 0);
          this.#droppedByRangeTombstones += result.droppedByRangeTombstones;
          this.#droppedRangeTombstones += result.droppedRangeTombstones;
          this.#droppedByExpiry += result.filtered.ttl ?? 0;
        }
      } finally {
        this.#compactionsRunning--;
        for (const n of reserved) this.#pendingOutputs.delete(n);
      }
    } finally {
      version.unref();
    }
  }

  /**
   * Into how many key ranges (subcompactions.ts) a compaction is cut: one per worker thread
   * for compactRange(), one per thread but one for an automatic compaction, which leaves a
   * thread to the flushes that writers may be waiting for. Run inline (no threads, or a
   * custom file system), two: no faster, but then the tests' fault-injecting file system
   * runs the same path, crash points between subcompactions' outputs included.
   */
  #subcompactionParts(explicit: boolean): number {
    const threads = this.#pool.parallelism(this.#options.fs);
    if (threads === 1) return 2;
    return explicit ? threads : threads - 1;
  }

  /**
   * Runs the subcompactions side by side and resolves with their results in key order once all
   * succeeded. If any fails, waits for the others, removes the outputs of those that finished
   * (no MANIFEST edit names them; a failed one removed its own), and rejects with the first error.
   */
  async #runSubcompactions(jobs: CompactionJob[]): Promise<CompactionResult[]> {
    const settled = await Promise.allSettled(jobs.map((job) => this.#pool.runCompaction(job, this.#options.fs)));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed === undefined) return settled.map((s) => (s as PromiseFulfilledResult<CompactionResult>).value);
    for (const s of settled) {
      if (s.status !== 'fulfilled') continue;
      for (const t of s.value.outputs) await this.#options.fs.unlink(tableFileName(this.dir, t.fileNumber)).catch(() => {});
    }
    throw failed.reason;
  }

  #scheduleObsoleteDeletion(): void {
    this.#deleting = this.#deleting.then(() => this.#deleteObsoleteFiles()).catch(() => {});
  }

  /**
   * Deletes tables no live version names, old MANIFESTs and temp files (WALs are the WalSet's
   * to delete). A failure to delete loses nothing; the next open retries.
   */
  async #deleteObsoleteFiles(): Promise<void> {
    const fs = this.#options.fs;
    const names = await fs.readdir(this.dir);
    // Decide in one synchronous step, after the listing: a file that is neither live nor being
    // written at this instant can never become live again, while one whose flush finishes
    // during readdir() or during the unlinks below is seen as live or pending here.
    const live = this.#versions.liveFileNumbers();
    const obsolete: string[] = [];
    for (const name of names) {
      const f = parseFileName(name);
      if (!f) continue;
      if (f.kind === 'table' && !live.has(f.number) && !this.#pendingOutputs.has(f.number)) {
        this.#tableCache.evict(f.number);
        this.#rangeTombstones.forget(f.number);
        obsolete.push(tableFileName(this.dir, f.number));
      } else if (f.kind === 'manifest' && f.number !== this.#versions.manifestNumber) obsolete.push(manifestFileName(this.dir, f.number));
      else if (f.kind === 'temp') obsolete.push(tempFileName(this.dir, f.number));
    }
    for (const file of obsolete) await fs.unlink(file);
  }

}

/** The sum of a MemoryStats' byte figures. */
export function memoryTotal(m: Omit<MemoryStats, 'totalBytes'>): number {
  return m.memtableBytes + m.memtablePoolBytes + m.blockCacheBytes + m.indexAndFilterBytes + m.changeRingBytes + m.workerHeapBytes;
}
