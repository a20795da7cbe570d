// Which shard a key lives in. The rule is fixed when the database is created (or resharded)
// and recorded in its SHARDS file (shards-file.ts), so a key never moves while it is open:
//
//   hashed(key) := the bytes between the key's first "{" and the next "}" after it, when hash
//                  tags are on and there is at least one byte between them; else the whole key
//   h           := xxh32(hashed(key), seed 0)
//   modulo      := h mod shardCount                  SHARDS v1 (every database made before v2)
//   jump        := jumpHash(h, shardCount)           SHARDS v2
//
// jumpHash is Lamping and Veach's jump consistent hash ("A Fast, Minimal Memory, Consistent
// Hash Algorithm", 2014), driven by a 32-bit generator seeded with h instead of their 64-bit
// one: a key's shard for N + 1 shards is its shard for N, or N itself, so going from N to N + 1
// shards moves about 1/(N + 1) of the keys, where modulo moves about N/(N + 1) of them. The
// generator (below) is part of the format: changing it moves keys.

import { ValueKind, xxh32, type BatchEntry } from '../base/index.js';

export type PlacementScheme = 'modulo' | 'jump';

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** A shard count and the rule that sends each key to one of them. */
export class Placement {
  readonly count: number;
  readonly scheme: PlacementScheme;
  readonly hashTags: boolean;

  constructor(count: number, scheme: PlacementScheme, hashTags: boolean) {
    this.count = count;
    this.scheme = scheme;
    this.hashTags = hashTags;
  }

  /** The rule every new database gets: jump hashing, hash tags as asked. */
  static forNew(count: number, hashTags: boolean): Placement {
    return new Placement(count, 'jump', hashTags);
  }

  shardOf(key: Uint8Array): number {
    // One shard's keys are not hashed.
    if (this.count === 1) return 0;
    const h = xxh32(this.hashTags ? hashedPart(key) : key);
    return this.scheme === 'jump' ? jumpHash(h, this.count) : h % this.count;
  }

  /**
   * A batch's entries grouped by shard, each group in the batch's order, with each entry's place
   * in the batch. A range deletion goes to every shard (at its one place): its range holds keys
   * of all of them.
   */
  split(entries: readonly BatchEntry[]): Map<number, { entries: BatchEntry[]; places: number[] }> {
    const parts = new Map<number, { entries: BatchEntry[]; places: number[] }>();
    const add = (s: number, e: BatchEntry, place: number) => {
      let part = parts.get(s);
      if (part === undefined) parts.set(s, (part = { entries: [], places: [] }));
      part.entries.push(e);
      part.places.push(place);
    };
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.kind === ValueKind.RangeDelete) for (let s = 0; s < this.count; s++) add(s, e, i);
      else add(this.shardOf(e.key), e, i);
    }
    return parts;
  }
}

/** The shard of `key` among `shards` in a new database with hash tags on (tests pick keys by it). */
export function shardOf(key: Uint8Array, shards: number): number {
  return Placement.forNew(shards, true).shardOf(key);
}

/** The part of `key` a hash tag names (see the top of this file), or the whole key. */
export function hashedPart(key: Uint8Array): Uint8Array {
  const open = key.indexOf(OPEN_BRACE);
  if (open < 0) return key;
  const close = key.indexOf(CLOSE_BRACE, open + 1);
  return close > open + 1 ? key.subarray(open + 1, close) : key;
}

/**
 * Jump consistent hash of the 32-bit `h` over `buckets` (at least 1). Each step draws the next
 * number r in [1, 2^32] from the generator and jumps to floor((b + 1) * 2^32 / r): the expected
 * number of steps is about ln(buckets).
 */
export function jumpHash(h: number, buckets: number): number {
  let state = h >>> 0;
  let b = -1;
  let j = 0;
  while (j < buckets) {
    b = j;
    // splitmix32: a full-period 32-bit generator with good mixing of consecutive states.
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z = (z ^ (z >>> 16)) >>> 0;
    j = Math.floor(((b + 1) * 4294967296) / (z + 1));
  }
  return b;
}

/** Whether a batch holds a range deletion (which every shard takes part in). */
export function hasRangeDelete(entries: readonly BatchEntry[]): boolean {
  for (const e of entries) if (e.kind === ValueKind.RangeDelete) return true;
  return false;
}
