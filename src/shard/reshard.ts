/**
 * Reshard: a closed database's keys placed anew over another shard count (`reshard()` in the
 * public API, `stratadb reshard <dir> --shards M`), by jump consistent hashing (router.ts), so
 * that N → N + 1 shards keeps about N/(N + 1) of the keys in the shard they were in.
 *
 * Invariants:
 * 1. All or nothing across a crash. The new shards are written as a new generation of folders
 *    (g<G+1>-shard-i, shards-file.ts) beside the old ones, which nothing changes; the rename
 *    of the SHARDS file naming the new generation is the commit point. Before it, an open (or
 *    a rerun) sees the old database and removes the new folders; after it, the new database,
 *    and removes the old folders, or the old one-shard engine's files in the root directory
 *    (stale-shards.ts). There is no other journal: the SHARDS file is it.
 * 2. The database's LOCK is held from the first step to the commit point (the old database is
 *    open through it), so nothing writes to the old database after it was read.
 * 3. What a reader sees is kept, as of the old database's last sequence number P. A shard
 *    number both generations have starts as a checkpoint of the old shard at P (its tables
 *    hard-linked, src/engine/checkpoint.ts): its keys that stay read exactly as before, every
 *    version, merge operand, expiry and range deletion of theirs included.
 * 4. A key that moves is written to its new shard as a reader saw it at P (merge operands
 *    resolved by the recorded merge operator; the expiry of the put behind it kept, also under
 *    merge operands), and, where its old shard's copy still holds it, deleted there. Every
 *    entry written is at one sequence number S = P + 1, recorded as each new shard's last
 *    sequence: later writes continue above S, and above every linked version. The change
 *    feed's history (the old WALs) is not carried over: a feed from below S is OUT_OF_RANGE.
 * 5. The writes go in key order: the old shards' cursors are merged, each new shard's tables
 *    are cut at the target file size, fsynced, and installed with one MANIFEST edit at the
 *    deepest level nothing above overlaps (ingestEdit).
 *
 * So N → N + 1 writes about 1/(N + 1) of the keys (and as many deletions), not all of them;
 * every key is read once, to learn where it goes.
 *
 * Steps: open the old database (its recovery, and removal of what an earlier reshard cut short
 * left); flush it and link its tables into the shards of the same numbers; write the moved
 * keys and their deletions; open each new shard once more to drop its first log; sync the root
 * directory; write SHARDS (commit); close the old database; remove the old generation.
 */

import { compareBytes, currentFileName, invalidArgument, lockFileName, tableFileName, ValueKind, withExpiry, type FileSystem, type SeqNum } from '../base/index.js';
import { Engine, ingestEdit, writeShardCheckpoint, type CheckpointView, type DbIterator, type IngestHost, type ResolvedOptions } from '../engine/index.js';
import { tableMetaOf, VersionSet, type TableMeta } from '../manifest/index.js';
import { TableBuilder } from '../sstable/index.js';
import { Placement } from './router.js';
import { ShardSet } from './shard-set.js';
import { MAX_SHARDS, readShardsFile, shardFolders, writeShardsFile, type ShardLayout } from './shards-file.js';
import { removeStaleShards } from './stale-shards.js';
import { nextTurn } from '../base/loop-turns.js';

export interface ReshardOptions {
  /** The new shard count, 1 to MAX_SHARDS. */
  shards: number;
  /** Hash tags in the new placement. Default: what the database recorded; true for a database of one shard in its directory. */
  hashTags?: boolean;
}

export interface ReshardResult {
  shardsBefore: number;
  shardsAfter: number;
  /**
   * False when the database was already placed as asked (that count, jump hashing, those hash
   * tags; or one shard in its directory, asked for one): nothing was written, and the counts
   * below are 0. A rerun after a reshard that reached its commit point says so.
   */
  rewritten: boolean;
  /** Live keys. */
  keys: number;
  /** Keys whose shard number stayed the same (not rewritten), and keys that went to another shard. */
  kept: number;
  moved: number;
  /** The sequence number every carried key is written at (the old last sequence + 1). */
  sequence: SeqNum;
  /** New tables written (the moved keys, and deletions of them where they were), and their bytes. */
  tables: number;
  bytes: number;
  /**
   * Tables of the old shards carried into the shard of the same number: hard-linked, or copied
   * where the file system cannot link (those bytes are not in `bytes`).
   */
  tablesLinked: number;
}

/** The event loop turns at least this often while keys are copied. */
const TURN_BUDGET_MS = 10;
/** Finished blocks are appended once this many bytes wait. */
const DRAIN_BYTES = 1024 * 1024;

/**
 * Reshards the closed database in `dir` (see the top of this file). `options` are the engine
 * options to open it with (its merge operator among them; fs, clock). REQUIRES: options
 * resolved with createIfMissing false.
 */
export async function reshard(dir: string, options: ResolvedOptions, reshardOptions: ReshardOptions): Promise<ReshardResult> {
  const { shards } = reshardOptions;
  if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) throw invalidArgument(`reshard: shards must be an integer from 1 to ${MAX_SHARDS}, got ${String(shards)}`);
  const fs = options.fs;
  const opened = { ...options, createIfMissing: false, errorIfExists: false, mergeOperator: options.mergeOperator ?? (await recordedBuiltinOperator(fs, dir)) };
  const old = await ShardSet.open(dir, opened, undefined);
  let result: ReshardResult;
  let layout: ShardLayout;
  try {
    const before = old.layout;
    layout = {
      placement: Placement.forNew(shards, reshardOptions.hashTags ?? before?.placement.hashTags ?? true),
      generation: (before?.generation ?? 0) + 1,
    };
    if (placedAs(before, layout.placement)) {
      const last = Math.max(old.publishedSeq, old.stats().lastSequence);
      await old.close();
      return { shardsBefore: shards, shardsAfter: shards, rewritten: false, keys: 0, kept: 0, moved: 0, sequence: last, tables: 0, bytes: 0, tablesLinked: 0 };
    }
    const sequence = Math.max(old.publishedSeq, old.stats().lastSequence) + 1;
    result = await writeShards(old, dir, layout, sequence, opened);
    // Every new shard's files are durable; the folders' names must be before SHARDS names them.
    await fs.syncDir(dir);
    await writeShardsFile(fs, dir, layout);
  } catch (err) {
    await old.close().catch(() => {});
    // Not committed (or, if SHARDS was renamed before a failed sync, committed: then this
    // removes nothing): the new folders are garbage, which the next open removes if this cannot.
    await removeWithLock(fs, dir, old.layout).catch(() => {});
    throw err;
  }
  await old.close().catch(() => {});
  // Committed: the old generation is garbage, which the next open removes if this cannot.
  await removeWithLock(fs, dir, layout).catch(() => {});
  return result;
}

/** Whether a database laid out as `before` (undefined: one shard in its directory) is placed by `wanted`. */
function placedAs(before: ShardLayout | undefined, wanted: Placement): boolean {
  if (before === undefined) return wanted.count === 1;
  const p = before.placement;
  return p.count === wanted.count && p.scheme === wanted.scheme && (p.hashTags === wanted.hashTags || p.count === 1);
}

/**
 * Removes what is stale in `dir` if the SHARDS file still names `layout`'s generation, under
 * the LOCK (which fails if another process holds it: its open removes what is stale).
 */
async function removeWithLock(fs: FileSystem, dir: string, layout: ShardLayout | undefined): Promise<void> {
  const lock = await fs.lock(lockFileName(dir));
  try {
    // Read again: between the close and the lock another process may have opened the
    // database, or resharded it once more.
    const recorded = await readShardsFile(fs, dir);
    if ((recorded?.generation ?? 0) !== (layout?.generation ?? 0)) return;
    await removeStaleShards(fs, dir, recorded);
  } finally {
    await lock.release();
  }
}

/**
 * The merge operator the database in `dir` records, when it is a built-in one (the reshard
 * loads it by itself); undefined when it records none. Any other operator must be given.
 */
async function recordedBuiltinOperator(fs: FileSystem, dir: string): Promise<ResolvedOptions['mergeOperator']> {
  const layout = await readShardsFile(fs, dir);
  const folder = layout === undefined ? dir : shardFolders(dir, layout)[0]!;
  if (!(await fs.exists(currentFileName(folder)))) return undefined;
  const versions = await VersionSet.recover(fs, folder);
  const name = versions.mergeOperator;
  await versions.close().catch(() => {});
  if (name === undefined) return undefined;
  if (name === 'add' || name === 'lww') return { builtin: name };
  throw invalidArgument(
    `reshard: ${dir} records merge operator ${JSON.stringify(name)}, needed to resolve its merge operands; pass it as mergeOperator (the API's { module, export })`,
  );
}

/** Writes every new shard of `layout` from `old` at `sequence` (invariants 3 to 5). */
async function writeShards(old: ShardSet, dir: string, layout: ShardLayout, sequence: SeqNum, options: ResolvedOptions): Promise<ReshardResult> {
  const folders = shardFolders(dir, layout);
  // The new shards do no background work while they are built.
  const shardOptions: ResolvedOptions = { ...options, createIfMissing: true, errorIfExists: false, compactionWorkers: 0, ttl: 0 };
  const engines: Engine[] = [];
  let outputs: ShardOutput[] = [];
  const cut = old.acquireSnapshot();
  let views: CheckpointView[] = [];
  let cursors: DbIterator[] = [];
  try {
    views = await old.checkpointViews();
    cursors = old.shardCursors(cut);
    // A shard number both generations have starts as a copy of the old shard (its tables
    // linked), so its keys that stay need no writing (invariant 3).
    let tablesLinked = 0;
    for (let i = 0; i < folders.length; i++) {
      const view = views[i];
      if (view !== undefined) {
        const copy = await writeShardCheckpoint(view, folders[i]!, cut[i]!);
        tablesLinked += copy.tables;
      }
      engines.push(await Engine.open(folders[i]!, shardOptions));
    }
    outputs = engines.map((e) => new ShardOutput(e.ingestHost, sequence));
    const placement = layout.placement;
    const counts = { keys: 0, kept: 0, moved: 0 };
    const heads = cursors.map((c) => c.next());
    let turnAt = performance.now();
    for (;;) {
      let from = -1;
      for (let i = 0; i < heads.length; i++) {
        const head = heads[i];
        if (head !== undefined && (from < 0 || compareBytes(head[0], heads[from]![0]) < 0)) from = i;
      }
      if (from < 0) break;
      const [key, value] = heads[from]!;
      const expiry = cursors[from]!.expiresAtMs;
      heads[from] = cursors[from]!.next();
      const to = placement.shardOf(key);
      counts.keys++;
      if (to === from) {
        counts.kept++;
        continue;
      }
      counts.moved++;
      // Keys go to each output in ascending order: the merged cursors give them so.
      let wait = outputs[to]!.add(key, ValueKind.Put, value, expiry);
      if (wait !== undefined) await wait;
      // The copy of its old shard still holds it: deleted there, above every version.
      wait = outputs[from]?.add(key, ValueKind.Delete, EMPTY, undefined);
      if (wait !== undefined) await wait;
      if ((counts.keys & 1023) === 0 && performance.now() - turnAt > TURN_BUDGET_MS) {
        await nextTurn();
        turnAt = performance.now();
      }
    }
    let tables = 0;
    let bytes = 0;
    for (const out of outputs) {
      const built = await out.finish();
      tables += built.length;
      for (const t of built) bytes += t.fileSize;
    }
    // Each shard's first log goes: while a shard retains its first log, its change feed serves
    // any `since` (nothing was ever deleted), and the history before S is not here. An open
    // starts the next log; with no retention it deletes the first.
    for (const e of engines.splice(0)) await e.close();
    const forget: ResolvedOptions = { ...shardOptions, createIfMissing: false, changeRetention: { bytes: 0, ms: 0 } };
    for (const folder of folders) engines.push(await Engine.open(folder, forget));
    return { shardsBefore: old.layout?.placement.count ?? 1, shardsAfter: layout.placement.count, rewritten: true, ...counts, sequence, tables, bytes, tablesLinked };
  } finally {
    for (const c of cursors) c.close();
    for (const v of views) v.release();
    old.releaseSnapshot(cut);
    for (const out of outputs) await out.abandon();
    for (const e of engines) await e.close().catch(() => {});
  }
}

const EMPTY = new Uint8Array(0);

/** One new shard's tables, built in key order and installed with one edit (invariant 5). */
class ShardOutput {
  readonly #host: IngestHost;
  readonly #sequence: SeqNum;
  readonly #tables: TableMeta[] = [];
  #builder: TableBuilder | undefined;
  #fileNumber = 0;

  constructor(host: IngestHost, sequence: SeqNum) {
    this.#host = host;
    this.#sequence = sequence;
  }

  /** Adds one entry; returns a promise only when there is file work to wait for (no await per key). */
  add(key: Uint8Array, kind: typeof ValueKind.Put | typeof ValueKind.Delete, value: Uint8Array, expiresAtMs: number | undefined): Promise<void> | undefined {
    const builder = this.#builder;
    if (builder === undefined) return this.#startTable().then(() => this.add(key, kind, value, expiresAtMs));
    if (expiresAtMs === undefined) builder.add(key, this.#sequence, kind, value);
    else builder.add(key, this.#sequence, ValueKind.PutWithExpiry, withExpiry(value, expiresAtMs));
    if (builder.estimatedFileBytes >= this.#host.targetFileBytes) return this.#finishTable();
    if (builder.pendingBytes >= DRAIN_BYTES) return builder.drain();
    return undefined;
  }

  async #startTable(): Promise<void> {
    this.#fileNumber = this.#host.reserveFileNumber();
    this.#builder = new TableBuilder(await this.#host.fs.createWritable(tableFileName(this.#host.dir, this.#fileNumber)), this.#host.builder);
  }

  async #finishTable(): Promise<void> {
    const builder = this.#builder!;
    this.#builder = undefined;
    const built = await builder.finish();
    this.#tables.push(tableMetaOf(this.#fileNumber, built));
  }

  /** Closes the table being built, if any (after a failure: its folder is removed whole). */
  async abandon(): Promise<void> {
    const builder = this.#builder;
    this.#builder = undefined;
    await builder?.abandon().catch(() => {});
  }

  /** Finishes the last table, makes the tables' names durable and installs them. Resolves to them. */
  async finish(): Promise<TableMeta[]> {
    if (this.#builder !== undefined) await this.#finishTable();
    const host = this.#host;
    if (this.#tables.length > 0) await host.fs.syncDir(host.dir);
    // With no tables too: the shard's last sequence is the database's.
    await host.logAndApply(ingestEdit(host.current(), host.lastSequence, this.#tables, this.#sequence));
    return this.#tables;
  }
}
