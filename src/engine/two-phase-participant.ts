/**
 * Participant: one shard's side of the two-phase commit of a batch that spans shards, from
 * its Prepare record to its Commit or abandonment, live and at recovery. The protocol's steps
 * are ShardSet's (src/shard/shard-set.ts, invariant 2), the meeting points of the shards'
 * recoveries RecoveryCoordinator's, the records' bytes two-phase-format.ts's; what a shard
 * must hold to while it takes part is here. An engine has a participant only as a shard of
 * a sharded database (EngineHooks.twoPhase), and hands it to the ShardSet as `engine.twoPhase`.
 *
 * Invariants:
 * 1. Between a batch's Prepare (prepare()) and its end (endPrepare(), applied or abandoned)
 *    the engine does not switch memtable and WAL (`preparing`; flush() waits outside the
 *    pipeline, betweenPrepares()), so the WAL that holds a Prepare is released only after a
 *    table holds the batch.
 * 2. A memtable holding a part of such a batch (applyPrepared()) becomes a table only after
 *    every shard's WAL is synced (beforeInstall()): the batch's other parts, Prepare records
 *    perhaps never synced, cannot be lost once this part is permanent.
 * 3. At recovery (recover()) a shard scans its WALs, the obsolete ones still on disk included,
 *    for Prepare and Commit records, syncs its live WALs, and asks the database which batches
 *    committed; the replay then applies a Prepare only if its batch committed, a Commit record
 *    applies nothing, and sequence numbers need only rise from record to record (the other
 *    shards took the numbers in between).
 * 4. No shard releases its old WALs until every shard has recovered (recovered()), so that a
 *    Commit record stays readable for a shard that has not yet replayed its Prepare.
 */

import {
  closedError,
  decodeBatch,
  invariant,
  type BatchEntry,
  type DecodedBatch,
  type SeqNum,
  type StrataError,
} from '../base/index.js';
import type { Memtable } from '../memtable/index.js';
import { readLog, RecordType, WAL_ALLOCATION_UNIT, type LogRecord, type WalSet } from '../wal/index.js';
import type { CommitPipeline } from './commit-pipeline.js';
import type { WalRecordRules } from './recovery.js';
import { COMMIT_RECORD_BYTES, decodeCommit, decodePrepare, encodeCommit, encodePrepareHead, isPrepare, prepareHeadBytes } from './two-phase-format.js';

/** What a shard's WALs say about batches that span shards. */
export interface TwoPhaseScan {
  /** Batches with a Prepare record in a live WAL, each with its participant shards. */
  prepared: Map<SeqNum, number[]>;
  /** Batches with a Commit record in any WAL still on disk. */
  committed: Set<SeqNum>;
  /** The largest sequence number any live record holds, committed or not. */
  maxSeq: SeqNum;
  /** The MANIFEST's last sequence: every record at or below it is in a table, its WAL gone. */
  flushedSeq: SeqNum;
}

/** What a sharded database shares with, and asks of, each participant (EngineHooks.twoPhase). */
export interface TwoPhaseHooks {
  /** Given this shard's scan of its WALs, resolves to every batch that committed. */
  decide(scan: TwoPhaseScan): Promise<ReadonlySet<SeqNum>>;
  /** Resolves once every shard has recovered (invariant 4). */
  recovered(): Promise<void>;
  /** Makes durable what every shard has written to its WAL so far (invariant 2). */
  syncAllWals(): Promise<void>;
}

/** One shard's participant as ShardSet drives it. */
export interface TwoPhaseParticipant {
  /**
   * Writes this shard's part of batch `txn` as a PrepareInOrder record: `batch`, its entries
   * encoded (src/base/batch-format.ts) with sequence numbers the caller took from the shared
   * clock, and `places`, where each entry stood in the batch as given. `entries` are the same
   * entries, counted in the shard's stats. Every call is ended by endPrepare(), failed ones too.
   * REQUIRES: entries validated, not empty; one place per entry.
   */
  prepare(txn: SeqNum, participants: readonly number[], batch: Uint8Array, entries: readonly BatchEntry[], places: readonly number[], sync: boolean): Promise<void>;
  /** Writes the Commit record of batch `txn`, prepared in every participant shard. */
  commit(txn: SeqNum, sync: boolean): Promise<void>;
  /**
   * Inserts a committed batch's part, `batch` as prepare() took it, into the memtable; it is
   * visible once published in every participant (ShardPublication).
   */
  applyPrepared(batch: Uint8Array): void;
  /** Ends what prepare() began, applied or abandoned: the memtable may switch again. */
  endPrepare(): void;
  /** fdatasync of this shard's current WAL beside its pipeline (WalSet.syncCurrent). */
  syncWal(): Promise<void>;
  /**
   * Stops this shard's writes with `err` (another participant failed: a batch across shards
   * may have reached some Commit records and not others); reads go on.
   */
  failWrites(err: StrataError): void;
}

/** What the participant needs of its engine. */
export interface ParticipantHost {
  readonly pipeline: CommitPipeline;
  readonly wals: WalSet;
  /** The memtable writes go to now. */
  memtable(): Memtable;
  closed(): boolean;
  /** Counts the user bytes of a write (stats). */
  written(entries: readonly BatchEntry[]): void;
  /** Stops the engine's writes with `err`. */
  failWrites(err: StrataError): void;
}

export class Participant implements TwoPhaseParticipant {
  readonly #hooks: TwoPhaseHooks;
  readonly #host: ParticipantHost;
  /** Batches prepared here and not yet ended: the memtable must not switch (invariant 1). */
  #open = 0;
  #settled: (() => void)[] = [];
  /** Memtables holding a part of a batch that spans shards (invariant 2). */
  readonly #holdingParts = new WeakSet<Memtable>();

  constructor(hooks: TwoPhaseHooks, host: ParticipantHost) {
    this.#hooks = hooks;
    this.#host = host;
  }

  /**
   * Recovery (invariant 3): scans the logs `wals` holds, below `logNumber` for Commit records
   * only, and asks the database which batches committed; returns the rules to replay by, and
   * the highest sequence number of any Batch or Prepare record in the live logs, replayed or
   * not (a batch that did not commit handed out its numbers too). `flushedSeq` is the
   * MANIFEST's last sequence.
   */
  static async recover(
    hooks: TwoPhaseHooks,
    wals: WalSet,
    logNumber: number,
    flushedSeq: SeqNum,
  ): Promise<{ rules: WalRecordRules; highestSeq: SeqNum }> {
    const scan: TwoPhaseScan = { prepared: new Map(), committed: new Set(), maxSeq: 0, flushedSeq };
    const visit = (bytes: Uint8Array, file: string, live: boolean) => {
      for (const record of readLog(bytes, file, { mode: 'salvage', onSkipped: () => {}, allocationUnit: WAL_ALLOCATION_UNIT }).records) {
        try {
          if (record.type === RecordType.Commit) scan.committed.add(decodeCommit(record.payload));
          else if (!live) continue;
          else if (isPrepare(record.type)) {
            const { txn, participants, batch } = decodePrepare(record.type, record.payload);
            scan.prepared.set(txn, participants);
            scan.maxSeq = Math.max(scan.maxSeq, batch.firstSeq + batch.entries.length - 1);
          } else if (record.type === RecordType.Batch) {
            const batch = decodeBatch(record.payload);
            scan.maxSeq = Math.max(scan.maxSeq, batch.firstSeq + batch.entries.length - 1);
          }
        } catch {
          // A damaged record is the replay's to report, in the mode the user chose.
        }
      }
    };
    const stored = wals.stored();
    for (const n of stored.filter((n) => n < logNumber)) {
      const bytes = await wals.read(n).catch(() => undefined);
      if (bytes) visit(bytes, wals.path(n), false);
    }
    for (const n of stored.filter((n) => n >= logNumber)) {
      // What the last run wrote may still be only in the page cache (a process crash). Another
      // shard may make its part of a batch permanent as soon as this open decides; this shard's
      // part must then survive a power cut too, as the Prepare it will be replayed from.
      await wals.syncStored(n);
      visit(await wals.read(n), wals.path(n), true);
    }
    return { rules: committedOnly(await hooks.decide(scan)), highestSeq: scan.maxSeq };
  }

  /** Resolves once every shard has recovered; until then no shard releases a WAL (invariant 4). */
  recovered(): Promise<void> {
    return this.#hooks.recovered();
  }

  prepare(txn: SeqNum, participants: readonly number[], batch: Uint8Array, entries: readonly BatchEntry[], places: readonly number[], sync: boolean): Promise<void> {
    // Counted first: the caller ends every prepare() with endPrepare(), failed ones too.
    this.#open++;
    const host = this.#host;
    if (host.closed()) return Promise.reject(closedError('database'));
    host.written(entries);
    invariant(places.length === entries.length, 'one place per entry of a part');
    const head = prepareHeadBytes(participants.length, entries.length);
    return host.pipeline.submitRecord(RecordType.PrepareInOrder, head + batch.length, (out, at) => {
      out.set(batch, encodePrepareHead(out, at, txn, participants, places));
    }, sync);
  }

  commit(txn: SeqNum, sync: boolean): Promise<void> {
    if (this.#host.closed()) return Promise.reject(closedError('database'));
    return this.#host.pipeline.submitRecord(RecordType.Commit, COMMIT_RECORD_BYTES, (out, at) => encodeCommit(out, at, txn), sync);
  }

  applyPrepared(batch: Uint8Array): void {
    const mem = this.#host.memtable();
    this.#holdingParts.add(mem);
    mem.addBatch(batch, 0);
  }

  endPrepare(): void {
    invariant(this.#open > 0, 'endPrepare() without prepare()');
    if (--this.#open > 0) return;
    const waiters = this.#settled;
    this.#settled = [];
    for (const wake of waiters) wake();
  }

  syncWal(): Promise<void> {
    return this.#host.wals.syncCurrent();
  }

  failWrites(err: StrataError): void {
    this.#host.failWrites(err);
  }

  /** Whether a prepared batch is open: the memtable and WAL must not switch (invariant 1). */
  get preparing(): boolean {
    return this.#open > 0;
  }

  /**
   * Runs `step` (a switch of memtable and WAL) as a pipeline barrier at a moment no prepared
   * batch is open. Waiting inside the barrier would hold back the Commit record itself, so it
   * waits outside and tries again.
   */
  async betweenPrepares(step: () => Promise<void>): Promise<void> {
    for (let done = false; !done; ) {
      await this.#host.pipeline.barrier(async () => {
        if (this.#open > 0) return;
        done = true;
        await step();
      });
      if (!done) await new Promise<void>((resolve) => this.#settled.push(resolve));
    }
  }

  /** Runs before a flush installs `mem` as a table (invariant 2). */
  async beforeInstall(mem: Memtable): Promise<void> {
    if (this.#holdingParts.has(mem)) await this.#hooks.syncAllWals();
  }
}

/** The replay rules of a shard: Prepare records of `committed` batches replay, Commit records nothing. */
function committedOnly(committed: ReadonlySet<SeqNum>): WalRecordRules {
  return {
    accepts: (type) => type === RecordType.Batch || isPrepare(type) || type === RecordType.Commit,
    batchOf(record: LogRecord): DecodedBatch | undefined {
      if (record.type === RecordType.Commit) {
        decodeCommit(record.payload);
        return undefined;
      }
      if (isPrepare(record.type)) {
        const prepare = decodePrepare(record.type, record.payload);
        return committed.has(prepare.txn) ? prepare.batch : undefined;
      }
      return decodeBatch(record.payload);
    },
    gap: (firstSeq, expectedSeq) =>
      firstSeq < expectedSeq ? `sequence ${firstSeq} follows ${expectedSeq - 1}: sequence numbers must rise` : undefined,
  };
}
