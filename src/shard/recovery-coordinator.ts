// RecoveryCoordinator: the meeting points of the shards' recoveries at open.
//
// 1. decide: every shard reports what its WALs hold of batches that span shards (prepared,
//    committed); once all have, each is told the same answer: a batch committed if a Commit
//    record for it is in any shard. A Commit record is written only after the batch's
//    Prepare record is in every participant's WAL, so such a batch is replayed everywhere.
//    The clock moves past every sequence number any shard has seen, committed or not.
// 2. recovered: no shard deletes its old WALs until every shard has replayed and flushed its
//    own, so a Commit record stays readable for as long as a Prepare may still need it.
// If any shard fails to open, every waiting shard's open fails with that error.

import type { SeqNum } from '../base/index.js';
import type { EngineHooks, SequenceClock, TwoPhaseScan } from '../engine/index.js';

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
  readonly #committed = new Set<SeqNum>();
  readonly #decided = meeting<ReadonlySet<SeqNum>>();
  readonly #recovered = meeting<void>();

  constructor(shards: number, clock: SequenceClock) {
    this.#shards = shards;
    this.#clock = clock;
  }

  /** The twoPhase hooks of one shard's engine. */
  hooks(): NonNullable<EngineHooks['twoPhase']> {
    return {
      decide: (scan: TwoPhaseScan) => {
        for (const txn of scan.committed) this.#committed.add(txn);
        this.#clock.advanceTo(scan.maxSeq);
        if (++this.#decided.arrived === this.#shards) this.#decided.resolve(this.#committed);
        return this.#decided.promise;
      },
      recovered: () => {
        if (++this.#recovered.arrived === this.#shards) this.#recovered.resolve();
        return this.#recovered.promise;
      },
    };
  }

  /** A shard failed to open: the others stop waiting. */
  fail(err: unknown): void {
    this.#decided.reject(err);
    this.#recovered.reject(err);
  }
}
