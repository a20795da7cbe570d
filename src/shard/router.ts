// Which shard a key lives in: xxh32(key, seed 0) mod the shard count. The count is fixed when
// the database is created, so a key never moves.

import { ValueKind, xxh32, type BatchEntry } from '../base/index.js';

export function shardOf(key: Uint8Array, shards: number): number {
  // Anything mod 1 is 0: one shard's keys are not hashed.
  return shards === 1 ? 0 : xxh32(key) % shards;
}

/**
 * A batch's entries grouped by shard, each group in the batch's order, with each entry's place
 * in the batch. A range deletion goes to every shard (at its one place): its range holds keys
 * of all of them.
 */
export function splitByShard(entries: readonly BatchEntry[], shards: number): Map<number, { entries: BatchEntry[]; places: number[] }> {
  const parts = new Map<number, { entries: BatchEntry[]; places: number[] }>();
  const add = (s: number, e: BatchEntry, place: number) => {
    let part = parts.get(s);
    if (part === undefined) parts.set(s, (part = { entries: [], places: [] }));
    part.entries.push(e);
    part.places.push(place);
  };
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.kind === ValueKind.RangeDelete) for (let s = 0; s < shards; s++) add(s, e, i);
    else add(shardOf(e.key, shards), e, i);
  }
  return parts;
}

/** Whether a batch holds a range deletion (which every shard takes part in). */
export function hasRangeDelete(entries: readonly BatchEntry[]): boolean {
  for (const e of entries) if (e.kind === ValueKind.RangeDelete) return true;
  return false;
}
