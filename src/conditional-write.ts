// Conditional writes: a put, del or batch that applies only if each of its conditions holds
// (a key absent, or a key's value written at or below a sequence number), else rejects with
// CONFLICT and writes nothing.
//
// The check and the submission are one synchronous step: ShardSet.write() allocates the
// batch's sequence numbers before it returns, so no other write can come between the check
// and the write. The check must also see the writes in flight (allocated, not yet published),
// which reads at the published sequence do not: two `ifAbsent` puts of one key, both in flight,
// would each find the key absent. The WriteTracker knows them: while this write is a
// registered reader, a condition on a key written above the published sequence waits for that
// write to be published, and is then checked again. With several shards, each key is read at
// its shard's entry of one cut (ShardSet.cut()), and checked against the writes above that.

import { conflictError, type BatchEntry, type SeqNum } from './base/index.js';
import type { ShardSet } from './shard/index.js';
import { keyString, lowest } from './shard/index.js';
import type { Condition } from './input.js';

/**
 * Writes `entries` as one batch if every condition holds; rejects with CONFLICT otherwise
 * (`onRefused` is called first). REQUIRES: entries validated, not empty, conditions on them.
 */
export async function writeIf(
  store: ShardSet,
  entries: readonly BatchEntry[],
  conditions: readonly Condition[],
  sync: boolean,
  onRefused: () => void,
): Promise<bigint> {
  // Owned now: the batch goes out after an await, and the caller may reuse its buffers at once.
  const owned = entries.map((e) => ({ kind: e.kind, key: Buffer.from(e.key), value: Buffer.from(e.value) }));
  const checks = conditions.map((c) => ({ key: owned[c.entry]!.key, tracked: keyString(owned[c.entry]!.key), maxSeq: c.maxSeq }));
  const reader = await store.openReader();
  try {
    for (;;) {
      // A write that would wait for an ingest would land above it, after this check: wait first.
      if (store.writeMustWait(owned)) {
        await store.whenWritesGo();
        continue;
      }
      const tracker = store.tracker;
      const cut = store.cut();
      // Writes above the cut that the check cannot see yet: wait for them, then look again.
      let pending: SeqNum = lowest(cut) < tracker.cut ? tracker.cut : 0;
      for (const c of checks) pending = Math.max(pending, tracker.writtenAfter(c.tracked, store.seqIn(cut, c.key)));
      if (pending > 0) {
        await store.whenPublished(pending);
        continue;
      }
      for (const c of checks) {
        const entry = store.getEntry(c.key, cut);
        const holds = c.maxSeq === undefined ? entry === undefined : entry !== undefined && entry.seq <= c.maxSeq;
        if (!holds) {
          onRefused();
          const what = c.maxSeq === undefined ? 'is present' : entry === undefined ? 'has no value' : `was written at ${entry.seq}, after ${c.maxSeq}`;
          throw conflictError(`condition failed: key ${describeKey(c.key)} ${what}; nothing was written`);
        }
      }
      return await store.write(owned, sync);
    }
  } finally {
    store.closeReader(reader);
  }
}

/** A key for an error message: its text when printable, else hex; long ones cut. */
export function describeKey(key: Uint8Array): string {
  const shown = key.subarray(0, 64);
  const text = Buffer.from(shown).toString('utf8');
  const printable = /^[\x20-\x7e]*$/.test(text);
  const body = printable ? JSON.stringify(text) : `0x${Buffer.from(shown).toString('hex')}`;
  return key.length > shown.length ? `${body}…` : body;
}
