// RecoveryCoordinator: the meeting points of the shards' recoveries at open.
//
// 1. decide: every shard reports what its WALs hold of batches that span shards (prepared,
//    committed); once all have, each is told the same answer. A batch committed if a Commit
//    record for it is in some shard and every participant still has its part: its Prepare
//    record in a live WAL, or its part already in a table (the shard's MANIFEST sequence
//    reaches the batch: a shard applies a part before its WAL can go, invariant 1 of
//    src/engine/two-phase-participant.ts). A Commit record is written only once every Prepare is, so after a process
//    crash the second condition always holds; after a power cut it catches a participant
//    whose unsynced Prepare was lost while another shard's Commit reached the disk.
//    The clock moves past every sequence number any shard has seen, committed or not.
// 2. recovered: no shard deletes its old WALs until every shard has replayed and flushed its
//    own, so a Commit record stays readable for as long as a Prepare may still need it.
// If any shard fails to open, every waiting shard's open fails with that error.

import type { SeqNum } from '../base/index.js';
import type { SequenceClock, TwoPhaseHooks, TwoPhaseScan } from '../engine/index.js';

interface Meeting<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
  arrived: number;
}

function meeting<T>(): Meeting<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Nobody may be waiting when a failure comes; it is still reported by the failing open.
  promise.catch(() => {});
  return { promise, resolve, reject, arrived: 0 };
}

export class RecoveryCoordinator {
  readonly #shards: number;
  readonly #clock: SequenceClock;
  readonly #scans: TwoPhaseScan[] = [];
  readonly #decided = meeting<ReadonlySet<SeqNum>>();
  readonly #recovered = meeting<void>();

  readonly #syncAllWals: () => Promise<void>;

  /** `syncAllWals` is handed to every shard's participant (TwoPhaseHooks.syncAllWals). */
  constructor(shards: number, clock: SequenceClock, syncAllWals: () => Promise<void>) {
    this.#shards = shards;
    this.#clock = clock;
    this.#syncAllWals = syncAllWals;
  }

  /** The two-phase hooks of shard `shard`'s engine (EngineHooks.twoPhase). */
  hooks(shard: number): TwoPhaseHooks {
    return {
      decide: (scan: TwoPhaseScan) => {
        this.#scans[shard] = scan;
        this.#clock.advanceTo(scan.maxSeq);
        if (++this.#decided.arrived === this.#shards) this.#decided.resolve(this.#decide());
        return this.#decided.promise;
      },
      recovered: () => {
        if (++this.#recovered.arrived === this.#shards) this.#recovered.resolve();
        return this.#recovered.promise;
      },
      syncAllWals: this.#syncAllWals,
    };
  }

  #decide(): Set<SeqNum> {
    const scans = this.#scans;
    const committed = new Set<SeqNum>();
    for (const scan of scans) {
      for (const txn of scan.committed) {
        if (committed.has(txn)) continue;
        const participants = scans.find((s) => s.prepared.has(txn))?.prepared.get(txn);
        // No Prepare anywhere: every part is in a table already; nothing to replay.
        if (participants === undefined) continue;
        if (participants.every((p) => scans[p]!.prepared.has(txn) || scans[p]!.flushedSeq >= txn)) committed.add(txn);
      }
    }
    return committed;
  }

  /** A shard failed to open: the others stop waiting. */
  fail(err: unknown): void {
    this.#decided.reject(err);
    this.#recovered.reject(err);
  }
}
