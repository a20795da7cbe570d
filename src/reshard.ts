// reshard(): the public API of src/shard/reshard.ts (changing a closed database's shard count).

import * as path from 'node:path';
import { resolveOptions } from './engine/index.js';
import { invalidArgument } from './base/index.js';
import { optionsObject } from './input.js';
import { reshard as reshardShards, type ReshardResult as ShardsMoved } from './shard/index.js';
import type { FileSystem } from './base/fs.js';
import type { MergeOperatorSpec } from './base/merge-operator.js';

/** What a reshard did. */
export interface ReshardResult extends Omit<ShardsMoved, 'sequence'> {
  /** The sequence number every carried key was written at: the old database's last one + 1. */
  sequence: bigint;
}

export interface ReshardOptions {
  /** The new shard count, 1 to 256. Required. */
  shards: number;
  /**
   * Whether the new placement uses hash tags. Default: what the database recorded; true for a
   * database of one shard in its own directory.
   */
  hashTags?: boolean;
  /**
   * The merge operator the database records (as open()'s option), needed to resolve merge
   * operands; a built-in one ('add', 'lww') is found by itself.
   */
  mergeOperator?: 'add' | 'lww' | MergeOperatorSpec;
  /** The wall clock expiry is judged by (ms since the epoch); Date.now by default. */
  clock?: () => number;
  /** The file system; the real one by default. */
  fs?: FileSystem;
}

const RESHARD_OPTIONS = ['shards', 'hashTags', 'mergeOperator', 'clock', 'fs'];

/**
 * Changes the shard count of the closed database in `location` (taking its LOCK), placing every
 * key anew by jump consistent hashing; crash-safe (a crash leaves the old database or the new
 * one, and the next open or rerun finishes or rolls back). Resolves to what it moved.
 */
export async function reshard(location: string, options: ReshardOptions): Promise<ReshardResult> {
  const o = optionsObject(options, 'reshard options', RESHARD_OPTIONS);
  if (o === undefined) throw invalidArgument('reshard: options { shards } are required');
  const { shards, hashTags, ...engine } = o;
  if (typeof shards !== 'number') throw invalidArgument(`reshard: option shards must be a number, got ${typeof shards}`);
  if (hashTags !== undefined && typeof hashTags !== 'boolean') throw invalidArgument(`reshard: option hashTags must be a boolean, got ${typeof hashTags}`);
  const resolved = resolveOptions({ ...engine, createIfMissing: false });
  const r = await reshardShards(path.resolve(location), resolved, { shards, ...(hashTags !== undefined && { hashTags }) });
  return { ...r, sequence: BigInt(r.sequence) };
}
