// Snapshot: a pinned sequence number. Reads with { snapshot } see the database as it was
// when the snapshot was taken, whatever is written, flushed or compacted afterwards.

import { StrataError, type SeqNum } from './base/index.js';

export class Snapshot {
  readonly #seq: SeqNum;
  readonly #owner: object;
  #release: (() => void) | undefined;

  /** @internal Created by Database.snapshot(). */
  constructor(owner: object, seq: SeqNum, release: () => void) {
    this.#owner = owner;
    this.#seq = seq;
    this.#release = release;
  }

  /** The sequence number the snapshot reads at. */
  get sequence(): SeqNum {
    return this.#seq;
  }

  get released(): boolean {
    return this.#release === undefined;
  }

  /** Unpins the snapshot. Idempotent; reading through it afterwards fails with CLOSED. */
  release(): void {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }

  /**
   * Whether `value` was made by db.snapshot(): an object merely built on Snapshot.prototype
   * (instanceof holds) has none of the private fields.
   */
  static isSnapshot(value: unknown): value is Snapshot {
    return typeof value === 'object' && value !== null && #owner in value;
  }

  /** @internal The sequence to read at, for `owner`. Throws CLOSED once released. */
  seqFor(owner: object): SeqNum | undefined {
    if (owner !== this.#owner) return undefined;
    if (this.#release === undefined) throw new StrataError('CLOSED', 'the snapshot was released: read through a new one');
    return this.#seq;
  }
}
