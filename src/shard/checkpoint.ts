/**
 * Checkpoints: an openable copy of a live database, as of one cut, in a new directory
 * (`db.checkpoint(dir)`, `stratadb checkpoint`).
 *
 * One moment. The cut (each shard's published sequence S_i, shard-publication.ts) is taken
 * when the call starts and pinned as a snapshot: in shard i every write at or below S_i is
 * visible, none above it is; a snapshot taken in the same step reads the same. Each shard then switches its
 * memtable and waits for the memtables up to the switch to become tables (writes go on into
 * the new memtable meanwhile), so every entry at or below S_i lies in the shard's tables, and
 * the pin keeps compactions from dropping a version a reader at S_i needs. Each shard's copy
 * (src/engine/checkpoint.ts) links those tables and leaves out every entry above S_i, so the
 * copies of all shards are the one cut of the database, as a snapshot at it reads it. No log
 * is copied: what the logs held up to S is in the flushed tables.
 *
 * Crash safety. Everything is written under a temporary name beside the destination,
 * `<dst>.checkpoint-<random>.tmp`: each shard's tables, MANIFEST and CURRENT (synced, with
 * their directory), the SHARDS file of a sharded database, then that directory is synced and
 * renamed to `<dst>`, and the parent directory synced. A crash at any point leaves either no
 * `<dst>` at all or the complete checkpoint; a temporary directory left behind by a crash is
 * never opened as a database by this code and may be deleted (a failure removes it).
 */

import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { invalidArgument, invariant, removeTree, type FileSystem, type SeqNum } from '../base/index.js';
import { lowest, writeShardCheckpoint, type CheckpointView, type Cut, type Engine, type ShardCheckpoint } from '../engine/index.js';
import type { Placement } from './router.js';
import { shardDirName, writeShardsFile } from './shards-file.js';

export interface CheckpointResult {
  /**
   * The sequence number the checkpoint is a copy at: every write up to it (the cut's lowest
   * number; with several shards, a shard may hold writes above it, answered before the call).
   */
  sequence: SeqNum;
  /** Per shard: tables linked, copied (a file system without links), rewritten without later writes. */
  shards: ShardCheckpoint[];
}

/**
 * Writes the checkpoint of `engines`, engine i at `cut[i]`, to `dst`. REQUIRES: the cut is
 * pinned for the duration (the caller releases it). `placement`: the database's, when it has
 * several shards (the copy keeps it, in folders of generation 0).
 */
export async function writeCheckpoint(fs: FileSystem, engines: readonly Engine[], cut: Cut, dst: string, placement: Placement | undefined): Promise<CheckpointResult> {
  const target = path.resolve(dst);
  if (await fs.exists(target)) throw invalidArgument(`checkpoint: ${target} already exists`);
  const parent = path.dirname(target);
  await fs.mkdir(parent);
  const temp = `${target}.checkpoint-${randomBytes(6).toString('hex')}.tmp`;
  const views: CheckpointView[] = [];
  try {
    // Every view before any copy: the flushes of all shards run at once.
    const taken = await Promise.allSettled(engines.map((e) => e.checkpointView()));
    for (const r of taken) if (r.status === 'fulfilled') views.push(r.value);
    const failed = taken.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    await fs.mkdir(temp);
    const shards: ShardCheckpoint[] = [];
    if (views.length === 1) shards.push(await writeShardCheckpoint(views[0]!, temp, cut[0]!));
    else {
      for (let i = 0; i < views.length; i++) shards.push(await writeShardCheckpoint(views[i]!, shardDirName(temp, i), cut[i]!));
      // Also syncs `temp`, making the shard folders' entries durable.
      invariant(placement !== undefined && placement.count === views.length, 'a checkpoint of several shards knows their placement');
      await writeShardsFile(fs, temp, { placement, generation: 0 });
    }
    await fs.syncDir(temp);
    if (await fs.exists(target)) throw invalidArgument(`checkpoint: ${target} already exists`);
    await fs.rename(temp, target);
    await fs.syncDir(parent);
    return { sequence: lowest(cut), shards };
  } catch (err) {
    // A checkpoint that failed leaves nothing (a crash may: see above). A FileSystem without
    // removeDir() leaves the temporary directory.
    if (fs.removeDir !== undefined) await removeTree(fs, temp).catch(() => {});
    throw err;
  } finally {
    for (const v of views) v.release();
  }
}
