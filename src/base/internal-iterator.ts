// The cursor every stage exposes over its entries (memtable, SST, merged views).
//
// It is synchronous: SST blocks are read on the calling thread (from the block cache or the
// table's mapping), which costs less than a hop through libuv's thread pool for cached and
// NVMe reads.
// Entries come in internal-key order (user key ascending, sequence descending); a cursor shows
// every version of every key and leaves snapshot filtering to its consumer.

import type { SeqNum, ValueKind } from './internal-key.js';

export interface InternalIterator {
  /** True when positioned at an entry; key()/seq()/kind()/value() REQUIRE it. */
  valid(): boolean;
  seekToFirst(): void;
  seekToLast(): void;
  /** Positions at the first entry whose user key is >= `key` (its newest version). */
  seek(key: Uint8Array): void;
  /** Positions at the last entry whose user key is <= `key` (its oldest version). */
  seekForPrev(key: Uint8Array): void;
  next(): void;
  prev(): void;
  /** The user key. The bytes stay valid until the cursor moves; copy to keep them. */
  key(): Uint8Array;
  seq(): SeqNum;
  kind(): ValueKind;
  /** The value (empty for a Delete). Valid until the cursor moves; copy to keep it. */
  value(): Uint8Array;
  /** Releases what the cursor holds (cached blocks, table references). Idempotent. */
  close(): void;
}
