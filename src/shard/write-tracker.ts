/**
 * WriteTracker: which keys were written after a sequence number, held in memory, for the
 * validation of optimistic transactions and conditional writes (src/transaction.ts,
 * Database's conditional writes). Nothing here reads a table.
 *
 * A reader (an open transaction, or a conditional write between its start and its check)
 * registers the sequence number S it reads at. At its commit it asks: was any key I read, or
 * any key in a range I read, written with a sequence number above S? Every write the
 * database takes is recorded here (ShardSet.write) while at least one reader is registered,
 * with the last sequence number of its batch, at the moment that number is allocated.
 *
 * Invariants:
 * 1. While active, every write whose sequence numbers were allocated after activation is
 *    recorded, before anything else runs on the event loop: `from` is the last number
 *    allocated when tracking started. A reader must read at S >= from (ShardSet.openReader
 *    waits for the writes in flight at activation to be published), so no write above its S
 *    goes unrecorded.
 * 2. Entries at or below the oldest registered reader's S answer no question: they are
 *    pruned when that reader leaves. With no reader left, everything is dropped and recording
 *    stops, so writes cost nothing when no transaction is open.
 * 3. Fail safe: when the entries outgrow `maxBytes`, the oldest are dropped and `cut` moves
 *    up to the newest of them. A reader with S < cut cannot be told what was written after S
 *    and must treat itself as conflicting (a transaction retries; a conditional write waits
 *    for `cut` to be published and reads again). A conflict is never missed, at worst
 *    reported where there was none.
 *
 * Keys are held as latin1 strings (one character per byte), so that a Map finds them and `<`
 * orders them as bytes are ordered.
 */

import type { SeqNum } from '../base/index.js';

/** An iterated range, its bounds as tracker keys (see keyString()). */
export interface TrackedRange {
  lower?: string;
  lowerInclusive: boolean;
  upper?: string;
  upperInclusive: boolean;
}

/** Bytes counted per entry on top of its key: the Map entry, the log slot, the string header. */
const ENTRY_OVERHEAD_BYTES = 64;

/** A key as the tracker stores it: one latin1 character per byte. */
export function keyString(key: Uint8Array): string {
  // A Buffer converts itself: half the cost of wrapping it in a new one first.
  if (key instanceof Buffer) return key.toString('latin1');
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

export class WriteTracker {
  readonly #maxBytes: number;
  /**
   * Registered readers' sequence numbers → how many. Readers register the published
   * sequence, which never goes down, so insertion order is ascending order and the first key
   * is the oldest reader (a key that is deleted and comes back is the largest one again).
   */
  readonly #readers = new Map<SeqNum, number>();
  /** Each key's last recorded write. */
  readonly #last = new Map<string, SeqNum>();
  /** Every recorded write in sequence order, from #head on: what range checks walk back over. */
  #log: { seq: SeqNum; key: string }[] = [];
  #head = 0;
  #bytes = 0;
  #from: SeqNum = 0;
  #cut: SeqNum = 0;
  #active = false;

  /** `maxBytes`: the bound of the entries, keys plus overhead (option conflictTrackingBytes). */
  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Whether writes are being recorded (some reader is registered or about to be). */
  get active(): boolean {
    return this.#active;
  }

  /** Writes above this were all recorded (invariant 1). */
  get from(): SeqNum {
    return this.#from;
  }

  /** Readers below this cannot be answered (invariant 3). */
  get cut(): SeqNum {
    return this.#cut;
  }

  /** Entries held and their approximate bytes, for stats. */
  get size(): { writes: number; bytes: number } {
    return { writes: this.#log.length - this.#head, bytes: this.#bytes };
  }

  /** Starts recording. `lastAllocated`: the last sequence number handed out so far. */
  activate(lastAllocated: SeqNum): void {
    if (this.#active) return;
    this.#active = true;
    this.#from = lastAllocated;
  }

  /**
   * Records the keys of one batch whose last sequence number is `seq`. `tracked`, when given,
   * holds the same keys already in tracker form (keyString()), in the same order. REQUIRES:
   * active.
   */
  record(keys: readonly { key: Uint8Array }[], seq: SeqNum, tracked?: readonly string[]): void {
    for (let i = 0; i < keys.length; i++) {
      const k = tracked !== undefined ? tracked[i]! : keyString(keys[i]!.key);
      this.#last.set(k, seq);
      this.#log.push({ seq, key: k });
      this.#bytes += k.length + ENTRY_OVERHEAD_BYTES;
    }
    if (this.#bytes > this.#maxBytes) this.#shed();
  }

  /**
   * A write at `seq` whose keys are not listed (an ingest, a range deletion): every reader
   * below it conflicts, as readers below the cut do (invariant 3, fail safe). No effect when
   * inactive.
   */
  cutAt(seq: SeqNum): void {
    if (this.#active) this.#cut = Math.max(this.#cut, seq);
  }

  /** Registers a reader at `seq`. REQUIRES: active, seq >= every registered one. */
  register(seq: SeqNum): void {
    this.#readers.set(seq, (this.#readers.get(seq) ?? 0) + 1);
  }

  /** Unregisters a reader; prunes what no reader needs (invariant 2). */
  unregister(seq: SeqNum): void {
    const n = this.#readers.get(seq) ?? 0;
    if (n > 1) {
      this.#readers.set(seq, n - 1);
      return;
    }
    this.#readers.delete(seq);
    if (this.#readers.size === 0) {
      this.#clear();
      return;
    }
    const oldest = this.#readers.keys().next().value as SeqNum;
    if (seq < oldest) this.#dropThrough(oldest);
  }

  /** The last recorded write of `key` above `after`, or 0 when there is none. */
  writtenAfter(key: string, after: SeqNum): SeqNum {
    const seq = this.#last.get(key);
    return seq !== undefined && seq > after ? seq : 0;
  }

  /**
   * The last recorded write into `range` above `after` (its sequence and key), or undefined.
   * `readAt`, for a reader at a cut of several shards (`after` its lowest number): a write
   * counts only above readAt(its key), the number the reader read that key's shard at.
   */
  writtenInRangeAfter(range: TrackedRange, after: SeqNum, readAt?: (key: string) => SeqNum): { seq: SeqNum; key: string } | undefined {
    const log = this.#log;
    for (let i = log.length - 1; i >= this.#head; i--) {
      const e = log[i]!;
      if (e.seq <= after) break;
      if (inRange(e.key, range) && (readAt === undefined || e.seq > readAt(e.key))) return e;
    }
    return undefined;
  }

  /** Drops the oldest entries down to half the bound and moves the cut past them. */
  #shed(): void {
    const log = this.#log;
    let i = this.#head;
    while (i < log.length && this.#bytes > this.#maxBytes / 2) {
      const e = log[i]!;
      // A batch's keys share one sequence number: they go together, or the cut would claim
      // to know about a batch of which some keys are gone.
      const seq = e.seq;
      while (i < log.length && log[i]!.seq === seq) this.#forget(log[i++]!);
      this.#cut = seq;
    }
    this.#head = i;
    this.#compact();
  }

  /** Drops the entries at or below `seq`. */
  #dropThrough(seq: SeqNum): void {
    const log = this.#log;
    let i = this.#head;
    while (i < log.length && log[i]!.seq <= seq) this.#forget(log[i++]!);
    this.#head = i;
    this.#compact();
  }

  #forget(e: { seq: SeqNum; key: string }): void {
    if (this.#last.get(e.key) === e.seq) this.#last.delete(e.key);
    this.#bytes -= e.key.length + ENTRY_OVERHEAD_BYTES;
  }

  /** Reclaims the dropped front of the log once it is most of it. */
  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#log.length) {
      this.#log = this.#log.slice(this.#head);
      this.#head = 0;
    }
  }

  #clear(): void {
    this.#active = false;
    this.#last.clear();
    this.#log = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#cut = 0;
  }
}

function inRange(key: string, r: TrackedRange): boolean {
  if (r.lower !== undefined && (r.lowerInclusive ? key < r.lower : key <= r.lower)) return false;
  if (r.upper !== undefined && (r.upperInclusive ? key > r.upper : key >= r.upper)) return false;
  return true;
}
