// Which shard a key lives in: xxh32(key, seed 0) mod the shard count. The count is fixed when
// the database is created, so a key never moves.

import { ValueKind, xxh32, type BatchEntry } from '../base/index.js';

export function shardOf(key: Uint8Array, shards: number): number {
  // Anything mod 1 is 0: one shard's keys are not hashed.
  return shards === 1 ? 0 : xxh32(key) % shards;
}

/**
 * A batch's entries grouped by shard, each group in the batch's order. A range deletion goes
 * to every shard: its range holds keys of all of them.
 */
export function splitByShard(entries: readonly BatchEntry[], shards: number): Map<number, BatchEntry[]> {
  const parts = new Map<number, BatchEntry[]>();
  const add = (s: number, e: BatchEntry) => {
    let part = parts.get(s);
    if (part === undefined) parts.set(s, (part = []));
    part.push(e);
  };
  for (const e of entries) {
    if (e.kind === ValueKind.RangeDelete) for (let s = 0; s < shards; s++) add(s, e);
    else add(shardOf(e.key, shards), e);
  }
  return parts;
}

/** Whether a batch holds a range deletion (which every shard takes part in). */
export function hasRangeDelete(entries: readonly BatchEntry[]): boolean {
  for (const e of entries) if (e.kind === ValueKind.RangeDelete) return true;
  return false;
}
