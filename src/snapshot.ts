// Snapshot: a pinned cut (each shard's published sequence when it was taken: one number with
// one shard). Reads with { snapshot } see the database as it was when the snapshot was taken,
// whatever is written, flushed or compacted afterwards.

import { StrataError, type SeqNum } from './base/index.js';
import { lowest, type Cut } from './shard/index.js';

export class Snapshot {
  readonly #cut: Cut;
  readonly #owner: object;
  #release: (() => void) | undefined;

  /** @internal Created by Database.snapshot(). */
  constructor(owner: object, cut: Cut, release: () => void) {
    this.#owner = owner;
    this.#cut = cut;
    this.#release = release;
  }

  /**
   * The sequence number the snapshot reads at: every write that resolved to it or less is
   * visible through it. (With several shards, a shard may show some writes above it too:
   * those answered before the snapshot was taken.)
   */
  get sequence(): SeqNum {
    return lowest(this.#cut);
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

  /** @internal The cut to read at, for `owner`. Throws CLOSED once released. */
  cutFor(owner: object): Cut | undefined {
    if (owner !== this.#owner) return undefined;
    if (this.#release === undefined) throw new StrataError('CLOSED', 'the snapshot was released: read through a new one');
    return this.#cut;
  }
}
