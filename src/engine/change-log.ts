/**
 * ChangeLog: one shard's retained logs read back as writes, for the change feed
 * (src/shard/change-feed.ts merges the shards). The WalSet owns the files and their
 * retention; this knows what their records mean: a Batch record is one write, a Prepare record
 * one shard's part of a batch that spans shards, a Commit record that batch's commit point.
 *
 * Invariants:
 * 1. Within one shard's logs, Batch and Prepare records rise in sequence order, from record to
 *    record and from log to log (the commit pipeline takes sequence numbers and queues records
 *    in one synchronous step). A Commit record follows its Prepare in the same log (the
 *    memtable and WAL do not switch while a prepared batch is open).
 * 2. The current log is read only up to its writer's completedBytes: every record there is
 *    whole, and every write published (clock) is there, or failed for good.
 * 3. A record is durable when the WalSet says so (WalSet.isDurable): it ends within the current
 *    log's syncedBytes, or its log is an older one that is not left unsynced (a rotation
 *    synced it, or a later sync did; at open, recovery made what it replayed durable).
 * 4. floor(): every record this shard held with a sequence number above the floor is still in
 *    a retained log. The WalSet deletes the oldest logs first, so what is retained is a run of
 *    the newest logs, less logs that held no write but the oldest (WalSet's invariant 5:
 *    nothing of them is missed); while the database's first log is among them no write was ever
 *    deleted (floor 0). Otherwise the logs deleted held only flushed records (a log is released after
 *    its flush), so none above the MANIFEST's last sequence; and none at or above the first
 *    sequence number of the oldest retained log that holds one.
 */

import { BATCH_HEADER_BYTES, getU32, getU64, type FileSystem, type SeqNum } from '../base/index.js';
import { LogTail, RecordType, type TailRecord, type WalPin, type WalSet } from '../wal/index.js';
import { writeOf, type CommitSeen, type ShardRecord } from './change-record.js';
import { ChangeRing } from './change-ring.js';
import { decodeCommit, decodePrepareHead, isPrepare } from './two-phase-format.js';

export type { CommitSeen, ShardRecord } from './change-record.js';

/** What a ChangeLog needs of its engine. */
export interface ChangeLogHost {
  readonly fs: FileSystem;
  readonly wals: WalSet;
  /** The MANIFEST's last sequence: every write at or below it is in a table. */
  flushedSeq(): SeqNum;
}

/**
 * The number of a database's first WAL: the first open of a new database numbers its files
 * from 1 (VersionSet.empty) and creates its WAL first. Checked by test/changes.test.ts (a new
 * database of four shards serves since: 0).
 */
const FIRST_LOG_NUMBER = 1;

/** Log bytes a cursor reads at a time: bounds a feed's memory per shard. */
export const CHANGE_CHUNK_BYTES = 1024 * 1024;

export class ChangeLog {
  readonly #host: ChangeLogHost;
  /** This shard's newest writes in memory while a feed is open (change-ring.ts). */
  readonly ring = new ChangeRing();
  /** First sequence number held by each final log (null: none), read once. */
  readonly #firstSeqs = new Map<number, SeqNum | null>();

  constructor(host: ChangeLogHost) {
    this.#host = host;
  }

  get #wals(): WalSet {
    return this.#host.wals;
  }

  /** Holds every log now on disk, from the oldest: the caller moves it forward. */
  pinAll(): WalPin {
    const stored = this.#wals.stored();
    return this.#wals.pin(stored[0] ?? this.#wals.currentNumber);
  }

  /** The smallest `since` this shard can serve (invariant 4). */
  floor(): SeqNum {
    const stored = this.#wals.stored();
    if (stored[0] === FIRST_LOG_NUMBER) return 0;
    const flushed = this.#host.flushedSeq();
    for (const n of stored) {
      const first = this.#firstSeqOf(n);
      if (first !== null) return Math.min(first - 1, flushed);
    }
    return flushed;
  }

  /** The log to start reading at to find every write above `since`: each older holds none. */
  startLog(since: SeqNum): number {
    const stored = this.#wals.stored();
    let start = stored[0] ?? this.#wals.currentNumber;
    for (const n of stored) {
      const first = this.#firstSeqOf(n);
      if (first !== null && first <= since + 1) start = n;
      if (first !== null && first > since) break;
    }
    return start;
  }

  /**
   * A cursor over the writes of this shard's logs (shard number `shard`) from log `start` on,
   * skipping those at or below `since`.
   */
  cursor(shard: number, start: number, since: SeqNum): ShardCursor {
    return new ShardCursor(this.#host, shard, start, since);
  }

  /** A cursor from the end of what the current log holds now. REQUIRES: nothing there is above `since`. */
  cursorAtEnd(shard: number, since: SeqNum): ShardCursor {
    const wals = this.#wals;
    return new ShardCursor(this.#host, shard, wals.currentNumber, since, wals.current.completedBytes);
  }

  /** Invariant 3. */
  isDurable(log: number, end: number): boolean {
    return this.#wals.isDurable(log, end);
  }

  /** The number of the log written to now. */
  get currentLog(): number {
    return this.#wals.currentNumber;
  }

  /** Whether a log holds bytes not yet synced. */
  get unsynced(): boolean {
    return this.#wals.unsynced;
  }

  /** fdatasync of the current log beside the pipeline (a durable feed waits on it). */
  sync(): Promise<void> {
    return this.#wals.syncCurrent();
  }

  /**
   * Looks for batch `txn`'s Commit record in log `log` from offset `from` (invariant 1: it
   * follows the Prepare there): found, 'absent' (the log is final and has none), or 'pending'.
   */
  findCommit(txn: SeqNum, log: number, from: number): CommitSeen | 'absent' | 'pending' {
    const wals = this.#wals;
    if (!wals.has(log)) return 'absent';
    const tail = new LogTail(this.#host.fs, wals.path(log), from);
    try {
      for (;;) {
        const limit = wals.isCurrent(log) ? wals.current.completedBytes : 'final';
        const { records, ended } = tail.read(limit, CHANGE_CHUNK_BYTES);
        for (const r of records) {
          if (r.type === RecordType.Commit && decodeCommit(r.payload) === txn) return { log, end: r.end };
        }
        if (records.length === 0) return ended ? 'absent' : 'pending';
      }
    } finally {
      tail.close();
    }
  }

  /** Retained logs, for stats(). */
  retention(): { bytes: number; logs: number; oldestSequence: SeqNum } {
    return { ...this.#wals.retained(), oldestSequence: this.floor() };
  }

  #firstSeqOf(log: number): SeqNum | null {
    const known = this.#firstSeqs.get(log);
    if (known !== undefined) return known;
    const wals = this.#wals;
    const current = wals.isCurrent(log);
    const tail = new LogTail(this.#host.fs, wals.path(log));
    let first: SeqNum | null = null;
    try {
      for (let done = false; !done && first === null; ) {
        const { records, ended } = tail.read(current ? wals.current.completedBytes : 'final', 64 * 1024);
        for (const r of records) {
          const w = writeOf(r.type, r.payload, 0, r.payload.length, log, r.end, false);
          if (w) {
            first = w.firstSeq;
            break;
          }
        }
        done = records.length === 0 || ended;
      }
    } finally {
      tail.close();
    }
    // The current log may yet get its first write; a final one never will.
    if (first !== null || !current) this.#firstSeqs.set(log, first);
    for (const n of this.#firstSeqs.keys()) if (!wals.has(n)) this.#firstSeqs.delete(n);
    return first;
  }
}

/**
 * Reads one shard's writes in log order (invariant 1), a chunk at a time, moving from log to
 * log; remembers the Commit records it passes.
 */
export class ShardCursor {
  readonly #host: ChangeLogHost;
  readonly #since: SeqNum;
  /** This shard's number in the database (a Prepare record names its participants by it). */
  readonly #shard: number;
  #log: number;
  #tail: LogTail;
  /** Commit records passed, by batch, until the feed takes them. */
  readonly commits = new Map<SeqNum, CommitSeen>();

  constructor(host: ChangeLogHost, shard: number, start: number, since: SeqNum, offset = 0) {
    this.#host = host;
    this.#shard = shard;
    this.#since = since;
    this.#log = start;
    this.#tail = new LogTail(host.fs, host.wals.path(start), offset);
  }

  /** The log read now: the caller's pin must hold it. */
  get log(): number {
    return this.#log;
  }

  /**
   * The next writes above `since`, from about CHANGE_CHUNK_BYTES of log; none once everything
   * written so far is read (invariant 2).
   */
  read(): ShardRecord[] {
    const wals = this.#host.wals;
    for (;;) {
      const current = wals.isCurrent(this.#log);
      const { records, ended } = this.#tail.read(current ? wals.current.completedBytes : 'final', CHANGE_CHUNK_BYTES);
      const out: ShardRecord[] = [];
      for (const r of records) {
        if (r.type === RecordType.Commit) {
          // Kept until the feed is past its batch (ChangeFeed prunes them).
          this.commits.set(decodeCommit(r.payload), { log: this.#log, end: r.end });
          continue;
        }
        // Decoded only when delivered: a feed skipping to `since` reads just the headers.
        if (atOrBelow(r, this.#since, this.#shard)) continue;
        const w = writeOf(r.type, r.payload, 0, r.payload.length, this.#log, r.end, false);
        if (w) out.push(w);
      }
      if (out.length > 0) return out;
      if (records.length > 0) continue;
      if (current || !ended) return [];
      const next = wals.stored().find((n) => n > this.#log);
      if (next === undefined) return [];
      this.#tail.close();
      this.#log = next;
      this.#tail = new LogTail(this.#host.fs, wals.path(next));
    }
  }

  close(): void {
    this.#tail.close();
  }
}

/**
 * Whether the write of record `r` (a Batch or Prepare) ends at or below `since`, read from its
 * header alone. A part of a batch across shards tells where the batch ends only when it is the
 * last participant's (the parts take consecutive ranges in participant order): another part is
 * kept, and the feed, which sees the whole batch, decides.
 */
function atOrBelow(r: TailRecord, since: SeqNum, shard: number): boolean {
  const p = r.payload;
  let at = 0;
  if (isPrepare(r.type)) {
    let head;
    try {
      head = decodePrepareHead(r.type, p);
    } catch {
      return false; // malformed: writeOf() reports it
    }
    if (head.participants.at(-1) !== shard) return false;
    at = head.batchAt;
  } else if (r.type !== RecordType.Batch) return false;
  if (p.length < at + BATCH_HEADER_BYTES) return false;
  return getU64(p, at) + getU32(p, at + 8) - 1 <= since;
}
